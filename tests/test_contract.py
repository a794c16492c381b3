"""The file contract (``contract``) agrees with the dbt project it describes."""

from __future__ import annotations

import contract
from exports.manifest import export_marts
from tests.fixtures.warehouse import Warehouse


def test_contract_names_exactly_the_exported_marts(warehouse: Warehouse) -> None:
    marts = {m.name: m for m in export_marts(warehouse.manifest)}
    assert set(contract.TABLES) == set(marts)
    for name, table in contract.TABLES.items():
        assert marts[name].grain == table.key, name
        assert tuple(c.name for c in marts[name].columns) == table.columns, name


def test_every_dimension_names_its_mart_and_value_column(warehouse: Warehouse) -> None:
    marts = {m.name: m for m in export_marts(warehouse.manifest)}
    for dim in contract.DIMENSIONS.values():
        mart = marts[dim.table.name]
        assert dim.column in {c.name for c in mart.columns}, dim.slug
        assert mart.grain == ("package_name", "week_start", dim.column), dim.slug


def test_data_through_table_is_weekly_and_exported(warehouse: Warehouse) -> None:
    marts = {m.name: m for m in export_marts(warehouse.manifest)}
    columns = {c.name for c in marts[contract.DATA_THROUGH_TABLE.name].columns}
    assert "week_start" in columns


def test_schema_version_is_readable() -> None:
    assert contract.SCHEMA_VERSION in contract.READABLE_SCHEMA_VERSIONS
    assert len(set(contract.META_KEYS)) == len(contract.META_KEYS)
