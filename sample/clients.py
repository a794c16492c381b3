"""Client profiles of one ISO week, as Arrow arrays that download rows index into.

A week has :data:`USER_SLOTS` user profiles and :data:`MIRROR_SLOTS` mirror
profiles, drawn from the distributions of :mod:`sample.profiles` at the
middle of the week with a numpy generator seeded from (seed, week): the
same week always gets the same profiles. A download row carries a slot
number; its ``details``, ``country_code`` and ``tls_*`` columns are the
slot's values, written as dictionary-encoded parquet columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
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
    """Weighted choice by bisection on cumulative weights, for arrays of uniform draws."""

    def __init__(self, weights: list[float], values: list[Any]) -> None:
        self.cum = np.cumsum(np.asarray(weights, np.float64))
        self.total = float(self.cum[-1])
        # One column of values per tuple field, as object arrays (strings or None).
        rows = [v if isinstance(v, tuple) else (v,) for v in values]
        self.columns = [_objects(col) for col in zip(*rows, strict=True)]

    def pick(self, u: npt.NDArray[np.float64]) -> list[npt.NDArray[np.object_]]:
        """Return, per tuple field, the values chosen by the draws ``u`` in [0, 1)."""
        # bisect_right; clipped: u * total can round up to the last bound.
        at = np.minimum(np.searchsorted(self.cum, u * self.total, side="right"), len(self.cum) - 1)
        return [np.take(col, at) for col in self.columns]


def _objects(values: Any) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


_PLATFORMS = _Picker([p[0] for p in profiles.PLATFORMS], [p[1:] for p in profiles.PLATFORMS])
_COUNTRIES = _Picker([w for _, w in profiles.COUNTRIES], [c for c, _ in profiles.COUNTRIES])
_TLS = _Picker([w for _, _, w in profiles.TLS], [(p, c) for p, c, _ in profiles.TLS])
_MIRRORS = _Picker([w for _, _, w in profiles.MIRRORS], [(n, v) for n, v, _ in profiles.MIRRORS])


@dataclass(frozen=True)
class WeekProfiles:
    """The profiles of one week as Arrow arrays of length :data:`SLOTS`.

    Attributes:
        codes: leaf -> int32 codes (NULL for a NULL value) into ``vocab[leaf]``.
        vocab: leaf -> string dictionary.
        null: struct -> boolean, True where the struct is NULL.
        ci: boolean or NULL (BigQuery has ``true`` or NULL, never ``false``).
        max_kind: int8, the highest file kind the client fetches: 2 when it
            fetches ``.metadata`` files, else 1 (its ``.metadata`` fetches are
            wheel fetches).
        details: the ``details`` column per slot (nested struct, dictionary leaves).
    """

    codes: dict[str, pa.Array]
    vocab: dict[str, pa.Array]
    null: dict[str, pa.Array]
    ci: pa.Array
    max_kind: pa.Array
    details: pa.StructArray

    def column(self, name: str) -> pa.DictionaryArray:
        """Return the dictionary-encoded values of ``name`` per slot."""
        return pa.DictionaryArray.from_arrays(self.codes[name], self.vocab[name], safe=False)


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


def _own_nulls(array: pa.Array, parent_null: npt.NDArray[np.bool_]) -> pa.Array:
    """Keep only the NULLs of ``array`` and its children that their parents do not imply.

    Under a NULL struct, parquet writes no value and no NULL for the children:
    a child's NULL there changes nothing in the file (the same bytes), but it
    is one more mask to repeat for every day's rows and one more for the
    writer to read. Most leaves are NULL exactly where their struct is (a
    ``distro``'s ``name``, ``version`` and ``id``; ``libc`` under ``distro``).
    """
    null = array.is_null().to_numpy(zero_copy_only=False) & ~parent_null
    mask = pa.array(null) if null.any() else None
    if pa.types.is_struct(array.type):
        below = parent_null | array.is_null().to_numpy(zero_copy_only=False)
        children = [_own_nulls(array.field(i), below) for i in range(array.type.num_fields)]
        names = [field.name for field in array.type]
        return pa.StructArray.from_arrays(children, names=names, mask=mask)
    if pa.types.is_dictionary(array.type):
        indices = array.indices.fill_null(0)
        masked = pa.array(indices.to_numpy(), array.indices.type, mask=null)
        return pa.DictionaryArray.from_arrays(masked, array.dictionary)
    return pa.array(array.to_numpy(zero_copy_only=False), array.type, mask=null)


#: Leaves compared first when slots are put in profile order (most rows share their
#: values), after the struct and flag columns.
_ORDER = ("installer.name", "system.name", "distro.name", "python", "installer.version")


def week_profiles(seed: int, monday: date) -> WeekProfiles:
    """Draw the client profiles of the ISO week starting on ``monday``.

    Vectorised over the slots: one array of uniform draws per choice, weighted
    picks by binary search, the profile rules as masks.

    Args:
        seed: the sample's seed.
        monday: first day of the week.

    Returns:
        The week's profiles.
    """
    mid = monday + timedelta(days=3)
    rng = np.random.Generator(np.random.PCG64([seed % 2**64, mid.toordinal()]))
    u = rng.random((9, SLOTS))
    user = np.arange(SLOTS) < USER_SLOTS
    mirror = ~user
    inst = profiles.installer_choices(mid)
    name, version, kind = _Picker([i[0] for i in inst], [i[1:] for i in inst]).pick(u[0])
    m_name, m_version = _MIRRORS.pick(u[0])
    name, version = np.where(user, name, m_name), np.where(user, version, m_version)
    kind = np.where(user, kind, "mirror")
    pys = profiles.python_choices(mid)
    python, impl, impl_version = _Picker([p[0] for p in pys], [p[1:] for p in pys]).pick(u[1])
    sys_name, sys_release, d_name, d_ver, d_id, libc, libc_ver, cpu, openssl = _PLATFORMS.pick(u[2])
    # Mirrors run on Linux servers.
    server = mirror & (sys_name != "Linux")
    sys_name = np.where(server, "Linux", sys_name)
    sys_release = np.where(server, "6.1.0-18-amd64", sys_release)
    cpu = np.where(server, "x86_64", cpu)
    sts = profiles.setuptools_choices(mid)
    (setuptools,) = _Picker([st[0] for st in sts], [st[1] for st in sts]).pick(u[3])
    (country,) = _COUNTRIES.pick(u[5])
    tls_protocol, tls_cipher = _TLS.pick(u[6])
    # "min" clients (browsers, requests, ...) report only the installer; mirrors
    # report no distro, openssl, setuptools or rustc.
    minimal = kind == "min"
    full = ~minimal & ~mirror

    def unless(drop: npt.NDArray[np.bool_], values: npt.NDArray[np.object_]) -> Any:
        out = values.copy()
        out[drop] = None
        return out

    rust = np.where(u[4] < 0.015, "1.82.0", "1.89.0").astype(object)  # NULL-able
    leaves = {
        "installer.name": name,
        "installer.version": version,
        "python": unless(minimal, python),
        "implementation.name": unless(minimal, impl),
        "implementation.version": unless(minimal, impl_version),
        "distro.name": unless(~full, d_name),
        "distro.version": unless(~full, d_ver),
        "distro.id": unless(~full, d_id),
        "distro.libc.lib": unless(~full, libc),
        "distro.libc.version": unless(~full, libc_ver),
        "system.name": unless(minimal, sys_name),
        "system.release": unless(minimal, sys_release),
        "cpu": unless(minimal, cpu),
        "openssl_version": unless(~full, openssl),
        "setuptools_version": unless(~full | (name == "uv"), setuptools),
        "rustc_version": unless(~full | (u[4] >= 0.03), rust),
        "country_code": country,
        "tls_protocol": tls_protocol,
        "tls_cipher": tls_cipher,
    }
    details_null = ~mirror & (u[7] < 0.015)
    ci_true = full & (u[8] < 0.25)  # kinds "full" and "meta"; else NULL
    meta_ok = kind == "meta"
    encoded = {
        leaf: pa.array(values, pa.string()).dictionary_encode() for leaf, values in leaves.items()
    }
    # Slots renumbered so that similar profiles are neighbours: writers sort each
    # day's rows by slot, and equal values of every details leaf then come in long
    # runs, which parquet's run-length encoding writes much faster (and smaller).
    # lexsort: the last key is the primary one.
    order_keys = [encoded[leaf].indices.fill_null(-1).to_numpy() for leaf in reversed(_ORDER)]
    order = np.lexsort([*order_keys, meta_ok, ~ci_true, details_null, mirror])
    codes: dict[str, pa.Array] = {}
    vocab: dict[str, pa.Array] = {}
    for leaf, enc in encoded.items():
        codes[leaf] = pc.take(enc.indices, pa.array(order)).cast(pa.int32())
        vocab[leaf] = enc.dictionary
    null = {"details": pa.array(np.take(details_null, order))}
    for struct, first in (
        ("installer", "installer.name"),
        ("implementation", "implementation.name"),
        ("distro", "distro.name"),
        ("distro.libc", "distro.libc.lib"),
        ("system", "system.name"),
    ):
        null[struct] = pc.is_null(codes[first])
    ci_arr = pa.array(np.take(ci_true, order), mask=~np.take(ci_true, order))
    meta_ok = np.take(meta_ok, order)
    return WeekProfiles(
        codes=codes,
        vocab=vocab,
        null=null,
        ci=ci_arr,
        max_kind=pa.array(np.where(meta_ok, 2, 1).astype(np.int8)),
        details=_own_nulls(_details(codes, vocab, null, ci_arr), np.zeros(SLOTS, np.bool_)),
    )
