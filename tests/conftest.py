"""Shared fixtures: where the real granules are, and fixture granules made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


def real_granules(pattern: str = "*.h5") -> list[Path]:
    """The real NASA granule subsets in ../shared/realdata (read in place, never copied)."""
    return sorted(REALDATA.glob(pattern))


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not real_granules():
        pytest.skip("../shared/realdata is not present next to this checkout")
    return REALDATA


@pytest.fixture(scope="session")
def dask_cluster():
    """A Dask LocalCluster of 2 worker processes with 1 thread each, shared by the reliability tests.

    ``worker-saturation`` 1.0: a worker holds only the task it runs, so a killed worker takes
    exactly that task with it (not an innocent queued one); ``allowed-failures`` 1: a task
    that has killed two workers is given up (KilledWorker) instead of killing four.
    """
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                          "distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    try:
        with Client(cluster) as client:
            yield cluster, client
    finally:
        cluster.close()
