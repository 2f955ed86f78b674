"""Secrets: with fake Earthdata and AWS credentials in the environment, none of them shows up
in what the package prints, logs, writes, builds or sends to a Dask worker.

The fake values (``conftest.FAKE_CREDENTIALS``) are really used: the HTTPS server demands
the fake ``EARTHDATA_TOKEN`` as its bearer token, so a read that succeeds proves the token
went where it should, and nowhere else. Looked through, byte for byte:

* the command line (``fixtures``, ``read``, ``demo``, ``timeseries`` on a Dask
  LocalCluster): stdout, stderr with every logger at DEBUG (third-party libraries at INFO)
  and every file written;
* ``build_timeseries`` on a LocalCluster: every task as the scheduler holds and ships it
  (pickled), the client's, scheduler's and workers' logs, and the result;
* the book: every file of the built site, the executed notebooks, the build's output, and
  the files the notebooks wrote; the book is built with the fake credentials in its
  environment (the ``site`` fixture in conftest.py, shared with test_book.py).

A value is searched for by its first 12 characters (a random run, so a truncated echo is
caught too), and Earthdata's user:password also as HTTP Basic (base64).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from faults import Environ

from conftest import BOOK_LOG, BOOK_STAMP, FAKE_CREDENTIALS, ROOT
from icesat2_tutorial import build_timeseries, ease2_grid, fixture_search_results, make_fixture_granules
from icesat2_tutorial.localservers import LocalHTTPServer, LocalS3Server

TOKEN = FAKE_CREDENTIALS["EARTHDATA_TOKEN"]
NEEDLES = {name: value[:12].encode() for name, value in FAKE_CREDENTIALS.items()}
NEEDLES["EARTHDATA basic auth"] = base64.b64encode(
    f"{FAKE_CREDENTIALS['EARTHDATA_USERNAME']}:{FAKE_CREDENTIALS['EARTHDATA_PASSWORD']}".encode())[:16]


def leaks(data: bytes | str) -> list[str]:
    """Names of the fake credentials found in ``data``."""
    raw = data.encode(errors="replace") if isinstance(data, str) else data
    return [name for name, needle in NEEDLES.items() if needle in raw]


def leaks_in_tree(*roots: Path) -> dict[str, list[str]]:
    """Every file under ``roots`` that holds a fake credential, with which ones."""
    found: dict[str, list[str]] = {}
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            if hit := leaks(path.read_bytes()):
                found[str(path)] = hit
    return found


def count_files(*roots: Path) -> int:
    return sum(1 if r.is_file() else sum(p.is_file() for p in r.rglob("*")) for r in roots)


def test_the_needles_find_what_they_look_for(tmp_path):
    """The scanner itself: a file holding a credential, or its HTTP Basic form, is found."""
    (tmp_path / "a.txt").write_text(f"token={TOKEN[:20]}...")
    basic = base64.b64encode(f"{FAKE_CREDENTIALS['EARTHDATA_USERNAME']}:"
                             f"{FAKE_CREDENTIALS['EARTHDATA_PASSWORD']}".encode())
    (tmp_path / "b.bin").write_bytes(b"\x00Authorization: Basic " + basic)
    (tmp_path / "c.txt").write_text("nothing here")
    assert leaks_in_tree(tmp_path) == {str(tmp_path / "a.txt"): ["EARTHDATA_TOKEN"],
                                       str(tmp_path / "b.bin"): ["EARTHDATA basic auth"]}


# -- the command line -------------------------------------------------------------------------

#: Runs the CLI with every logger at DEBUG on stderr (chatty third-party libraries at INFO).
CLI = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
for name in ("botocore", "boto3", "s3transfer", "urllib3", "numba", "matplotlib", "fsspec",
             "asyncio", "distributed", "PIL", "h5py", "fiona", "pyproj"):
    logging.getLogger(name).setLevel(logging.INFO)
from icesat2_tutorial.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert leaks(proc.stdout) == [] and leaks(proc.stderr) == [], (args, proc.stdout, proc.stderr)
    return proc


def test_cli_with_fake_credentials(tmp_path):
    env = {**os.environ, **FAKE_CREDENTIALS, "ICESAT2_TUTORIAL_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    data, out = tmp_path / "fixtures", tmp_path / "out"
    proc = _cli(["fixtures", str(data), "-n", "2", "--seed", "5"], env)
    assert proc.returncode == 0
    paths = sorted(data.glob("ATL10-02_*.h5"))
    with LocalHTTPServer(data, token=TOKEN) as web, LocalHTTPServer(data, token="another") as other, \
            LocalS3Server() as s3:
        s3_url = s3.upload(paths[1], key=f"secrets/{paths[1].name}")
        env_s3 = {**env, **s3.environ()}
        proc = _cli(["read", str(paths[0]), web.url_for(paths[0].name), s3_url,
                     other.url_for(paths[0].name), s3_url.replace("secrets/", "nothere/")], env_s3)
        assert proc.returncode == 1  # two reads are meant to fail
        assert "3 granule(s) read, 2 failed" in proc.stdout, proc.stdout  # the token was used
        assert "HTTP 403" in proc.stdout and "no such S3 object" in proc.stdout
        assert _cli(["demo", "--out", str(tmp_path / "demo"), "-n", "1"], env).returncode == 0
        proc = _cli(["timeseries", web.url_for(paths[0].name), s3_url, "--out", str(out),
                     "--scheduler", "dask", "--workers", "2", "--formats", "nc", "zarr",
                     "--no-progress"], env_s3)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "2 of 2 granule(s) gridded" in proc.stdout
        assert "INFO:distributed.scheduler:" in proc.stderr  # the logs were there to look at
        assert web.stats["partial"] > 0 and other.stats["rejected"] > 0
    assert count_files(tmp_path) > 20  # grids.zarr's chunks, plots, tables, granules
    assert leaks_in_tree(tmp_path) == {}


# -- build_timeseries on a Dask cluster ------------------------------------------------------


class TaskRecorder(SchedulerPlugin):
    """Keeps every task the scheduler receives, pickled as it is shipped to a worker."""

    def __init__(self) -> None:
        self.pickled: list[bytes] = []

    def update_graph(self, scheduler: Any, *, keys: Any, **kwargs: Any) -> None:
        from distributed.protocol.pickle import dumps

        for key in keys:
            ts = scheduler.tasks.get(key)
            if ts is not None and ts.run_spec is not None:
                self.pickled.append(dumps(ts.run_spec))


def test_dask_tasks_and_logs_carry_no_credentials(dask_cluster, tmp_path, monkeypatch, caplog):
    import earthaccess

    cluster, client = dask_cluster
    caplog.set_level(logging.DEBUG)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    # as if earthaccess.login() had run in the notebook: the token is in this process
    monkeypatch.setattr(earthaccess.__auth__, "authenticated", True, raising=False)
    monkeypatch.setattr(earthaccess.__auth__, "token", {"access_token": TOKEN}, raising=False)
    paths = make_fixture_granules(tmp_path, n=3, seed=9)
    recorder = TaskRecorder()
    cluster.scheduler.add_plugin(recorder, name="task-recorder")
    try:
        with LocalHTTPServer(tmp_path, token=TOKEN) as web, LocalS3Server() as s3:
            s3_url = s3.upload(paths[1], key=f"secrets/{paths[1].name}")
            # the workers have the credentials in their environment, as on a hub or Coiled
            client.register_plugin(Environ({**FAKE_CREDENTIALS, **s3.environ()}))
            client.wait_for_workers(2, timeout=60)
            sources = [web.url_for(paths[0].name), s3_url, *fixture_search_results(paths[2:])]
            ds = build_timeseries(sources, ease2_grid("south", 25), "1D", client=client,
                                  progress=False, timeout=60)
            client.unregister_worker_plugin("test-environ")
            logs = [client.get_scheduler_logs(), client.get_worker_logs()]
    finally:
        cluster.scheduler.remove_plugin(name="task-recorder")
    assert ds.attrs["failed_granules"] == [] and ds.attrs["granules_ok"] == 3  # tokens worked
    assert len(recorder.pickled) == 3
    assert all(leaks(blob) == [] for blob in recorder.pickled)
    # what the client submits, pickled the same way (cloudpickle where pickle cannot)
    assert all(str(s).encode() in b"".join(recorder.pickled) for s in sources[:2])
    assert leaks(json.dumps(logs, default=str)) == []
    assert leaks(caplog.text) == []
    assert leaks(pickle.dumps(ds)) == [] and leaks(repr(ds.attrs)) == []


# -- the book: every notebook executed with the fake credentials set ---------------------------


def test_book_and_notebooks_show_no_credentials(site):
    # the site checked here was built with the fake credentials in its environment
    assert json.loads(BOOK_STAMP.read_text()) == sorted(FAKE_CREDENTIALS)
    roots = [site, ROOT / "_build" / "jupyter_execute", BOOK_LOG, ROOT / "notebooks" / "_fixtures"]
    assert all(r.exists() for r in roots), [r for r in roots if not r.exists()]
    assert count_files(*roots) > 100
    executed = list((ROOT / "_build" / "jupyter_execute").rglob("*.ipynb"))
    assert len(executed) >= 4
    assert leaks_in_tree(*roots) == {}
