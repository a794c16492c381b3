"""Container health check: exit 0 when the API answers ``/readyz`` with 2xx.

Readiness, not liveness: a server whose published file is missing, truncated
or refused answers 503 there (``/healthz`` stays 200 while the process runs),
and a container that serves no valid data is not healthy.

Docker's ``HEALTHCHECK`` runs this inside the image, which has no curl or wget,
so it uses only the standard library (it must work under ``python -I -S``).
The port comes from ``PYPI_TRENDS_PORT`` like the server's own setting; the
URL can be overridden with ``PYPI_TRENDS_HEALTHCHECK_URL``.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def health_url(environ: dict[str, str]) -> str:
    """Return the URL to probe.

    Args:
        environ: The process environment.

    Returns:
        ``PYPI_TRENDS_HEALTHCHECK_URL`` if set, else ``/readyz`` on the loopback
        address at ``PYPI_TRENDS_PORT`` (default 8000).
    """
    explicit = environ.get("PYPI_TRENDS_HEALTHCHECK_URL")
    if explicit:
        return explicit
    port = environ.get("PYPI_TRENDS_PORT") or "8000"
    # 127.0.0.1 is in the server's default Host allow-list; compose keeps it in.
    return f"http://127.0.0.1:{port}/readyz"


def main() -> int:
    """Probe the server once.

    Returns:
        0 when the server answered 2xx, 1 otherwise (with the reason on stderr).
    """
    url = health_url(dict(os.environ))
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url} unreachable: {exc}", file=sys.stderr)
        return 1
    if not 200 <= status < 300:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
