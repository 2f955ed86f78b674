"""The command line: what `make demo` runs, and the fixtures/read subcommands."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from icesat2_tutorial import read_granule
from icesat2_tutorial.cli import main


def test_demo_prints_what_the_reader_reads(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--granules", "2", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    paths = sorted(tmp_path.glob("ATL10-02_*.h5"))
    assert len(paths) == 2
    for path in paths:
        table = read_granule(path)
        line = re.search(rf"{path.name}: sc_orient=(\d) .*; ([\d,]+) segments", out)
        assert line, out
        assert int(line.group(1)) == table.attrs["sc_orient"]
        assert int(line.group(2).replace(",", "")) == len(table)
        for beam, c in table.attrs["beam_counts"].items():
            assert f"{beam}: {c['read']:,} segments read, {c['fill']:,} fill dropped" in out
    assert "2 granule(s) read, 0 failed" in out
    assert "SYNTHETIC" in out  # a reader never mistakes fixture values for measurements


def test_fixtures_subcommand(tmp_path, capsys):
    code = main(["fixtures", str(tmp_path), "-n", "1", "--product", "ATL07",
                 "--hemisphere", "north", "--start", "2020-03-15", "--superblock", "2"])
    assert code == 0
    (path,) = tmp_path.glob("*.h5")
    assert path.name.startswith("ATL07-01_20200315")
    assert path.read_bytes()[8] == 2
    assert len(read_granule(path, product="ATL07")) > 0


def test_read_reports_failures_and_exit_code(tmp_path, capsys):
    bad = tmp_path / "ATL10-02_broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    good = main(["fixtures", str(tmp_path), "-n", "1"])
    assert good == 0
    (path,) = tmp_path.glob("ATL10-02_2*.h5")
    assert main(["read", str(path), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "ATL10-02_broken.h5: FAILED" in out
    assert "1 granule(s) read, 1 failed" in out


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "icesat2_tutorial.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("fixtures", "read", "demo", "timeseries"):
        assert command in out


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fixtures"])
    assert info.value.code == 2


def test_timeseries_subcommand_on_fixtures(tmp_path, capsys, monkeypatch):
    for var in ("EARTHDATA_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: fixtures, not a search
    out = tmp_path / "out"
    code = main(["timeseries", "--out", str(out), "--years", "2019", "2020",
                 "--fixtures-per-month", "3", "--no-progress", "--formats", "nc", "zarr",
                 "--scheduler", "serial"])
    assert code == 0
    text = capsys.readouterr().out
    assert "using FIXTURE granules" in text and "SYNTHETIC" in text
    for name in ("grids.nc", "grids.zarr", "series.csv", "series.parquet", "map.png", "series.png"):
        assert (out / name).exists(), name
    from icesat2_tutorial.outputs import open_grids
    from icesat2_tutorial.regions import regional_series

    ds = open_grids(out / "grids.nc")
    assert ds.attrs["granules_total"] == 6 and ds.attrs["granules_failed"] == 0
    assert sorted({str(t)[:4] for t in ds["time"].to_numpy()}) == ["2019", "2020"]
    series = pd.read_parquet(out / "series.parquet")
    pd.testing.assert_frame_equal(series, regional_series(ds, ["ross", "weddell", "antarctic"]))
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
