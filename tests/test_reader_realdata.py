"""The reader on real NASA granule subsets (../shared/realdata), compared with h5py.

These files carry the quirks real data has: beams without a segment group, beams entirely
fill, superblock version 2 (h5coro cannot read their attributes), weak beams whose
seg_dist_x goes backwards. All real ATL10 subsets here are entirely fill in beam_fb_height,
so the reader must return an empty table for them and say why in ``attrs``.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from h5reference import reference_read, utc

from conftest import real_granules
from icesat2_tutorial import read_granule
from icesat2_tutorial.exceptions import WrongProductError

REAL = real_granules()


def _product(path) -> str:
    return "ATL07" if "ATL07" in path.name else "ATL10"


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_matches_h5py(path, realdata):
    product = _product(path)
    table = read_granule(path, product=product)
    ref = reference_read(str(path), product)

    # the same strong beams are present, with the same segments in the same order
    got_beams = sorted(table["beam"].unique().tolist())
    ref_beams = sorted(b for b, df in ref.items() if len(df))
    assert got_beams == ref_beams
    for beam, rdf in ref.items():
        mine = table[table["beam"] == beam].reset_index(drop=True)
        assert len(mine) == len(rdf), beam
        for col in rdf.columns.drop(["delta_time", "epoch"]):
            np.testing.assert_array_equal(mine[col].to_numpy(), rdf[col].to_numpy(), err_msg=col)
            assert mine[col].dtype == rdf[col].dtype, col
        expected = [utc(d, e) for d, e in zip(rdf["delta_time"], rdf["epoch"], strict=True)]
        diff = (mine["time"] - pd.to_datetime(expected)).abs()
        assert (diff <= pd.Timedelta("1us")).all()  # datetime keeps microseconds


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_attrs_account_for_every_strong_segment(path, realdata):
    """Every strong-beam segment in the file is either in the table or counted as fill."""
    product = _product(path)
    table = read_granule(path, product=product)
    group = "freeboard_segment" if product == "ATL10" else "sea_ice_segments"
    with h5py.File(path) as f:
        beams = [b for b in table.attrs["strong_beams"]]
        present = [b for b in beams if f"{b}/{group}" in f]
        n_file = {b: len(f[f"{b}/{group}/delta_time"]) for b in present}
    assert sorted(table.attrs["missing_beams"]) == sorted(set(beams) - set(present))
    counts = table.attrs["beam_counts"]
    assert {b: c["read"] for b, c in counts.items()} == n_file
    assert sum(c["kept"] for c in counts.values()) == len(table)


def test_real_atl07_values_and_times(realdata):
    path = realdata / "processed_ATL07-01_20190226002919_09100201_003_02.h5"
    table = read_granule(path, product="ATL07")
    assert table.attrs["strong_beams"] == ["gt1l", "gt2l", "gt3l"]  # sc_orient 0
    assert len(table) == 24 + 112 + 694  # non-fill strong segments, counted with h5py
    # sea ice heights relative to the local sea surface: a few decimetres at most
    assert table["height_segment_height"].between(-0.2, 0.2).all()
    # times inside the granule's own time coverage (2019-02-26T00:29:19Z to 02:03:37Z)
    assert table["time"].min() >= pd.Timestamp("2019-02-26T00:29:19")
    assert table["time"].max() <= pd.Timestamp("2019-02-26T02:03:37")
    # Arctic granule (hemisphere 01)
    assert (table["latitude"] > 53).all()


def test_real_atl10_all_fill_gives_empty_table_with_reasons(realdata):
    path = realdata / "processed_ATL10-01_20220103200708_01921401_006_01.h5"
    table = read_granule(path)
    assert len(table) == 0
    assert list(table.columns) == [
        "time", "latitude", "longitude", "seg_dist_x", "height_segment_length_seg",
        "beam_fb_height", "height_segment_type", "beam_fb_quality_flag", "beam",
    ]
    assert table.attrs["missing_beams"] == ["gt1l"]
    assert table.attrs["beam_counts"]["gt3l"] == {"read": 3656, "kept": 0, "fill": 3656}


def test_real_atl07_read_as_atl10_names_the_product(realdata):
    path = realdata / "processed_ATL07-01_20190226002919_09100201_003_02.h5"
    with pytest.raises(WrongProductError, match="ATL07 granule, not ATL10") as info:
        read_granule(path, product="ATL10")
    assert path.name in str(info.value)
