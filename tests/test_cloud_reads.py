"""The S3 read path's own parts, against a real S3 server on 127.0.0.1 and h5py.

* :class:`~icesat2_tutorial.drivers.PresignedS3Driver`: the bytes of any range, S3's refusals
  as ``None``, kept-alive connections that went stale, one boto3 session per credentials,
  the presigned URL (a credential) nowhere in logs or reprs;
* exact chunk reads: ``h5datasets._chunk_extents`` against h5py's own chunk index (multi-level
  B-trees included), the values against h5py, and the bytes fetched against cache lines;
* h5coro's small contiguous reads answered from held lines (fewer requests, same values);
* the orientation guess: right and wrong guesses give the table read from disk.
"""

from __future__ import annotations

import http.server
import logging
import time

import h5py
import numpy as np
import pandas as pd
import pytest
from faults import serving
from h5coro import filedriver

from icesat2_tutorial import drivers, read_granule, reader
from icesat2_tutorial.fixtures import make_fixture_granules
from icesat2_tutorial.h5datasets import CachedSmallReads, _chunk_extents, _NumpyFillDataset, read_datasets


@pytest.fixture(scope="module")
def granules(tmp_path_factory):
    """Two small fixture granules, one of each orientation (the fixtures alternate by orbit)."""
    paths = make_fixture_granules(tmp_path_factory.mktemp("cloud"), n=2, seed=11)
    orients = [int(h5py.File(p)["orbit_info/sc_orient"][0]) for p in paths]
    assert sorted(orients) == [0, 1]
    return paths


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory):
    """Wanted datasets with big unwanted ones between them (as in a real granule), and one
    dataset of 2,000 chunks (a B-tree of more than one level)."""
    path = tmp_path_factory.mktemp("interleaved") / "interleaved.h5"
    rng = np.random.default_rng(5)
    with h5py.File(path, "w", libver="earliest") as f:
        for i in range(4):
            f.create_dataset(f"g/want{i}", data=rng.normal(size=50_000), chunks=(5_000,),
                             compression="gzip")
            f.create_dataset(f"g/pad{i}", data=rng.integers(0, 256, 600_000, dtype=np.uint8),
                             chunks=(100_000,), compression="gzip")
        f.create_dataset("g/many", data=np.arange(200_000, dtype=np.int32), chunks=(100,),
                         compression="gzip", shuffle=True)
        f.create_dataset("g/two_d", data=rng.normal(size=(300, 40)), chunks=(64, 16),
                         compression="gzip")
    return path


def _driver(s3, path, key):
    url = s3.upload(path, key=key)
    return drivers.PresignedS3Driver(url[len("s3://"):], s3.credentials)


def test_presigned_driver_reads_the_bytes_of_any_range(s3_env, granules):
    data = granules[0].read_bytes()
    d = _driver(s3_env, granules[0], f"ranges/{granules[0].name}")
    rng = np.random.default_rng(1)
    for start in [0, 1, len(data) - 10, *rng.integers(0, len(data) - 1, 30).tolist()]:
        size = int(min(rng.integers(1, 300_000), len(data) - start))
        assert d.read(start, size) == data[start:start + size]
    assert d.read(5, 0) == b""
    assert d.read(len(data) + 100, 10) is None  # S3 says 416: refused, as h5coro's driver does
    d.close()
    with pytest.raises(RuntimeError, match="closed"):
        d.read(0, 8)


def test_presigned_driver_missing_object_is_none(s3_env):
    d = drivers.PresignedS3Driver("nsidc-cumulus-prod-protected/no/such/key.h5", s3_env.credentials)
    assert d.read(0, 8) is None


