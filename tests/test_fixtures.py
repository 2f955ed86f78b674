"""The fixture generator: layout as NASA's (checked against a real granule), plausible
values, orbit model against real granules and published names, determinism, names,
orientation, quirks, and offline earthaccess search results."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import h5py
import numpy as np
import pyproj
import pytest

from conftest import REALDATA
from icesat2_tutorial import products
from icesat2_tutorial.fixtures import (
    FIXTURE_NOTICE,
    NoSeaIceError,
    fixture_search_results,
    format_granule_name,
    make_fixture_granules,
    orbit,
    orientation_schedule,
    parse_granule_name,
    s3_key,
    s3_url,
    seaice,
    simulate_pass,
    superblock_version,
    write_granule,
)
from icesat2_tutorial.products import ATL07, ATL10, BEAMS, FLOAT32_FILL

REAL_ATL10 = REALDATA / "processed_ATL10-01_20220102203248_01771401_006_01.h5"
GEOD = pyproj.Geod(ellps="WGS84")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def south_set(tmp_path_factory):
    """Four successive small ATL10 granules, Antarctic, 2019-09-01 (defaults)."""
    return make_fixture_granules(tmp_path_factory.mktemp("south"), n=4)


@pytest.fixture(scope="module")
def granule(south_set):
    return south_set[0]


@pytest.fixture(scope="module")
def atl07(tmp_path_factory):
    return make_fixture_granules(tmp_path_factory.mktemp("atl07"), n=1, product="ATL07")[0]


@pytest.fixture(scope="module")
def north(tmp_path_factory):
    return make_fixture_granules(tmp_path_factory.mktemp("north"), n=1, hemisphere="north",
                                 start="2020-03-10", superblock=2, processed=True)[0]


def _beam(f, beam, product=ATL10):
    g = f[f"{beam}/{product.segment_group}"]
    return {v.column: g[v.path][...] for v in product.variables}


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("product", [ATL10, ATL07], ids=["ATL10", "ATL07"])
def test_every_products_variable_in_every_beam(product, granule, atl07):
    path = granule if product is ATL10 else atl07
    with h5py.File(path, "r") as f:
        assert f.attrs["short_name"] == product.short_name.encode()
        assert f[product.signature][()].tolist() == [1500]
        assert f[product.signature].dtype == np.int32
        other = ATL07 if product is ATL10 else ATL10
        assert other.signature not in f
        for beam in BEAMS:
            for var in product.variables:
                ds = f[product.beam_path(beam, var)]
                assert ds.dtype == np.dtype(var.dtype), ds.name
                assert ds.attrs["units"] == var.units.encode(), ds.name
                assert isinstance(ds.attrs["units"], np.bytes_)  # fixed-length, as NASA
                assert ds.attrs["long_name"] == var.long_name.encode(), ds.name
                if var.fill is None:
                    assert "_FillValue" not in ds.attrs, ds.name
                else:
                    fill = ds.attrs["_FillValue"]
                    assert fill.dtype == np.float32 and fill == FLOAT32_FILL, ds.name
                    assert ds.fillvalue == FLOAT32_FILL


def test_storage_matches_real_granule(granule, realdata):
    """Each fixture dataset that the real granule also has is stored the same way."""
    compared = 0
    with h5py.File(granule, "r") as fx, h5py.File(REAL_ATL10, "r") as real:
        seg = "gt1r/freeboard_segment"  # present in the real file
        names = []
        fx[seg].visit(names.append)
        for name in names:
            mine = fx[f"{seg}/{name}"]
            if not isinstance(mine, h5py.Dataset):
                continue
            theirs = real[f"{seg}/{name}"]  # KeyError = a path the real layout lacks
            for prop in ("dtype", "chunks", "maxshape", "compression", "compression_opts",
                         "shuffle", "fletcher32"):
                assert getattr(mine, prop) == getattr(theirs, prop), (name, prop)
            assert ("_FillValue" in mine.attrs) == ("_FillValue" in theirs.attrs), name
            assert mine.attrs["units"] == theirs.attrs["units"], name
            if "_FillValue" in theirs.attrs:
                assert mine.attrs["_FillValue"] == theirs.attrs["_FillValue"]
                assert mine.attrs["_FillValue"].dtype == theirs.attrs["_FillValue"].dtype
            assert ("DIMENSION_LIST" in mine.attrs) == ("DIMENSION_LIST" in theirs.attrs), name
            compared += 1
        assert compared >= 20
        # chunks (10000,) even though a small beam is shorter: real files do the same
        assert real[f"{seg}/latitude"].shape[0] < 10000
        for group in ("orbit_info", "ancillary_data"):
            for name, mine in fx[group].items():
                if isinstance(mine, h5py.Dataset) and name in real[group]:
                    theirs = real[group][name]
                    for prop in ("dtype", "shape", "chunks", "maxshape", "compression"):
                        assert getattr(mine, prop) == getattr(theirs, prop), (group, name, prop)
                    compared += 1
        assert fx["ancillary_data/release"][0] == real["ancillary_data/release"][0]


def test_granule_level_values(granule):
    info = parse_granule_name(granule.name)
    with h5py.File(granule, "r") as f:
        assert f["ancillary_data/atlas_sdp_gps_epoch"][()].tolist() == [1198800018.0]
        assert f["ancillary_data/release"][0].strip() == b"006"
        assert f["ancillary_data/version"][0].strip() == b"01"
        assert f["ancillary_data/data_start_utc"].dtype == np.dtype("S27")
        start = f["ancillary_data/granule_start_utc"][0].decode()
        assert start == info["time"].strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        assert f.attrs["time_coverage_start"].decode() == start
        assert int(f["orbit_info/rgt"][0]) == info["rgt"] == int(f["ancillary_data/start_rgt"][0])
        assert int(f["orbit_info/cycle_number"][0]) == info["cycle"]
        assert f["orbit_info/sc_orient"].dtype == np.int8
        assert f["orbit_info/sc_orient"].shape == (1,)
        assert f["orbit_info/orbit_number"].dtype == np.uint16
        assert f["orbit_info/rgt"].dtype == np.int16
        assert f["orbit_info/cycle_number"].dtype == np.int8
        for key in ("fixture", "summary", "title"):
            assert b"SYNTHETIC" in f.attrs[key]
        assert f.attrs["fixture"].decode() == FIXTURE_NOTICE
        assert "not a NASA measurement" in f.attrs["summary"].decode()


@pytest.mark.parametrize("superblock", [0, 2])
def test_superblock_version(superblock, tmp_path):
    path = write_granule(tmp_path, rgt=992, cycle=4, size=300, superblock=superblock)
    head = path.read_bytes()[:9]
    assert head[:8] == b"\x89HDF\r\n\x1a\n"
    assert head[8] == superblock == superblock_version(path)
    with pytest.raises(ValueError, match="superblock"):
        write_granule(tmp_path, rgt=992, cycle=4, size=300, superblock=3)


def test_h5coro_reads_fixtures_like_h5py(granule, north):
    from h5coro import filedriver, h5coro

    for path, group in ((granule, "freeboard_segment"), (north, "freeboard_segment")):
        paths = [f"gt2l/{group}/beam_fb_height", f"gt2r/{group}/delta_time",
                 f"gt3l/{group}/heights/height_segment_type", "orbit_info/sc_orient",
                 "ancillary_data/atlas_sdp_gps_epoch"]
        got = h5coro.H5Coro(str(path), filedriver.FileDriver).readDatasets(paths, block=True)
        with h5py.File(path, "r") as f:
            for p in paths:
                np.testing.assert_array_equal(np.asarray(got[p]), f[p][...])


# ----------------------------------------------------------------------------- values


def test_values_are_plausible(granule):
    info = parse_granule_name(granule.name)
    t_start = orbit.to_delta_time(info["time"])
    with h5py.File(granule, "r") as f:
        orient = int(f["orbit_info/sc_orient"][0])
        strong = products.strong_beams(orient)
        epoch = float(f["ancillary_data/atlas_sdp_gps_epoch"][0])
        assert epoch == orbit.ATLAS_SDP_GPS_EPOCH_S
        fill_count = total = lead_count = 0
        len_fill = 0
        for beam in BEAMS:
            d = _beam(f, beam)
            fb, typ = d["beam_fb_height"], d["height_segment_type"]
            length = d["height_segment_length_seg"]
            ok = fb != FLOAT32_FILL
            total += len(fb)
            fill_count += int((~ok).sum())
            lead_count += int((typ >= 2).sum())
            ice = ok & (typ == 1)
            lead = ok & (typ >= 2)
            # snow-covered ice: mostly 0-1 m, typical Antarctic values
            assert np.mean((fb[ice] > 0) & (fb[ice] < 1.0)) > 0.95
            assert 0.2 < np.median(fb[ice]) < 0.6
            assert np.all(np.abs(fb[lead]) < 0.1)
            assert set(np.unique(typ)) <= set(range(1, 10))
            good = length != FLOAT32_FILL
            len_fill += int((~good).sum())
            lo, hi = (10, 250) if beam in strong else (50, 560)
            assert length[good].min() >= lo and length[good].max() <= hi
            assert 5 <= length[good].min() and length[good].max() <= 600
            # inside the Antarctic sea ice zone of the day, never on land
            lat, lon = d["latitude"], d["longitude"]
            assert lat.max() < -55 and lat.min() > -80
            doy = seaice.day_of_year(float(d["delta_time"][0]))
            assert seaice.is_sea_ice(lat, lon, doy, "south").all()
            # times within the granule (one orbit from the name's time) and on its day
            t = d["delta_time"]
            assert t.min() > t_start and t.max() < t_start + orbit.ORBIT_PERIOD_S
            days = {orbit.to_utc(v).date() for v in (t.min(), t.max())}
            assert days == {info["time"].date()}
            # seg_dist_x from the ascending node: ~3e7 m over the Antarctic
            x = d["seg_dist_x"]
            assert 2.5e7 < x.min() and x.max() < 3.5e7
            dx, dt = np.diff(x), np.diff(t)
            if beam in strong:
                assert np.all(dx > 0) and np.all(dt > 0)
                speed = dx[dt > 0] / dt[dt > 0]
                assert 6900 < np.median(speed) < 7200  # ground speed, m/s
                assert 10 < np.median(dx) < 80  # spacing of segment centres, m
                assert np.max(dx) > 2000  # cloud gaps
            else:
                assert 0 < np.sum(dx <= 0) < 0.02 * len(dx)  # the weak-beam quirk
                assert np.array_equal(dx <= 0, dt <= 0)
            q = d["beam_fb_quality_flag"]
            assert q.dtype == np.int8 and np.mean(q == 1) > 0.85
            assert set(np.unique(q)) <= {1, 2, 3, 4, 5}  # the product also defines -1
            assert len(set(np.unique(q))) > 1
        assert 0.01 < fill_count / total < 0.08
        assert 0.005 < lead_count / total < 0.10
        assert 1 <= len_fill < 0.01 * total


def test_strong_beams_have_three_times_the_segments(south_set):
    for path in south_set:
        with h5py.File(path, "r") as f:
            orient = int(f["orbit_info/sc_orient"][0])
            for pair in "123":
                strong = [b for b in products.strong_beams(orient) if b[2] == pair][0]
                weak = [b for b in products.weak_beams(orient) if b[2] == pair][0]
                n_s = f[f"{strong}/freeboard_segment/delta_time"].shape[0]
                n_w = f[f"{weak}/freeboard_segment/delta_time"].shape[0]
                assert 1200 < n_s < 1800
                assert 2.4 < n_s / n_w < 3.8
                assert f[strong].attrs["atlas_beam_type"] == b"strong"
                assert f[weak].attrs["atlas_beam_type"] == b"weak"


def _nearest(x_ref, x):
    i = np.clip(np.searchsorted(x, x_ref), 1, len(x) - 1)
    return np.where(np.abs(x[i] - x_ref) < np.abs(x[i - 1] - x_ref), i, i - 1)


def test_beam_geometry(granule):
    with h5py.File(granule, "r") as f:
        d = {b: _beam(f, b) for b in BEAMS}
    ref = d["gt2l"]
    k = np.arange(100, len(ref["seg_dist_x"]) - 100, 50)
    x = ref["seg_dist_x"][k]
    # direction of travel at the reference points
    az_travel, _, _ = GEOD.inv(ref["longitude"][k], ref["latitude"][k],
                               ref["longitude"][k + 5], ref["latitude"][k + 5])

    def beside(beam):
        """Across-track distance (m, + right of travel) and time lag of the beam's nearest
        footprint (in seg_dist_x) to each reference point, and the along-track offset."""
        j = _nearest(x, np.maximum.accumulate(d[beam]["seg_dist_x"]))
        close = np.abs(d[beam]["seg_dist_x"][j] - x) < 60
        az, _, dist = GEOD.inv(ref["longitude"][k], ref["latitude"][k],
                               d[beam]["longitude"][j], d[beam]["latitude"][j])
        across = dist * np.sin(np.radians(az - az_travel))
        along = dist * np.cos(np.radians(az - az_travel))
        lag = d[beam]["delta_time"][j] - ref["delta_time"][k]
        speed = 7100.0  # m/s: remove the time it takes to cover the along-track offset
        return across[close], (lag - along / speed)[close], dist[close]

    across, lag, dist = beside("gt2r")
    assert len(across) > 5
    assert np.all(np.abs(across - 90) < 5)  # r is 90 m right of l
    assert np.all(dist < 150)
    assert np.all(np.abs(lag - 0.35) < 0.02)  # and passes the same spot 0.35 s later
    across, _, _ = beside("gt1l")
    assert np.all(np.abs(across + 3300) < 40)  # pair 1 is 3.3 km left
    across, _, _ = beside("gt3l")
    assert np.all(np.abs(across - 3300) < 40)  # pair 3 is 3.3 km right


def test_atl07_heights(atl07):
    with h5py.File(atl07, "r") as f:
        assert "freeboard_segment" not in f["gt1l"]
        for beam in BEAMS:
            d = _beam(f, beam, ATL07)
            h, typ = d["height_segment_height"], d["height_segment_type"]
            ok = h != FLOAT32_FILL
            assert 0.005 < np.mean(~ok) < 0.1
            assert np.all(np.abs(h[ok & (typ >= 2)]) < 0.2)  # leads: the sea surface
            assert 0.15 < np.median(h[ok & (typ == 1)]) < 0.6  # ice above it
            assert np.all(np.abs(h[ok]) < 4.0)
            g = f[f"{beam}/sea_ice_segments"]
            assert g["height_segment_id"].dtype == np.int32
            assert g["heights/height_segment_quality"].dtype == np.int8


def test_north_granule(north):
    info = parse_granule_name(north.name)
    assert info["processed"] and info["hemisphere"] == "north"
    assert north.name.startswith("processed_ATL10-01_2020031")
    assert superblock_version(north) == 2
    with h5py.File(north, "r") as f:
        for beam in BEAMS:
            d = _beam(f, beam)
            lat, lon = d["latitude"], d["longitude"]
            assert lat.min() > 60 and lat.max() < 88.5
            doy = seaice.day_of_year(float(d["delta_time"][0]))
            assert seaice.is_sea_ice(lat, lon, doy, "north").all()
            assert not seaice.is_land(lat, lon).any()
            assert 0.5e7 < d["seg_dist_x"].min() and d["seg_dist_x"].max() < 1.5e7
            fb = d["beam_fb_height"]
            ice = (fb != FLOAT32_FILL) & (d["height_segment_type"] == 1)
            assert np.mean((fb[ice] > 0.05) & (fb[ice] < 1.0)) > 0.9


def test_ice_edge_and_land_model():
    lon = np.linspace(-180, 179, 360)
    sep = seaice.ice_edge_latitude(lon, 258, "south")
    feb = seaice.ice_edge_latitude(lon, 51, "south")
    assert np.all(sep > feb)  # more ice (edge further north) at the September maximum
    assert -63 < sep.mean() < -58 and -72 < feb.mean() < -68
    mar = seaice.ice_edge_latitude(lon, 69, "north")
    sepn = seaice.ice_edge_latitude(lon, 258, "north")
    assert np.all(mar < sepn) and 64 < mar.min() and mar.max() < 72.5 and 74.5 < sepn.min()
    assert seaice.is_land(-85.0, 0.0) and seaice.is_land(72.0, -40.0)  # Antarctica, Greenland
    assert not seaice.is_land(-75.0, -170.0)  # Ross Sea (ice shelf front at 78 S)
    assert not seaice.is_land(-74.0, -40.0)  # Weddell Sea
    assert not seaice.is_land(88.0, 0.0) and seaice.is_land(78.5, 17.0)  # pole; Svalbard
    # Antarctic summer (late February): less ice, and some tracks cross too little of it
    # to make a granule
    summer = [simulate_pass_or_none(r, 6) for r in range(840, 852)]
    assert any(s is None for s in summer)
    winter = simulate_pass(991, 4, "south", n_strong=200)
    summer_km = np.mean([s.ice_track_m for s in summer if s is not None])
    assert winter.ice_track_m > 3 * summer_km


def simulate_pass_or_none(rgt, cycle):
    try:
        return simulate_pass(rgt, cycle, "south", n_strong=200)
    except NoSeaIceError:
        return None


def test_freeboard_is_consistent_across_a_set(south_set):
    """All granules of a set sample one ice cover: the field depends on seed, not orbit."""
    field_a = seaice.FreeboardField("south", seed=0)
    field_b = seaice.FreeboardField("south", seed=0)
    lat, lon = np.array([-65.0, -70.0]), np.array([10.0, -150.0])
    t = orbit.to_delta_time("2019-09-01")
    np.testing.assert_array_equal(field_a.mean(lat, lon, t), field_b.mean(lat, lon, t))
    field_c = seaice.FreeboardField("south", seed=1)
    assert not np.allclose(field_a.mean(lat, lon, t), field_c.mean(lat, lon, t))


# ----------------------------------------------------------------------------- determinism


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_other_seed_other_values(tmp_path, granule):
    again = make_fixture_granules(tmp_path / "again", n=1)[0]
    assert again.name == granule.name
    assert _md5(again) == _md5(granule)  # byte for byte: no timestamps in the file
    other = make_fixture_granules(tmp_path / "other", n=1, seed=1)[0]
    assert other.name == granule.name
    with h5py.File(granule, "r") as a, h5py.File(again, "r") as b, h5py.File(other, "r") as c:
        for beam in BEAMS:
            x, y, z = _beam(a, beam), _beam(b, beam), _beam(c, beam)
            for col in x:
                np.testing.assert_array_equal(x[col], y[col])
            assert len(x["beam_fb_height"]) != len(z["beam_fb_height"]) or not np.array_equal(
                x["beam_fb_height"], z["beam_fb_height"])
    # rewriting into the same directory gives the same file (idempotent)
    make_fixture_granules(tmp_path / "again", n=1)
    assert _md5(again) == _md5(granule)


# ----------------------------------------------------------------------------- names


def test_name_round_trip(granule):
    start = datetime(2019, 9, 1, 0, 40, 43, tzinfo=UTC)
    name = format_granule_name("ATL10", "south", start, 992, 4)
    assert name == "ATL10-02_20190901004043_09920401_006_01.h5"
    parts = parse_granule_name(name)
    assert parts == {
        "product": "ATL10", "hemisphere": "south", "time": start, "rgt": 992, "cycle": 4,
        "region": 1, "release": "006", "revision": "01", "processed": False, "name": name,
    }
    again = format_granule_name(parts["product"], parts["hemisphere"], parts["time"],
                                parts["rgt"], parts["cycle"], region=parts["region"],
                                release=parts["release"], revision=parts["revision"])
    assert again == name
    real = parse_granule_name(f"/some/dir/{REAL_ATL10.name}")
    assert real["processed"] and real["hemisphere"] == "north"
    assert (real["rgt"], real["cycle"], real["region"]) == (177, 14, 1)
    assert real["time"] == datetime(2022, 1, 2, 20, 32, 48, tzinfo=UTC)
    again = format_granule_name("ATL10", "north", real["time"], 177, 14, processed=True)
    assert again == REAL_ATL10.name
    # the first default fixture: the first ascending node after 2019-09-01, to the second
    mine = parse_granule_name(granule.name)
    assert (mine["rgt"], mine["cycle"], mine["hemisphere"]) == (992, 4, "south")
    assert mine["time"] == orbit.to_utc(round(orbit.crossing_time(992, 4)))
    for bad in ("ATL10_20190901004043_09920401_006_01.h5",
                "ATL10-03_20190901004043_09920401_006_01.h5",
                "ATL10-02_20190901004043_0992041_006_01.h5", "granule.h5"):
        with pytest.raises(ValueError):
            parse_granule_name(bad)


#: Published granule names (from public code and papers) and the real files' names.
PUBLISHED = [
    "ATL07-02_20190317111321_12070201_006_02.h5",
    "ATL10-02_20190611072656_11310301_006_01.h5",
    "ATL10-02_20190731045538_05060401_006_01.h5",
    "ATL07-02_20190624063616_13290301_006_01.h5",
    "ATL07-02_20190602190916_10010301_006_01.h5",
    "ATL07-02_20191104185303_05940501_005_01.h5",
    "ATL07-02_20190225005459_08950201_005_01.h5",
    "ATL07-01_20190909191519_11260401_004_01.h5",
    "processed_ATL07-01_20190226002919_09100201_003_02.h5",
    "processed_ATL10-01_20220102203248_01771401_006_01.h5",
    "processed_ATL10-01_20220106202428_02381401_006_01.h5",
]


@pytest.mark.parametrize("name", PUBLISHED)
def test_orbit_model_reproduces_real_granule_names(name):
    p = parse_granule_name(name)
    t = orbit.crossing_time(p["rgt"], p["cycle"])
    assert abs(t - orbit.to_delta_time(p["time"])) < 20.0  # seconds
    # and back: a time during the pass gives the RGT and cycle
    assert orbit.rgt_cycle(t + 1500.0) == (p["rgt"], p["cycle"])


def test_orbit_model_matches_real_orbit_info(realdata):
    for path in sorted(realdata.glob("*.h5")):
        with h5py.File(path, "r") as f:
            rgt, cycle = int(f["orbit_info/rgt"][0]), int(f["orbit_info/cycle_number"][0])
            assert abs(orbit.crossing_time(rgt, cycle) - f["orbit_info/crossing_time"][0]) < 10
            assert abs(orbit.ascending_node_longitude(rgt) - f["orbit_info/lan"][0]) < 0.01
            assert orbit.orbit_number(rgt, cycle) == int(f["orbit_info/orbit_number"][0])
    # 2018-10-13, first day of science data, is in cycle 1; cycle 2 began 2018-12-28
    assert orbit.rgt_cycle("2018-10-13T12:00:00Z")[1] == 1
    assert orbit.rgt_cycle("2018-12-28T12:00:00Z") == (1, 2)
    assert orbit.rgt_cycle("2018-12-28T06:00:00Z")[1] == 1


def test_successive_granules_are_successive_orbits(south_set):
    parts = [parse_granule_name(p.name) for p in south_set]
    assert [q["rgt"] for q in parts] == list(range(parts[0]["rgt"], parts[0]["rgt"] + 4))
    gaps = np.diff([q["time"].timestamp() for q in parts])
    assert np.all(np.abs(gaps - orbit.ORBIT_PERIOD_S) <= 1.0)
    assert parts[0]["time"] >= datetime(2019, 9, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- orientation


def test_orientation_schedule_gives_both(south_set):
    orients = []
    for path in south_set:
        with h5py.File(path, "r") as f:
            o = int(f["orbit_info/sc_orient"][0])
            assert o == orientation_schedule(int(f["orbit_info/orbit_number"][0]))
            assert f["gt1l"].attrs["sc_orientation"] == {0: b"Backward", 1: b"Forward"}[o]
            orients.append(o)
    assert set(orients) == {0, 1}
    assert 2 not in orients


def test_transition_and_quirks(tmp_path):
    path = write_granule(tmp_path, rgt=992, cycle=4, size=400, sc_orient=2,
                         drop_beams=("gt1l", "gt1r"), fill_beams=("gt3l",))
    with h5py.File(path, "r") as f:
        assert f["orbit_info/sc_orient"][()].tolist() == [2]
        assert f["gt2l"].attrs["sc_orientation"] == b"Transition"
        assert "gt1l" in f and "freeboard_segment" not in f["gt1l"]
        assert "freeboard_segment" not in f["gt1r"]
        fb = f["gt3l/freeboard_segment/beam_fb_height"][...]
        assert len(fb) > 100 and np.all(fb == FLOAT32_FILL)
        other = f["gt2l/freeboard_segment/beam_fb_height"][...]
        assert np.mean(other == FLOAT32_FILL) < 0.2
    with pytest.raises(KeyError):
        products.strong_beams(2)
    paths = make_fixture_granules(tmp_path / "set", n=3, size=300, sc_orient=[1, 2, 0])
    orients = [int(h5py.File(p, "r")["orbit_info/sc_orient"][0]) for p in paths]
    assert orients == [1, 2, 0]
    with pytest.raises(ValueError):
        write_granule(tmp_path, rgt=992, cycle=4, drop_beams=("gt4l",))


# ----------------------------------------------------------------------------- search results


def test_fixture_search_results(south_set, recwarn):
    results = fixture_search_results(south_set)
    assert not [w for w in recwarn.list if w.category is FutureWarning]
    assert len(recwarn) == 0
    assert len(results) == len(south_set)
    for g, path in zip(results, south_set, strict=True):
        name = path.name
        day = parse_granule_name(name)["time"].strftime("%Y/%m/%d")
        key = f"ATLAS/ATL10/006/{day}/{name}"
        assert s3_key(name) == s3_key(path) == s3_key(g) == key
        assert g.data_links(access="external") == [
            f"https://data.nsidc.earthdatacloud.nasa.gov/nsidc-cumulus-prod-protected/{key}"]
        assert g.data_links(access="direct", in_region=True) == [
            f"s3://nsidc-cumulus-prod-protected/{key}"] == [s3_url(name)]
        assert g.get_s3_credentials_endpoint() == "https://data.nsidc.earthdatacloud.nasa.gov/s3credentials"
        assert g["umm"]["GranuleUR"] == name
        assert g["umm"]["CollectionReference"] == {"ShortName": "ATL10", "Version": "006"}
        assert g["meta"]["provider-id"] == "NSIDC_CPRD"
        concept = g["meta"]["concept-id"]
        assert concept.startswith("G") and concept.endswith("-NSIDC_CPRD")
        assert g["icesat2_tutorial_fixture_path"] == str(path.resolve())
        assert g["icesat2_tutorial_fixture"] is True
        assert g["size"] == pytest.approx(path.stat().st_size / 2**20, rel=1e-4) and g["size"] > 0
        rng = g["umm"]["TemporalExtent"]["RangeDateTime"]
        with h5py.File(path, "r") as f:
            t0 = float(f["ancillary_data/start_delta_time"][0])
            lat = f["gt2l/freeboard_segment/latitude"][::25]
            lon = f["gt2l/freeboard_segment/longitude"][::25]
        assert rng["BeginningDateTime"] == orbit.ccsds_utc(t0, 3)
        geo = g.__geo_interface__
        assert geo["type"] == "MultiPolygon"
        ring = np.array(geo["coordinates"][0][0])
        assert np.array_equal(ring[0], ring[-1]) and len(ring) > 10
        # counterclockwise (UMM-G), and it encloses the track, in polar stereographic x, y
        x, y = seaice.polar_stereographic(ring[:, 1], ring[:, 0], "south")
        assert 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) > 0
        from shapely.geometry import Point, Polygon

        poly = Polygon(np.c_[x, y])
        px, py = seaice.polar_stereographic(lat, lon, "south")
        inside = [poly.buffer(100).contains(Point(a, b)) for a, b in zip(px, py, strict=True)]
        assert np.mean(inside) > 0.99
    # the granule the reader gets is the same object type earthaccess.search_data returns
    import earthaccess

    assert isinstance(results[0], earthaccess.DataGranule)


# ----------------------------------------------------------------------------- full size


def test_full_granule_segment_counts(tmp_path):
    import time

    t0 = time.perf_counter()
    path = make_fixture_granules(tmp_path, n=1, size="full")[0]
    elapsed = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        orient = int(f["orbit_info/sc_orient"][0])
        for beam in BEAMS:
            n = f[f"{beam}/freeboard_segment/delta_time"].shape[0]
            if beam in products.strong_beams(orient):
                assert 80_000 < n < 100_000, (beam, n)
            else:
                assert 25_000 < n < 35_000, (beam, n)
        # big beams span several 10000-element chunks
        assert f["gt2l/freeboard_segment/latitude"].chunks == (10000,)
    assert elapsed < 30.0
