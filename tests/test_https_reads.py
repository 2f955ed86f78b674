"""The HTTPS read path's own parts, against the local stand-in in its redirecting mode.

Earthdata's HTTPS endpoint answers every request with a redirect to a signed S3 URL that
may be reused for a while (``Cache-Control: max-age``). ``LocalHTTPServer(redirect=True)``
answers the same way (a signed URL on a second port, refusing expired or revoked
signatures and any request that carries the token). Checked here:

* :class:`~icesat2_tutorial.drivers.RedirectOnceHTTPDriver`: the bytes of any range, one
  redirect per granule (h5coro's ``HTTPDriver``: one per range), the token never sent where
  the redirect leads, an expired or refused signed URL asked for again, ``max-age`` obeyed;
* the reader over it: the table read from disk, a small granule in two ranges, a login page
  refused with a message a user can act on, no token or signed URL in logs, reprs or errors.
"""

from __future__ import annotations

import http.server
import logging
import time

import pandas as pd
import pytest
from faults import serving
from h5coro import h5coro, webdriver

from icesat2_tutorial import drivers, read_granule
from icesat2_tutorial.exceptions import AccessError
from icesat2_tutorial.fixtures import make_fixture_granules
from icesat2_tutorial.h5datasets import CachedSmallReads
from icesat2_tutorial.localservers import LocalHTTPServer

TOKEN = "edl-token-for-https-tests-42"


@pytest.fixture(scope="module")
def granules(tmp_path_factory):
    return make_fixture_granules(tmp_path_factory.mktemp("https"), n=2, seed=21)


@pytest.fixture
def tea(granules):
    """The stand-in in Earthdata's shape: 303 to a signed URL on another port."""
    with LocalHTTPServer(granules[0].parent, token=TOKEN, redirect=True) as server:
        yield server


def _get(url, headers=None):
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r, body


def test_the_stand_in_redirects_like_earthdata(tea, granules):
    """What the driver tests below rely on: the endpoint's 303, the signed URL's checks."""
    url = tea.url_for(granules[0].name)
    r, _ = _get(url, {"Range": "bytes=0-7"})
    assert r.status == 401  # no token
    r, _ = _get(url, {"Range": "bytes=0-7", "Authorization": f"Bearer {TOKEN}"})
    assert r.status == 303 and r.getheader("Cache-Control") == "private, max-age=3540"
    signed = r.getheader("Location")
    assert signed.split("/")[2] != url.split("/")[2]  # another host:port, as S3 is
    r, body = _get(signed, {"Range": "bytes=0-7"})
    assert r.status == 206 and body == granules[0].read_bytes()[:8]
    r, _ = _get(signed, {"Range": "bytes=0-7", "Authorization": f"Bearer {TOKEN}"})
    assert r.status == 400  # S3 refuses a presigned URL sent with a token
    r, _ = _get(signed.replace("X-Signature=", "X-Signature=0"), {"Range": "bytes=0-7"})
    assert r.status == 403
    r, _ = _get(signed.replace(granules[0].name, granules[1].name), {"Range": "bytes=0-7"})
    assert r.status == 403  # signed for one file only
    tea.revoke_signed_urls()
    r, _ = _get(signed, {"Range": "bytes=0-7"})
    assert r.status == 403


def test_same_table_as_from_disk_one_redirect_per_granule(tea, granules):
    for path in granules:
        tea.reset_stats()
        table = read_granule(tea.url_for(path.name), token=TOKEN)
        pd.testing.assert_frame_equal(table, read_granule(path))
        stats = tea.stats
        # one answer from the endpoint, the ranges from the signed URL; none refused (the
        # signed side answers 400 to a request that carries the token)
        assert stats["redirects"] == 1 and stats["rejected"] == 0, stats
        assert stats["partial"] >= 2 and stats["requests"] == stats["partial"] + 1, stats


def test_h5coros_own_driver_asks_the_endpoint_for_every_range(tea, granules):
    """What the reader did before: requests follows the redirect anew for each range."""
    h5 = h5coro.H5Coro(tea.url_for(granules[0].name), webdriver.HTTPDriver, credentials=TOKEN,
                       cacheLineSize=1 << 16)  # lines smaller than the granule: several ranges
    h5.readDatasets(["orbit_info/sc_orient", "gt1l/freeboard_segment/latitude"], block=True)
    stats = tea.stats
    assert stats["partial"] >= 2 and stats["redirects"] == stats["partial"], stats


