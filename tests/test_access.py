"""How sources are located: paths, URLs, credential refresh, the in-region switch."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from h5coro import filedriver, s3driver, webdriver

from icesat2_tutorial import access
from icesat2_tutorial.access import locate
from icesat2_tutorial.exceptions import AccessError, GranuleNotFoundError


def test_local_path_and_file_url(tmp_path):
    p = tmp_path / "g.h5"
    p.write_bytes(b"x")
    for src in (p, str(p), f"file://{p}"):
        loc = locate(src)
        assert (loc.kind, loc.driver, loc.resource) == ("local", filedriver.FileDriver, str(p))
    with pytest.raises(GranuleNotFoundError):
        locate(tmp_path / "missing.h5")


def test_s3_url_without_login_uses_boto3_chain():
    loc = locate("s3://bucket/path/ATL10-02_x.h5")
    assert (loc.kind, loc.driver, loc.resource) == ("s3", s3driver.S3Driver, "bucket/path/ATL10-02_x.h5")
    assert loc.credentials == {}
    with pytest.raises(AccessError, match="bucket and a key"):
        locate("s3://bucket-only")


def test_https_url_takes_token_from_env_and_hides_it(monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", "secret-token-value-123")
    loc = locate("https://example.invalid/ATL10.h5")
    assert (loc.kind, loc.driver) == ("https", webdriver.HTTPDriver)
    assert loc.credentials == "secret-token-value-123"
    assert "secret-token-value-123" not in repr(loc)  # never in logs or notebook outputs


def test_explicit_credentials_are_hidden_from_repr():
    creds = {"accessKeyId": "AKIAFAKE", "secretAccessKey": "s3cr3t-value-xyz", "sessionToken": "tok"}
    loc = locate("s3://b/k.h5", credentials=creds)
    assert loc.credentials is creds
    assert "s3cr3t-value-xyz" not in repr(loc)


def test_in_region_override(monkeypatch):
    monkeypatch.setenv("ICESAT2_TUTORIAL_IN_REGION", "1")
    assert access.in_us_west_2() is True
    monkeypatch.setenv("ICESAT2_TUTORIAL_IN_REGION", "0")
    assert access.in_us_west_2() is False


def test_not_in_region_here_and_fast(monkeypatch):
    # no EC2 metadata service on this machine: answered at once, never a hang
    monkeypatch.delenv("ICESAT2_TUTORIAL_IN_REGION", raising=False)
    t0 = time.perf_counter()
    assert access._in_us_west_2() is False
    assert time.perf_counter() - t0 < 5


def test_s3_credentials_refreshed_before_expiry(monkeypatch):
    """Earthdata S3 credentials last one hour; the cache fetches new ones before they lapse."""
    calls = []

    def fake_fetch(endpoint):
        calls.append(endpoint)
        # the first credentials expire in 2 minutes (inside the refresh margin), the next in 1 h
        minutes = 2 if len(calls) == 1 else 60
        expiry = datetime.now(UTC) + timedelta(minutes=minutes)
        return {"accessKeyId": f"k{len(calls)}", "secretAccessKey": "s", "sessionToken": "t",
                "expiration": expiry.isoformat()}

    monkeypatch.setattr(access, "_fetch_s3_credentials", fake_fetch)
    cache = access._S3CredentialCache()
    assert cache.get("https://e/s3credentials")["accessKeyId"] == "k1"
    assert cache.get("https://e/s3credentials")["accessKeyId"] == "k2"  # k1 was about to expire
    assert cache.get("https://e/s3credentials")["accessKeyId"] == "k2"  # k2 is good for an hour
    assert len(calls) == 2


def test_s3_without_login_for_granule_is_a_clear_error():
    with pytest.raises(AccessError, match="earthaccess.login"):
        access._fetch_s3_credentials(None)
