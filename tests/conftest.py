"""Shared pytest configuration.

Each stage of the pipeline contributes the fixtures later stages build on, in
its own module under ``tests/fixtures/`` (sample -> warehouse -> export), so
that every test runs against data produced by the real code path.
"""

pytest_plugins = [
    "tests.fixtures.sample",
    "tests.fixtures.warehouse",
    "tests.fixtures.export",
    "tests.fixtures.api",
    "tests.fixtures.threshold",
]
