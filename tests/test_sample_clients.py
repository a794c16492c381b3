"""Client profiles: dropping the NULLs that a NULL struct implies changes no byte written."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from sample import clients, generate


def _parquet(array: pa.Array) -> bytes:
    """The file the generator's writer makes of one ``details`` column.

    With its settings: no statistics on ``details`` (a leaf's statistics would
    count only its own NULLs, not those under a NULL parent).
    """
    table = pa.table({"details": array})
    sink = pa.BufferOutputStream()
    writer = generate._open(sink, table.schema, "zstd")
    writer.write_table(table)
    writer.close()
    return bytes(sink.getvalue())


def test_own_nulls_write_the_same_file_with_fewer_masks() -> None:
    week = clients.week_profiles(42, date(2026, 1, 5))
    codes, vocab, null = week.codes, week.vocab, week.null
    full = clients._details(codes, vocab, null, week.ci)
    own = clients._own_nulls(full, np.zeros(clients.SLOTS, np.bool_))
    assert _parquet(own) == _parquet(full)
    assert own.to_pylist() == full.to_pylist()

    def masks(array: pa.Array) -> int:
        fields = array.type.num_fields if pa.types.is_struct(array.type) else 0
        return int(array.null_count > 0) + sum(masks(array.field(i)) for i in range(fields))

    assert masks(own) < masks(full)


def test_a_null_that_no_parent_implies_is_kept() -> None:
    leaf = pa.DictionaryArray.from_arrays(
        pa.array([0, None, 1, None], pa.int32()), pa.array(["a", "b"])
    )
    struct = pa.StructArray.from_arrays(
        [leaf], names=["leaf"], mask=pa.array([False, False, False, True])
    )
    own = clients._own_nulls(struct, np.zeros(4, np.bool_))
    # Row 1's NULL is the leaf's own (its struct is valid); row 3's comes with its struct.
    assert own.field(0).is_null().to_pylist() == [False, True, False, False]
    assert own.to_pylist() == struct.to_pylist()
