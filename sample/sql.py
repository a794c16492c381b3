"""The DuckDB SQL that expands per-day counts into download rows.

Pseudo-random values come from ``hash(seed, ...)`` of stable keys (day,
package, row index), never from ``random()``: the same options give the
same content whatever the thread scheduling.
"""

# Unit interval from 20 bits of a hash.
U20 = "(({h} >> {shift}) & 1048575)::DOUBLE / 1048576.0"


def u(h: str, shift: int) -> str:
    """Return SQL for a number in [0, 1) taken from 20 bits of hash ``h``."""
    return U20.format(h=h, shift=shift)


VERSIONS = f"""
CREATE OR REPLACE TABLE versions AS
WITH v AS (
    SELECT p.*, r.vidx,
        p.first_upload + to_microseconds(CAST(
            (r.vidx * p.interval_days + 0.45 * p.interval_days
                * {u("hash($seed, 'v', p.pkg_id, r.vidx)", 0)}) * 86400e6 AS BIGINT)) AS upload_time
    FROM pkg p, range(p.n_versions) r(vidx)
), named AS (
    SELECT *,
        CASE WHEN calver THEN strftime(upload_time, '%Y.%-m.%-d')
        ELSE concat(major0 + (k0 + vidx) // (pa * pb), '.', ((k0 + vidx) // pa) % pb, '.',
                    (k0 + vidx) % pa)
        END AS version
    FROM v WHERE upload_time < $range_end
), files AS (
    SELECT *,
        concat(display, '-', version, '.tar.gz') AS sdist_filename,
        CASE WHEN has_wheel THEN concat(wheel_dist, '-', version, '-', wheel_tag, '.whl') END
            AS wheel_filename
    FROM named
)
SELECT pkg_id, vidx, version, upload_time,
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

# Per package and day: downloads by users and by mirrors.
PKG_DAY = f"""
CREATE OR REPLACE TEMP TABLE pd AS
WITH w AS (
    SELECT p.pkg_id, d.day, d.day_idx, d.day_factor,
        exp(m0.lv + (m1.lv - m0.lv) * d.frac) AS w
    FROM chunk_days d
    CROSS JOIN pkg p
    JOIN pkg_month m0 ON m0.pkg_id = p.pkg_id AND m0.mi = d.mi
    JOIN pkg_month m1 ON m1.pkg_id = p.pkg_id AND m1.mi = d.mi + 1
), a AS (
    SELECT w.*, v.vidx + 1 AS nv, v.avail_day >= w.day - 2 AS fresh
    FROM w ASOF JOIN versions v ON w.pkg_id = v.pkg_id AND w.day >= v.avail_day
)
SELECT pkg_id, day, day_idx, nv,
    CAST(floor($k * w * day_factor * exp(0.3 * ({u("hash($seed, 'n', day_idx, pkg_id)", 0)} - 0.5))
        + {u("hash($seed, 'n', day_idx, pkg_id)", 20)}) AS BIGINT) AS n_user,
    CAST(floor($mirror_rate * (1 + 6 * fresh::INT)
        + {u("hash($seed, 'n', day_idx, pkg_id)", 40)}) AS BIGINT) AS n_mirror
FROM a
"""

# Client profiles of the chunk's days: 4096 user slots and 64 mirror slots a day.
PROFILES = f"""
CREATE OR REPLACE TEMP TABLE prof AS
WITH s AS (
    SELECT d.day_idx, r.slot, hash($seed, 'p', d.day_idx, r.slot) AS h,
        hash($seed, 'q', d.day_idx, r.slot) AS g
    FROM chunk_days d, range(4096 + 64) r(slot)
), x AS (
    SELECT day_idx, slot,
        CASE WHEN slot < 4096 THEN 'inst' ELSE 'mirror' END AS idim,
        {u("h", 0)} AS u_inst, {u("h", 20)} AS u_py, {u("h", 40)} AS u_plat,
        {u("g", 0)} AS u_cty, {u("g", 20)} AS u_tls, {u("g", 40)} AS u_st,
        ((g >> 60) & 15) AS r16, ((h >> 60) & 15) AS q16
    FROM s
), j AS (
    SELECT x.day_idx, x.slot, x.r16, x.q16,
        i.a AS inst_name, i.b AS inst_version, i.c AS kind,
        py.a AS python, py.b AS impl_name, py.c AS impl_version,
        pl.* EXCLUDE (plat_id), cty.a AS country_code, tls.a AS tls_protocol, tls.b AS tls_cipher,
        st.a AS setuptools_version
    FROM x
    ASOF JOIN dist i ON i.dim = x.idim AND i.day_idx = x.day_idx AND x.u_inst >= i.lo
    ASOF JOIN (SELECT * FROM dist WHERE dim = 'py') py
        ON py.day_idx = x.day_idx AND x.u_py >= py.lo
    ASOF JOIN (SELECT * FROM dist WHERE dim = 'st') st
        ON st.day_idx = x.day_idx AND x.u_st >= st.lo
    ASOF JOIN (SELECT lo, a::INT AS plat_id FROM dist WHERE dim = 'plat') pd
        ON x.u_plat >= pd.lo
    JOIN plat pl ON pl.plat_id = pd.plat_id
    ASOF JOIN (SELECT * FROM dist WHERE dim = 'cty') cty ON x.u_cty >= cty.lo
    ASOF JOIN (SELECT * FROM dist WHERE dim = 'tls') tls ON x.u_tls >= tls.lo
)
SELECT day_idx, slot, kind = 'meta' AS meta_ok, country_code, tls_protocol, tls_cipher,
    CASE WHEN kind <> 'mirror' AND r16 = 0 AND q16 < 4 THEN NULL  -- ~1.5% rows without details
    ELSE struct_pack(
        installer := CASE WHEN inst_name IS NULL THEN NULL
            ELSE struct_pack(name := inst_name, version := inst_version) END,
        python := CASE WHEN kind = 'min' THEN NULL ELSE python END,
        implementation := CASE WHEN kind = 'min' OR impl_name IS NULL THEN NULL
            ELSE struct_pack(name := impl_name, version := impl_version) END,
        distro := CASE WHEN kind IN ('min', 'mirror') OR distro_name IS NULL THEN NULL
            ELSE struct_pack(name := distro_name, version := distro_version, id := distro_id,
                libc := CASE WHEN libc_lib IS NULL THEN NULL
                    ELSE struct_pack(lib := libc_lib, version := libc_version) END) END,
        system := CASE WHEN kind = 'min' OR system_name IS NULL THEN NULL
            ELSE struct_pack(name := system_name, release := system_release) END,
        cpu := CASE WHEN kind = 'min' THEN NULL ELSE cpu END,
        openssl_version := CASE WHEN kind IN ('min', 'mirror') THEN NULL ELSE openssl END,
        setuptools_version := CASE WHEN kind IN ('full', 'meta') AND inst_name <> 'uv'
            THEN setuptools_version END,
        rustc_version := CASE WHEN kind IN ('full', 'meta') AND r16 = 1 THEN '1.82.0'
            WHEN kind IN ('full', 'meta') AND r16 = 2 AND q16 < 8 THEN '1.89.0' END,
        ci := CASE WHEN kind IN ('full', 'meta') AND q16 >= 12 THEN true END
    ) END AS details
