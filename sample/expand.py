"""Expand one day's per-package download counts into integer-coded download rows (numpy).

DuckDB computes how many downloads each package gets on each day (a few
million package-days for the demo); the rows themselves (20M for the demo)
are drawn here, per day, on the writer threads: numpy's vectorised integer
and float operations cost a fraction of the same expressions in SQL plus
the conversion of their result to Arrow, and they release the GIL, so two
writer threads expand their days in parallel.

Every pseudo-random value comes from a splitmix64 hash of (seed, day,
package, row index): the rows of a day are the same whatever the thread
that draws them, so the files are byte-identical for any number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sample.clients import MIRROR_SLOTS, USER_SLOTS

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_GOLDEN_INT = 0x9E3779B97F4A7C15
#: Python integers wrapped to 64 bits with this mask (numpy scalars would warn on overflow).
MASK = (1 << 64) - 1
_GOLDEN = np.uint64(_GOLDEN_INT)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_DAY_US = 86_400_000_000
#: Share of the day in the diurnal cycle: a sine of this amplitude bends the uniform draw.
_DIURNAL = 0.3
#: Above this draw a client that fetches ``.metadata`` files asks for the wheel's one.
_METADATA_DRAW = 0.93


def mix(x: U64) -> U64:
    """splitmix64's finaliser, in place: every output bit depends on every input bit."""
    t = np.empty_like(x)
    for shift, mul in ((30, _M1), (27, _M2)):
        np.right_shift(x, np.uint64(shift), out=t)
        np.bitwise_xor(x, t, out=x)
        np.multiply(x, mul, out=x)
    np.right_shift(x, np.uint64(31), out=t)
    np.bitwise_xor(x, t, out=x)
    return x


@dataclass(frozen=True)
class DayCounts:
    """The package-days of one day that have downloads, in package order.

    Attributes:
        day_us: the day's midnight, epoch microseconds (UTC).
        epoch_day: days since 1970-01-01 (part of every row's hash key).
        pkg: package ids.
        vnewest: version row of the newest version available that day.
        vbase: first version row of the package.
        has_wheel: True when the package uploads wheels.
        sdist_share: share of downloads that fetch the sdist.
        mean_back: mean number of versions a download lags behind the newest.
        n_user: downloads by users.
        n: downloads by users and mirrors (mirror rows follow the user rows).
    """

    day_us: int
    epoch_day: int
    pkg: npt.NDArray[np.int32]
    vnewest: I64
    vbase: I64
    has_wheel: npt.NDArray[np.bool_]
    sdist_share: F64
    mean_back: F64
    n_user: I64
    n: I64

    @property
    def rows(self) -> int:
        """The number of download rows of the day."""
        return int(self.n.sum())


@dataclass(frozen=True)
class Rows:
    """Integer-coded download rows, in client-profile (slot) order.

    Attributes:
        ts: epoch microseconds.
        pkg: index into ``packages`` (the parquet dictionary index of ``project``).
        packages: the package ids that rows of this batch have, ascending.
        vrow: version row.
        fc: file choice: 0 sdist, 1 wheel, 2 wheel or its ``.metadata``.
        slot: client profile slot of the week.
    """

    ts: I64
    pkg: npt.NDArray[np.int32]
    packages: npt.NDArray[np.int32]
    vrow: npt.NDArray[np.int32]
    fc: npt.NDArray[np.int8]
    slot: npt.NDArray[np.int16]


def expand(seed: int, day: DayCounts, lo: int, hi: int) -> Rows:
    """Draw the rows ``[lo, hi)`` of ``day`` (rows numbered package by package).

    Args:
        seed: the sample's seed.
        day: the day's download counts.
        lo: first row.
        hi: end row (exclusive), > ``lo``.

    Returns:
        The rows, ordered by slot (stable: within a slot, by package and row).
    """
    end = np.cumsum(day.n)
    first = int(np.searchsorted(end, lo, side="right"))
    last = int(np.searchsorted(end, hi - 1, side="right"))
    start = end[first : last + 1] - day.n[first : last + 1]
    counts = np.minimum(end[first : last + 1], hi) - np.maximum(start, lo)
    # rep: the package-day of each row, relative to `first`; i: the row within it.
    rep = np.repeat(np.arange(last - first + 1, dtype=np.intp), counts)
    i = np.arange(lo, hi, dtype=np.int64) - np.take(start, rep)
    sl = slice(first, last + 1)
    base = np.uint64(
        (((seed & 0xFFFFFFFF) << 32 | (day.epoch_day & 0xFFFFFFFF)) * _GOLDEN_INT) & MASK
    )
    key = mix(day.pkg[sl].astype(np.uint64) * _M1 + base)
    # np.take: much cheaper than fancy indexing (x[rep]) for 1-D gathers.
    h = np.take(key, rep)
    h += i.astype(np.uint64) * _GOLDEN
    mix(h)
    # Bits of the one hash: 0-10 the slot, 11-30 the time of day, 31-50 the
    # version, 51-63 the file choice.
    mirror = i >= np.take(day.n_user[sl], rep)
    slot = (h & np.uint64(USER_SLOTS - 1)).astype(np.int16)
    # Mirror rows (about 1%) take the mirror slots.
    slot[mirror] = USER_SLOTS + (h[mirror] & np.uint64(MIRROR_SLOTS - 1)).astype(np.int16)
    u_t = ((h >> np.uint64(11)) & np.uint64(0xFFFFF)).astype(np.float64) * 2.0**-20
    # The diurnal cycle: a monotone bend of the uniform draw (more downloads mid-day UTC).
    # A float32 sine: far cheaper than float64, and its error (about 1e-7) is far
    # below the 2^-20 resolution of the draw.
    bend = np.sin((u_t * (2 * np.pi)).astype(np.float32)).astype(np.float64)
    frac = u_t + _DIURNAL / (2 * np.pi) * bend
    ts = (frac * _DAY_US).astype(np.int64) + day.day_us
    u_v = ((h >> np.uint64(31)) & np.uint64(0xFFFFF)).astype(np.float64) * 2.0**-20
    # Versions behind the newest: exponential with the package's mean.
    # (1 - u_v is exact, so log loses nothing against the dearer log1p.)
    back = np.floor(-np.log(1.0 - u_v) * np.take(day.mean_back[sl], rep)).astype(np.int64)
    vnewest = np.take(day.vnewest[sl], rep)
    vrow = np.maximum(vnewest - back, np.take(day.vbase[sl], rep)).astype(np.int32)
    u_f = (h >> np.uint64(51)).astype(np.float64) * 2.0**-13
    sdist = ~np.take(day.has_wheel[sl], rep) | (u_f < np.take(day.sdist_share[sl], rep))
    # 0 for the sdist, else 1 for the wheel, 2 above the .metadata draw.
    fc = (~sdist).astype(np.int8) * (1 + (u_f > _METADATA_DRAW).astype(np.int8))
    # Rows in slot order: profiles are numbered so that neighbours look alike, and
    # the parquet writer encodes the long runs of equal client values much faster.
    # A stable radix sort of 16-bit keys.
    order = np.argsort(slot, kind="stable")
    return Rows(
        ts=np.take(ts, order),
        pkg=np.take(rep, order).astype(np.int32),
        packages=day.pkg[sl],
        vrow=np.take(vrow, order),
        fc=np.take(fc, order),
        slot=np.take(slot, order),
    )
