"""Bad parameters: a clear error naming the bad value (and what is accepted), or a documented
conversion, never a traceback from deep inside numpy, pandas or xarray, nor a silent empty result.

Each case below failed one of those before this suite (noted per test); the parameter checks
already tested in test_bad_inputs.py and test_timeseries.py are not repeated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from icesat2_tutorial import (
    aggregate_periods,
    atl20_grid,
    build_timeseries,
    ease2_grid,
    get_grid,
    get_product,
    grid_segments,
    make_fixture_granules,
    read_granule,
    regional_series,
)
from icesat2_tutorial.cli import main
from icesat2_tutorial.periods import check_frequency, parse_period
from icesat2_tutorial.regions import REGIONS, Region, get_region
from icesat2_tutorial.search import normalize_box, search_box, search_granules, season_ranges

GRID = ease2_grid("south", 25)


@pytest.fixture(scope="module")
def granules(tmp_path_factory):
    return make_fixture_granules(tmp_path_factory.mktemp("params"), n=2, seed=41)


@pytest.fixture(scope="module")
def daily(granules):
    return grid_segments(pd.concat([read_granule(p) for p in granules]), GRID, "1D")


# -- names: grids, products, regions, periods -------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda: get_grid("ease2-7"), r"unknown grid 'ease2-7'; known grids: ease2-25, ease2-12\.5, "
                                  r"ease2-6\.25, ease2-3\.125, atl20"),
    (lambda: get_grid("polar"), r"unknown grid 'polar'; known grids: .*atl20"),
    (lambda: ease2_grid("south", 7), r"resolutions are 25, 12\.5, 6\.25, 3\.125 km, not 7"),
    # was float()'s "could not convert string to float: 'abc'"
    (lambda: ease2_grid("south", "abc"), r"resolutions are 25, 12\.5, 6\.25, 3\.125 km, not 'abc'"),
    (lambda: ease2_grid("east", 25), r"hemisphere must be 'north' or 'south', not 'east'"),
    (lambda: atl20_grid("up"), r"hemisphere must be 'north' or 'south', not 'up'"),
    (lambda: get_product("ATL06"), r"unknown product 'ATL06': icesat2_tutorial reads ATL10, ATL07"),
    (lambda: get_region("Beaufort"), r"unknown region 'Beaufort'; known regions: antarctic, "
                                     r"weddell, .*ross, .*arctic"),
    (lambda: search_box("Nowhere Sea"), r"unknown region 'Nowhere Sea'"),
], ids=["grid-resolution", "grid-name", "ease2-7km", "ease2-abc", "hemisphere", "atl20-hemisphere",
        "product", "region", "search-region"])
def test_unknown_names_say_what_is_known(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_names_are_forgiving_where_documented():
    assert get_grid("EASE2_25km") == ease2_grid("south", 25)
    assert get_region("Ross Sea") is REGIONS["ross"]
    assert get_product("atl10").short_name == "ATL10"
    assert parse_period("monthly").alias == "1MS" and parse_period("d").alias == "1D"


@pytest.mark.parametrize("period", ["7X", "0D", "-1D", "0MS", "1H", "1M", "1.5D", "", None, 7])
def test_bad_periods_name_the_value_and_the_accepted_ones(period):
    with pytest.raises(ValueError, match=rf"unknown period {period!r}: use '1D' .*'1MS'"):
        parse_period(period)


def test_absurdly_long_period_is_refused_not_overflowed():
    with pytest.raises(ValueError, match=r"'99999999999D' is longer than 100,000D"):
        parse_period("99999999999D")  # was accepted, then overflowed inside numpy
    assert parse_period("100000D").n == 100_000


@pytest.mark.parametrize("freq, was", [("0D", "ZeroDivisionError"), ("7X", "pandas' parse error")])
def test_bad_resampling_frequency(daily, freq, was):
    for call in (lambda: aggregate_periods(daily, freq), lambda: regional_series(daily, ["ross"], freq)):
        with pytest.raises(ValueError, match=rf"unknown frequency {freq!r}: use a positive pandas"):
            call()
    assert check_frequency("QS-DEC") == "QS-DEC"


def test_grid_name_where_a_grid_is_needed(granules):
    """A name does not say which hemisphere: a TypeError that says how to make a Grid."""
    segments = read_granule(granules[0])
    for call in (lambda: grid_segments(segments, "ease2-25"),
                 lambda: build_timeseries(granules, "ease2-25", progress=False)):  # was AttributeError
        with pytest.raises(TypeError, match=r"grid must be a Grid, not a str \('ease2-25'\): use "
                                            r"ease2_grid\(hemisphere, km\)"):
            call()


@pytest.mark.parametrize("kwargs, match", [
    ({"timeout": 0}, r"timeout must be a positive number of seconds or None, not 0"),
    ({"timeout": -1}, r"not -1"),
    ({"retries": -1}, r"retries and retry_wait_s must be >= 0"),
    ({"scheduler": "threads", "workers": 0}, r"workers must be 1 or more"),
    ({"window": 0}, r"window must be 1 or more"),
])
def test_bad_run_options_fail_before_reading(granules, kwargs, match):
    # timeout=0 used to "fail" every granule with "reading took longer than 0 s"
    with pytest.raises(ValueError, match=match):
        build_timeseries(granules, GRID, progress=False, **kwargs)


def test_read_timeout_must_be_positive(granules):
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        read_granule(granules[0], timeout=-5)


def test_unknown_region_fails_before_any_computing(daily):
    with pytest.raises(ValueError, match="unknown region 'bering'"):
        regional_series(daily, ["ross", "bering"])
    with pytest.raises(ValueError, match="northern hemisphere; this grid covers the south"):
        regional_series(daily, ["arctic"])


# -- dates ---------------------------------------------------------------------------------


@pytest.fixture
def cmr(monkeypatch):
    """What search_granules would send to CMR (earthaccess.search_data), recorded offline."""
    import earthaccess

    sent: list[dict] = []
    monkeypatch.setattr(earthaccess, "search_data", lambda **kw: sent.append(kw) or [])
    return sent


def test_reversed_dates_in_a_search(cmr):
    with pytest.raises(ValueError, match=r"temporal range \('2019-09-30', '2019-09-01'\) is reversed"):
        search_granules((-180, -78, -160, -74), ("2019-09-30", "2019-09-01"))
    with pytest.raises(ValueError, match=r"give \(start, end\) dates"):
        search_granules((-180, -78, -160, -74), ("2019-13-01", "2019-12-01"))
    assert cmr == []  # nothing was sent


def test_dates_are_compared_as_dates_not_strings(cmr):
    # "2019-9-5" > "2019-10-01" as strings: this range used to be refused as reversed
    search_granules((-180, -78, -160, -74), ("2019-9-5", "2019-10-01"))
    assert cmr[0]["temporal"] == ("2019-9-5", "2019-10-01")  # passed on as given


@pytest.mark.parametrize("years, months, match", [
    ([2019], [13], "months are 1-12, not 13"),
    ([2019], [0], "months are 1-12, not 0"),
    ([2017], [9], "ICESat-2 data start in October 2018, not in 2017"),
])
def test_season_helper_refuses_impossible_seasons(years, months, match):
    with pytest.raises(ValueError, match=match):
        season_ranges(years, months)


def test_season_ranges_are_never_reversed():
    for start, end in season_ranges([2021, 2019], [2, 9, 12]):
        assert pd.Timestamp(start) < pd.Timestamp(end)
        assert pd.Timestamp(start).month == pd.Timestamp(end).month


# -- longitudes: 0..360 and -180..180 --------------------------------------------------------


@pytest.mark.parametrize("box, expected", [
    ((160, -78, 230, -70), (160, -78, -130, -70)),   # 160 E .. 130 W across the antimeridian
    ((350, -78, 10, -70), (-10, -78, 10, -70)),
    ((0, -90, 360, -50), (-180, -90, 180, -50)),     # all the way round
    ((-180, -78, -160, -74), (-180, -78, -160, -74)),  # already -180..180: unchanged
    ((170, -78, 180, -70), (170, -78, 180, -70)),    # east = 180 stays 180
])
def test_search_boxes_in_0_360_are_converted(cmr, box, expected):
    assert normalize_box(box) == expected
    search_granules(box, ("2019-09-01", "2019-09-30"))
    assert cmr[-1]["bounding_box"] == expected


@pytest.mark.parametrize("box, match", [
    ((-180, -74, -160, -78), r"need -90 <= south < north <= 90"),
    ((0, -100, 10, -70), r"need -90 <= south < north <= 90"),
    ((0, -80, 400, -70), r"longitudes must be in -180..180 \(or 0..360\)"),
    ((-200, -80, 0, -70), r"longitudes must be in -180..180"),
    (("west", -80, 0, -70), r"give \(west, south, east, north\)"),
])
def test_impossible_boxes(cmr, box, match):
    with pytest.raises(ValueError, match=match):
        search_granules(box, ("2019-09-01", "2019-09-30"))
    assert cmr == []


LON = np.array([165.0, 200.0, -160.0, -125.0, 0.0, 155.0])  # in, in, in (same point), out, out, out
LAT = np.full(LON.shape, -72.0)
IN_ROSS = [True, True, True, False, False, False]


def test_sector_in_0_360_equals_the_named_ross_sector():
    # 160 E to 230 E used to select nothing east of 180 (a silently empty region)
    r360 = Region("ross360", "south", 160.0, 230.0, lat_max=-50.0)
    assert (r360.lon_min, r360.lon_max) == (160.0, -130.0) == (REGIONS["ross"].lon_min,
                                                                REGIONS["ross"].lon_max)
    assert r360.contains(LON, LAT).tolist() == IN_ROSS == REGIONS["ross"].contains(LON, LAT).tolist()


@pytest.mark.parametrize("coords", [
    [(160, -80), (230, -80), (230, -60), (160, -60)],    # 0..360
    [(-200, -80), (-130, -80), (-130, -60), (-200, -60)],  # past -180
])
def test_polygons_across_the_antimeridian(coords):
    region = get_region(shapely.Polygon(coords), name="ross-poly")
    assert region.hemisphere == "south"
    assert region.contains(LON, LAT).tolist() == IN_ROSS


def test_polygon_regional_series_in_either_convention(granules, daily):
    """A box around the data, written in 0..360, in -180..180, and as a sector: same series."""
    lon = read_granule(granules[0])["longitude"].median()
    west, east = lon - 15.0, lon + 15.0
    boxes = [shapely.box(w, -80.0, e, -55.0) for w, e in ((west, east), (west % 360, west % 360 + 30))]
    assert boxes[0].bounds != boxes[1].bounds
    sector = Region("sector", "south", west % 360, (west % 360 + 30), -80.0, -55.0)
    series = [regional_series(daily, [region]) for region in (*boxes, sector)]
    assert series[0]["segment_count"].sum() > 0
    for other in series[1:]:
        assert other["segment_count"].tolist() == series[0]["segment_count"].tolist()
        np.testing.assert_allclose(other["freeboard_mean"], series[0]["freeboard_mean"], rtol=1e-12)


@pytest.mark.parametrize("make, match", [
    (lambda: Region("x", "south", 0.0, 0.0), r"two different values"),
    (lambda: Region("x", "south", 10.0, 400.0), r"sector longitudes 10..400"),
    (lambda: Region("x", "south", lat_min=-40.0, lat_max=-60.0), r"lat_min < lat_max"),
    (lambda: Region("x", "east"), r"hemisphere must be 'north' or 'south', not 'east'"),
    # (lat, lon) pairs instead of (lon, lat)
    (lambda: get_region(shapely.Polygon([(-80, 160), (-80, 230), (-60, 230)])),
     r"polygon latitudes 160..230 leave -90..90; give \(longitude, latitude\) pairs"),
])
def test_impossible_regions(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# -- the command line refuses bad values before any work, with exit status 2 -------------------


@pytest.mark.parametrize("argv, message", [
    (["--grid", "ease2-7"], "unknown grid 'ease2-7'; known grids: ease2-25"),
    (["--period", "7X"], "unknown period '7X'"),
    (["--regions", "ross", "bering"], "unknown region 'bering'; known regions:"),
    (["--regions", "arctic"], "region 'arctic' is in the northern hemisphere, not the south"),
    (["--months", "13"], "months are 1-12, not 13"),
    (["--years", "2016"], "ICESat-2 data start in October 2018"),
])
def test_cli_refuses_bad_values_up_front(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["timeseries", "--out", str(out), "--no-progress", *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing was generated or gridded first