FROM j
"""

EVENTS = f"""
COPY (
    WITH e AS (
        SELECT pd.pkg_id, pd.day, pd.day_idx, pd.nv, pd.n_user, r.i,
            hash($seed, pd.day_idx, pd.pkg_id, r.i) AS h
        FROM pd, range(pd.n_user + pd.n_mirror) r(i)
    ), f AS (
        SELECT e.*, hash(e.h) AS h2,
            CASE WHEN e.i < e.n_user THEN (e.h & 4095) ELSE 4096 + (e.h & 63) END AS slot,
            {u("e.h", 12)} AS u_t
        FROM e
    ), g AS (
        SELECT f.*, p.name, p.has_wheel, p.sdist_share, p.mean_back,
            greatest(0, f.nv - 1 - CAST(floor(-ln(1 - {u("f.h2", 0)}) * p.mean_back) AS BIGINT))
                AS vidx,
            {u("f.h2", 20)} AS u_f
        FROM f JOIN pkg p ON p.pkg_id = f.pkg_id
    ), k AS (
        SELECT g.*, pr.meta_ok, pr.country_code, pr.details, pr.tls_protocol, pr.tls_cipher,
            CASE WHEN NOT g.has_wheel OR g.u_f < g.sdist_share THEN 0
                WHEN pr.meta_ok AND g.u_f > 0.93 THEN 2 ELSE 1 END AS ft
        FROM g JOIN prof pr ON pr.day_idx = g.day_idx AND pr.slot = g.slot
    )
    SELECT
        make_timestamp(epoch_us(k.day::TIMESTAMP) + CAST(86400e6 * (k.u_t
            + 0.3 * sin(2 * pi() * k.u_t) / (2 * pi())) AS BIGINT))::TIMESTAMPTZ AS timestamp,
        k.country_code,
        CASE k.ft WHEN 0 THEN v.sdist_url WHEN 1 THEN v.wheel_url
            ELSE v.wheel_url || '.metadata' END AS url,
        k.name AS project,
        struct_pack(
            filename := CASE k.ft WHEN 0 THEN v.sdist_filename WHEN 1 THEN v.wheel_filename
                ELSE v.wheel_filename || '.metadata' END,
            project := k.name,
            version := v.version,
            type := CASE k.ft WHEN 0 THEN 'sdist' ELSE 'bdist_wheel' END
        ) AS file,
        k.details,
        k.tls_protocol,
        k.tls_cipher,
        k.day AS date
    FROM k JOIN versions v ON v.pkg_id = k.pkg_id AND v.vidx = k.vidx
) TO '{{path}}' (FORMAT parquet, PARTITION_BY (date), FILENAME_PATTERN 'part-{{{{i}}}}',
    OVERWRITE_OR_IGNORE, COMPRESSION {{compression}})
"""

METADATA = """
COPY (
    SELECT * FROM (
        SELECT '2.1' AS metadata_version, p.display AS name, v.version, p.summary,
            p.author, p.author_email, p.license, p.keywords, p.classifiers, p.home_page,
            NULL::VARCHAR AS download_url, p.requires_python, p.requires_dist,
            p.project_urls, t.uploaded_via,
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
    ORDER BY upload_time, filename
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""
