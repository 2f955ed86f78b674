"""The s3:// and https:// paths, against real servers on 127.0.0.1 (no mocks of h5coro or boto3).

A moto S3 server stands in for NASA's Earthdata Cloud bucket, and a Range-request HTTP
server that demands a bearer token stands in for its HTTPS endpoint. The tables read
through them must equal the ones read from the same files on disk.
"""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from conftest import real_granules
from icesat2_tutorial import read_granule
from icesat2_tutorial.exceptions import AccessError, GranuleNotFoundError
from icesat2_tutorial.localservers import LocalHTTPServer

TOKEN = "edl-token-for-tests-0123456789"
REAL_ATL07 = real_granules("*ATL07*.h5")


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    from icesat2_tutorial.fixtures import make_fixture_granules

    out = tmp_path_factory.mktemp("remote-fixtures")
    return make_fixture_granules(out, n=2, size="small", seed=3)


def _sources(fixture_files):
    return list(fixture_files) + REAL_ATL07


def _product(path) -> str:
    return "ATL07" if "ATL07" in path.name else "ATL10"


def test_s3_equals_local(s3_env, fixture_files):
    for path in _sources(fixture_files):
        url = s3_env.upload(path, key=f"ATLAS/test/{path.name}")
        remote = read_granule(url, product=_product(path), credentials=s3_env.credentials)
        local = read_granule(path, product=_product(path))
        assert len(local) > 0
        pd.testing.assert_frame_equal(remote, local)
        assert remote.attrs["beam_counts"] == local.attrs["beam_counts"]


def test_s3_missing_key_is_not_found(s3_env):
    url = f"s3://{'nsidc-cumulus-prod-protected'}/ATLAS/none/ATL10-02_missing.h5"
    with pytest.raises(GranuleNotFoundError, match="no such S3 object") as info:
        read_granule(url, credentials=s3_env.credentials)
    assert "ATL10-02_missing.h5" in str(info.value)


def test_s3_unreachable_endpoint_is_access_error(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    creds = {"accessKeyId": "a", "secretAccessKey": "b", "sessionToken": "c"}
    with pytest.raises(AccessError, match="not reachable"):
        read_granule("s3://bucket/ATL10.h5", credentials=creds, timeout=60)


@pytest.fixture
def http(fixture_files):
    directory = fixture_files[0].parent
    with LocalHTTPServer(directory, token=TOKEN) as server:
        yield server


def test_https_equals_local(http, fixture_files):
    for path in fixture_files:
        remote = read_granule(http.url_for(path.name), token=TOKEN)
        local = read_granule(path)
        pd.testing.assert_frame_equal(remote, local)
    # h5coro fetched byte ranges, never a whole file
    assert http.stats["partial"] > 0 and http.stats["full"] == 0


def test_https_token_from_environment(http, fixture_files, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", TOKEN)
    assert len(read_granule(http.url_for(fixture_files[0].name))) > 0


@pytest.mark.parametrize("token, status", [(None, "401"), ("wrong-token", "403")])
def test_https_refused_token(http, fixture_files, token, status, monkeypatch):
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    url = http.url_for(fixture_files[0].name)
    with pytest.raises(AccessError, match=f"HTTP {status}") as info:
        read_granule(url, token=token)
    assert url in str(info.value)
    if token:
        assert token not in str(info.value)  # the message never echoes a credential


def test_https_missing_file(http):
    with pytest.raises(GranuleNotFoundError, match="404"):
        read_granule(http.url_for("ATL10-02_20190901000000_00010401_006_01.h5"), token=TOKEN)
