# syntax=docker/dockerfile:1
# PyPI Trends: one image for the API (`python -m serve`, the default command)
# and the scheduled refresh (`python -m exports pipeline`, see compose.yaml).
#
#   docker build -t pypi-trends .
#   docker run -p 8000:8000 -v pypi-trends-data:/data pypi-trends
#
# Stages: assets (npm ci, only when package.json exists) -> deps (hashed
# runtime lock into /opt/venv) -> runtime (slim, non-root, no compilers).
# Pin the base images by digest in production: --build-arg PYTHON_IMAGE=...@sha256:...

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- Front-end assets ------------------------------------------------------
# htmx, Pico CSS and uPlot, installed by `npm ci` from package-lock.json and
# served by serve/web straight from /app/node_modules (no bundler). Guarded:
# the wildcard lets this COPY succeed without package*.json (pyproject.toml
# always matches), and an empty node_modules is copied then.
FROM ${NODE_IMAGE} AS assets
WORKDIR /src
COPY pyproject.toml package*.json ./
RUN mkdir -p node_modules \
    && if [ -f package.json ]; then \
         npm ci --ignore-scripts --no-audit --no-fund --omit=dev \
         && npm run build --if-present; \
       fi

# --- Python dependencies -----------------------------------------------------
# Every wheel is checked against the runtime lock's hashes; binary wheels only,
# so no build backend is fetched unhashed and nothing is compiled.
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements-runtime.lock /tmp/requirements-runtime.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary :all: \
        -r /tmp/requirements-runtime.lock

# --- Runtime -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG BUILD_REVISION=unknown
LABEL org.opencontainers.image.title="pypi-trends" \
      org.opencontainers.image.description="Weekly PyPI download trends: API, compare page and SQLite export" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${BUILD_REVISION}"

# A fixed numeric uid so volume ownership and runAsNonRoot checks are stable.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PYPI_TRENDS_HOST=0.0.0.0 \
    PYPI_TRENDS_PORT=8000 \
    PYPI_TRENDS_DB=/data/pypi_trends.sqlite \
    PYPI_TRENDS_LOG_FORMAT=json \
    DBT_PROFILES_DIR=/app/profiles \
    DBT_TARGET_PATH=/data/dbt/target \
    DBT_LOG_PATH=/data/dbt/logs

COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Source is root-owned and read-only for the app user; only /data is writable.
COPY contract/ /app/contract/
COPY exports/ /app/exports/
COPY serve/ /app/serve/
COPY dbt/ /app/dbt/
COPY profiles/ /app/profiles/
COPY deploy/healthcheck.py /app/deploy/healthcheck.py
COPY --from=assets /src/node_modules/ /app/node_modules/

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# No curl in the image: the check is a stdlib-only Python script.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-I", "/app/deploy/healthcheck.py"]

CMD ["python", "-m", "serve"]
