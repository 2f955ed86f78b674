"""build_timeseries: equal to grid_segments on all segments, on every executor; failures kept."""

from __future__ import annotations

import pickle
import socket
import time

import pandas as pd
import pytest
import xarray as xr
from faults import flaky_proxy

from icesat2_tutorial import (
    ease2_grid,
    fixture_search_results,
    grid_segments,
    make_fixture_granules,
    quality_filter,
    read_granule,
)
from icesat2_tutorial.localservers import LocalS3Server
from icesat2_tutorial.periods import parse_period
from icesat2_tutorial.timeseries import GranuleJob, aggregate_periods, build_timeseries, grid_granule

GRID = ease2_grid("south", 25)
STATS = ["segment_count", "mean_segment_length", "freeboard_mean", "freeboard_std"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return make_fixture_granules(tmp_path_factory.mktemp("ts"), n=6, seed=21)


@pytest.fixture(scope="module")
def segments(good):
    return pd.concat([read_granule(p) for p in good], ignore_index=True)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, good):
    """A corrupt, a truncated, a wrong-product and an empty granule, and a missing one."""
    d = tmp_path_factory.mktemp("bad")
    corrupt = d / "ATL10-02_20190901000000_00010401_006_01.h5"
    data = bytearray(good[0].read_bytes())
    data[:8] = b"NOTHDF5!"
    corrupt.write_bytes(bytes(data))
    truncated = d / "ATL10-02_20190901000001_00020401_006_01.h5"
    truncated.write_bytes(good[1].read_bytes()[:50_000])
    atl07 = make_fixture_granules(d / "atl07", n=1, product="ATL07", seed=2)[0]
    empty = d / "ATL10-02_20190901000002_00030401_006_01.h5"
    empty.write_bytes(b"")
    missing = d / "ATL10-02_20190901000003_00040401_006_01.h5"
    return {"corrupt": corrupt, "truncated": truncated, "wrong product": atl07,
            "empty": empty, "missing": missing}


def test_equals_grid_segments_on_all_segments(good, segments):
    ds = build_timeseries(good, GRID, "1D", filters=None, progress=False).compute()
    ref = grid_segments(segments, GRID, "1D").compute()
    for v in STATS:
        xr.testing.assert_allclose(ds[v], ref[v], rtol=1e-12, atol=1e-12)
    assert ds.attrs["segments_read"] == len(segments) == int(ds["segment_count"].sum())
    assert ds.attrs["granules_ok"] == len(good) and ds.attrs["failed_granules"] == []


def test_default_filters_equal_quality_filter_then_grid(good, segments):
    ds = build_timeseries(good, GRID, "1MS", progress=False).compute()
    kept, report = quality_filter(segments)
    ref = grid_segments(kept, GRID, "1MS").compute()
    for v in STATS:
        xr.testing.assert_allclose(ds[v], ref[v], rtol=1e-12, atol=1e-12)
    assert ds.attrs["segments_kept"] == len(kept) < len(segments)
    assert "length_bounds=(4.0, 200.0)" in ds.attrs["filters"]


def test_serial_threads_processes_dask_identical(good):
    from distributed import Client, LocalCluster

    runs = {
        "serial": build_timeseries(good, GRID, "1D", progress=False),
        "threads": build_timeseries(good, GRID, "1D", scheduler="threads", workers=2, progress=False),
        "processes": build_timeseries(good, GRID, "1D", scheduler="processes", workers=2,
                                      progress=False),
    }
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        runs["dask"] = build_timeseries(good, GRID, "1D", client=client, progress=False)
    base = runs.pop("serial").compute()
    for ds in runs.values():
        xr.testing.assert_identical(base, ds.compute())  # bit for bit, whatever ran it


def test_failed_granules_named_exactly(good, bad):
    sources = [good[0], bad["corrupt"], good[1], bad["truncated"], bad["wrong product"],
               good[2], bad["empty"], bad["missing"]]
    ds = build_timeseries(sources, GRID, "1D", filters=None, progress=False).compute()
    failed = ds.attrs["failed_granules"]
    assert len(failed) == 5 == ds.attrs["granules_failed"]
    names = [f.split(": ", 1)[0] for f in failed]
    assert names == [bad[k].name for k in ("corrupt", "truncated", "wrong product", "empty",
                                           "missing")]
    reasons = dict(f.split(": ", 1) for f in failed)
    assert "truncated" in reasons[bad["truncated"].name]
    assert "ATL07 granule" in reasons[bad["wrong product"].name]
    assert "no such file" in reasons[bad["missing"].name]
    # the good ones are all in the result, exactly
    ref = grid_segments(pd.concat([read_granule(p) for p in good[:3]], ignore_index=True),
                        GRID, "1D").compute()
    for v in STATS:
        xr.testing.assert_allclose(ds[v], ref[v], rtol=1e-12, atol=1e-12)


