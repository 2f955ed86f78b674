"""Tests of the local S3 and HTTPS stand-ins, through the real h5coro, boto3 and requests."""

from __future__ import annotations

import functools
import http.client
import logging
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import h5coro
import h5py
import numpy as np
import pytest
import requests
from h5coro import s3driver, webdriver

from icesat2_tutorial.localservers import (
    DEFAULT_BUCKET,
    REGION,
    LocalHTTPServer,
    LocalS3Server,
)

TOKEN = "test-edl-token-0123456789"


@pytest.fixture(scope="module")
def granule(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small HDF5 file shaped like a granule: chunked gzip datasets in a beam group."""
    path = tmp_path_factory.mktemp("granules") / "ATL10_test.h5"
    rng = np.random.default_rng(42)
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "gt1l/freeboard_segment/height", data=rng.normal(0.3, 0.2, 25_000),
            chunks=(10_000,), compression="gzip",
        )
        f.create_dataset(
            "gt1l/freeboard_segment/flag", data=rng.integers(-5, 6, 25_000, dtype=np.int8),
            chunks=(10_000,), compression="gzip",
        )
    return path


DATASETS = ["/gt1l/freeboard_segment/height", "/gt1l/freeboard_segment/flag"]


def expected(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in DATASETS}


def read_with_h5coro(resource: str, driver, credentials) -> dict[str, np.ndarray]:
    h5 = h5coro.H5Coro(resource, driver, credentials=credentials)
    try:
        promise = h5.readDatasets(DATASETS, block=True)
        return {name: np.asarray(promise[name]) for name in DATASETS}
    finally:
        h5.close()


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for name in DATASETS:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


###############################################################################
# S3
###############################################################################


def s3_client(server: LocalS3Server):
    """A plain boto3 client of the server (any credentials do)."""
    return boto3.client(
        "s3", endpoint_url=server.endpoint_url, region_name=REGION,
        aws_access_key_id="x", aws_secret_access_key="y", aws_session_token="z",
    )


@pytest.fixture(scope="module")
def s3_server():
    with LocalS3Server() as server:
        yield server


def test_s3_read_through_h5coro_matches_h5py(s3_server, granule, monkeypatch):
    url = s3_server.upload(granule)
    assert url == f"s3://{DEFAULT_BUCKET}/{granule.name}"
    env = s3_server.environ()
    assert env == {"AWS_ENDPOINT_URL_S3": s3_server.endpoint_url, "AWS_DEFAULT_REGION": REGION}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)

    # h5coro builds its own boto3 client (use_ssl=False, no endpoint_url argument):
    # botocore must take the endpoint from AWS_ENDPOINT_URL_S3.
    driver = s3driver.S3Driver(url[len("s3://"):], s3_server.credentials)
    try:
        assert driver.client.meta.endpoint_url == s3_server.endpoint_url
    finally:
        driver.close()

    before = s3_server.request_count
    got = read_with_h5coro(url[len("s3://"):], s3driver.S3Driver, s3_server.credentials)
    assert_same(got, expected(granule))
    # The upload is not counted; h5coro's reads are (one 4 MiB cache line here).
    assert s3_server.request_count - before >= 1


def test_s3_credentials_look_like_earthaccess(s3_server):
    creds = s3_server.credentials
    assert set(creds) == {"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}
    assert all(isinstance(v, str) and v for v in creds.values())
    assert creds["accessKeyId"] not in repr(s3_server)
    assert creds["secretAccessKey"] not in repr(s3_server)


def test_s3_missing_key_fails_fast_in_h5coro(s3_server, granule, monkeypatch):
    s3_server.upload(granule)  # the bucket exists; the key does not
    for name, value in s3_server.environ().items():
        monkeypatch.setenv(name, value)
    start = time.monotonic()
    # h5coro's S3Driver.read logs the error and returns None; H5Coro then fails on
    # memoryview(None) while reading the superblock.
    with pytest.raises(TypeError, match="NoneType"):
        h5coro.H5Coro(f"{DEFAULT_BUCKET}/no-such-granule.h5", s3driver.S3Driver,
                      credentials=s3_server.credentials)
    assert time.monotonic() - start < 2.0


def test_s3_stop_closes_port_and_removes_uploads(granule):
    server = LocalS3Server()
    server.stop()  # stopping a server that never started is harmless
    with server:
        port = server.port
        server.upload(granule, bucket="localservers-stop-test", key="a/b.h5")
        assert requests.get(server.endpoint_url, timeout=5).status_code == 200
    assert not server.running
    assert port_is_closed(port)
    server.stop()  # and so is stopping twice

    # A second server in the same process does not see the first one's bucket: moto's
    # state is process-global, so stop() must have removed it.
    with LocalS3Server() as other:
        client = s3_client(other)
        names = [b["Name"] for b in client.list_buckets()["Buckets"]]
        assert "localservers-stop-test" not in names
        client.close()


def test_two_s3_servers_share_a_bucket_until_both_stop(granule):
    bucket = "localservers-shared-test"
    first, second = LocalS3Server().start(), LocalS3Server()
    try:
        first.upload(granule, bucket=bucket, key="first.h5")
        with second:
            second.upload(granule, bucket=bucket, key="second.h5")
            first.stop()  # removes first.h5 but not the bucket second still uses
            client = s3_client(second)
            keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
            assert keys == ["second.h5"]
            client.close()
    finally:
        first.stop()
    with LocalS3Server() as third:
        client = s3_client(third)
        assert bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]
        client.close()


def test_s3_latency_delays_each_request(s3_server, granule):
    s3_server.upload(granule, key="latency.h5")
    client = s3_client(s3_server)
    try:
        client.get_object(Bucket=DEFAULT_BUCKET, Key="latency.h5", Range="bytes=0-7")  # warm
        s3_server.latency_s = 0.2
        start = time.monotonic()
        body = client.get_object(Bucket=DEFAULT_BUCKET, Key="latency.h5", Range="bytes=0-7")
        elapsed = time.monotonic() - start
        assert body["Body"].read() == b"\x89HDF\r\n\x1a\n"
        assert 0.2 <= elapsed < 1.5
    finally:
        s3_server.latency_s = 0.0
        client.close()


###############################################################################
# HTTP
###############################################################################


@pytest.fixture(scope="module")
def web(granule):
    with LocalHTTPServer(granule.parent, token=TOKEN) as server:
        yield server


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_http_read_through_h5coro_matches_h5py(web, granule):
    web.reset_stats()
    got = read_with_h5coro(web.url_for(granule.name), webdriver.HTTPDriver, TOKEN)
    assert_same(got, expected(granule))
    stats = web.stats
    # h5coro asks for byte ranges (4 MiB cache lines), never the whole file.
    assert stats["partial"] >= 1
    assert stats["full"] == 0
    assert stats["rejected"] == 0
    assert stats["bytes_sent"] == granule.stat().st_size  # one cache line covers it


def test_http_url_for(web):
    assert web.url_for("ATL10 x.h5") == f"http://127.0.0.1:{web.port}/ATL10%20x.h5"
    assert web.url_for("2023/01/a.h5").endswith("/2023/01/a.h5")
    with pytest.raises(ValueError):
        web.url_for("../secret.h5")


def test_http_token_required(web, granule):
    url = web.url_for(granule.name)
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(url, headers={"Authorization": "Basic abc"}, timeout=5).status_code == 401
    assert requests.get(url, headers=auth("wrong-token"), timeout=5).status_code == 403
    assert requests.head(url, headers=auth("wrong-token"), timeout=5).status_code == 403
    assert requests.get(url, headers=auth(), timeout=5).status_code == 200


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_http_h5coro_without_valid_token_fails_fast(web, granule, token):
    start = time.monotonic()
    # 401/403 are not in HTTPDriver's retry list: it raises at once from the constructor.
    with pytest.raises(webdriver.FatalError, match="Failed to read range"):
        h5coro.H5Coro(web.url_for(granule.name), webdriver.HTTPDriver, credentials=token)
    assert time.monotonic() - start < 1.0


def test_http_ranges(web, granule):
    url = web.url_for(granule.name)
    data = granule.read_bytes()
    size = len(data)

    def get(range_header: str) -> requests.Response:
        return requests.get(url, headers={**auth(), "Range": range_header}, timeout=5)

    r = get("bytes=0-7")
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 0-7/{size}"
    assert r.content == data[:8] == b"\x89HDF\r\n\x1a\n"

    r = get("bytes=1000-")
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-{size - 1}/{size}"
    assert r.content == data[1000:]

    r = get("bytes=-100")
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert r.content == data[-100:]

    r = get(f"bytes=10-{size + 5_000_000}")  # past the end: clamped, as h5coro's cache lines need
    assert r.status_code == 206
    assert r.content == data[10:]

    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        r = get(unsatisfiable)
        assert r.status_code == 416, unsatisfiable
        assert r.headers["Content-Range"] == f"bytes */{size}"
        assert r.content == b""

    r = requests.get(url, headers=auth(), timeout=5)  # no Range: the whole file
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Accept-Ranges"] == "bytes"

    r = requests.head(url, headers={**auth(), "Range": "bytes=0-99"}, timeout=5)
    assert r.status_code == 206
    assert r.headers["Content-Length"] == "100"
    assert r.content == b""
    r = requests.head(url, headers=auth(), timeout=5)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == size


def test_http_an_answer_is_counted_before_the_client_has_it(web, granule):
    """Tests read ``stats`` right after a read returns: the count must not lag behind.

    (It did: the handler counted after the body had gone out; under load a test then
    found one answer fewer, 600 times in 3000 here with both cores busy.)
    """
    target = urlsplit(web.url_for(granule.name)).path
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
    lagged = []
    for i in range(300):
        web.reset_stats()
        headers = {"Range": "bytes=0-9"} | (auth() if i % 2 else {})  # a 206, or a 401
        conn.request("GET", target, headers=headers)
        body = conn.getresponse().read()
        stats = web.stats
        if stats["requests"] != 1 or stats["bytes_sent"] != len(body):
            lagged.append((i, stats))
    conn.close()
    assert not lagged, lagged[:3]


@pytest.mark.parametrize(
    "raw_path",
    ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/sub/../../secret.txt",
     "/", "/sub", "/sub/", "/no-such.h5", "/escape/secret.txt"],
)
def test_http_refuses_paths_outside_directory(tmp_path, raw_path):
    served = tmp_path / "served"
    (served / "sub").mkdir(parents=True)
    (served / "sub" / "ok.txt").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    (served / "escape").symlink_to(tmp_path, target_is_directory=True)
    with LocalHTTPServer(served) as server:
        # http.client sends the path as written (requests would normalise the dots away).
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", raw_path)
        response = conn.getresponse()
        assert response.status == 404
        assert b"secret" not in response.read()
        conn.close()
        assert requests.get(server.url_for("sub/ok.txt"), timeout=5).text == "ok"


def test_http_latency_delays_each_request(granule):
    with LocalHTTPServer(granule.parent, latency_s=0.2) as server:
        start = time.monotonic()
        r = requests.get(server.url_for(granule.name), headers={"Range": "bytes=0-7"}, timeout=5)
        elapsed = time.monotonic() - start
        assert r.status_code == 206
        assert 0.2 <= elapsed < 1.5
        server.latency_s = 0.0
        start = time.monotonic()
        requests.get(server.url_for(granule.name), headers={"Range": "bytes=0-7"}, timeout=5)
        assert time.monotonic() - start < 0.2


def test_http_stop_closes_port_and_h5coro_fails_fast(granule):
    server = LocalHTTPServer(granule.parent)
    with server:
        port = server.port
        url = server.url_for(granule.name)
        assert requests.head(url, timeout=5).status_code == 200
    assert not server.running
    assert port_is_closed(port)
    server.stop()

    # With its default Retry(total=3, backoff_factor=1) HTTPDriver takes ~6 s to give up
    # on a refused connection; with max_retries=0 it fails at once.
    start = time.monotonic()
    with pytest.raises(webdriver.FatalError):
        h5coro.H5Coro(url, functools.partial(webdriver.HTTPDriver, max_retries=0), credentials=None)
    assert time.monotonic() - start < 1.0


def test_servers_log_nothing_sensitive(granule, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="icesat2_tutorial.localservers")
    with LocalHTTPServer(granule.parent, token=TOKEN) as server:
        url = server.url_for(granule.name)
        requests.get(url, headers=auth(), timeout=5)
        requests.get(url, headers=auth("wrong-token"), timeout=5)
        requests.get(url + "?token=query-secret", headers=auth(), timeout=5)
        assert TOKEN not in repr(server)
    with LocalS3Server() as s3:
        s3.upload(granule, key="logging.h5")
        requests.get(f"{s3.endpoint_url}/{DEFAULT_BUCKET}/logging.h5", timeout=5)
        creds = s3.credentials
        client = boto3.client(
            "s3", endpoint_url=s3.endpoint_url, region_name=REGION,
            aws_access_key_id=creds["accessKeyId"],
            aws_secret_access_key=creds["secretAccessKey"],
            aws_session_token=creds["sessionToken"],
        )
        presigned = client.generate_presigned_url(
            "get_object", Params={"Bucket": DEFAULT_BUCKET, "Key": "logging.h5"}
        )
        client.close()
        assert requests.get(presigned, timeout=5).status_code == 200
        assert s3.credentials["accessKeyId"] not in repr(s3)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # nothing on stdout/stderr: notebook outputs stay clean
    # Under pytest werkzeug would log to the root handlers rather than stderr; outside
    # pytest it adds its own stderr handler. Either way, its request log must stay unused.
    assert [r.getMessage() for r in caplog.records if r.name == "werkzeug"] == []
    logged = caplog.text
    assert "HTTP stand-in: GET /ATL10_test.h5 -> 206" not in logged  # no Range was sent
    assert "HTTP stand-in: GET /ATL10_test.h5 -> 200" in logged
    assert f"S3 stand-in: GET /{DEFAULT_BUCKET}/logging.h5 -> 200" in logged
    forbidden = [TOKEN, "wrong-token", "Bearer", "query-secret", str(granule.parent), "Signature",
                 creds["accessKeyId"], creds["secretAccessKey"], creds["sessionToken"]]
    for text in forbidden:
        assert text not in logged, text
