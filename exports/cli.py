"""Command line: ``python -m exports [export|pipeline] [options]``.

Options override environment variables, which override defaults; the
environment is read when the command runs, never at import time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path

from exports.errors import ExportError
from exports.guards import ShrinkBounds
from exports.pipeline import ExportOptions, run_export
from exports.publish import Layout, check_build_id
from exports.refresh import RefreshConfig, run_pipeline
from exports.report import Reporter, configure_logging
from exports.sources import (
    MIN_WEEK_ROWS,
    PART_ROWS,
    WEEK_PART_ROWS,
    BigQuerySource,
    DuckDBSource,
    Source,
)
from exports.writer import LOAD_WORKERS

COMMANDS = ("export", "pipeline")


EXAMPLES = """\
examples:
  python -m exports export                      # what `make export` runs, after `make build`
  python -m exports export --dry-run            # the plan, nothing written
  python -m exports pipeline                    # dbt build, then export if a new week is complete
  DBT_TARGET=prod python -m exports pipeline    # the same on BigQuery (`make refresh`)

Exit status: 0 published, nothing new (pipeline) or dry run ok; 1 export failed
(the current file is untouched); 2 usage error (a bad option, an unusable output
path); 3 refused: a test of a mart failed, was skipped or did not run in the dbt
run that last wrote it, or a later run failed one (--force), or the new file
shrinks against the current release beyond the guards (--accept-shrink);
pipeline only: 4 the BigQuery dry-run estimate exceeds
PYPI_TRENDS_BQ_MAXIMUM_BYTES_BILLED (dbt not run), 5 dbt build failed (a model or
data test; nothing exported). The pipeline ends with one log line
event=pipeline_done|pipeline_failed (weeks built, rows, bytes billed, seconds,
published build id, exit code)."""


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The argument parser; defaults come from ``env``."""
    db_default = env.get("PYPI_TRENDS_DB", "data/pypi_trends.sqlite")
    parser = argparse.ArgumentParser(
        prog="python -m exports",
        description=(
            "Export the dbt marts tagged 'export' to a self-describing SQLite file (one STRICT,\n"
            "WITHOUT ROWID table per mart) and Parquet, validate it, and publish it atomically\n"
            "as releases/pypi_trends-<build_id>.sqlite behind the PYPI_TRENDS_DB symlink."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{export,pipeline}")
    for name, help_text in (
        ("export", "export the marts built by the latest dbt run and publish them (default)"),
        ("pipeline", "dbt build, then export and publish (the production refresh)"),
    ):
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=parser.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument(
            "--source",
            choices=("duckdb", "bigquery"),
            default="bigquery" if env.get("DBT_TARGET") == "prod" else "duckdb",
            help="where the marts are read from (default: duckdb; bigquery when DBT_TARGET=prod)",
        )
        p.add_argument(
            "--warehouse",
            type=Path,
            default=Path(env.get("PYPI_TRENDS_WAREHOUSE", "data/warehouse.duckdb")),
            help="DuckDB warehouse file (env PYPI_TRENDS_WAREHOUSE; default %(default)s)",
        )
        p.add_argument(
            "--target-dir",
            type=Path,
            default=Path(env.get("DBT_TARGET_PATH", "dbt/target")),
            help=(
                "dbt target dir with manifest.json and run_results.json"
                " (env DBT_TARGET_PATH; default %(default)s)"
            ),
        )
        p.add_argument(
            "--db",
            "--out",
            dest="db",
            type=Path,
            default=Path(db_default),
            help=(
                "published path, a symlink to the current release"
                " (env PYPI_TRENDS_DB; default %(default)s)"
            ),
        )
        p.add_argument(
            "--releases-dir", type=Path, help="release files (default: releases/ next to --db)"
        )
        p.add_argument(
            "--parquet-dir", type=Path, help="Parquet copies (default: parquet/ next to --db)"
        )
        p.add_argument(
            "--keep", type=int, default=3, help="releases to keep, current included (default 3)"
        )
        p.add_argument(
            "--build-id", help="release id (default: UTC time + hash of the dbt invocation id)"
        )
        p.add_argument(
            "--source-target", help="recorded in _meta.source_target (default: the dbt target)"
        )
        p.add_argument(
            "--force", action="store_true", help="export even if the latest dbt run has failures"
        )
        p.add_argument(
            "--accept-shrink",
            metavar="REASON",
            help="publish even when the new file shrinks beyond the guards against the current"
            " release; the reason and what changed are recorded in _meta.accepted_shrink",
        )
        p.add_argument(
            "--shrink-bounds",
            metavar="NAME=VALUE,...",
            default=env.get("PYPI_TRENDS_SHRINK_BOUNDS", ""),
            help="override guard bounds (env PYPI_TRENDS_SHRINK_BOUNDS), fractions of the"
            f" current release: {_bounds_help()}",
        )
        p.add_argument(
            "--dry-run", action="store_true", help="read the manifest and the source, write nothing"
        )
        p.add_argument(
            "--memory-limit",
            default="40MB",
            help="DuckDB buffer cap; sorts spill beyond it (default %(default)s)",
        )
        p.add_argument(
            "--threads",
            type=int,
            default=1,
            help="DuckDB threads for the sort (default %(default)s)",
        )
        p.add_argument(
            "--overlap",
            action="store_true",
            help="sort the next key range while SQLite loads the current one (2 cores;"
            " more memory: use --memory-limit 64MB)",
        )
        p.add_argument(
            "--load-workers",
            type=int,
            default=LOAD_WORKERS,
            help="DuckDB cursors staging chunks for SQLite at once (default %(default)s)",
        )
        p.add_argument("--part-rows", type=int, default=PART_ROWS, help=argparse.SUPPRESS)
        p.add_argument("--week-part-rows", type=int, default=WEEK_PART_ROWS, help=argparse.SUPPRESS)
        p.add_argument("--min-week-rows", type=int, default=MIN_WEEK_ROWS, help=argparse.SUPPRESS)
        p.add_argument(
            "--progress",
            choices=("auto", "bar", "log"),
            default="auto",
            help="progress bar (bar), log lines (log), or bar only on a terminal (auto)",
        )
        p.add_argument(
            "--bq-project", default=env.get("PYPI_TRENDS_BQ_PROJECT"), help="BigQuery project (env)"
        )
        p.add_argument(
            "--bq-dataset", default=env.get("PYPI_TRENDS_BQ_DATASET"), help="BigQuery dataset (env)"
        )
        p.add_argument(
            "--bq-location",
            default=env.get("PYPI_TRENDS_BQ_LOCATION"),
            help="BigQuery location (env)",
        )
        p.add_argument("-v", "--verbose", action="store_true", help="debug log lines")
        if name == "pipeline":
            p.add_argument(
                "--dbt-project-dir",
                type=Path,
                default=Path("dbt"),
                help="dbt project (default %(default)s)",
            )
            p.add_argument(
                "--skip-dbt",
                action="store_true",
                help="do not run dbt build (export what is built)",
            )
            p.add_argument(
                "--even-if-unchanged",
                action="store_true",
                help="publish even when the current release already has the last complete week",
            )
    return parser


def _bounds_help() -> str:
    defaults = ShrinkBounds()
    return ", ".join(f"{f.name}={getattr(defaults, f.name)}" for f in fields(ShrinkBounds))


def parse_bounds(text: str) -> ShrinkBounds:
    """``name=value,...`` over :class:`ShrinkBounds`' defaults.

    Raises:
        ValueError: an unknown name or a value out of range.
    """
    bounds = ShrinkBounds()
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        kinds = {f.name: f.type for f in fields(ShrinkBounds)}
        if name not in kinds:
            raise ValueError(f"unknown bound {name!r} (known: {', '.join(kinds)})")
        number: float = int(value) if name == "top_packages" else float(value)
        if number < 0 or (name != "top_packages" and number > 1):
            raise ValueError(f"bound {name}={value} out of range")
        bounds = replace(bounds, **{name: number})  # type: ignore[arg-type]
    return bounds


def _writable_dir(path: Path) -> str | None:
    """Why ``path`` cannot be (made) a writable directory, or None when it can."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            return f"{probe} is a dangling symlink"
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    try:
        os.statvfs(probe)
    except OSError as exc:
        return f"{probe}: {exc.strerror}"
    return None


def usage_errors(args: argparse.Namespace, layout: Layout) -> list[str]:
    """Options and output paths that cannot work, checked before anything is read."""
    errors = []
    if args.keep < 1:
        errors.append("--keep must be at least 1")
    for option in ("threads", "load_workers", "part_rows", "week_part_rows"):
        if getattr(args, option) < 1:
            errors.append(f"--{option.replace('_', '-')} must be at least 1")
    if args.build_id is not None:
        try:
            check_build_id(args.build_id)
        except ExportError as exc:
            errors.append(str(exc))
    if args.accept_shrink is not None and not args.accept_shrink.strip():
        errors.append('--accept-shrink needs a reason: --accept-shrink "<why>"')
    try:
        parse_bounds(args.shrink_bounds)
    except ValueError as exc:
        errors.append(f"--shrink-bounds: {exc}")
    if not args.dry_run:
        for option, directory in (
            ("--db", layout.db.parent),
            ("--releases-dir", layout.releases_dir),
            ("--parquet-dir", layout.parquet_dir),
        ):
            problem = _writable_dir(directory)
            if problem:
                errors.append(f"{option}: {problem}")
        if layout.db.is_dir():
            errors.append(f"--db: {layout.db} is a directory")
    return errors


def _source(args: argparse.Namespace) -> Source:
    if args.source == "bigquery":
        return BigQuerySource(args.bq_project, args.bq_dataset, args.bq_location)
    return DuckDBSource(
        args.warehouse,
        part_rows=args.part_rows,
        week_part_rows=args.week_part_rows,
        min_week_rows=args.min_week_rows,
    )


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    env = os.environ if env is None else env
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["export", *argv]
    args = build_parser(env).parse_args(argv)
    db = Path(args.db)
    layout = Layout(
        db=db,
        releases_dir=args.releases_dir or db.parent / "releases",
        parquet_dir=args.parquet_dir or db.parent / "parquet",
    )
    errors = usage_errors(args, layout)
    if errors:
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(args.verbose)
    interactive = args.progress == "bar" or (args.progress == "auto" and sys.stderr.isatty())
    reporter = Reporter(interactive=interactive)
    opts = ExportOptions(
        source=_source(args),
        target_dir=args.target_dir,
        layout=layout,
        keep=args.keep,
        force=args.force,
        dry_run=args.dry_run,
        build_id=args.build_id,
        source_target=args.source_target,
        skip_if_unchanged=args.command == "pipeline" and not args.even_if_unchanged,
        memory_limit=args.memory_limit,
        threads=args.threads,
        overlap=args.overlap,
        load_workers=args.load_workers,
        bounds=parse_bounds(args.shrink_bounds),
        accept_shrink=args.accept_shrink,
    )
    try:
        if args.command == "pipeline":
            config = RefreshConfig(
                project_dir=args.dbt_project_dir,
                warehouse=args.warehouse,
                run_dbt=not args.dry_run and not args.skip_dbt,
                bq_project=args.bq_project,
                bq_location=args.bq_location,
            )
            result = run_pipeline(opts, config, env, reporter)
        else:
            result = run_export(opts, reporter)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; the current file is untouched", file=sys.stderr)
        return 130
    if result.skipped:
        print(f"nothing new: {layout.db} already has the last complete week")
    elif not args.dry_run and result.release is not None:
        print(
            f"published {layout.db} -> {result.release} ({sum(result.row_counts.values()):,} rows)"
        )
    return 0
