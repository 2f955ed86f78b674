"""The reader on fixture granules, against the independent h5py reader.

Both HDF5 superblock versions real files use (0: archive granules, 2: subsetter output),
both orientations, ATL10 and ATL07, the transition orientation, and earthaccess search
results read offline (local copy) and through the S3 path a cloud hub would use.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from h5reference import reference_read, utc

from icesat2_tutorial import fixture_search_results, read_granule
from icesat2_tutorial.exceptions import OrientationError
from icesat2_tutorial.fixtures import make_fixture_granules, s3_key, superblock_version, write_granule
from icesat2_tutorial.localservers import LocalS3Server


def _compare_with_h5py(path, product="ATL10"):
    table = read_granule(path, product=product)
    ref = reference_read(str(path), product)
    assert sorted(table["beam"].unique().tolist()) == sorted(b for b, d in ref.items() if len(d))
    for beam, rdf in ref.items():
        mine = table[table["beam"] == beam].reset_index(drop=True)
        assert len(mine) == len(rdf) > 0, beam
        for col in rdf.columns.drop(["delta_time", "epoch"]):
            np.testing.assert_array_equal(mine[col].to_numpy(), rdf[col].to_numpy(), err_msg=col)
            assert mine[col].dtype == rdf[col].dtype, col
        expected = pd.to_datetime([utc(d, e) for d, e in zip(rdf["delta_time"], rdf["epoch"], strict=True)])
        assert ((mine["time"] - expected).abs() <= pd.Timedelta("1us")).all()
    return table


@pytest.fixture(scope="module")
def granules(tmp_path_factory):
    out = tmp_path_factory.mktemp("reader")
    sb0 = make_fixture_granules(out / "sb0", n=2, seed=11, superblock=0)
    sb2 = make_fixture_granules(out / "sb2", n=2, seed=11, superblock=2, processed=True)
    return sb0, sb2


@pytest.mark.parametrize("superblock", [0, 2])
@pytest.mark.parametrize("which", [0, 1])
def test_matches_h5py(granules, superblock, which):
    path = granules[0 if superblock == 0 else 1][which]
    assert superblock_version(path) == superblock
    table = _compare_with_h5py(path)
    # successive orbits alternate orientation in the fixture schedule: both are covered
    assert table.attrs["sc_orient"] == which
    expected = ["gt1l", "gt2l", "gt3l"] if which == 0 else ["gt1r", "gt2r", "gt3r"]
    assert table.attrs["strong_beams"] == expected


def test_superblock_versions_give_identical_tables(granules):
    sb0, sb2 = granules
    for a, b in zip(sb0, sb2, strict=True):
        pd.testing.assert_frame_equal(read_granule(a), read_granule(b))


def test_fill_segments_dropped_and_counted(granules):
    path = granules[0][0]
    table = read_granule(path)
    import h5py

    with h5py.File(path) as f:
        for beam in table.attrs["strong_beams"]:
            fb = f[f"{beam}/freeboard_segment/beam_fb_height"][...]
            length = f[f"{beam}/freeboard_segment/heights/height_segment_length_seg"][...]
            fill = (fb == np.float32(3.4028235e38)) | (length == np.float32(3.4028235e38))
            assert fill.sum() > 0  # the fixture does contain fill
            counts = table.attrs["beam_counts"][beam]
            assert counts == {"read": len(fb), "kept": int((~fill).sum()), "fill": int(fill.sum())}
    assert float(table["beam_fb_height"].max()) < 10.0  # no fill value left


def test_atl07(tmp_path):
    path = make_fixture_granules(tmp_path, n=1, product="ATL07", seed=5)[0]
    table = _compare_with_h5py(path, "ATL07")
    assert "beam_fb_quality_flag" not in table.columns
    assert "height_segment_height" in table.columns


def test_missing_and_all_fill_beams(tmp_path):
    path = write_granule(tmp_path, rgt=992, cycle=4, sc_orient=0,
                         drop_beams=("gt2l",), fill_beams=("gt3l",))
    table = read_granule(path)
    assert table.attrs["missing_beams"] == ["gt2l"]
    assert table.attrs["beam_counts"]["gt3l"]["kept"] == 0
    assert table["beam"].unique().tolist() == ["gt1l"]


def test_transition_orientation(tmp_path):
    path = write_granule(tmp_path, rgt=992, cycle=4, sc_orient=2)
    with pytest.raises(OrientationError, match="sc_orient=2") as info:
        read_granule(path)
    assert path.name in str(info.value)
    with pytest.warns(UserWarning, match="returning no segments"):
        table = read_granule(path, on_transition="empty")
    assert len(table) == 0 and table.attrs["sc_orient"] == 2


def test_search_results_read_offline(granules):
    paths = granules[0]
    results = fixture_search_results(paths)
    for granule, path in zip(results, paths, strict=True):
        pd.testing.assert_frame_equal(read_granule(granule), read_granule(path))


def test_search_results_read_through_s3_like_on_a_hub(granules, monkeypatch):
    """The in-region code path: the granule's s3:// link, served by a local S3 server."""
    paths = granules[0]
    results = fixture_search_results(paths)
    with LocalS3Server() as s3:
        for k, v in s3.environ().items():
            monkeypatch.setenv(k, v)
        for path in paths:
            s3.upload(path, key=s3_key(path.name))  # the same bucket and key as NSIDC's
        monkeypatch.setenv("ICESAT2_TUTORIAL_IN_REGION", "1")
        for granule, path in zip(results, paths, strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # nothing noisy on a learner's screen
                table = read_granule(granule, access="s3", credentials=s3.credentials)
            pd.testing.assert_frame_equal(table, read_granule(path))
            assert s3.request_count > 0
