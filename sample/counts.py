"""How many downloads each package gets on a day (numpy, on the writer threads).

A package's daily rate interpolates the log of its real monthly figures; the
day's weekly and holiday factor, a +-15% day-to-day wobble and the scale of
the run turn it into a count. Mirrors add a few rows per package-day, more
in the three days after a release. A package-day counts only once the
package has a version available (its first upload, a day later).

Computed per day for every package at once (a few thousand numbers) by the
thread that then draws the day's rows: no statement per day or chunk on the
single DuckDB thread, and the days of two writers are counted in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sample.expand import MASK, DayCounts, mix

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: A version's key: package id in the high bits, the epoch day it is available from below.
_DAY_BITS = 32
#: Domain constant of the count hash (the row hash of ``expand`` uses none).
_COUNT_DOMAIN = 0x6E


@dataclass(frozen=True)
class Rates:
    """Everything that sets the download counts of a day, indexed by package id.

    Attributes:
        seed: the sample's seed.
        k: downloads per unit of real daily rate (scales the sample to ``--events``).
        mirror_rate: mirror rows per package-day.
        lv: log of the real daily rate at the start of each month, (packages, months).
        epoch_day: per day index of the range, days since 1970-01-01.
        month: per day index, the month column of ``lv`` it starts from.
        frac: per day index, how far into its month the day is (0..1).
        day_factor: per day index, weekday and holiday factor.
        version_key: per version row (ascending), package id << 32 | first epoch day
            it can be downloaded (the day after its upload).
        vbase: per package id, its first version row.
        has_wheel: per package id, True when it uploads wheels.
        sdist_share: per package id, share of downloads that fetch the sdist.
        mean_back: per package id, mean number of versions a download lags behind.
    """

    seed: int
    k: float
    mirror_rate: float
    lv: F64
    epoch_day: I64
    month: I64
    frac: F64
    day_factor: F64
    version_key: I64
    vbase: I64
    has_wheel: npt.NDArray[np.bool_]
    sdist_share: F64
    mean_back: F64

    def day(self, day_idx: int) -> DayCounts:
        """Return the package-days of day ``day_idx`` that have downloads, in package order.

        Args:
            day_idx: index of the day in the range (0 is the first day).

        Returns:
            The day's counts.
        """
        epoch_day = int(self.epoch_day[day_idx])
        m, frac = int(self.month[day_idx]), float(self.frac[day_idx])
        # Every package at once, filtered once at the end: a few thousand numbers a
        # step, where each numpy call (and each filter) costs more than its arithmetic.
        ids = np.arange(len(self.vbase), dtype=np.int64)
        # Versions available that day: those keyed at or before (package, day).
        upto = np.searchsorted(self.version_key, (ids << _DAY_BITS) + epoch_day, side="right")
        newest = upto - 1  # junk for a package without a version yet: dropped below
        released = self.version_key[newest] & ((1 << _DAY_BITS) - 1)
        fresh = released >= epoch_day - 2
        lv0, lv1 = self.lv[:, m], self.lv[:, m + 1]
        rate = np.exp(lv0 + (lv1 - lv0) * frac)
        base = (((self.seed & 0xFFFFFFFF) << 32 | epoch_day) * 0x9E3779B97F4A7C15) & MASK
        h = mix(ids.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(base))
        h ^= np.uint64(_COUNT_DOMAIN)
        mix(h)
        u = [
            ((h >> np.uint64(shift)) & np.uint64(0xFFFFF)).astype(np.float64) * 2.0**-20
            for shift in (0, 20, 40)
        ]
        # Floor of the expected count plus a uniform draw: the right mean, small noise.
        wobble = np.exp(0.3 * (u[0] - 0.5))
        n_user = np.floor(self.k * rate * self.day_factor[day_idx] * wobble + u[1])
        n_mirror = np.floor(self.mirror_rate * (1 + 6 * fresh) + u[2])
        n = (n_user + n_mirror).astype(np.int64)
        # Package-days without downloads add nothing (and no dictionary entry); a
        # package counts only once a version of it is available.
        keep = (n > 0) & (upto > self.vbase)
        pkg = np.flatnonzero(keep)
        vbase = self.vbase[pkg]
        return DayCounts(
            day_us=epoch_day * 86_400_000_000,
            epoch_day=epoch_day,
            pkg=pkg.astype(np.int32),
            vnewest=newest[pkg],
            vbase=vbase,
            has_wheel=self.has_wheel[pkg],
            sdist_share=self.sdist_share[pkg],
            mean_back=self.mean_back[pkg],
            n_user=n_user[pkg].astype(np.int64),
            n=n[pkg],
        )