class _SilentlyClosingHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 ranges of one file; closes each connection after one response without saying
    so, as a server does to a kept-alive connection it times out."""

    protocol_version = "HTTP/1.1"
    data = b""
    connections: list[int] = []

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(1)

    def do_GET(self) -> None:  # noqa: N802
        first, last = (int(x) for x in self.headers["Range"].split("=")[1].split("-"))
        body = self.data[first:last + 1]
        self.send_response(206)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # no "Connection: close": the client keeps it

    def log_message(self, *args: object) -> None:
        pass


def test_stale_kept_alive_connection_is_replaced(granules, monkeypatch):
    """A pooled connection the server closed meanwhile: the range is asked again, on a new one."""
    data = granules[0].read_bytes()
    _SilentlyClosingHandler.data = data
    _SilentlyClosingHandler.connections = []
    with serving(_SilentlyClosingHandler) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        creds = {"accessKeyId": "a" * 20, "secretAccessKey": "b" * 40, "sessionToken": "c" * 40}
        d = drivers.PresignedS3Driver("bucket/granule.h5", creds)
        assert d.read(0, 100) == data[:100]
        assert d._pool._idle, "the connection was kept for the next request"
        time.sleep(0.2)  # the server has closed it by now
        for start in (1000, 50_000, 7):
            assert d.read(start, 5000) == data[start:start + 5000]
        assert len(_SilentlyClosingHandler.connections) == 4  # a fresh one for each read


def test_one_boto3_session_per_credentials(s3_env, granules, monkeypatch):
    """boto3 sessions cost 0.08 s of CPU each: one per set of credentials, not per granule."""
    import boto3

    monkeypatch.setattr(drivers, "signers", drivers._Signers())
    made = []
    real = boto3.Session
    monkeypatch.setattr(boto3, "Session", lambda *a, **k: made.append(1) or real(*a, **k))
    url = s3_env.upload(granules[0], key=f"session/{granules[0].name}")
    first = read_granule(url, credentials=s3_env.credentials)
    for _ in range(3):
        pd.testing.assert_frame_equal(read_granule(url, credentials=s3_env.credentials), first)
    assert len(made) == 1  # four reads, one session
    other = dict(s3_env.credentials, sessionToken="a-refreshed-token")
    pd.testing.assert_frame_equal(read_granule(url, credentials=other), first)
    assert len(made) == 2  # refreshed credentials: a session of their own


def test_presigned_url_appears_in_no_log_and_no_repr(s3_env, granules, caplog):
    creds = s3_env.credentials
    secrets = [creds["sessionToken"][:12], creds["secretAccessKey"][:12]]
    url = s3_env.upload(granules[0], key=f"logs/{granules[0].name}")
    with caplog.at_level(logging.DEBUG):
        table = read_granule(url, credentials=creds)
        d = drivers.PresignedS3Driver(url[len("s3://"):], creds)
    assert len(table) > 0
    text = caplog.text + repr(d) + repr(table.attrs)
    assert "X-Amz-Signature" not in text and not any(s in text for s in secrets)


def test_chunk_extents_are_h5pys_chunk_index(interleaved, granules):
    for path in (interleaved, granules[0]):
        h5 = CachedSmallReads(str(path), filedriver.FileDriver)
        with h5py.File(path) as f:
            names: list[str] = []
            f.visititems(lambda n, o, names=names: names.append(n) if isinstance(o, h5py.Dataset)
                         and o.chunks and o.id.get_num_chunks() else None)
            for name in names:
                ds = _NumpyFillDataset(h5, name, [], earlyExit=True, metaOnly=True,
                                       enableAttributes=False)
                expected = sorted((info.byte_offset, info.size) for info in
                                  (f[name].id.get_chunk_info(i) for i in range(f[name].id.get_num_chunks())))
                assert sorted(_chunk_extents(ds)) == expected, f"{path.name}:{name}"
        h5.close()
    with h5py.File(interleaved) as f:
        assert f["g/many"].id.get_num_chunks() == 2000  # more than one B-tree node's 64 entries


def test_exact_chunks_same_values_far_fewer_bytes(s3_env, interleaved, monkeypatch):
    """The wanted datasets' values as h5py reads them, for about their own compressed size."""
    monkeypatch.setattr(CachedSmallReads, "WHOLE_FILE_BYTES", 0)  # not a small file's shortcut
    url = s3_env.upload(interleaved, key="exact/interleaved.h5")
    fetched = []
    real_read = drivers.PresignedS3Driver.read
    monkeypatch.setattr(drivers.PresignedS3Driver, "read",
                        lambda self, o, n: fetched.append(n) or real_read(self, o, n))
    paths = ["g/want0", "g/want1", "g/want2", "g/want3", "g/many", "g/two_d"]
    got = {}
    for exact, line in [(True, 1 << 16), (False, 1 << 20)]:
        fetched.clear()
        h5 = CachedSmallReads(url[len("s3://"):], drivers.PresignedS3Driver,
                              credentials=s3_env.credentials, cacheLineSize=line)
        got[exact] = (read_datasets(h5, paths, exact_chunks=exact), sum(fetched))
        h5.close()
    with h5py.File(interleaved) as f:
        for p in paths:
            for exact in (True, False):
                np.testing.assert_array_equal(got[exact][0][p].reshape(f[p].shape), f[p][()])
        stored = sum(f[p].id.get_storage_size() for p in paths)
    exact_bytes, line_bytes = got[True][1], got[False][1]
    assert exact_bytes < 1.5 * stored + 8 * (1 << 16)  # the chunks, and some metadata lines
    assert line_bytes > 2 * exact_bytes  # 1 MiB lines carry the unwanted datasets between


