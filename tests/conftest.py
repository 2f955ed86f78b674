"""Shared fixtures: the real granules, the built book, a Dask LocalCluster, fake credentials,
an S3 stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
HTML = ROOT / "_build" / "html"
BOOK_LOG = ROOT / "_build" / "book-build.log"
#: Says which environment variables held fake credentials when _build/html was built.
BOOK_STAMP = HTML / ".built-with-fake-credentials.json"
SOURCES = [ROOT / "_config.yml", ROOT / "_toc.yml", *ROOT.glob("book/*.md"),
           *ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("icesat2_tutorial/*.py")]

#: Distinctive fake credentials, set wherever the suite looks for leaks (test_secrets.py):
#: in the environment of the book build (every notebook), of the CLI and of Dask workers.
#: None is a real credential; each starts with a random run of characters found nowhere else.
FAKE_CREDENTIALS = {
    "EARTHDATA_USERNAME": "qz7Kw2fakeEDLuser",
    "EARTHDATA_PASSWORD": "Vx3pQ9fakeEDLpassword-8c1d",
    "EARTHDATA_TOKEN": "Jm4tR8fakeEDLtoken-f0e1d2c3b4a5968778695a4b3c2d1e0f",
    "AWS_ACCESS_KEY_ID": "ASIAFAKE7Q2W9E4R6T8Y",
    "AWS_SECRET_ACCESS_KEY": "Hd5sL1fakeAWSsecret/Zy8Xw7Vu6Ts5Rq4Po3Nm2",
    "AWS_SESSION_TOKEN": "Bn6yU0fakeAWSsessiontoken+Kj9Hg8Fd7Sa6",
}


@pytest.fixture(scope="module")
def s3():
    """moto's S3 on 127.0.0.1, for one test module."""
    from icesat2_tutorial.localservers import LocalS3Server

    with LocalS3Server() as server:
        yield server


@pytest.fixture
def s3_env(s3, monkeypatch):
    """The S3 stand-in, with boto3 pointed at it (``AWS_ENDPOINT_URL_S3``) for one test."""
    for k, v in s3.environ().items():
        monkeypatch.setenv(k, v)
    return s3


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


def _built_with_fake_credentials() -> bool:
    return BOOK_STAMP.exists() and json.loads(BOOK_STAMP.read_text()) == sorted(FAKE_CREDENTIALS)


def _book_is_stale() -> bool:
    """Whether _build/html must be built again: missing, older than a source, or not built
    with the fake credentials in its environment (see FAKE_CREDENTIALS)."""
    index = HTML / "index.html"
    if not index.exists() or not _built_with_fake_credentials():
        return True
    built = index.stat().st_mtime
    return any(p.stat().st_mtime > built for p in SOURCES if p.exists())


@pytest.fixture(scope="session")
def site() -> Path:
    """The book, built once per session (``jupyter-book build``, executing every notebook).

    The build runs with FAKE_CREDENTIALS in its environment (besides the suite's offline
    switch), so test_secrets.py can check that no notebook shows, logs or writes them; its
    output is kept in _build/book-build.log for the same check.
    """
    if _book_is_stale():
        jb = Path(sys.executable).with_name("jupyter-book")
        # the checkout on PYTHONPATH: the kernels import the package whether or not it is installed
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, **FAKE_CREDENTIALS, "PYTHONPATH": path}
        # Sphinx rebuilds only what changed; after a build without the fake credentials,
        # rebuild (and so execute) everything
        everything = [] if _built_with_fake_credentials() else ["--all"]
        proc = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going", *everything],
                              cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
        BOOK_LOG.parent.mkdir(parents=True, exist_ok=True)
        BOOK_LOG.write_text(proc.stdout + "\n" + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        BOOK_STAMP.write_text(json.dumps(sorted(FAKE_CREDENTIALS)))
    return HTML
