"""Faults during build_timeseries on a Dask LocalCluster (2 worker processes): nothing is lost.

One run meets every fault at once: a worker killed (SIGKILL) while it reads a granule,
after other granules have been merged; a task that raises an unexpected exception inside
the read; a task that cannot even start (its arguments fail to unpickle); a
granule whose server stalls; and an S3 read whose first connections are dropped. The run
must finish; the granule of the killed worker is run again elsewhere and succeeds; the
result equals a fault-free serial run over exactly the granules that succeeded; and
``failed_granules`` names exactly the others, once each, with their reasons. A second
run has a granule that kills every worker that touches it (a crash in C, say).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import xarray as xr
from faults import (
    Environ,
    FailsToUnpickle,
    KillsItsWorker,
    KillWhileProcessing,
    RaisesInWorker,
    flaky_proxy,
)

from icesat2_tutorial import build_timeseries, ease2_grid, make_fixture_granules, read_granule
from icesat2_tutorial.localservers import LocalHTTPServer, LocalS3Server

GRID = ease2_grid("south", 25)
STATS = ["segment_count", "mean_segment_length", "freeboard_mean", "freeboard_std"]
TIMEOUT_S = 8.0  # each granule's bound; the slow granule takes about 2.5 s
RUN_BOUND_S = 90.0


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return make_fixture_granules(tmp_path_factory.mktemp("faults"), n=6, seed=31)


def _assert_same_grids(ds: xr.Dataset, ref: xr.Dataset) -> None:
    """Equal to a fault-free run: counts exactly, statistics to float rounding."""
    assert list(ds["time"].to_numpy()) == list(ref["time"].to_numpy())
    xr.testing.assert_equal(ds["segment_count"], ref["segment_count"])
    for v in STATS[1:]:
        xr.testing.assert_allclose(ds[v], ref[v], rtol=1e-12, atol=1e-12)


def _ready(client, n: int = 2) -> dict[str, int]:
    """Wait for ``n`` workers; their process ids by address."""
    client.wait_for_workers(n, timeout=60)
    return client.run(os.getpid)


def test_every_fault_at_once(good, dask_cluster, tmp_path, monkeypatch):
    cluster, client = dask_cluster
    slow_dir, stall_dir = tmp_path / "slow", tmp_path / "stall"
    slow_dir.mkdir()
    stall_dir.mkdir()
    (slow_dir / good[2].name).write_bytes(good[2].read_bytes())
    (stall_dir / "ATL10-02_stalls.h5").write_bytes(good[3].read_bytes())
    with LocalHTTPServer(slow_dir) as once:  # how many requests one read of it makes
        read_granule(once.url_for(good[2].name), token="t")
        one_read = once.stats["requests"]
    with LocalHTTPServer(slow_dir, latency_s=1.0) as slow, \
            LocalHTTPServer(stall_dir, latency_s=120.0) as stall, LocalS3Server() as s3:
        flaky_url = s3.upload(good[4], key="faults/" + good[4].name)
        port, stop, seen = flaky_proxy(s3.port, refuse_first=6)
        client.register_plugin(Environ({
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_DEFAULT_REGION": "us-west-2",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}))
        # killed once two granules are merged and the slow read has had an answer
        killer = KillWhileProcessing(cluster.scheduler, "grid_granule-2-", after=2,
                                     pids=_ready(client), started=lambda: slow.request_count > 0)
        cluster.scheduler.add_plugin(killer, name="kill-while-processing")
        killer.watch()
        raises = RaisesInWorker(str(tmp_path / "ATL10-02_raises.h5"))
        unpickle = FailsToUnpickle(str(tmp_path / "ATL10-02_unpickle.h5"))
        sources = [good[0], good[1], slow.url_for(good[2].name), raises, unpickle,
                   stall.url_for("ATL10-02_stalls.h5"), flaky_url, good[5]]
        try:
            t0 = time.perf_counter()
            ds = build_timeseries(sources, GRID, "1D", client=client, filters=None,
                                  timeout=TIMEOUT_S, retries=4, retry_wait_s=0.2,
                                  progress=False).compute()
            elapsed = time.perf_counter() - t0
        finally:
            killer.stop()
            cluster.scheduler.remove_plugin(name="kill-while-processing")
            client.unregister_worker_plugin("test-environ")
            stop.set()
        slow_requests = slow.stats["requests"]

    assert elapsed < RUN_BOUND_S
    # the worker was killed while it read the slow granule, after two granules were merged
    assert killer.killed is not None, "the kill never happened"
    address, pid, finished_then = killer.killed
    assert finished_then >= 2
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # that process is gone
    assert slow_requests > one_read  # the slow granule was read again, elsewhere
    assert len(seen) > 6  # the flaky proxy dropped connections and let later ones through

    failed = ds.attrs["failed_granules"]
    assert [f.split(": ", 1)[0] for f in failed] == [
        "ATL10-02_raises.h5", "ATL10-02_unpickle.h5", "ATL10-02_stalls.h5"]
    reasons = [f.split(": ", 1)[1] for f in failed]
    assert reasons[0].startswith("unexpected RuntimeError: injected fault reading")
    assert reasons[1].startswith("task failed: RuntimeError: Error during deserialization")
    assert all("\n" not in f for f in failed)  # one line per failed granule
    assert f"longer than {TIMEOUT_S:g} s" in reasons[2]
    assert ds.attrs["granules_ok"] == 5 and ds.attrs["granules_failed"] == 3

    # equal to a fault-free run over exactly the granules that succeeded
    ref = build_timeseries([good[0], good[1], good[2], good[4], good[5]], GRID, "1D",
                           filters=None, progress=False).compute()
    _assert_same_grids(ds, ref)
    assert ds.attrs["segments_read"] == ref.attrs["segments_read"]
    assert int(ds["segment_count"].sum()) == int(ref["segment_count"].sum()) > 0


def test_a_granule_that_kills_every_worker_it_touches(good, dask_cluster, tmp_path):
    """The task is given up (KilledWorker) after two workers died; the rest completes."""
    _, client = dask_cluster
    _ready(client)
    crash = KillsItsWorker(str(tmp_path / "ATL10-02_crashes.h5"))
    t0 = time.perf_counter()
    ds = build_timeseries([good[0], crash, good[1], good[2]], GRID, "1D", client=client,
                          filters=None, progress=False).compute()
    assert time.perf_counter() - t0 < RUN_BOUND_S
    (failure,) = ds.attrs["failed_granules"]
    assert failure.startswith("ATL10-02_crashes.h5: task failed: KilledWorker")
    ref = build_timeseries([good[0], good[1], good[2]], GRID, "1D", filters=None,
                           progress=False).compute()
    _assert_same_grids(ds, ref)
    assert np.isfinite(ds["freeboard_mean"]).any()
    _ready(client)  # the nannies brought the workers back