def test_search_results_as_input(good):
    results = fixture_search_results(good)
    a = build_timeseries(results, GRID, "1D", progress=False).compute()
    b = build_timeseries(good, GRID, "1D", progress=False).compute()
    xr.testing.assert_identical(a, b)


def test_jobs_carry_no_credentials(good, monkeypatch):
    """What travels to a worker: the granule and the settings, never a secret."""
    secret = "fake-secret-key-9f8e7d6c5b4a"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("EARTHDATA_PASSWORD", secret)
    monkeypatch.setenv("EARTHDATA_TOKEN", secret)
    for src in [str(good[0]), fixture_search_results(good[:1])[0], "s3://bucket/key.h5",
                "https://example.invalid/ATL10.h5"]:
        job = GranuleJob(0, src, "x", GRID, parse_period("1D"), "ATL10", {}, "auto", 10, 0, 0.0)
        assert secret.encode() not in pickle.dumps(job)


def test_network_error_that_passes_is_retried(good, monkeypatch):
    with LocalS3Server() as s3:
        url = s3.upload(good[0], key="ATLAS/ATL10/006/flaky.h5")
        port, stop, seen = flaky_proxy(s3.port, refuse_first=8)
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
            monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
            for k, v in (("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")):
                monkeypatch.setenv(k, v)
            job = GranuleJob(0, url, "flaky.h5", GRID,
                             parse_period("1D"),
                             "ATL10", None, "auto", 60, 5, 0.2)
            result = grid_granule(job)
        finally:
            stop.set()
    assert result.error is None, result.error
    assert result.attempts > 1
    assert result.sums.n_segments == len(read_granule(good[0]))