def test_small_datasets_read_from_a_held_line(granules):
    """h5coro reads contiguous datasets with a request of their own; here from the held line."""
    from h5coro import h5coro

    class Counting(filedriver.FileDriver):
        reads = 0

        def read(self, pos, size):
            type(self).reads += 1
            return super().read(pos, size)

    paths = ["ancillary_data/atlas_sdp_gps_epoch", "ancillary_data/start_orbit", "orbit_info/sc_orient"]
    counts, values = {}, {}
    for cls in (h5coro.H5Coro, CachedSmallReads):
        Counting.reads = 0
        h5 = cls(str(granules[0]), Counting)
        values[cls] = read_datasets(h5, paths, threads=1)
        counts[cls] = Counting.reads
        h5.close()
    with h5py.File(granules[0]) as f:
        for p in paths:
            for cls in values:
                np.testing.assert_array_equal(np.asarray(values[cls][p]).ravel(), f[p][()].ravel())
    assert counts[CachedSmallReads] < counts[h5coro.H5Coro]


def test_orientation_guess_right_and_wrong(s3_env, granules, monkeypatch):
    """Each read equals the local read, whatever the last granule's orientation was."""
    monkeypatch.setattr(reader, "_last_orientation", {})
    urls = [s3_env.upload(p, key=f"guess/{p.name}") for p in granules]
    local = [read_granule(p) for p in granules]
    # no guess, then wrong (the other orientation), then right (the same granule again)
    for i in (0, 1, 1, 0, 0):
        table = read_granule(urls[i], credentials=s3_env.credentials)
        pd.testing.assert_frame_equal(table, local[i])
        assert table.attrs["strong_beams"] == local[i].attrs["strong_beams"]
        assert reader._last_orientation["ATL10"] == local[i].attrs["sc_orient"]


def test_a_small_granule_is_fetched_whole_in_two_requests(s3_env, granules):
    """A granule under 4 MiB (a subset): the first request tells its size, the second gets
    the rest; nothing more, and the same table as from disk."""
    assert granules[0].stat().st_size < CachedSmallReads.WHOLE_FILE_BYTES
    url = s3_env.upload(granules[0], key=f"small/{granules[0].name}")
    before = s3_env.request_count
    table = read_granule(url, credentials=s3_env.credentials)
    assert s3_env.request_count - before == 2
    pd.testing.assert_frame_equal(table, read_granule(granules[0]))
