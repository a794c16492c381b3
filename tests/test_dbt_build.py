"""The real ``dbt build`` on the tiny sample: every node passes and the marts
hold what the raw data says, checked independently of dbt with DuckDB."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta

import duckdb
import pytest

from tests.fixtures.warehouse import DBT_PROJECT_DIR, MART_GRAINS, MARTS, Warehouse

COUNTS = ["downloads", "downloads_ci", "downloads_mirror", "downloads_metadata"]


def _raw_downloads(warehouse: Warehouse) -> str:
    files = f"{warehouse.raw_dir}/file_downloads/*/*.parquet"
    return f"read_parquet('{files}', hive_partitioning = false)"


@pytest.fixture(scope="module")
def con(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(warehouse.path), read_only=True)
    connection.execute("set TimeZone = 'UTC'")
    return connection


def test_every_node_of_the_build_passed(warehouse: Warehouse) -> None:
    results = warehouse.run_results["results"]
    failed = [
        (r["unique_id"], r["status"])
        for r in results
        if r["status"] not in ("success", "pass")
        and not (r["unique_id"].startswith("exposure.") and r["status"] == "no-op")
    ]
    assert failed == []
    ids = {r["unique_id"] for r in results}
    unit_tests = {i for i in ids if i.startswith("unit_test.")}
    # name normalisation, python parsing, category precedence, ISO weeks,
    # rollup pivot, top-K folding, growth.
    assert len(unit_tests) >= 7
    for singular in (
        "assert_marts_reconcile_with_raw_downloads",
        "assert_dimension_marts_add_up_to_package_weeks",
        "assert_weeks_are_contiguous_and_complete",
        "assert_packages_match_weekly_totals",
    ):
        assert f"test.pypi_trends.{singular}" in ids
    for mart in MARTS:
        assert f"model.pypi_trends.{mart}" in ids


def test_marts_are_exported_with_contracts_and_descriptions(warehouse: Warehouse) -> None:
    manifest = warehouse.manifest
    exported = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "export" in node["tags"]
    }
    assert set(exported) == set(MARTS)
    for name, node in exported.items():
        assert node["contract"]["enforced"], name
        assert node["description"], name
        for column in node["columns"].values():
            assert column["description"], (name, column["name"])
            assert column["data_type"], (name, column["name"])
        assert MART_GRAINS[name][-1] in node["columns"]
    exposure = manifest["exposures"]["exposure.pypi_trends.serving_api"]
    expected = sorted(f"model.pypi_trends.{m}" for m in MARTS)
    assert sorted(exposure["depends_on"]["nodes"]) == expected


@pytest.mark.parametrize("mart", MARTS)
def test_grain_is_unique(con: duckdb.DuckDBPyConnection, mart: str) -> None:
    grain = ", ".join(MART_GRAINS[mart])
    rows, distinct = con.execute(
        f"select count(*), count(distinct ({grain})) from {mart}"
    ).fetchone() or (0, 0)
    assert rows > 0
    assert rows == distinct


def test_weekly_totals_equal_raw_rows_for_complete_weeks_only(
    warehouse: Warehouse, con: duckdb.DuckDBPyConnection
) -> None:
    # Independent of dbt: count raw rows per ISO week straight from the parquet.
    raw = dict(
        con.execute(
            f"""select cast(date_trunc('week', "timestamp") as date), count(*)
            from {_raw_downloads(warehouse)} group by 1"""
        ).fetchall()
    )
    first_day, last_day = con.execute(
        'select min(cast("timestamp" as date)), max(cast("timestamp" as date)) '
        f"from {_raw_downloads(warehouse)}"
    ).fetchone() or (None, None)
    assert isinstance(first_day, date) and isinstance(last_day, date)
    complete = {week for week in raw if week >= first_day and week + timedelta(days=6) <= last_day}
    built = dict(con.execute("select week_start, downloads from pypi_downloads_weekly").fetchall())
    assert set(built) == complete
    assert len(built) >= 8
    assert built == {week: raw[week] for week in complete}
    # Partial first and last weeks exist in raw but must not be built.
    assert set(raw) - complete


def test_categories_match_an_independent_classification(
    warehouse: Warehouse, con: duckdb.DuckDBPyConnection
) -> None:
    expected = con.execute(
        f"""
        with classified as (
            select
                cast(date_trunc('week', "timestamp") as date) as week_start,
                case
                    when file.filename like '%.metadata' then 'metadata'
                    when lower(details.installer.name) in (
                        'bandersnatch', 'z3c.pypimirror', 'artifactory',
                        'devpi', 'nexus', 'pep381client'
                    )
                        then 'mirror'
                    when details.ci then 'ci'
                    else 'user'
                end as category
            from {_raw_downloads(warehouse)}
        )
        select week_start,
            count(*) filter (where category = 'ci'),
            count(*) filter (where category = 'mirror'),
            count(*) filter (where category = 'metadata')
        from classified
        where week_start in (select week_start from pypi_downloads_weekly)
        group by 1 order by 1
        """
    ).fetchall()
    built = con.execute(
        "select week_start, downloads_ci, downloads_mirror, downloads_metadata "
        "from pypi_downloads_weekly order by 1"
    ).fetchall()
    assert built == expected
    # The sample exercises every category.
    assert all(ci > 0 and mirror > 0 and metadata > 0 for _, ci, mirror, metadata in built)


@pytest.mark.parametrize(
    ("mart", "column"),
    [(m, g[-1]) for m, g in MART_GRAINS.items() if len(g) == 3],
)
def test_dimension_marts_fold_to_top_k_and_add_up(
    con: duckdb.DuckDBPyConnection, mart: str, column: str
) -> None:
    # At most top_k (20) named values plus 'other' per package-week.
    widest = con.execute(
        f"select max(n) from (select count(*) filter (where {column} != 'other') as n "
        f"from {mart} group by package_name, week_start)"
    ).fetchone()
    assert widest is not None and 0 < widest[0] <= 20
    mismatched = con.execute(
        f"""
        select count(*) from (
            select package_name, week_start, {", ".join(f"sum({c}) as {c}" for c in COUNTS)}
            from {mart} group by 1, 2
        ) d
        full outer join package_downloads_weekly p using (package_name, week_start)
        where {" or ".join(f"d.{c} is distinct from p.{c}" for c in COUNTS)}
        """
    ).fetchone()
    assert mismatched == (0,)


def test_versions_are_folded_into_other_on_the_sample(con: duckdb.DuckDBPyConnection) -> None:
    # The tiny sample has packages with more than 20 versions a week: folding happens.
    folded = con.execute(
        "select count(*) from package_versions_weekly where version = 'other'"
    ).fetchone()
    assert folded is not None and folded[0] > 0


def test_packages_mart(con: duckdb.DuckDBPyConnection) -> None:
    last_week = con.execute("select max(week_start) from pypi_downloads_weekly").fetchone()
    assert last_week is not None
    top = con.execute(
        "select package_name, downloads_last_week from packages order by rank limit 2"
    ).fetchall()
    expected_top = con.execute(
        "select package_name, downloads from package_downloads_weekly where week_start = ? "
        "order by downloads desc, package_name limit 2",
        [last_week[0]],
    ).fetchall()
    assert top == expected_top
    ranks = con.execute("select min(rank), max(rank), count(*) from packages").fetchone()
    assert ranks is not None and ranks[0] == 1 and ranks[1] == ranks[2]
    bad_growth = con.execute(
        """select count(*) from packages where
        (downloads_prev_4_weeks = 0 and growth_4_weeks is not null)
        or (downloads_prev_4_weeks > 0 and abs(growth_4_weeks - (downloads_last_4_weeks
            - downloads_prev_4_weeks) / downloads_prev_4_weeks) > 1e-12)"""
    ).fetchone()
    assert bad_growth == (0,)
    with_metadata = con.execute(
        "select count(*) from packages "
        "where latest_version is not null and first_release_date is not null"
    ).fetchone()
    assert with_metadata is not None and with_metadata[0] > 0


def _ranges_test_sql(warehouse: Warehouse) -> str:
    """The compiled sorted_non_overlapping_ranges test of data_events."""
    found = sorted(warehouse.target_dir.glob("compiled/**/sorted_non_overlapping_ranges*.sql"))
    assert len(found) == 1, found
    return found[0].read_text()


@pytest.mark.parametrize(
    ("rows", "failing"),
    [
        ("('all', date '2020-01-01', date '2020-01-03'), ('all', date '2020-01-04', null)", 0),
        ("('all', date '2020-01-01', date '2020-01-03'), ('all', date '2020-01-03', null)", 1),
        ("('all', date '2020-01-01', null), ('all', date '2020-02-01', date '2020-02-02')", 1),
        ("('all', date '2020-01-05', date '2020-01-04')", 1),
        ("('all', date '2020-01-01', date '2020-01-01'), ('all', date '2020-01-01', null)", 1),
        ("('all', date '2020-01-01', null), ('numpy', date '2020-01-01', null)", 0),
    ],
    ids=["apart", "touching", "after-open", "reversed", "same-start", "other-scope"],
)
def test_event_ranges_test_catches_overlaps(warehouse: Warehouse, rows: str, failing: int) -> None:
    """The generic test on data_events fails on overlapping, reversed or open-then-more ranges."""
    sql = _ranges_test_sql(warehouse)
    relation = re.search(r'from ("[^"]+"\."main"\."data_events")', sql)
    assert relation is not None
    bad = f"(select * from (values {rows}) as t(scope, start_date, end_date))"
    got = duckdb.connect().execute(f"select count(*) from ({sql.replace(relation[1], bad)})")
    assert got.fetchone() == (failing,)


def test_the_events_seed_is_sorted_by_scope_and_start() -> None:
    with (DBT_PROJECT_DIR / "seeds" / "pypi_log_events.csv").open(newline="") as handle:
        keys = [(row["scope"], row["start_date"]) for row in csv.DictReader(handle)]
    assert keys and keys == sorted(keys)


def test_release_lines_and_versions_add_up(con: duckdb.DuckDBPyConnection) -> None:
    """Per package-week, the lines mart holds exactly the downloads of the rollup's versions."""
    mismatched = con.execute(
        """
        select count(*) from (
            select package_name, week_start, sum(downloads) as downloads
            from package_version_lines_weekly group by 1, 2
        ) lines
        full outer join (
            select package_name, week_start, sum(downloads) as downloads
            from int_downloads_rolled_up_weekly where dimension = 'version' group by 1, 2
        ) versions using (package_name, week_start)
        where lines.downloads is distinct from versions.downloads
        """
    ).fetchone()
    assert mismatched == (0,)
    # A version's line is its first two numbers: the sample's x.y.z versions all fall into
    # the line of the same name.
    wrong = con.execute(
        """
        select count(*) from int_downloads_rolled_up_weekly r
        where r.dimension = 'version' and r.dimension_value not in ('unknown')
            and not exists (
                select 1 from package_version_lines_weekly l
                where l.package_name = r.package_name and l.week_start = r.week_start
                    and l.release_line in (
                        regexp_extract(r.dimension_value, '^([0-9]+[.][0-9]+)', 1), 'other')
            )
        """
    ).fetchone()
    assert wrong == (0,)


def test_packages_carry_the_metadata_home_page(
    con: duckdb.DuckDBPyConnection, warehouse: Warehouse
) -> None:
    """Every home page is the package's own Home-page field or a project URL, none is made up."""
    metadata = f"read_parquet('{warehouse.raw_dir}/distribution_metadata/*.parquet')"
    declared = con.execute(
        f"""
        with raw as (
            select regexp_replace(lower(name), '[-_.]+', '-', 'g') as package_name,
                home_page, project_urls
            from {metadata}
        ),
        candidates as (
            select package_name, home_page from raw
            union all
            select package_name, trim(split_part(u, ',', 2)) from raw, unnest(project_urls) t(u)
        )
        select
            count(*) filter (where p.home_page is not null),
            count(*) filter (where p.home_page is not null and not exists (
                select 1 from candidates c
                where c.package_name = p.package_name and c.home_page = p.home_page))
        from packages p
        """
    ).fetchone()
    assert declared is not None
    with_home_page, invented = declared
    assert with_home_page > 0 and invented == 0
