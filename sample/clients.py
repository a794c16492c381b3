"""Client profiles of one ISO week, as Arrow arrays that download rows index into.

A week has :data:`USER_SLOTS` user profiles and :data:`MIRROR_SLOTS` mirror
profiles, drawn from the distributions of :mod:`sample.profiles` at the
middle of the week with a ``random.Random`` seeded from (seed, week): the
same week always gets the same profiles. A download row carries a slot
number; its ``details``, ``country_code`` and ``tls_*`` columns are the
slot's values, written as dictionary-encoded parquet columns.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sample import profiles

USER_SLOTS = 2048
MIRROR_SLOTS = 64
SLOTS = USER_SLOTS + MIRROR_SLOTS

#: String leaves of ``details`` (path inside the struct) and the top-level ones.
LEAVES = (
    "installer.name",
    "installer.version",
    "python",
    "implementation.name",
    "implementation.version",
    "distro.name",
    "distro.version",
    "distro.id",
    "distro.libc.lib",
    "distro.libc.version",
    "system.name",
    "system.release",
    "cpu",
    "openssl_version",
    "setuptools_version",
    "rustc_version",
    "country_code",
    "tls_protocol",
    "tls_cipher",
)
#: Nested structs that can be NULL as a whole.
STRUCTS = ("details", "installer", "implementation", "distro", "distro.libc", "system")


class _Picker:
    """Weighted choice by bisection on cumulative weights."""

    def __init__(self, weights: list[float], values: list[Any]) -> None:
        self.cum = list(accumulate(weights))
        # One value past the end (bisect can land there when u * total rounds up).
        self.values = [*values, values[-1]]
        self.total = self.cum[-1]

    def pick(self, u: float) -> Any:
        return self.values[bisect_right(self.cum, u * self.total)]


_PLATFORMS = _Picker([p[0] for p in profiles.PLATFORMS], [p[1:] for p in profiles.PLATFORMS])
_COUNTRIES = _Picker([w for _, w in profiles.COUNTRIES], [c for c, _ in profiles.COUNTRIES])
_TLS = _Picker([w for _, _, w in profiles.TLS], [(p, c) for p, c, _ in profiles.TLS])
_NO_PLATFORM = (None,) * 9
_MIRRORS = _Picker([w for _, _, w in profiles.MIRRORS], [(n, v) for n, v, _ in profiles.MIRRORS])


@dataclass(frozen=True)
class WeekProfiles:
    """The profiles of one week as Arrow arrays of length :data:`SLOTS`.

    Attributes:
        codes: leaf -> int32 codes (NULL for a NULL value) into ``vocab[leaf]``.
        vocab: leaf -> string dictionary.
        null: struct -> boolean, True where the struct is NULL.
        ci: boolean or NULL (BigQuery has ``true`` or NULL, never ``false``).
        meta_ok: True when the client fetches ``.metadata`` files.
        max_kind: int8, the highest file kind the client fetches (2 with
            ``meta_ok``, else 1: its ``.metadata`` fetches are wheel fetches).
        details: the ``details`` column per slot (nested struct, dictionary leaves).
    """

    codes: dict[str, pa.Array]
    vocab: dict[str, pa.Array]
    null: dict[str, pa.Array]
    ci: pa.Array
    meta_ok: pa.Array
    max_kind: pa.Array
    details: pa.StructArray

    def leaf(self, name: str, slots: pa.Array) -> pa.DictionaryArray:
        """Return the dictionary-encoded values of ``name`` for rows with ``slots``."""
        return pa.DictionaryArray.from_arrays(
            pc.take(self.codes[name], slots), self.vocab[name], safe=False
        )

    def mask(self, name: str, slots: pa.Array) -> pa.Array:
        """Return the NULL mask of struct ``name`` for rows with ``slots``."""
        return pc.take(self.null[name], slots)


def _struct(fields: dict[str, pa.Array], mask: pa.Array | None = None) -> pa.StructArray:
    return pa.StructArray.from_arrays(list(fields.values()), names=list(fields), mask=mask)


def _details(
    codes: dict[str, pa.Array], vocab: dict[str, pa.Array], null: dict[str, pa.Array], ci: pa.Array
) -> pa.StructArray:
    """The BigQuery ``details`` struct of every slot."""

    def leaf(name: str) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(codes[name], vocab[name])

    return _struct(
        {
            "installer": _struct(
                {"name": leaf("installer.name"), "version": leaf("installer.version")},
                null["installer"],
            ),
            "python": leaf("python"),
            "implementation": _struct(
                {"name": leaf("implementation.name"), "version": leaf("implementation.version")},
                null["implementation"],
            ),
            "distro": _struct(
                {
                    "name": leaf("distro.name"),
                    "version": leaf("distro.version"),
                    "id": leaf("distro.id"),
                    "libc": _struct(
                        {"lib": leaf("distro.libc.lib"), "version": leaf("distro.libc.version")},
                        null["distro.libc"],
                    ),
                },
                null["distro"],
            ),
            "system": _struct(
                {"name": leaf("system.name"), "release": leaf("system.release")},
                null["system"],
            ),
            "cpu": leaf("cpu"),
            "openssl_version": leaf("openssl_version"),
            "setuptools_version": leaf("setuptools_version"),
            "rustc_version": leaf("rustc_version"),
            "ci": ci,
        },
        null["details"],
    )


#: Leaves compared first when slots are put in profile order (most rows share their values).
_ORDER = tuple(
    LEAVES.index(leaf)
    for leaf in ("installer.name", "system.name", "distro.name", "python", "installer.version")
)


def _in_profile_order(
    rows: list[tuple[Any, ...]],
    details_null: list[bool],
    ci: list[bool | None],
    meta_ok: list[bool],
) -> tuple[list[tuple[Any, ...]], list[bool], list[bool | None], list[bool]]:
    """Renumber the user slots, and the mirror slots, so that similar profiles are neighbours.

    Writers sort each day's rows by slot: equal values of every ``details`` leaf
    then come in long runs, which parquet's run-length encoding writes much
    faster (and smaller) than scattered values. Which profiles a week has does
    not change, only their numbering.
    """
    # One string key per slot (NULL sorts as ""): a plain sort of 2,112 short strings.
    keys = [
        "\x01".join(
            (
                f"{slot >= USER_SLOTS:d}{details_null[slot]:d}{ci[slot] is None:d}",
                f"{meta_ok[slot]:d}",
                *(row[i] or "" for i in _ORDER),
            )
        )
        for slot, row in enumerate(rows)
    ]
    order = sorted(range(SLOTS), key=keys.__getitem__)
    return (
        [rows[s] for s in order],
        [details_null[s] for s in order],
        [ci[s] for s in order],
        [meta_ok[s] for s in order],
    )


def week_profiles(seed: int, monday: date) -> WeekProfiles:
    """Draw the client profiles of the ISO week starting on ``monday``.

    Args:
        seed: the sample's seed.
        monday: first day of the week.

    Returns:
        The week's profiles.
    """
    mid = monday + timedelta(days=3)
    rng = random.Random(seed * 100_003 + mid.toordinal())
    inst = profiles.installer_choices(mid)
    installers = _Picker([i[0] for i in inst], [i[1:] for i in inst])
    pys = profiles.python_choices(mid)
    pythons = _Picker([p[0] for p in pys], [p[1:] for p in pys])
    sts = profiles.setuptools_choices(mid)
    setuptools = _Picker([s[0] for s in sts], [s[1] for s in sts])

    rows: list[tuple[Any, ...]] = []
    meta_ok: list[bool] = []
    ci: list[bool | None] = []
    details_null: list[bool] = []
    random_ = rng.random
    # Bound methods looked up once: this loop runs for every slot of every week.
    pick_installer, pick_mirror = installers.pick, _MIRRORS.pick
    pick_python, pick_platform = pythons.pick, _PLATFORMS.pick
    pick_country, pick_tls, pick_setuptools = _COUNTRIES.pick, _TLS.pick, setuptools.pick
    for slot in range(SLOTS):
        if slot < USER_SLOTS:
            name, version, kind = pick_installer(random_())
        else:
            (name, version), kind = pick_mirror(random_()), "mirror"
        python, impl, impl_version = pick_python(random_())
        plat = pick_platform(random_())
        if kind == "mirror" and plat[0] != "Linux":  # mirrors run on servers
            plat = ("Linux", "6.1.0-18-amd64", *plat[2:7], "x86_64", plat[8])
        u_st, u_rust, u_cty, u_tls, u_null, u_ci = (
            random_(),
            random_(),
            random_(),
            random_(),
            random_(),
            random_(),
        )
        country = pick_country(u_cty)
        tls = pick_tls(u_tls)
        if kind == "min":  # only the installer is known (browsers, requests, ...)
            rows.append((name, version, None, None, None, *_NO_PLATFORM, None, None, country, *tls))
        else:
            full = kind != "mirror"
            sys_name, sys_release, d_name, d_ver, d_id, libc, libc_ver, cpu, openssl = plat
            rows.append(
                (
                    name,
                    version,
                    python,
                    impl,
                    impl_version,
                    *((d_name, d_ver, d_id, libc, libc_ver) if full else (None,) * 5),
                    sys_name,
                    sys_release,
                    cpu,
                    openssl if full else None,
                    pick_setuptools(u_st) if full and name != "uv" else None,
                    ("1.82.0" if u_rust < 0.015 else "1.89.0") if full and u_rust < 0.03 else None,
                    country,
                    *tls,
                )
            )
        details_null.append(kind != "mirror" and u_null < 0.015)
        ci.append(True if kind in ("full", "meta") and u_ci < 0.25 else None)
        meta_ok.append(kind == "meta")
    rows, details_null, ci, meta_ok = _in_profile_order(rows, details_null, ci, meta_ok)
    codes: dict[str, pa.Array] = {}
    vocab: dict[str, pa.Array] = {}
    for leaf, values in zip(LEAVES, zip(*rows, strict=True), strict=True):
        encoded = pa.array(values, pa.string()).dictionary_encode()
        codes[leaf] = encoded.indices.cast(pa.int32())
        vocab[leaf] = encoded.dictionary
    null = {"details": pa.array(details_null, pa.bool_())}
    for struct, first in (
        ("installer", "installer.name"),
        ("implementation", "implementation.name"),
        ("distro", "distro.name"),
        ("distro.libc", "distro.libc.lib"),
        ("system", "system.name"),
    ):
        null[struct] = pc.is_null(codes[first])
    ci_arr = pa.array(ci, pa.bool_())
    return WeekProfiles(
        codes=codes,
        vocab=vocab,
        null=null,
        ci=ci_arr,
        meta_ok=pa.array(meta_ok, pa.bool_()),
        max_kind=pa.array([2 if ok else 1 for ok in meta_ok], pa.int8()),
        details=_details(codes, vocab, null, ci_arr),
    )
