"""Atomic, reader-safe publication of a validated SQLite file (and the Parquet copies).

Layout (docs/architecture.md section 3)::

    data/pypi_trends.sqlite -> releases/pypi_trends-<build_id>.sqlite   (relative symlink)
    data/releases/pypi_trends-<build_id>.sqlite                          (last N kept)
    data/parquet/<mart>/part-NNNNN.parquet                               (key order across parts)

Every step either completes or leaves the previous current file untouched:
the new file is fsynced under a temporary name, renamed into ``releases/``,
then a temporary symlink is renamed over the current one (``rename(2)`` is
atomic) and the directory is fsynced. Temporary names carry the writer's pid
(``.<name>.tmp-<pid>``); an exclusive lock on ``releases/.export.lock`` makes
sure only one exporter runs, so any temporary left over is from a dead run and
is removed at the next start.

``releases/.published`` lists every release file that was made current, one
name a line, appended after each swap. A release file it does not list (and
that is not current) was renamed into ``releases/`` by a run that died before
its swap: it was never served, so it is removed at the next start instead of
taking one of the ``--keep`` places of the releases one can roll back to.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from exports import killpoints
from exports.errors import ExportError

RELEASE_PREFIX = "pypi_trends-"
RELEASE_SUFFIX = ".sqlite"
PUBLISHED_LOG = ".published"
BUILD_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Layout:
    """Where the published artefacts live."""

    db: Path
    releases_dir: Path
    parquet_dir: Path

    def release_path(self, build_id: str) -> Path:
        """Path of the release file of ``build_id``."""
        return self.releases_dir / f"{RELEASE_PREFIX}{build_id}{RELEASE_SUFFIX}"

    def temp_path(self, build_id: str) -> Path:
        """Temporary name the file is built under (next to the release: same filesystem)."""
        return self.releases_dir / f".{RELEASE_PREFIX}{build_id}{RELEASE_SUFFIX}.tmp-{os.getpid()}"

    def staging_dir(self) -> Path:
        """Directory the Parquet files are staged in before publication."""
        return self.parquet_dir / f".staging.tmp-{os.getpid()}"


def check_build_id(build_id: str) -> str:
    """Return ``build_id`` if it is safe in a file name.

    Raises:
        ExportError: otherwise.
    """
    if not BUILD_ID_RE.match(build_id):
        raise ExportError(f"invalid build id {build_id!r}: use letters, digits, '.', '_' and '-'")
    return build_id


def fsync_path(path: Path) -> None:
    """Flush a file or a directory (so a rename or a new entry survives a power cut)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def export_lock(layout: Layout) -> Iterator[None]:
    """Hold the exclusive exporter lock (released by the kernel even on SIGKILL).

    Raises:
        ExportError: when another exporter holds it.
    """
    layout.releases_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.releases_dir / ".export.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(
                f"another export is running (lock {layout.releases_dir}/.export.lock)"
            ) from None
        yield
    finally:
        os.close(fd)


def _owned_temporaries(layout: Layout) -> list[tuple[Path, re.Pattern[str]]]:
    """(directory, pattern) of every temporary name this exporter creates.

    Only those: other programs' files in the same directories are never touched.
    """
    tmp = r"\.tmp-\d+$"
    return [
        (
            layout.releases_dir,
            re.compile(rf"^\.{RELEASE_PREFIX}.*{re.escape(RELEASE_SUFFIX)}{tmp}"),
        ),
        (layout.releases_dir, re.compile(rf"^\.spill{tmp}")),
        (layout.db.parent, re.compile(rf"^\.{re.escape(layout.db.name)}{tmp}")),
        (layout.db.parent, re.compile(rf"^\.{re.escape(layout.db.stem)}\.datasette\.json{tmp}")),
        (layout.parquet_dir, re.compile(rf"^\.staging{tmp}")),
        (layout.parquet_dir, re.compile(rf"^\.[A-Za-z0-9_]+\.old{tmp}")),
    ]


def _release_files(layout: Layout) -> list[Path]:
    return [
        p for p in layout.releases_dir.glob(f"{RELEASE_PREFIX}*{RELEASE_SUFFIX}") if p.is_file()
    ]


