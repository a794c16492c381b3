"""The DuckDB SQL of the sample: packages' versions and distribution_metadata.

Pseudo-random values come from ``hash(seed, ...)`` of stable keys (package,
version), never from ``random()``: the same options give the
same content whatever the thread scheduling.
"""

import re
from datetime import date, datetime

# Unit interval from 20 bits of a hash.
U20 = "(({h} >> {shift}) & 1048575)::DOUBLE / 1048576.0"


def u(h: str, shift: int) -> str:
    """Return SQL for a number in [0, 1) taken from 20 bits of hash ``h``."""
    return U20.format(h=h, shift=shift)


def bind(query: str, **values: int | float | date | datetime) -> str:
    """Return ``query`` with each ``$name`` replaced by the SQL literal of ``values[name]``.

    Literals instead of DuckDB parameters: a typed literal keeps the type of a
    hashed value explicit (``42::BIGINT``), whatever DuckDB would infer for a
    Python object.
    """

    def literal(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if isinstance(value, bool):
            raise TypeError("no boolean parameters")
        if isinstance(value, int):
            return f"{value}::BIGINT"
        if isinstance(value, float):
            # repr round-trips exactly; a string cast parses it without a DECIMAL detour.
            return f"'{value!r}'::DOUBLE"
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            return f"'{value.isoformat()}'::TIMESTAMPTZ"
        return f"DATE '{value.isoformat()}'"

    return re.sub(r"\$([a-z_]+)", literal, query)


#: A version's upload: its package's first upload plus vidx intervals and a jitter
#: under half an interval, so upload times grow with vidx.
UPLOAD_TIME = f"""first_upload + to_microseconds(CAST(
    (vidx * interval_days + 0.45 * interval_days
        * {u("hash($seed, 'v', pkg_id, vidx)", 0)}) * 86400e6 AS BIGINT))"""

VERSIONS = f"""
CREATE OR REPLACE TABLE versions AS
WITH uploads AS (
    -- How many of each package's versions come before the end of the range: as
    -- upload times grow with vidx, they are its first n_kept.
    SELECT pkg_id, count(*) FILTER (WHERE {UPLOAD_TIME} < $range_end) AS n_kept
    FROM (SELECT pkg_id, first_upload, interval_days, unnest(range(n_versions)) AS vidx FROM pkg)
    GROUP BY pkg_id
), based AS (
    -- Version rows are numbered package by package: a package's first row follows
    -- every version of the packages before it.
    SELECT p.*, u.n_kept,
        (sum(u.n_kept) OVER (ORDER BY p.pkg_id) - u.n_kept)::INTEGER AS first_vrow
    FROM pkg p JOIN uploads u ON u.pkg_id = p.pkg_id
    WHERE u.n_kept > 0
    ORDER BY p.pkg_id
), numbered AS (
    -- unnest in the select list streams each package's versions in vidx order, so
    -- rows come out in vrow order: no sort of the wide rows below (it would be the
    -- statement's peak of memory), no window over every version.
    SELECT *, (first_vrow + vidx)::INTEGER AS vrow, {UPLOAD_TIME} AS upload_time
    FROM (SELECT *, unnest(range(n_kept)) AS vidx FROM based)
), named AS (
    SELECT *,
        CASE WHEN calver THEN strftime(upload_time, '%Y.%-m.%-d')
        ELSE concat(major0 + (k0 + vidx) // (pa * pb), '.',
                    ((k0 + vidx) // pa) % pb, '.', (k0 + vidx) % pa)
        END AS version
    FROM numbered
), files AS (
    SELECT *,
        concat(display, '-', version, '.tar.gz') AS sdist_filename,
        CASE WHEN has_wheel THEN concat(wheel_dist, '-', version, '-', wheel_tag, '.whl') END
            AS wheel_filename
    FROM named
)
SELECT vrow, pkg_id, vidx, version, upload_time,
    (upload_time::DATE + 1) AS avail_day,
    sdist_filename, wheel_filename,
    concat('/packages/', substr(hs, 1, 2), '/', substr(hs, 3, 2), '/', substr(hs, 5, 60), '/',
           sdist_filename) AS sdist_url,
    CASE WHEN has_wheel THEN concat('/packages/', substr(hw, 1, 2), '/', substr(hw, 3, 2), '/',
           substr(hw, 5, 60), '/', wheel_filename) END AS wheel_url,
    hs AS sdist_sha256, hw AS wheel_sha256,
    CAST(size_kb * 1024 * (0.9 + 0.2 * {u("hash($seed, 's', pkg_id, vidx)", 0)}) AS BIGINT)
        AS sdist_size,
    CAST(size_kb * 1024 * (wheel_tag <> 'py3-none-any')::INT * 3 + size_kb * 900
        * (0.9 + 0.2 * {u("hash($seed, 'w', pkg_id, vidx)", 0)}) AS BIGINT) AS wheel_size
FROM (
    SELECT *, sha256(concat($seed, sdist_filename)) AS hs,
        sha256(concat($seed, wheel_filename)) AS hw
    FROM files
)
"""

#: Rows of versions not at their vrow position (must be 0: later steps read the
#: table in storage order).
VERSIONS_OUT_OF_ORDER = "SELECT count(*) FROM versions WHERE vrow <> rowid"

METADATA = """
COPY (
    SELECT * FROM (
        SELECT '2.1' AS metadata_version, p.display AS name, v.version, p.summary,
            p.author, p.author_email, p.license, p.keywords::VARCHAR AS keywords,
            p.classifiers::VARCHAR[] AS classifiers, p.home_page,
            NULL::VARCHAR AS download_url, p.requires_python::VARCHAR AS requires_python,
            p.requires_dist::VARCHAR[] AS requires_dist,
            p.project_urls::VARCHAR[] AS project_urls, t.uploaded_via,
            v.upload_time + to_microseconds(t.offset_us) AS upload_time,
            CASE t.kind WHEN 0 THEN v.sdist_filename ELSE v.wheel_filename END AS filename,
            CASE t.kind WHEN 0 THEN v.sdist_size ELSE v.wheel_size END AS size,
            CASE t.kind WHEN 0 THEN v.sdist_url ELSE v.wheel_url END AS path,
            CASE t.kind WHEN 0 THEN 'source'
                WHEN p.wheel_tag = 'py3-none-any' THEN 'py3' ELSE 'cp39' END AS python_version,
            CASE t.kind WHEN 0 THEN 'sdist' ELSE 'bdist_wheel' END AS packagetype,
            false AS has_signature,
            md5(CASE t.kind WHEN 0 THEN v.sdist_sha256 ELSE v.wheel_sha256 END) AS md5_digest,
            CASE t.kind WHEN 0 THEN v.sdist_sha256 ELSE v.wheel_sha256 END AS sha256_digest,
            sha256(CASE t.kind WHEN 0 THEN v.sdist_sha256 ELSE v.wheel_sha256 END)
                AS blake2_256_digest
        FROM versions v
        JOIN pkg p ON p.pkg_id = v.pkg_id
        CROSS JOIN (VALUES (0, 0::BIGINT, 'twine/6.1.0 CPython/3.12.8'),
                           (1, 4000000::BIGINT, 'twine/6.1.0 CPython/3.12.8')) t(kind, offset_us,
                                                                              uploaded_via)
        WHERE t.kind = 0 OR p.has_wheel
    )
    -- No sort: DuckDB runs on one thread, the order (package, version) is fixed anyway.
    -- Row groups of 32,768 rows, not DuckDB's 122,880: the writer buffers a row group
    -- of these long strings (urls, digests) before it writes, and a bigger group
    -- would make this statement the run's peak of memory.
) TO '{path}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 32768)
"""
