"""Command line, determinism, idempotency and crash safety of the generator."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sample import generate as generate_module
from sample import sql
from sample.cli import main

SMALL = ("--weeks", "2", "--events", "20000", "--packages", "60")


def _tables(raw: Path) -> dict[str, object]:
    files = sorted(raw.glob("**/*.parquet"))
    assert files
    return {str(f.relative_to(raw)): pq.read_table(f) for f in files}


def test_help_lists_the_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sample", "generate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--scale",
        "--start",
        "--end",
        "--weeks",
        "--events",
        "--packages",
        "--seed",
        "--out",
        "--force",
    ):
        assert option in out


def test_the_command_never_imports_pandas(tmp_path: Path) -> None:
    """pyarrow's pandas check costs 0.2 s of a run's single-threaded start."""
    command = [sys.executable, "-X", "importtime", "-m", "sample", "generate"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path), *SMALL],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "_SUCCESS").exists()
    # -X importtime lists the refused import too; a real one loads its submodules.
    assert "pandas.core" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-05-02", "--end", "2026-05-01"], "is after end"),
        (["--events", "-1"], "events must be >= 0"),
        (["--packages", "0"], "packages must be >= 1"),
        (["--weeks", "0"], "weeks must be >= 1"),
        (["--seed", "-3"], "seed must be"),
    ],
)
def test_bad_options_fail_clearly_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "raw"
    assert main(["generate", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_date_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--start", "2026-13-01"])
    assert exc.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_same_seed_same_content_other_seed_other_content(make_raw: Callable[..., Path]) -> None:
    a = _tables(make_raw(*SMALL, "--seed", "7"))
    b = _tables(make_raw(*SMALL, "--seed", "7"))
    c = _tables(make_raw(*SMALL, "--seed", "8"))
    assert a.keys() == b.keys()
    for name, table in a.items():
        assert table.equals(b[name]), name
    assert any(not table.equals(c.get(name)) for name, table in a.items() if name in c)


def test_writer_threads_do_not_change_a_byte(make_raw: Callable[..., Path]) -> None:
    one = make_raw(*SMALL, "--threads", "1")
    three = make_raw(*SMALL, "--threads", "3")
    files = sorted(p.relative_to(one) for p in one.glob("**/*.parquet"))
    assert files == sorted(p.relative_to(three) for p in three.glob("**/*.parquet"))
    assert len(files) == 15  # 14 days and the metadata
    for name in files:
        assert (one / name).read_bytes() == (three / name).read_bytes(), name


def test_success_marker_and_skip_when_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "raw"
    assert main(["generate", "--out", str(out), *SMALL]) == 0
    record = json.loads((out / "_SUCCESS").read_text())
    assert record["options"]["packages"] == 60
    assert record["rows"]["file_downloads"] == sum(
        pq.read_metadata(f).num_rows for f in out.glob("file_downloads/*/*.parquet")
    )
    marker = (out / "_SUCCESS").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["generate", "--out", str(out), *SMALL]) == 0
    assert "already holds this sample" in capsys.readouterr().err
    assert (out / "_SUCCESS").stat().st_mtime_ns == marker
    # Other options regenerate; the directory then holds only the new sample.
    assert main(["generate", "--out", str(out), *SMALL, "--seed", "9"]) == 0
    assert json.loads((out / "_SUCCESS").read_text())["options"]["seed"] == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_success_records_how_far_counts_are_scaled_down(tmp_path: Path) -> None:
    """The scale is sample rows per real download: twice the events, twice the scale."""
    scales = []
    for events in ("20000", "40000"):
        out = tmp_path / events
        assert main(["generate", "--out", str(out), *SMALL, "--events", events]) == 0
        scales.append(json.loads((out / "_SUCCESS").read_text())["scale"])
    ratios = [s["downloads_per_real_download"] for s in scales]
    # Tens of thousands of rows stand for billions of real downloads.
    assert 0 < ratios[0] < 1e-3
    assert ratios[1] == pytest.approx(2 * ratios[0], rel=1e-9)


def test_a_failing_run_keeps_the_previous_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "raw"
    assert main(["generate", "--out", str(out), *SMALL]) == 0
    before = (out / "_SUCCESS").read_text()
    calls = {"n": 0}
    real = generate_module.assemble

    def crash_on_third_day(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(generate_module, "assemble", crash_on_third_day)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["generate", "--out", str(out), *SMALL, "--seed", "11"])
    assert (out / "_SUCCESS").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def _same_rows(a: Path, b: Path) -> bool:
    """True when two parquet files hold the same rows, as a multiset (any order)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    query = (
        "SELECT count(*) FROM (SELECT * FROM read_parquet('{}') "
        "EXCEPT ALL SELECT * FROM read_parquet('{}'))"
    )
    one_way = con.execute(query.format(a, b)).fetchone()
    other_way = con.execute(query.format(b, a)).fetchone()
    return one_way == other_way == (0,)


def test_days_split_into_batches_give_the_same_content(
    make_raw: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole_dir = make_raw(*SMALL)
    monkeypatch.setattr(generate_module, "BATCH_ROWS", 300)
    split_dir = make_raw(*SMALL, "--force")
    groups = [
        pq.ParquetFile(f).metadata.num_row_groups for f in split_dir.glob("file_downloads/*/*")
    ]
    assert max(groups) > 1
    whole, split = _tables(whole_dir), _tables(split_dir)
    assert whole.keys() == split.keys()
    for name, table in whole.items():
        # Each row group is put in client order on its own (what makes writing fast),
        # so only the order of the rows inside a file may differ.
        assert table.schema == split[name].schema, name
        assert table.num_rows == split[name].num_rows, name
        assert _same_rows(whole_dir / name, split_dir / name), name


def test_a_killed_run_leaves_no_work_directory(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sample",
            "generate",
            "--out",
            str(out),
            "--weeks",
            "30",
            "--events",
            "3000000",
            "--packages",
            "200",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    # Wait until days are being written, then kill politely.
    for line in child.stderr:
        if "days," in line and not line.startswith("sample: 0/"):
            break
    child.terminate()
    child.wait(timeout=60)
    assert child.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_versions_out_of_vrow_order_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strings are read back in storage order: a misordered table must not pass."""
    monkeypatch.setattr(sql, "VERSIONS", sql.VERSIONS + "ORDER BY vrow DESC\n")
    out = tmp_path / "raw"
    with pytest.raises(RuntimeError, match="vrow order"):
        main(["generate", "--out", str(out), *SMALL])
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_out_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--out", "/proc/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "/proc/x" in err and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["generate", "--out", str(blocker / "raw")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_range_without_downloads_warns_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "raw"
    assert (
        main(["generate", "--out", str(out), "--start", "1900-01-01", "--end", "1900-01-14"]) == 1
    )
    assert "warning:" in capsys.readouterr().err
