"""The documented file matches the real one: docs/schema.md names every table and column,
and the example queries of docs/querying.md (the README shows some of them) run."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import contract
from exports import duck
from tests.fixtures.export import Published
from tests.fixtures.warehouse import REPO_ROOT


def sql_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return [re.sub(r"^ {3}", "", b, flags=re.M).strip() for b in blocks]


def queries() -> list[str]:
    return sql_blocks(REPO_ROOT / "docs" / "querying.md")


def test_schema_doc_documents_every_table_and_column(published_db: Path) -> None:
    doc = (REPO_ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    con = sqlite3.connect(f"file:{published_db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
        tables = [t for t in tables if not t.startswith("sqlite_")]
        # Every mart of the contract plus _meta, _tables and _columns.
        assert sorted(tables) == sorted([*contract.TABLES, "_meta", "_tables", "_columns"])
        for table in tables:
            assert f"`{table}`" in doc, table
            for (column,) in con.execute(f'SELECT name FROM pragma_table_info("{table}")'):
                assert f"`{column}`" in doc, (table, column)
    finally:
        con.close()


def test_there_are_five_queries() -> None:
    assert len(queries()) == 5


def test_the_readme_queries_are_tested_ones() -> None:
    def words(sql: str) -> str:
        return " ".join(sql.split())

    shown = sql_blocks(REPO_ROOT / "README.md")
    assert len(shown) >= 2
    tested = {words(q) for q in queries()}
    for sql in shown:
        assert words(sql) in tested, sql


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_sqlite_queries_run_and_return_rows(published_db: Path, number: int) -> None:
    sql = queries()[number - 1]
    done = subprocess.run(
        [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
         " rows=c.execute(sys.argv[2]).fetchall(); print(len(rows))", str(published_db), sql],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0


def test_datasette_serves_query_4_with_the_metadata(published_export: Published) -> None:
    datasette = Path(sys.executable).with_name("datasette")
    db = published_export.db
    metadata = db.with_name("pypi_trends.datasette.json")
    assert metadata.is_file()
    from urllib.parse import quote

    done = subprocess.run(
        [str(datasette), str(db), "-m", str(metadata), "--get",
         f"/pypi_trends.json?_shape=array&sql={quote(queries()[3])}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"per_million_pypi"' in done.stdout


def test_duckdb_query_5_reads_the_file(published_db: Path, tmp_path: Path) -> None:
    con = duck.connect("100MB", tmp_path)
    try:
        attach, select = queries()[4].split(";", 1)
        con.execute(attach.replace("data/pypi_trends.sqlite", str(published_db)))
        rows = con.execute(select).fetchall()
        assert rows and rows[0][0] and rows[0][1] > 0
        # The count(*) caveat the README mentions is real, and the workaround works.
        with pytest.raises(Exception, match="ROWID"):
            con.execute("SELECT count(*) FROM trends.package_downloads_weekly").fetchall()
        n = con.execute(
            "SELECT count(package_name) FROM trends.package_downloads_weekly"
        ).fetchone()
        sq = sqlite3.connect(published_db)
        assert n == sq.execute("SELECT count(*) FROM package_downloads_weekly").fetchone()
        sq.close()
    finally:
        con.close()
