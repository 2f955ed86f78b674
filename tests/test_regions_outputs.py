"""Regional series against an independent per-segment computation; outputs round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import xarray as xr

import icesat2_tutorial as it
from icesat2_tutorial.outputs import open_grids, read_segments, write_grids, write_segments, write_series
from icesat2_tutorial.regions import REGIONS, get_region, regional_series
from icesat2_tutorial.timeseries import build_timeseries

GRID = it.ease2_grid("south", 25)


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    paths = it.make_fixture_granules(tmp_path_factory.mktemp("reg"), n=10, seed=31)
    return pd.concat([it.read_granule(p) for p in paths], ignore_index=True)


def _independent(segments: pd.DataFrame, region: str, freq: str) -> pd.DataFrame:
    """Per period: L-weighted mean and std of the segments whose cell centre is in the region."""
    to_xy = pyproj.Transformer.from_crs(4326, 6932, always_xy=True)
    x, y = to_xy.transform(segments["longitude"].to_numpy(), segments["latitude"].to_numpy())
    col = np.floor((x + 9e6) / 25_000)
    row = np.floor((9e6 - y) / 25_000)
    cx, cy = -9e6 + (col + 0.5) * 25_000, 9e6 - (row + 0.5) * 25_000
    lon, lat = pyproj.Transformer.from_crs(6932, 4326, always_xy=True).transform(cx, cy)
    r = REGIONS[region]
    if r.lon_min <= r.lon_max:
        inside = (lon >= r.lon_min) & (lon < r.lon_max)
    else:
        inside = (lon >= r.lon_min) | (lon < r.lon_max)
    inside &= (lat >= r.lat_min) & (lat <= r.lat_max)
    df = pd.DataFrame({"t": segments["time"].dt.floor("D") if freq == "1D"
                       else segments["time"].dt.to_period("M").dt.start_time,
                       "L": segments["height_segment_length_seg"].astype(float),
                       "h": segments["beam_fb_height"].astype(float)})[inside]
    rows = []
    for t, g in df.groupby("t"):
        m = (g.L * g.h).sum() / g.L.sum()
        rows.append({"time": t, "mean": m, "std": np.sqrt((g.L * (g.h - m) ** 2).sum() / g.L.sum()),
                     "n": len(g)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("region", ["antarctic", "ross", "weddell", "bellingshausen_amundsen"])
@pytest.mark.parametrize("freq", ["1D", "1MS"])
def test_regional_series_equals_per_segment_statistics(segments, region, freq):
    daily = it.grid_segments(segments, GRID, "1D")
    table = regional_series(daily, [region], freq=None if freq == "1D" else freq)
    ref = _independent(segments, region, freq)
    got = table[table["segment_count"] > 0].reset_index(drop=True)
    assert len(ref) > 0 and len(got) == len(ref)
    np.testing.assert_array_equal(got["time"].to_numpy(), ref["time"].to_numpy())
    np.testing.assert_array_equal(got["segment_count"].to_numpy(), ref["n"].to_numpy())
    np.testing.assert_allclose(got["freeboard_mean"], ref["mean"], rtol=1e-9)
    np.testing.assert_allclose(got["freeboard_std"], ref["std"], rtol=1e-7)


def test_sectors_partition_the_antarctic(segments):
    ds = it.grid_segments(segments, GRID, "1D")
    sectors = ["weddell", "indian", "western_pacific", "ross", "bellingshausen_amundsen"]
    parts = regional_series(ds, sectors)
    whole = regional_series(ds, ["antarctic"])
    for t, g in parts.groupby("time"):
        w = whole[whole["time"] == t].iloc[0]
        assert g["segment_count"].sum() == w["segment_count"]
        m = (g["freeboard_mean"] * g["total_length_m"]).sum() / g["total_length_m"].sum()
        assert m == pytest.approx(w["freeboard_mean"], rel=1e-12)


def test_polygon_region_and_errors(segments):
    ds = it.grid_segments(segments, GRID, "1D")
    box = shapely.box(-60, -80, 20, -50)  # the Weddell sector as a polygon
    a = regional_series(ds, [get_region(box, name="my box")])
    b = regional_series(ds, ["weddell"])
    assert a["region"].iloc[0] == "my box"
    np.testing.assert_allclose(a["freeboard_mean"], b["freeboard_mean"], rtol=1e-12)
    with pytest.raises(ValueError, match="unknown region 'baltic'"):
        regional_series(ds, ["baltic"])
    with pytest.raises(ValueError, match="northern hemisphere"):
        regional_series(ds, ["arctic"])
    assert get_region("Ross Sea").name == "ross"


def test_grids_round_trip_netcdf_and_zarr(tmp_path, segments):
    paths = it.make_fixture_granules(tmp_path / "g", n=2, seed=5)
    bad = tmp_path / "ATL10-02_broken.h5"
    bad.write_bytes(b"broken")
    ds = build_timeseries(paths + [bad], GRID, "1D", progress=False).compute()
    assert ds.attrs["failed_granules"] == ["ATL10-02_broken.h5: not an HDF5 file (no HDF5 signature)"]
    for name in ("grids.nc", "grids.zarr"):
        write_grids(ds, tmp_path / name)
        back = open_grids(tmp_path / name).compute()
        xr.testing.assert_identical(ds, back)
        assert back.attrs["failed_granules"] == ds.attrs["failed_granules"]
    with pytest.raises(ValueError, match=r"\.nc \(NetCDF\) or \.zarr"):
        write_grids(ds, tmp_path / "grids.tif")


def test_series_and_segments_files(tmp_path, segments):
    table = regional_series(it.grid_segments(segments, GRID, "1D"), ["antarctic", "ross"])
    write_series(table, tmp_path / "s.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), table)
    write_series(table, tmp_path / "s.csv")
    csv = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(csv["freeboard_mean"], table["freeboard_mean"], rtol=1e-15)
    assert csv["time"].iloc[0].endswith("Z")
    # the seed's to_parquet failed on nanosecond times; these come back to the nanosecond
    write_segments(segments, tmp_path / "seg.parquet")
    back = read_segments(tmp_path / "seg.parquet")
    assert back.crs.to_epsg() == 4326
    np.testing.assert_array_equal(back["time"].to_numpy(), segments["time"].to_numpy())
    assert (back["time"].to_numpy().astype(np.int64) % 1000 != 0).any()  # sub-microsecond kept
    np.testing.assert_array_equal(back.geometry.x.to_numpy(), segments["longitude"].to_numpy())
