"""quality_filter: each rule's removed count against counts made independently with pandas."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pandas as pd
import pytest

import icesat2_tutorial as it
from icesat2_tutorial.filters import quality_filter

FILL32 = np.finfo(np.float32).max  # the products' _FillValue for float32 variables


@pytest.fixture(scope="module")
def atl10(tmp_path_factory) -> pd.DataFrame:
    """Fixture segments with every case the rules decide put into known rows."""
    paths = it.make_fixture_granules(tmp_path_factory.mktemp("atl10"), n=2, size="small", seed=21)
    df = pd.concat([it.read_granule(p) for p in paths], ignore_index=True)
    df.attrs = {"granule": "two fixture granules", "beam_counts": {"gt1l": {"read": 1}}}
    rng = np.random.default_rng(22)
    rows = rng.permutation(len(df))
    taken = iter(np.split(rows[:400], 20))
    length = df["height_segment_length_seg"].to_numpy().copy()
    value = df["beam_fb_height"].to_numpy().copy()
    flag = df["beam_fb_quality_flag"].to_numpy().copy()
    kind = df["height_segment_type"].to_numpy().copy()
    for v in (np.nan, FILL32):
        value[next(taken)] = v
        length[next(taken)] = v
    for v in (2.0, 3.9999, 4.0, 200.0, 200.0001, 250.0, 0.0):
        length[next(taken)] = v
    for v in (-1, 5, 0):
        flag[next(taken)] = v
    for v in (0, -1, 2, 6, 9):
        kind[next(taken)] = v
    df["height_segment_length_seg"] = length
    df["beam_fb_height"] = value
    df["beam_fb_quality_flag"] = flag
    df["height_segment_type"] = kind
    return df


@pytest.fixture(scope="module")
def atl07(tmp_path_factory) -> pd.DataFrame:
    paths = it.make_fixture_granules(tmp_path_factory.mktemp("atl07"), n=1, product="ATL07",
                                     size="small", seed=23)
    df = it.read_granule(paths[0], product="ATL07")
    df.loc[df.index[:30], "height_segment_type"] = 0
    df.loc[df.index[30:40], "height_segment_height"] = np.nan
    df.loc[df.index[40:45], "height_segment_length_seg"] = 3.0
    return df


def expected_report(df: pd.DataFrame, rules: list[tuple[str, pd.Series]]) -> pd.DataFrame:
    """Rules applied in order with pandas: what each removes of what the earlier ones kept."""
    keep = pd.Series(True, index=df.index)
    rows = [("input", 0, len(df))]
    for name, ok in rules:
        removed = int((keep & ~ok).sum())
        keep &= ok
        rows.append((name, removed, int(keep.sum())))
    return pd.DataFrame(rows, columns=["rule", "removed", "remaining"]), keep


def fill_rule(df: pd.DataFrame, value: str = "beam_fb_height") -> pd.Series:
    h = df[value].astype("float64")
    length = df["height_segment_length_seg"].astype("float64")
    return h.notna() & length.notna() & (h != float(FILL32)) & (length != float(FILL32))


def check(df, got, rules):
    kept, report = got
    exp_report, keep = expected_report(df, rules)
    np.testing.assert_array_equal(report["removed"].to_numpy(), exp_report["removed"].to_numpy())
    np.testing.assert_array_equal(report["remaining"].to_numpy(), exp_report["remaining"].to_numpy())
    assert report["rule"].iloc[0] == "input" and len(report) == len(rules) + 1
    pd.testing.assert_frame_equal(kept, df[keep.to_numpy()].reset_index(drop=True))
    return report


def test_defaults_are_the_documented_ones():
    params = inspect.signature(quality_filter).parameters
    assert params["length_bounds"].default == (4.0, 200.0)
    assert tuple(params["quality_flags"].default) == (1, 2, 3, 4)
    assert params["surface"].default == "all"


def test_default_rules_counts(atl10):
    lens = atl10["height_segment_length_seg"]
    rules = [
        ("fill", fill_rule(atl10)),
        ("length", (lens >= 4.0) & (lens <= 200.0)),
        ("flag", atl10["beam_fb_quality_flag"].isin([1, 2, 3, 4])),
        ("surface", atl10["height_segment_type"].isin(range(1, 10))),
    ]
    report = check(atl10, quality_filter(atl10), rules)
    # every rule removed something here, and the counts add up
    assert (report["removed"].iloc[1:] > 0).all()
    assert report["removed"].sum() + report["remaining"].iloc[-1] == len(atl10)
    assert report["rule"].tolist()[1:] == ["fill or NaN", "segment length 4-200 m",
                                          "quality flag in (1, 2, 3, 4)", "surface type all"]
    assert report["removed"].iloc[1] == 80  # the 4 x 20 rows given a NaN or the fill above
    kept = quality_filter(atl10)[0]
    assert kept["height_segment_length_seg"].between(4.0, 200.0).all()
    assert {4.0, 200.0} <= set(kept["height_segment_length_seg"].astype(float))  # bounds inclusive
    assert set(kept["beam_fb_quality_flag"]) <= {1, 2, 3, 4}
    assert set(kept["height_segment_type"]) <= set(range(1, 10))


@pytest.mark.parametrize("surface,codes", [("ice", [1]), ("leads", list(range(2, 10))),
                                           ("all", list(range(1, 10))), ((1, 2), [1, 2]),
                                           ([0, 6, 9], [0, 6, 9]), ((-1,), [-1])])
def test_surface_choices(atl10, surface, codes):
    got = quality_filter(atl10, length_bounds=None, quality_flags=None, surface=surface)
    check(atl10, got, [("fill", fill_rule(atl10)), ("surface", atl10["height_segment_type"].isin(codes))])
    assert set(got[0]["height_segment_type"]) == set(codes) & set(atl10["height_segment_type"])


def test_none_skips_a_rule(atl10):
    lens = atl10["height_segment_length_seg"]
    flag_ok = atl10["beam_fb_quality_flag"].isin([1, 2, 3, 4])
    report = check(atl10, quality_filter(atl10, length_bounds=None),
                   [("fill", fill_rule(atl10)), ("flag", flag_ok),
                    ("surface", atl10["height_segment_type"].isin(range(1, 10)))])
    assert not report["rule"].str.contains("length").any()
    check(atl10, quality_filter(atl10, quality_flags=None, surface=None),
          [("fill", fill_rule(atl10)), ("length", (lens >= 4.0) & (lens <= 200.0))])
    # with every rule off only NaN and fill go, and cloud-covered (0) segments stay
    kept, report = quality_filter(atl10, length_bounds=None, quality_flags=None, surface=None)
    check(atl10, (kept, report), [("fill", fill_rule(atl10))])
    assert {0, -1} <= set(kept["height_segment_type"])


def test_custom_bounds_and_flags(atl10):
    lens = atl10["height_segment_length_seg"]
    check(atl10, quality_filter(atl10, length_bounds=(10, 100), quality_flags=[1], surface="ice"),
          [("fill", fill_rule(atl10)), ("length", (lens >= 10) & (lens <= 100)),
           ("flag", atl10["beam_fb_quality_flag"] == 1), ("surface", atl10["height_segment_type"] == 1)])


@pytest.mark.parametrize("kwargs", [
    dict(length_bounds=(200.0, 4.0)), dict(length_bounds=(4.0, 4.0)), dict(length_bounds=(np.nan, 5.0)),
    dict(length_bounds=(4.0,)), dict(surface="water"), dict(surface=("a",)),
])
def test_bad_parameters_raise(atl10, kwargs):
    with pytest.raises(ValueError):
        quality_filter(atl10, **kwargs)


def test_atl07_has_no_quality_flag_rule(atl07):
    assert "beam_fb_quality_flag" not in atl07
    lens = atl07["height_segment_length_seg"]
    report = check(atl07, quality_filter(atl07),
                   [("fill", fill_rule(atl07, "height_segment_height")),
                    ("length", (lens >= 4.0) & (lens <= 200.0)),
                    ("surface", atl07["height_segment_type"].isin(range(1, 10)))])
    assert not report["rule"].str.contains("quality flag").any()
    assert report["removed"].tolist()[1] == 10  # the ten NaN heights


def test_value_column_can_be_chosen(atl10):
    df = atl10.assign(other=np.float32(0.5))
    df.loc[df.index[:7], "other"] = np.nan
    got = quality_filter(df, length_bounds=None, quality_flags=None, surface=None, value="other")
    check(df, got, [("fill", fill_rule(df, "other"))])


def test_input_is_not_modified(atl10):
    before = atl10.copy(deep=True)
    attrs = copy.deepcopy(atl10.attrs)
    kept, _ = quality_filter(atl10)
    pd.testing.assert_frame_equal(atl10, before)
    assert atl10.attrs == attrs
    assert kept.attrs["granule"] == attrs["granule"]
    assert kept.index.equals(pd.RangeIndex(len(kept)))
    kept.loc[0, "beam_fb_height"] = np.float32(-99)
    pd.testing.assert_frame_equal(atl10, before)


def test_grid_segments_filters_nothing_the_filter_would(atl10):
    # gridding drops NaN and fill as invalid (and counts them) but keeps short segments,
    # bad flags, clouds: everything the quality filter is there to decide
    grid = it.ease2_grid("south", 25)
    fill = np.finfo(np.float32).max
    h, length = atl10["beam_fb_height"], atl10["height_segment_length_seg"]
    finite = atl10[np.isfinite(h) & np.isfinite(length) & (h.abs() < fill) & (length < fill)]
    ds = it.grid_segments(finite, grid)
    assert ds.attrs["segments_gridded"] == len(finite) - int((finite["height_segment_length_seg"] <= 0).sum())
    assert ds.attrs["segments_invalid"] == int((finite["height_segment_length_seg"] <= 0).sum())
    ds_all = it.grid_segments(atl10, grid)
    assert ds_all.attrs["segments_invalid"] == len(atl10) - len(finite) + ds.attrs["segments_invalid"]
