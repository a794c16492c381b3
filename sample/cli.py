"""Command line: ``python -m sample generate|calibrate``."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from sample.options import SCALES, OptionsError, default_out, resolve

# sample.generate and sample.calibration are imported where used: `--help` and
# option errors stay instant (no DuckDB/pyarrow import).


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


EXAMPLES = """\
examples:
  python -m sample generate --scale demo --out data/raw   # what `make sample` runs
  python -m sample generate --scale tiny --out /tmp/raw   # a quick one (the tests' size)
  python -m sample generate --start 2025-01-01 --end 2025-03-31 --events 1000000 \\
      --packages 500 --seed 7 --out /tmp/raw

Exit status: 0 written or already up to date; 2 usage error (nothing written)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sample",
        description="BigQuery-shaped sample of PyPI download logs (parquet).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser(
        "generate",
        help="write file_downloads/, distribution_metadata/ and _SUCCESS",
        description="Generate the sample. Same options and seed give the same content;\n"
        "an output already generated with the same options is kept (use --force).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="tiny",
        help="preset for weeks/events/packages (default: tiny)",
    )
    gen.add_argument("--start", type=_date, help="first day, YYYY-MM-DD (overrides --weeks)")
    gen.add_argument("--end", type=_date, help="last day, YYYY-MM-DD (default: 2026-11-18)")
    gen.add_argument("--weeks", type=int, help="number of weeks ending on --end")
    gen.add_argument("--events", type=int, help="approximate number of download rows")
    gen.add_argument("--packages", type=int, help="number of packages")
    gen.add_argument("--seed", type=int, default=42, help="seed (default: 42)")
    gen.add_argument(
        "--out", type=Path, default=default_out(), help="output directory (default: data/raw)"
    )
    gen.add_argument("--force", action="store_true", help="regenerate even if up to date")
    gen.add_argument("--threads", type=int, help="writer threads (default: 2)")
    cal = sub.add_parser(
        "calibrate",
        help="derive sample/calibration.csv.gz from the shared real figures",
    )
    cal.add_argument(
        "--shared",
        type=Path,
        default=Path("../shared/data"),
        help="folder with the top-pypi-packages CSV files",
    )
    cal.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("calibration.csv.gz"),
        help="the compact file to write (default sample/calibration.csv.gz)",
    )
    return parser


def _progress() -> tuple[Callable[[int, int, str], None], object]:
    """A rich progress bar on a terminal, plain log lines otherwise."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        bar = Bar(
            TextColumn("sample"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            transient=False,
        )
        task = bar.add_task("setup", total=1)
        bar.start()

        def update(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total, description=message)

        return update, bar
    last = [0.0]

    def log(done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] > 2:
            last[0] = now
            print(f"sample: {done}/{total} days, {message}", file=sys.stderr, flush=True)

    return log, None


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the range yields no download
        rows or writing fails, 2 on bad options or an unusable ``--out``.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "calibrate":
        from sample import calibration

        try:
            n = calibration.derive(args.shared, args.out)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.out} ({n} rows, {args.out.stat().st_size:,} bytes)")
        return 0
    try:
        opts = resolve(
            scale=args.scale,
            start=args.start,
            end=args.end,
            weeks=args.weeks,
            events=args.events,
            packages=args.packages,
            seed=args.seed,
        )
        if args.threads is not None and args.threads < 1:
            raise OptionsError(f"threads must be >= 1, got {args.threads}")
    except OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from sample.generate import generate

    problem = _unusable_out(args.out)
    if problem:
        print(f"error: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    # A polite kill (SIGTERM) unwinds like Ctrl-C: the work directory is removed.
    previous = signal.signal(signal.SIGTERM, _terminate)
    update, bar = _progress()
    try:
        result = generate(opts, args.out, force=args.force, progress=update, threads=args.threads)
    except OSError as exc:
        where = exc.filename or args.out
        print(
            f"error: cannot write the sample to {args.out}: {where}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2 if exc.errno in _PATH_ERRNOS else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.stop()  # type: ignore[attr-defined]
    if result.skipped:
        print(
            f"sample: {result.out} already holds this sample ({result.downloads:,} rows); "
            "use --force to regenerate",
            file=sys.stderr,
        )
    else:
        rate = result.downloads / result.seconds if result.seconds else 0.0
        print(
            f"sample: wrote {result.downloads:,} downloads and {result.metadata:,} metadata "
            f"rows to {result.out} in {result.seconds:.1f}s ({rate:,.0f} rows/s)",
            file=sys.stderr,
        )
    if result.downloads == 0:
        print(
            f"warning: {opts.start}..{opts.end} yields no download rows (the calibrated"
            " packages have no downloads then): the sample is empty",
            file=sys.stderr,
        )
        return 1
    return 0


#: errno values that mean the path itself is unusable (a usage error, exit 2).
_PATH_ERRNOS = frozenset(
    {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}
)


def _unusable_out(out: Path) -> str | None:
    """Why ``out`` cannot be a directory, found without writing (None: it may be)."""
    if out.exists() and not out.is_dir():
        return "exists and is not a directory"
    probe = out.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    return None
