"""The per-day expansion of download counts into coded rows, and the file-code encoding."""

from __future__ import annotations

import numpy as np
import pytest

from sample.assemble import _encode
from sample.clients import MIRROR_SLOTS, USER_SLOTS
from sample.expand import DayCounts, Rows, expand

DAY_US = 20_000 * 86_400_000_000


def _day() -> DayCounts:
    n_user = np.array([5, 0, 300, 40], np.int64)
    return DayCounts(
        day_us=DAY_US,
        epoch_day=20_000,
        pkg=np.array([3, 8, 9, 42], np.int32),
        vnewest=np.array([12, 20, 35, 40], np.int64),
        vbase=np.array([10, 20, 21, 40], np.int64),
        has_wheel=np.array([True, True, True, False]),
        sdist_share=np.array([0.05, 0.05, 0.1, 0.1]),
        mean_back=np.array([1.0, 1.0, 3.0, 0.5]),
        n_user=n_user,
        n=n_user + np.array([1, 2, 0, 3], np.int64),
    )


def _rows(rows: Rows) -> list[tuple[int, ...]]:
    return sorted(
        zip(
            rows.ts.tolist(),
            rows.packages[rows.pkg].tolist(),
            rows.vrow.tolist(),
            rows.fc.tolist(),
            rows.slot.tolist(),
            strict=True,
        )
    )


def test_rows_follow_the_counts_and_the_package_rules() -> None:
    day = _day()
    rows = expand(7, day, 0, day.rows)
    assert len(rows.ts) == day.rows == 351
    assert rows.packages.tolist() == day.pkg.tolist()
    per_package = np.bincount(rows.pkg, minlength=len(day.pkg))
    assert per_package.tolist() == day.n.tolist()
    mirror = rows.slot >= USER_SLOTS
    assert (
        np.bincount(rows.pkg[mirror], minlength=len(day.pkg)).tolist()
        == (day.n - day.n_user).tolist()
    )
    assert rows.slot.min() >= 0 and rows.slot.max() < USER_SLOTS + MIRROR_SLOTS
    assert np.all(np.diff(rows.slot) >= 0)  # slot order, what makes writing fast
    assert np.all((rows.ts >= DAY_US) & (rows.ts < DAY_US + 86_400_000_000))
    assert np.all(rows.vrow >= day.vbase[rows.pkg]) and np.all(rows.vrow <= day.vnewest[rows.pkg])
    assert set(rows.fc.tolist()) == {0, 1, 2}
    assert np.all(rows.fc[rows.pkg == 3] == 0)  # no wheel: only the sdist
    # The newest version gets most downloads; older ones some.
    big = rows.vrow[rows.pkg == 2]
    assert (big == 35).mean() > 0.2 and (big < 35).mean() > 0.2


@pytest.mark.parametrize("cut", [1, 5, 6, 200, 350])
def test_a_day_cut_into_batches_draws_the_same_rows(cut: int) -> None:
    day = _day()
    whole = _rows(expand(7, day, 0, day.rows))
    parts = _rows(expand(7, day, 0, cut)) + _rows(expand(7, day, cut, day.rows))
    assert sorted(parts) == whole


def test_the_seed_and_the_day_change_the_draws() -> None:
    day = _day()
    assert _rows(expand(7, day, 0, day.rows)) != _rows(expand(8, day, 0, day.rows))
    assert _rows(expand(7, day, 0, day.rows)) == _rows(expand(7, day, 0, day.rows))


def test_encode_gives_sorted_distinct_codes_and_their_indices() -> None:
    codes = np.array([9, 3, 3, 0, 9, 7, 3], np.int32)
    distinct, indices = _encode(codes, 12)
    assert distinct.tolist() == [0, 3, 7, 9]
    assert distinct[indices.to_numpy()].tolist() == codes.tolist()
    # The per-thread table is clean again: a second batch sees only its own codes.
    distinct, indices = _encode(np.array([11, 1], np.int32), 12)
    assert distinct.tolist() == [1, 11]
    assert indices.to_pylist() == [1, 0]
