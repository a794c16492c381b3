"""The PEP 440 macros (dbt/macros/pep440.sql) agree with ``packaging``, the reference parser.

The macros are compiled by dbt itself (``dbt compile --inline``) and the SQL
runs in DuckDB over a list of real-world and malformed version strings; the
expectations come from ``packaging.version``, not from the macros.
"""

from __future__ import annotations

import duckdb
import pytest
from dbt.cli.main import dbtRunner
from packaging.version import InvalidVersion, Version

from tests.fixtures.warehouse import DBT_PROFILES_DIR, DBT_PROJECT_DIR

VERSIONS = [
    # requests, certifi, a release candidate, a dev release (the examples)
    "2.32.3", "2024.8.30", "1.0.0rc1", "0.1.dev3",
    # shapes of the release segment
    "5", "3.0", "3.0.0", "2.32", "2.32.0", "0.0.1", "0.1.0", "1.0.0.0.0", "01.02.03",
    "2024.08.01", "20240830", "1!2.0", "1!2.3.4",
    # pre-releases and their spellings
    "1.0a1", "1.0b2", "1.0c1", "1.0rc1", "1.0alpha", "1.0-beta.2", "1.0.0-rc.1",
    "1.0_preview3", "1.0pre", "2.0RC1", "V2.0rc1", " 1.0rc1 ",
    # dev, post, local, and their mixes
    "1.0.dev0", "1.0-dev", "1.0.post1", "1.0-1", "1.0.rev2", "1.0r3", "1.0_post",
    "1.0.post1.dev0", "1.0rc1.post2", "2.1.0+ubuntu.dev1", "1.0+local", "1.0+abc.5",
    # not PEP 440
    "1.0.0-SNAPSHOT", "latest", "", "1..0", "1.0+", "1.0-foo", ".1", "1.0.0 final",
    "not a version!", "2004d", "1.0-rc1-2",
]  # fmt: skip


def _expected(version: str) -> tuple[str, str | None]:
    """(release kind, release line) by ``packaging``; the line only for valid versions."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return "unknown", None
    release = parsed.release
    line = f"{release[0]}.{release[1] if len(release) > 1 else 0}"
    if parsed.is_prerelease:
        return "pre-release", line
    if parsed.is_postrelease:
        return "patch", line
    if not any(release[1:]):
        return "major", line
    if not any(release[2:]):
        return "minor", line
    return "patch", line


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """version -> (release_kind, release_line) as the compiled macros compute them."""
    root = tmp_path_factory.mktemp("pep440")
    values = ", ".join("('" + v.replace("'", "''") + "')" for v in VERSIONS)
    inline = (
        "select v, {{ pep440_release_kind('v') }} as kind, {{ release_line('v') }} as line "
        f"from (values {values}) as t(v)"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYPI_TRENDS_WAREHOUSE", str(root / "warehouse.duckdb"))
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_TARGET"):
            mp.delenv(name, raising=False)
        result = dbtRunner().invoke(
            [
                "compile",
                "--inline",
                inline,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROFILES_DIR),
                "--target",
                "ci",
                "--target-path",
                str(root / "target"),
                "--log-path",
                str(root / "logs"),
                "--quiet",
            ]
        )
    assert result.success, result.exception
    sql = result.result.results[0].node.compiled_code
    rows = duckdb.connect().execute(sql).fetchall()
    return {v: (kind, line) for v, kind, line in rows}


def test_the_compiled_sql_covers_every_version(parsed: dict[str, tuple[str, str]]) -> None:
    assert sorted(parsed) == sorted(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_release_kind_and_line_match_packaging(
    parsed: dict[str, tuple[str, str]], version: str
) -> None:
    kind, line = _expected(version)
    assert parsed[version][0] == kind
    if line is not None:
        assert parsed[version][1] == line


# Not PEP 440, so packaging has no answer: the line is read from the leading
# numbers (dbt/macros/pep440.sql), else it is unknown.
@pytest.mark.parametrize(
    ("version", "line"),
    [("1.0.0-SNAPSHOT", "1.0"), ("2004d", "2004.0"), ("latest", "unknown"), ("", "unknown")],
)
def test_legacy_versions_keep_their_leading_numbers(
    parsed: dict[str, tuple[str, str]], version: str, line: str
) -> None:
    assert parsed[version] == ("unknown", line)