def test_hanging_granule_is_given_up(good):
    """A server that accepts and never answers: the granule fails after the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/ATL10-02_stall.h5"
    try:
        t0 = time.perf_counter()
        ds = build_timeseries([good[0], url], GRID, "1D", timeout=2, retries=0, progress=False)
        elapsed = time.perf_counter() - t0
    finally:
        listener.close()
    assert elapsed < 30
    assert ds.attrs["granules_ok"] == 1
    (failure,) = ds.attrs["failed_granules"]
    assert failure.startswith("ATL10-02_stall.h5: ") and "longer than 2 s" in failure


def test_aggregate_daily_to_monthly_is_exact(segments):
    daily = grid_segments(segments, GRID, "1D")
    monthly = grid_segments(segments, GRID, "1MS").compute()
    agg = aggregate_periods(daily, "1MS").compute()
    for v in STATS:
        xr.testing.assert_allclose(agg[v], monthly[v], rtol=1e-10, atol=1e-12)


def test_bad_parameters(good):
    with pytest.raises(ValueError, match="filters"):
        build_timeseries(good, GRID, filters="strict", progress=False)
    with pytest.raises(ValueError, match="unknown period"):
        build_timeseries(good, GRID, period="1H", progress=False)
    with pytest.raises(ValueError, match="scheduler"):
        build_timeseries(good, GRID, scheduler="mpi", progress=False)
    with pytest.raises(ValueError, match="unknown product"):
        build_timeseries(good, GRID, product="ATL06", progress=False)


def test_progress_bar_on_stderr(good, capsys):
    build_timeseries(good[:2], GRID, progress=True)
    err = capsys.readouterr().err
    assert "granules" in err and "2/2" in err


def test_empty_input_gives_empty_dataset():
    ds = build_timeseries([], GRID, progress=False)
    assert ds.sizes["time"] == 0 and ds.attrs["granules_total"] == 0
    assert ds.attrs["segments_read"] == 0 and ds.attrs["failed_granules"] == []


def test_aggregate_periods_skips_the_gaps_between_seasons(tmp_path):
    paths = (make_fixture_granules(tmp_path / "a", n=2, seed=1, start="2019-09-03")
             + make_fixture_granules(tmp_path / "b", n=2, seed=2, start="2021-09-03"))
    daily = build_timeseries(paths, GRID, "1D", progress=False)
    monthly = aggregate_periods(daily, "1MS").compute()
    assert [str(t)[:7] for t in monthly["time"].to_numpy()] == ["2019-09", "2021-09"]
    assert int(monthly["segment_count"].min()) == 0
    assert int(monthly["segment_count"].sum()) == int(daily["segment_count"].sum())


# --------------------------------------------------------------------------------------------
# The reduce: merged in granule order, as a binary counter of batches
# --------------------------------------------------------------------------------------------

def _synthetic_results(n: int, cells_each: int, seed: int = 0, shift: int = 0) -> list:
    """``n`` granule results with random sums on the 25 km south grid.

    Granule ``i``'s keys are drawn from ``[i * shift, i * shift + 4 * cells_each)``: with
    ``shift=0`` all granules overlap; with a large shift each brings new cells (new days), as
    a long time series does.
    """
    import numpy as np

    from icesat2_tutorial.bucket import PartialSums
    from icesat2_tutorial.timeseries import GranuleResult

    rng = np.random.default_rng(seed)
    per = parse_period("1D")
    out = []
    for i in range(n):
        keys = np.unique(i * shift + rng.integers(0, 4 * cells_each, cells_each)).astype(np.int64)
        k = len(keys)
        count = rng.integers(1, 50, k).astype(np.int64)
        length = count * rng.uniform(10, 150, k)
        mean = rng.normal(0.3, 0.2, k)
        m2 = rng.uniform(0, 2, k) * length
        out.append(GranuleResult(i, f"g{i}", PartialSums(GRID, per, "beam_fb_height", keys, count,
                                                         length, mean, m2, sources=[f"g{i}"])))
    return out


def _merge_all(results, order) -> object:
    from icesat2_tutorial.bucket import PartialSums
    from icesat2_tutorial.timeseries import _OrderedMerger

    merger = _OrderedMerger(PartialSums(GRID, parse_period("1D"), "beam_fb_height"))
    for i in order:
        r = results[i]
        merger.add(type(r)(r.index, r.name, r.sums))  # a copy: add() takes the sums away
    assert merger.waiting == 0
    return merger.finish()


def test_merge_order_is_fixed_by_granule_order_not_arrival(monkeypatch):
    import numpy as np

    import icesat2_tutorial.timeseries as ts

    monkeypatch.setattr(ts, "MERGE_BATCH", 3)  # 40 granules: 14 batches, four counter levels
    results = _synthetic_results(40, 200)
    in_order = _merge_all(results, range(40))
    shuffled = _merge_all(results, np.random.default_rng(5).permutation(40))
    for a in ("key", "count", "sum_length", "mean", "m2"):
        np.testing.assert_array_equal(getattr(in_order, a), getattr(shuffled, a))  # bit for bit
    assert in_order.sources == [f"g{i}" for i in range(40)]
    # and it is the exact merge: against an independent sum over all granules (pandas)
    frame = pd.concat([pd.DataFrame({"key": r.sums.key, "n": r.sums.count, "W": r.sums.sum_length,
                                     "Lh": r.sums.mean * r.sums.sum_length, "mean": r.sums.mean,
                                     "m2": r.sums.m2}) for r in results])
    tot = frame.groupby("key").agg(n=("n", "sum"), W=("W", "sum"), Lh=("Lh", "sum"))
    tot["mean"] = tot["Lh"] / tot["W"]
    # parallel-axis theorem: M2 = sum(m2_i + W_i (mean_i - mean)^2)
    frame = frame.join(tot["mean"].rename("total_mean"), on="key")
    tot["m2"] = (frame["m2"] + frame["W"] * (frame["mean"] - frame["total_mean"]) ** 2
                 ).groupby(frame["key"]).sum()
    np.testing.assert_array_equal(in_order.key, tot.index.to_numpy())
    np.testing.assert_array_equal(in_order.count, tot["n"].to_numpy())
    np.testing.assert_allclose(in_order.sum_length, tot["W"], rtol=1e-12)
    np.testing.assert_allclose(in_order.mean, tot["mean"], rtol=1e-11)
    np.testing.assert_allclose(in_order.m2, tot["m2"], rtol=1e-9)


def test_merge_work_grows_as_n_log_n_not_n_squared(monkeypatch):
    """Counts the cells each merge copies: a decade must not copy the total once per batch."""
    import math

    import icesat2_tutorial.timeseries as ts

    copied = []
    real = ts._combine

    def counting(template, keys, *args):
        copied.append(sum(len(k) for k in keys))
        return real(template, keys, *args)

    monkeypatch.setattr(ts, "_combine", counting)
    monkeypatch.setattr(ts, "MERGE_BATCH", 2)
    n = 512  # 256 batches
    results = _synthetic_results(n, 50, seed=1, shift=1000)  # disjoint: the total grows
    total_in = sum(len(r.sums.key) for r in results)
    _merge_all(results, range(n))
    levels = math.log2(n / 2)
    # each cell is copied once into its batch and once per counter level above it
    assert sum(copied) <= total_in * (levels + 2)
    # folding every batch into one running total would have copied about n/4 times as much
    assert sum(copied) < total_in * n / 2 / 8


def test_build_timeseries_with_many_merge_levels_equals_grid_segments(good, segments, monkeypatch):
    import icesat2_tutorial.timeseries as ts

    monkeypatch.setattr(ts, "MERGE_BATCH", 1)  # six granules: counter levels 0, 1 and 2 used
    ds = build_timeseries(good, GRID, "1D", filters=None, progress=False).compute()
    threads = build_timeseries(good, GRID, "1D", filters=None, scheduler="threads", workers=2,
                               progress=False).compute()
    xr.testing.assert_identical(ds, threads)
    ref = grid_segments(segments, GRID, "1D").compute()
    for v in STATS:
        xr.testing.assert_allclose(ds[v], ref[v], rtol=1e-12, atol=1e-12)