def published_names(layout: Layout) -> set[str]:
    """Names of the release files that were made current (:data:`PUBLISHED_LOG`)."""
    try:
        text = (layout.releases_dir / PUBLISHED_LOG).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def record_published(layout: Layout, names: list[str]) -> None:
    """Append ``names`` to :data:`PUBLISHED_LOG` (durably: it decides what is kept)."""
    if not names:
        return
    fd = os.open(layout.releases_dir / PUBLISHED_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(f"{name}\n" for name in names).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _unpublished_releases(layout: Layout) -> list[Path]:
    """Release files a crashed run renamed in but never made current."""
    log = layout.releases_dir / PUBLISHED_LOG
    current = current_release(layout)
    releases = _release_files(layout)
    if not log.exists():
        # Releases from before the log existed were all published once.
        record_published(layout, sorted(p.name for p in releases))
        return []
    # Killed between the swap and the log line: it is current, hence published.
    if (
        current is not None
        and current.parent == layout.releases_dir.resolve()
        and current.name not in published_names(layout)
    ):
        record_published(layout, [current.name])
    known = published_names(layout)
    return sorted(p for p in releases if p.name not in known and p.resolve() != current)


def clean_leftovers(layout: Layout) -> list[Path]:
    """Remove temporary files and never-published releases of earlier, interrupted runs.

    Call with the lock held.

    Returns:
        The paths removed.
    """
    removed: list[Path] = []
    if layout.releases_dir.is_dir():
        for path in _unpublished_releases(layout):
            Path(f"{path}-journal").unlink(missing_ok=True)
            path.unlink()
            removed.append(path)
    own = f".tmp-{os.getpid()}"
    for directory, pattern in _owned_temporaries(layout):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if not pattern.match(path.name) or path.name.endswith(own):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                for extra in ("-journal", ""):
                    Path(str(path) + extra).unlink(missing_ok=True)
            removed.append(path)
    return removed


def current_release(layout: Layout) -> Path | None:
    """The release file the current symlink points at (None when nothing is published)."""
    if not layout.db.is_symlink() and not layout.db.exists():
        return None
    try:
        return layout.db.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        return None


def publish_release(layout: Layout, temp: Path, build_id: str) -> Path:
    """Make the validated ``temp`` file the current release, atomically.

    Returns:
        The release path now pointed at by the current symlink.

    Raises:
        ExportError: when a release with this build id already exists.
    """
    release = layout.release_path(build_id)
    if release.exists():
        raise ExportError(f"release {release} already exists: pick another --build-id")
    fsync_path(temp)
    os.rename(temp, release)
    fsync_path(layout.releases_dir)
    killpoints.reached("after_release_renamed")

    layout.db.parent.mkdir(parents=True, exist_ok=True)
    link_tmp = layout.db.parent / f".{layout.db.name}.tmp-{os.getpid()}"
    link_tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(release, layout.db.parent), link_tmp)
    killpoints.reached("after_symlink_created")
    # rename(2) replaces the old symlink in one step: a reader opening the path
    # gets either the old release or the new one, never nothing.
    os.replace(link_tmp, layout.db)
    fsync_path(layout.db.parent)
    record_published(layout, [release.name])
    killpoints.reached("after_swap")
    return release


def publish_parquet(layout: Layout, staged: dict[str, Path]) -> list[Path]:
    """Move each mart's staged Parquet directory to ``<parquet_dir>/<mart>/``.

    The previous directory is renamed away, the new one renamed in, then the
    old one deleted (two renames: a reader listing the directory at that very
    instant may miss it; the SQLite file is the one to read live).

    Returns:
        The published directories.
    """
    published = []
    for mart, part_dir in staged.items():
        for path in part_dir.iterdir():
            fsync_path(path)
        dest = layout.parquet_dir / mart
        old = layout.parquet_dir / f".{mart}.old.tmp-{os.getpid()}"
        if dest.exists():
            os.rename(dest, old)
        os.rename(part_dir, dest)
        fsync_path(layout.parquet_dir)
        shutil.rmtree(old, ignore_errors=True)
        published.append(dest)
    shutil.rmtree(layout.staging_dir(), ignore_errors=True)
    killpoints.reached("after_parquet_published")
    return published


def prune_releases(layout: Layout, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest releases; never the current one.

    Readers that still hold a deleted release open keep reading it (POSIX
    unlink semantics); new readers follow the symlink.

    Returns:
        The release files removed.
    """
    current = current_release(layout)
    known = published_names(layout)
    # Only releases that were current once count: a crash leftover is no rollback target.
    releases = sorted(
        (p for p in _release_files(layout) if p.name in known or p.resolve() == current),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    removed = []
    kept = 0
    for path in releases:
        if path.resolve() == current or kept < keep:
            kept += 1
            continue
        path.unlink()
        removed.append(path)
    if removed:
        fsync_path(layout.releases_dir)
    killpoints.reached("after_prune")
    return removed
