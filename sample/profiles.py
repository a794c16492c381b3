"""Who downloads: installers, Python versions, platforms, shifting over time.

The distributions here are sampled once per ISO week into a table of client
profiles (:mod:`sample.clients`); each download row then picks a profile.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

MIRRORS = (
    ("bandersnatch", "6.6.0", 0.40),
    ("devpi", "6.14.0", 0.15),
    ("Artifactory", None, 0.20),
    ("Nexus", "3.75.1-01", 0.15),
    ("z3c.pypimirror", "1.0.16", 0.05),
    ("pep381client", "1.5", 0.05),
)


def _year(day: date) -> float:
    return day.year + (day.timetuple().tm_yday - 1) / 365.25


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _quarterly(first_year: int, last_year: int, major: int | None = None) -> list[tuple[str, date]]:
    """pip-like calendar versions: YY.0 in January, YY.1 in April, ..."""
    out = []
    for year in range(first_year, last_year + 1):
        for q in range(4):
            name = f"{year - 2000}.{q}" if major is None else f"{major}.{year - 2000}.{q}"
            out.append((name, date(year, 1 + 3 * q, 20)))
    return out


def _uv_releases() -> list[tuple[str, date]]:
    """uv: a minor every ~10 weeks since 2024-02-15, a patch every week."""
    out = []
    day = date(2024, 2, 15)
    minor, patch = 1, 0
    while day < date(2028, 1, 1):
        out.append((f"0.{minor}.{patch}", day))
        day += timedelta(days=7)
        patch += 1
        if patch == 10:
            minor, patch = minor + 1, 0
    return out


_INSTALLER_RELEASES: dict[str, list[tuple[str, date]]] = {
    "pip": [("9.0.1", date(2016, 11, 6)), ("20.3.4", date(2021, 1, 23))]
    + [(v, d) for v, d in _quarterly(2021, 2027) if not v.endswith(".3") or d.year != 2021],
    "uv": _uv_releases(),
    "poetry": [
        ("1.8.3", date(2024, 5, 8)),
        ("1.8.5", date(2024, 12, 6)),
        ("2.0.1", date(2025, 1, 11)),
        ("2.1.3", date(2025, 5, 1)),
        ("2.2.1", date(2025, 9, 20)),
        ("2.3.0", date(2026, 3, 10)),
        ("2.4.0", date(2026, 9, 1)),
    ],
    "pdm": [(f"2.{m}.0", date(2024, 1, 1) + timedelta(days=60 * (m - 12))) for m in range(12, 40)],
    "pipenv": [(f"{y}.{m}.0", date(y, m, 5)) for y in range(2023, 2028) for m in (1, 4, 8, 11)],
    "requests": [
        ("2.31.0", date(2023, 5, 22)),
        ("2.32.3", date(2024, 5, 29)),
        ("2.32.5", date(2025, 8, 18)),
        ("2.33.0", date(2026, 5, 1)),
    ],
    "Bazel": [
        ("7.4.1", date(2024, 11, 1)),
        ("8.2.0", date(2025, 6, 1)),
        ("9.0.0", date(2026, 6, 1)),
    ],
    "Browser": [("", date(2000, 1, 1))],
    "setuptools": [("58.1.0", date(2021, 9, 1))],
    "": [("", date(2000, 1, 1))],
}
_SETUPTOOLS = [
    ("58.1.0", date(2021, 9, 1)),
    ("65.5.0", date(2022, 10, 1)),
    ("68.0.0", date(2023, 6, 1)),
    *((f"{70 + i}.0.0", date(2024, 6, 1) + timedelta(days=45 * i)) for i in range(20)),
]

# Python minor versions: (release, end of life, last patch number).
_PYTHONS = {
    "2.7": (date(2010, 7, 3), date(2020, 1, 1), 18),
    "3.6": (date(2016, 12, 23), date(2021, 12, 23), 15),
    "3.7": (date(2018, 6, 27), date(2023, 6, 27), 17),
    "3.8": (date(2019, 10, 14), date(2024, 10, 7), 20),
    "3.9": (date(2020, 10, 5), date(2025, 10, 31), 25),
    "3.10": (date(2021, 10, 4), date(2026, 10, 31), 19),
    "3.11": (date(2022, 10, 24), date(2027, 10, 31), 14),
    "3.12": (date(2023, 10, 2), date(2028, 10, 31), 12),
    "3.13": (date(2024, 10, 7), date(2029, 10, 31), 9),
    "3.14": (date(2025, 10, 7), date(2030, 10, 31), 5),
    "3.15": (date(2026, 10, 1), date(2031, 10, 31), 2),
}
_GARBAGE_PYTHON = ("CPython", "3", "3.x", "unknown", "3.11.4+", "3.10.12 (main)", "", "2.7.18 ")


def installer_shares(day: date) -> dict[str, float]:
    """Return the share of each installer (``""`` for none) on ``day``.

    uv rises from its first release (2024-02) along a logistic curve; the
    others are flat; pip takes the remainder.
    """
    t = _year(day)
    uv = 0.0 if day < date(2024, 2, 15) else 0.32 * _logistic((t - 2025.6) * 2.2)
    shares = {
        "uv": uv,
        "poetry": 0.06,
        "pdm": 0.006,
        "pipenv": 0.012,
        "requests": 0.025,
        "Browser": 0.012,
        "Bazel": 0.004,
        "setuptools": 0.003,
        "": 0.015,
    }
    shares["pip"] = 1.0 - sum(shares.values())
    return shares


def python_shares(day: date) -> dict[str, float]:
    """Return the share of each Python minor version on ``day``.

    A version is adopted over about a year after its release and fades out
    over the two years before its end of life.
    """
    t = _year(day)
    out = {}
    for minor, (rel, eol, _) in _PYTHONS.items():
        if day < rel - timedelta(days=120):
            continue
        adopt = _logistic((t - _year(rel) - 0.9) * 4.0)
        # Old versions fade out around their end of life but linger (legacy pins),
        # the lingering share halving every year after the end of life.
        linger = 0.04 * 0.5 ** max(0.0, t - _year(eol))
        fade = max(linger, _logistic((_year(eol) - 0.6 - t) * 2.0))
        out[minor] = max(0.004 if minor == "2.7" else 0.0005, adopt * fade)
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


def _recent(
    releases: list[tuple[str, date]], day: date, keep: int, decay: float
) -> list[tuple[float, str]]:
    released = [v for v, d in releases if d <= day] or [releases[0][0]]
    recent = released[-keep:][::-1]
    return [(decay**i, v) for i, v in enumerate(recent)]


# (weight, system name, release, distro name, distro version, distro id, libc lib,
#  libc version, cpu, openssl)
PLATFORMS: tuple[
    tuple[
        float,
        str | None,
        str | None,
        str | None,
        str | None,
        str | None,
        str | None,
        str | None,
        str | None,
        str | None,
    ],
    ...,
] = (
    (
        0.16,
        "Linux",
        "6.8.0-1015-aws",
        "Ubuntu",
        "22.04",
        "jammy",
        "glibc",
        "2.35",
        "x86_64",
        "OpenSSL 3.0.2 15 Mar 2022",
    ),
    (
        0.10,
        "Linux",
        "6.8.0-45-generic",
        "Ubuntu",
        "24.04",
        "noble",
        "glibc",
        "2.39",
        "x86_64",
        "OpenSSL 3.0.13 30 Jan 2024",
    ),
    (
        0.05,
        "Linux",
        "5.15.0-1057-azure",
        "Ubuntu",
        "20.04",
        "focal",
        "glibc",
        "2.31",
        "x86_64",
        "OpenSSL 1.1.1f  31 Mar 2020",
    ),
    (
        0.15,
        "Linux",
        "6.1.0-18-amd64",
        "Debian GNU/Linux",
        "12",
        "bookworm",
        "glibc",
        "2.36",
        "x86_64",
        "OpenSSL 3.0.15 3 Sep 2024",
    ),
    (
        0.04,
        "Linux",
        "5.10.0-28-amd64",
        "Debian GNU/Linux",
        "11",
        "bullseye",
        "glibc",
        "2.31",
        "x86_64",
        "OpenSSL 1.1.1w  11 Sep 2023",
    ),
    (
        0.04,
        "Linux",
        "6.1.0-18-arm64",
        "Debian GNU/Linux",
        "12",
        "bookworm",
        "glibc",
        "2.36",
        "aarch64",
        "OpenSSL 3.0.15 3 Sep 2024",
    ),
    (
        0.06,
        "Linux",
        "5.10.225-213.878.amzn2.x86_64",
        "Amazon Linux",
        "2",
        None,
        "glibc",
        "2.26",
        "x86_64",
        "OpenSSL 1.0.2k-fips  26 Jan 2017",
    ),
    (
        0.04,
        "Linux",
        "6.1.112-122.189.amzn2023.x86_64",
        "Amazon Linux",
        "2023",
        None,
        "glibc",
        "2.34",
        "x86_64",
        "OpenSSL 3.0.8 7 Feb 2023",
    ),
    (
        0.02,
        "Linux",
        "6.6.58-0-lts",
        "Alpine Linux",
        "3.20.3",
        None,
        "musl",
        "1.2.5",
        "x86_64",
        "OpenSSL 3.3.2 3 Sep 2024",
    ),
    (
        0.01,
        "Linux",
        "3.10.0-1160.el7.x86_64",
        "CentOS Linux",
        "7",
        "Core",
        "glibc",
        "2.17",
        "x86_64",
        "OpenSSL 1.0.2k-fips  26 Jan 2017",
    ),
    (
        0.02,
        "Linux",
        "5.14.0-427.el9.x86_64",
        "Red Hat Enterprise Linux",
        "9.4",
        "Plow",
        "glibc",
        "2.34",
        "x86_64",
        "OpenSSL 3.0.7 1 Nov 2022",
    ),
    (
        0.005,
        "Linux",
        "6.11.4-301.fc41.x86_64",
        "Fedora Linux",
        "41",
        None,
        "glibc",
        "2.40",
        "x86_64",
        "OpenSSL 3.2.2 4 Jun 2024",
    ),
    (
        0.02,
        "Linux",
        "6.6.0",
        None,
        None,
        None,
        "glibc",
        "2.28",
        "x86_64",
        "OpenSSL 3.0.15 3 Sep 2024",
    ),
    (
        0.003,
        "Linux",
        "4.19.0",
        "Debian GNU/Linux",
        "10",
        "buster",
        "glibc",
        "2.28",
        "ppc64le",
        "OpenSSL 1.1.1n  15 Mar 2022",
    ),
    (
        0.002,
        "Linux",
        "5.15.0",
        "Ubuntu",
        "22.04",
        "jammy",
        "glibc",
        "2.35",
        "s390x",
        "OpenSSL 3.0.2 15 Mar 2022",
    ),
    (0.07, "Windows", "10", None, None, None, None, None, "AMD64", "OpenSSL 3.0.15 3 Sep 2024"),
    (
        0.015,
        "Windows",
        "2022Server",
        None,
        None,
        None,
        None,
        None,
        "AMD64",
        "OpenSSL 3.0.13 30 Jan 2024",
    ),
    (
        0.06,
        "Darwin",
        "24.1.0",
        "macOS",
        "15.1",
        None,
        None,
        None,
        "arm64",
        "OpenSSL 3.4.0 22 Oct 2024",
    ),
    (0.04, "Darwin", "23.6.0", "macOS", "14.6.1", None, None, None, "arm64", "LibreSSL 3.3.6"),
    (
        0.015,
        "Darwin",
        "22.6.0",
        "macOS",
        "13.6.9",
        None,
        None,
        None,
        "x86_64",
        "OpenSSL 1.1.1w  11 Sep 2023",
    ),
    (
        0.002,
        "FreeBSD",
        "14.1-RELEASE",
        None,
        None,
        None,
        None,
        None,
        "amd64",
        "OpenSSL 3.0.14 4 Jun 2024",
    ),
    (0.001, "OpenBSD", "7.6", None, None, None, None, None, "amd64", "LibreSSL 4.0.0"),
    (0.001, "emscripten", "3.1.58", None, None, None, None, None, "wasm32", None),
    (0.01, None, None, None, None, None, None, None, None, None),
)

COUNTRIES = (
    ("US", 0.38),
    ("CN", 0.07),
    ("DE", 0.06),
    ("IE", 0.05),
    ("GB", 0.04),
    ("JP", 0.035),
    ("IN", 0.035),
    ("FR", 0.03),
    ("NL", 0.03),
    ("SG", 0.025),
    ("KR", 0.02),
    ("CA", 0.02),
    ("BR", 0.015),
    ("AU", 0.015),
    ("SE", 0.01),
    ("FI", 0.01),
    ("HK", 0.01),
    ("TW", 0.008),
    ("PL", 0.008),
    ("ES", 0.008),
    ("IT", 0.008),
    ("CH", 0.006),
    ("BE", 0.005),
    ("RU", 0.005),
    ("IL", 0.005),
    ("VN", 0.004),
    ("ID", 0.004),
    ("ZA", 0.003),
    ("MX", 0.003),
    ("AR", 0.002),
    ("NG", 0.001),
    ("KE", 0.001),
    ("NZ", 0.002),
    ("AT", 0.003),
    ("CZ", 0.003),
    ("UA", 0.003),
    (None, 0.005),
)
TLS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", 0.55),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", 0.25),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", 0.05),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 0.12),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 0.03),
)


Installer = tuple[float, str | None, str | None, str]
Python = tuple[float, str | None, str | None, str | None]


def installer_choices(day: date) -> list[Installer]:
    """Return ``(weight, name, version, kind)`` of every installer version on ``day``.

    ``kind`` is ``full`` (every detail), ``meta`` (full, and fetches ``.metadata``
    files: pip >= 23 and uv) or ``min`` (only the installer is known).
    """
    out: list[Installer] = []
    for name, share in installer_shares(day).items():
        for w, version in _recent(_INSTALLER_RELEASES[name], day, 8, 0.6):
            kind = "min" if name in ("requests", "Browser", "Bazel", "") else "full"
            if name == "uv" or (name == "pip" and version[:2].isdigit() and int(version[:2]) >= 23):
                kind = "meta"
            out.append((share * w, name or None, version or None, kind))
    return out


def python_choices(day: date) -> list[Python]:
    """Return ``(weight, python, implementation name, implementation version)`` on ``day``.

    Includes the dirt of real logs: release candidates before a release,
    ``major.minor`` without patch, PyPy, NULL and garbage strings.
    """
    out: list[Python] = []
    for minor, share in python_shares(day).items():
        rel, _, last_patch = _PYTHONS[minor]
        if day < rel:  # pre-releases before the final release
            out.append((share, f"{minor}.0rc1", "CPython", f"{minor}.0rc1"))
            continue
        newest = min(last_patch, int((day - rel).days / 61))
        for back in range(min(4, newest + 1)):
            version = f"{minor}.{newest - back}"
            out.append((share * 0.55 * 0.45**back, version, "CPython", version))
        if minor in ("3.9", "3.12"):  # some clients report only major.minor
            out.append((share * 0.01, minor, "CPython", minor))
    out.append((0.01, "3.10.14", "PyPy", "7.3.17"))
    out.append((0.01, None, None, None))
    out.extend((0.0004, g, "CPython", None) for g in _GARBAGE_PYTHON)
    # A release candidate is always around a little (3.13.0rc1 style).
    out.append((0.0005, "3.13.0rc1", "CPython", "3.13.0rc1"))
    return out


def setuptools_choices(day: date) -> list[tuple[float, str | None]]:
    """Return ``(weight, setuptools version)`` on ``day``; NULL for half the clients."""
    out: list[tuple[float, str | None]] = list(_recent(_SETUPTOOLS, day, 6, 0.6))
    out.append((0.5, None))
    return out