def test_ranges_are_the_files_bytes(tea, granules):
    data = granules[0].read_bytes()
    d = drivers.RedirectOnceHTTPDriver(tea.url_for(granules[0].name), TOKEN)
    for offset, size in [(0, 8), (1, 1), (4000, 70_000), (len(data) - 10, 10), (123_457, 3)]:
        assert d.read(offset, size) == data[offset: offset + size]
    assert d.object_size == len(data)
    assert tea.stats["redirects"] == 1
    with pytest.raises(webdriver.FatalError, match="Failed to read range .*HTTP 416"):
        d.read(len(data) + 100, 10)


def test_a_refused_signed_url_is_asked_for_again(tea, granules):
    data = granules[0].read_bytes()
    d = drivers.RedirectOnceHTTPDriver(tea.url_for(granules[0].name), TOKEN)
    assert d.read(0, 8) == data[:8]
    tea.revoke_signed_urls()  # as an expired signature would be refused
    assert d.read(5000, 100) == data[5000:5100]
    stats = tea.stats
    assert stats["redirects"] == 2 and stats["rejected"] == 1, stats  # the one 403


def test_max_age_ends_the_reuse(granules):
    data = granules[0].read_bytes()
    # signed for 61 s: reusable for 1 s (a minute less, as Earthdata's answers say)
    with LocalHTTPServer(granules[0].parent, token=TOKEN, redirect=True,
                         signed_url_seconds=61) as tea:
        d = drivers.RedirectOnceHTTPDriver(tea.url_for(granules[0].name), TOKEN)
        assert d.read(0, 8) == data[:8] and d.read(8, 8) == data[8:16]
        assert tea.stats["redirects"] == 1
        time.sleep(1.2)
        assert d.read(16, 8) == data[16:24]
        assert tea.stats["redirects"] == 2 and tea.stats["rejected"] == 0


def test_a_small_granule_is_fetched_whole_in_two_ranges(tea, granules):
    assert granules[0].stat().st_size < CachedSmallReads.WHOLE_FILE_BYTES
    table = read_granule(tea.url_for(granules[0].name), token=TOKEN)
    assert tea.stats["partial"] == 2 and tea.stats["redirects"] == 1
    pd.testing.assert_frame_equal(table, read_granule(granules[0]))


def test_wrong_token_is_refused_by_the_endpoint(tea, granules):
    url = tea.url_for(granules[0].name)
    with pytest.raises(AccessError, match="HTTP 403") as info:
        read_granule(url, token="not-the-token")
    assert url in str(info.value) and "not-the-token" not in str(info.value)


class _LoginPage(http.server.BaseHTTPRequestHandler):
    """What a browser-oriented login redirect ends at: a web page, status 200."""

    def do_GET(self) -> None:  # noqa: N802
        body = b"<html><body>Earthdata Login</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_login_page_is_refused_with_a_message():
    with serving(_LoginPage) as base:
        url = f"{base}/ATL10-02_20190901000000_00010401_006_01.h5"
        with pytest.raises(webdriver.FatalError, match="web page"):
            drivers.RedirectOnceHTTPDriver(url, None).read(0, 8)
        with pytest.raises(AccessError, match="web page") as info:
            read_granule(url)
        assert url in str(info.value)


class _IgnoresRange(http.server.BaseHTTPRequestHandler):
    """A plain file server that ignores ``Range``: every GET gets the whole file, ``200``."""

    payload = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/x-hdf5")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args) -> None:
        pass


def test_a_server_that_ignores_range_still_gives_the_range(granules):
    data = _IgnoresRange.payload = granules[0].read_bytes()
    with serving(_IgnoresRange) as base:
        d = drivers.RedirectOnceHTTPDriver(f"{base}/g.h5", None)
        for offset, size in [(0, 8), (4000, 70_000), (len(data) - 10, 10)]:
            assert d.read(offset, size) == data[offset: offset + size]
        assert d.object_size is None  # a 200 has no Content-Range: the size stays unknown


def test_token_and_signed_url_appear_in_no_log_repr_or_error(tea, granules, caplog):
    url = tea.url_for(granules[1].name)
    with caplog.at_level(logging.DEBUG):
        table = read_granule(url, token=TOKEN)
        d = drivers.RedirectOnceHTTPDriver(url, TOKEN)
        d.read(0, 8)
        tea.revoke_signed_urls()
        with pytest.raises(webdriver.FatalError) as info:
            d.read(10**9, 8)  # past the end, after a refused signed URL
    assert len(table) > 0
    text = caplog.text + repr(d) + repr(table.attrs) + str(info.value)
    assert TOKEN not in text and "X-Signature" not in text
