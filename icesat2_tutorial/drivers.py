"""How the bytes travel: the h5coro drivers the reader opens granules with.

h5coro parses HDF5 and asks its *driver* for byte ranges (``driver.read(offset, size)``);
h5coro ships a file, an S3 and an HTTP driver. :func:`drivers_for_reading` swaps in three
of this module's instead, each a drop-in for h5coro's own:

* :class:`EndCheckingFileDriver` for local files: h5coro's ``FileDriver``, except that a read
  past the end of the file raises (a corrupt address made h5coro loop forever);
* :class:`PresignedS3Driver` for S3: ranged GETs of one presigned URL over kept-alive
  connections, instead of a boto3 ``get_object`` call per range;
* :class:`RedirectOnceHTTPDriver` for HTTPS: Earthdata's redirect to a signed URL followed
  once per granule, not once per byte range.

Why the S3 driver is our own. h5coro's ``S3Driver`` calls boto3's ``get_object`` for every
byte range. boto3 does a lot per call (request building, signing, event hooks, response
parsing): about 2 ms of CPU, which for the 20-30 ranges of a granule is more CPU than
h5coro's parsing, and it holds the GIL that the other dataset threads wait for. Here boto3
signs one URL per granule (``generate_presigned_url``, locally, no request), and each range
is a plain HTTP GET of that URL with a ``Range`` header, on connections kept open from one
granule to the next: about a tenth of the CPU. S3 checks the signature of every request
exactly as before; the URL is valid for :data:`PRESIGNED_URL_SECONDS` or until the
temporary credentials expire, whichever comes first, and one granule's read is bounded by
the reader's timeout (300 s by default).

A presigned URL carries the access key id and the session token in its query string, so it
is a credential: it lives only in the driver object, is never logged (``http.client``
logs nothing) and never appears in an exception message (the reader reports S3 failures
by the granule's ``s3://`` name).
"""

from __future__ import annotations

import http.client
import logging
import os
import ssl
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from h5coro import filedriver, s3driver, webdriver

from .access import Location


class _NoSigningDetails(logging.Filter):
    """Drops botocore's DEBUG records of what it signs: the canonical request (which holds the
    session token) and the signature, which together are a usable presigned URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not text.startswith(("CanonicalRequest", "StringToSign", "Signature"))


logging.getLogger("botocore.auth").addFilter(_NoSigningDetails())

#: Lifetime asked for the presigned URL of a granule, seconds (S3 also ends it when the
#: temporary credentials expire).
PRESIGNED_URL_SECONDS = 3600

#: Seconds any one socket operation (connect, send, a read of the response) may take.
SOCKET_TIMEOUT_S = 10.0

#: Attempts per byte range: a kept-alive connection the server has closed meanwhile fails
#: at once, and the range is asked again on a new connection.
ATTEMPTS = 3

#: NASA's Earthdata Cloud buckets are in us-west-2; used where no AWS region is configured
#: (a presigned URL must be signed for the bucket's own region).
DEFAULT_REGION = "us-west-2"


class EndCheckingFileDriver(filedriver.FileDriver):
    """h5coro's local ``FileDriver``, except that a read starting past the end of the file raises.

    h5coro 1.0.7 reads an HDF5 link name one byte at a time until a NUL byte. When a corrupt
    file puts that name past the end of the file, every read returns no bytes and the loop
    never ends: the reader's timeout gives up, but the thread spins on, using a core, until
    the process ends (found by the corruption fuzz in tests/test_reliability_inputs.py).
    Raising instead ends the read as a corrupt granule. No read of a sound file starts past
    its end (a read of the file's last, partial cache line starts inside it).
    """

    def read(self, pos: int, size: int) -> bytes:
        data = super().read(pos, size)
        if size > 0 and not data:
            raise EOFError(f"a read at byte {pos} is past the end of the file (corrupt address)")
        return data

    def copy(self, max_connections: int | None = None) -> EndCheckingFileDriver:
        return EndCheckingFileDriver(self.resource, None)


class _Connections:
    """Idle HTTP(S) connections to one host, kept for the next request (thread-safe)."""

    _KEEP = 64

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def get(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=SOCKET_TIMEOUT_S,
                                               context=_tls_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=SOCKET_TIMEOUT_S)

    def put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._KEEP:
                self._idle.append(conn)
                return
        conn.close()


_pools: dict[tuple[str, str, int | None], _Connections] = {}
_pools_lock = threading.Lock()
_tls: list[ssl.SSLContext] = []


def _tls_context() -> ssl.SSLContext:
    """One TLS context, trusting the CA bundle botocore would (``AWS_CA_BUNDLE``, else certifi)."""
    with _pools_lock:
        if not _tls:
            cafile = os.environ.get("AWS_CA_BUNDLE")
            if not cafile:
                try:
                    import certifi

                    cafile = certifi.where()
                except ImportError:  # pragma: no cover - certifi comes with botocore
                    cafile = None
            _tls.append(ssl.create_default_context(cafile=cafile))
        return _tls[0]


def _connections(scheme: str, host: str, port: int | None) -> _Connections:
    key = (scheme, host, port)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = _Connections(scheme, host, port)
        return _pools[key]


def _get(pool: _Connections, target: str, headers: dict[str, str]
         ) -> tuple[http.client.HTTPResponse, bytes] | None:
    """One GET on a kept-alive connection of ``pool``: (response, body), or None if the
    connection or the network failed (the connection is then dropped)."""
    conn = pool.get()
    try:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        return None
    if response.will_close:
        conn.close()
    else:
        pool.put(conn)
    return response, data


def _target_of(url: SplitResult) -> str:
    """The request target of a URL: its path and, if it has one, its query."""
    return url.path + (f"?{url.query}" if url.query else "")


def _ranged_body(driver: PresignedS3Driver | RedirectOnceHTTPDriver, response: Any,
                 data: bytes, offset: int, size: int) -> bytes:
    """The bytes asked for, from a ``206`` (or ``200``) answer to a ranged GET.

    A ``206`` says the object's size (``Content-Range: bytes a-b/size``): kept in
    ``driver.object_size`` for the reader's truncation check. A server that ignores
    ``Range`` answers ``200`` with the whole object: the range is cut from it.
    """
    if response.status == 200:
        return data[offset: offset + size]
    total = (response.getheader("Content-Range") or "").rpartition("/")[2]
    if driver.object_size is None and total.isdigit():
        driver.object_size = int(total)
    return data


class _Signers:
    """boto3 S3 clients, one per set of credentials and endpoint, used only to presign URLs.

    A boto3 session loads botocore's service descriptions from disk (about 0.08 s of CPU):
    kept in this process's memory, the last few, so that a run over many granules makes one.
    Refreshed credentials (hourly) get a client of their own.
    """

    _KEEP = 4

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def client(self, credentials: Any) -> Any:
        import boto3

        region = (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                  or DEFAULT_REGION)
        key = (tuple(sorted((str(k), str(v)) for k, v in dict(credentials or {}).items())),
               os.environ.get("AWS_ENDPOINT_URL_S3"), os.environ.get("AWS_ENDPOINT_URL"), region)
        # boto3 sessions are not safe to share while clients are being made: one at a time
        with self._lock:
            if key not in self._clients:
                while len(self._clients) >= self._KEEP:
                    self._clients.pop(next(iter(self._clients)))  # the oldest: expired credentials
                # h5coro's own rules for the credential forms (earthaccess', boto3's, profile...)
                session = s3driver.S3Driver.create_session(None, dict(credentials or {}))  # type: ignore[arg-type]
                self._clients[key] = session.client(
                    "s3", region_name=region,
                    config=boto3.session.Config(signature_version="s3v4"))
            return self._clients[key]


signers = _Signers()


class PresignedS3Driver:
    """An h5coro driver for one S3 object: ranged GETs of a presigned URL, connections kept.

    Same interface and contract as h5coro's ``S3Driver``: ``read(offset, size)`` returns
    the bytes, or ``None`` when S3 refuses (missing object, access denied, a range past the
    end) or the network fails after ``ATTEMPTS`` tries; the reader then asks S3 what
    went wrong (``reader._diagnose_s3``) and names the granule.

    Parameters
    ----------
    resource:
        ``bucket/key``, as h5coro's ``S3Driver`` takes it (no ``s3://``).
    credentials:
        earthaccess' ``accessKeyId``/``secretAccessKey``/``sessionToken``, boto3's
        ``aws_*`` names, or ``{}`` for boto3's own chain (environment, instance role).
    """

    def __init__(self, resource: str, credentials: Any, session: Any = None,
                 max_connections: int | None = None) -> None:
        parts = [p for p in resource.split("/") if p]
        if len(parts) < 2:
            raise ValueError("an S3 resource needs a bucket and a key: bucket/key")
        self.resource = resource
        self.cached_credentials = credentials
        self.bucket_name, self.key = parts[0], "/".join(parts[1:])
        url = signers.client(credentials).generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket_name, "Key": self.key},
            ExpiresIn=PRESIGNED_URL_SECONDS)
        split = urlsplit(url)
        self._target = _target_of(split)  # the query is the credential: kept here only
        self._pool = _connections(split.scheme, split.hostname or "", split.port)
        self._closed = False
        #: The object's size in bytes, once a response has said (``Content-Range``).
        self.object_size: int | None = None

    def __repr__(self) -> str:
        return f"PresignedS3Driver('{self.bucket_name}/{self.key}')"

    def read(self, offset: int, size: int) -> bytes | None:
        if self._closed:
            raise RuntimeError("PresignedS3Driver has been closed and cannot be used.")
        if size <= 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + size - 1}"}
        for _ in range(ATTEMPTS):
            got = _get(self._pool, self._target, headers)
            if got is None:
                continue  # a connection the server closed meanwhile, or the network: again
            response, data = got
            if response.status in (200, 206):
                return _ranged_body(self, response, data, offset, size)
            if response.status in (500, 502, 503, 504):  # S3 asks to slow down or retry
                continue
            return None  # 403, 404, 416: the reader asks S3 what is wrong
        return None

    def copy(self, max_connections: int | None = None) -> PresignedS3Driver:
        return PresignedS3Driver(self.resource, self.cached_credentials)

    def close(self) -> None:
        # the connections are shared with other granules' drivers: they stay open
        self._closed = True


#: Redirects followed from the granule's URL to the bytes (Earthdata: one, to S3).
MAX_REDIRECTS = 5

#: How long a redirect's target is reused when the answer does not say (``max-age``), s.
DEFAULT_REUSE_SECONDS = 300.0


class RedirectOnceHTTPDriver:
    """An h5coro driver for one granule over HTTPS: Earthdata's redirect followed once.

    Earthdata's HTTPS endpoint (NASA's Thin Egress App) answers every request for a granule,
    bearer token checked, with ``303 See Other`` to a URL of the S3 object signed for up to an
    hour, and says for how long that URL may be reused (``Cache-Control: private,
    max-age=...``). h5coro's ``HTTPDriver`` (``requests``) asks the endpoint again for every
    byte range: two round trips per range, the first through an AWS Lambda function. Here
    the first range follows the redirect and remembers where it led; the others go straight
    there, on connections kept open, until ``max-age`` has passed or the signed URL is
    refused (``401``/``403``: expired), when the endpoint is asked again.

    The token goes only to the granule's own host (never to where a redirect leads, as
    ``requests`` also ensures); the signed URL is a credential too: it lives in this object
    only, is never logged and never appears in a message. A server that answers without
    redirecting (a mirror, :class:`~icesat2_tutorial.localservers.LocalHTTPServer`) is read
    the same way.

    Same contract as h5coro's ``HTTPDriver``: ``read(offset, size)`` returns the bytes or
    raises ``FatalError("Failed to read range ...")``, which the reader then diagnoses
    (``reader._diagnose_https``) and reports by the granule's name.

    Parameters
    ----------
    resource:
        The granule's ``https://`` (or ``http://``) URL.
    credentials:
        An Earthdata Login bearer token (``str``), or ``None``.
    """

    def __init__(self, resource: str, credentials: Any, max_connections: int | None = None) -> None:
        split = urlsplit(resource)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError("an HTTP(S) resource needs a URL: https://host/path")
        self.resource = resource
        self.cached_credentials = credentials
        self._token = credentials if isinstance(credentials, str) and credentials else None
        self._origin = (split.scheme, split.hostname, split.port)
        self._lock = threading.Lock()
        self._where: tuple[tuple[str, str, int | None], str, float] | None = None
        self._closed = False
        #: The object's size in bytes, once a response has said (``Content-Range``).
        self.object_size: int | None = None

    def __repr__(self) -> str:
        split = urlsplit(self.resource)
        return f"RedirectOnceHTTPDriver('{split.scheme}://{split.netloc}{split.path}')"

    def _failed(self, offset: int, size: int, why: str) -> webdriver.FatalError:
        return webdriver.FatalError(f"Failed to read range {offset}-{offset + size - 1} ({why})")

    def read(self, offset: int, size: int) -> bytes:
        if self._closed:
            raise RuntimeError("RedirectOnceHTTPDriver has been closed and cannot be used.")
        if size <= 0:
            return b""
        why = "no answer"
        for attempt in range(ATTEMPTS):
            with self._lock:
                where = self._where
            if where is not None and where[2] < time.monotonic():
                where = None  # max-age passed: ask the endpoint again
            if where is None:
                host, target = self._origin, _target_of(urlsplit(self.resource))
            else:
                host, target = where[0], where[1]
            for _hop in range(MAX_REDIRECTS + 1):
                headers = {"Range": f"bytes={offset}-{offset + size - 1}"}
                if self._token and host == self._origin:
                    headers["Authorization"] = f"Bearer {self._token}"
                got = _get(_connections(*host), target, headers)
                if got is None:
                    why = "network error"
                    break
                response, data = got
                status = response.status
                if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                    # where the bytes are: remember it for this granule's next ranges
                    base = f"{host[0]}://{host[1]}" + (f":{host[2]}" if host[2] else "")
                    location = urlsplit(urljoin(base + target, response.getheader("Location")))
                    host = (location.scheme, location.hostname or "", location.port)
                    target = _target_of(location)
                    with self._lock:
                        self._where = (host, target, time.monotonic() + _reuse_seconds(response))
                    why = "too many redirects"
                    continue
                if status == 200 and (response.getheader("Content-Type") or "").startswith(
                        "text/html"):
                    # a login page, not the granule: no token, or an expired one
                    raise self._failed(offset, size, "a web page instead of the granule")
                if status in (200, 206):
                    return _ranged_body(self, response, data, offset, size)
                why = f"HTTP {status}"
                if status in (401, 403) and where is not None:
                    with self._lock:
                        self._where = None  # the signed URL expired: the endpoint again
                    break
                if status in (500, 502, 503, 504):
                    time.sleep(0.25 * (attempt + 1))
                    break
                raise self._failed(offset, size, why)  # 401/403 from the endpoint, 404, 416
        raise self._failed(offset, size, f"{why}, after {ATTEMPTS} attempts")

    def copy(self, max_connections: int | None = None) -> RedirectOnceHTTPDriver:
        return RedirectOnceHTTPDriver(self.resource, self.cached_credentials)

    def close(self) -> None:
        # the connections are shared with other granules' drivers: they stay open
        self._closed = True
        self._where = None


def _reuse_seconds(response: Any) -> float:
    """How long a redirect's target may be reused: its ``max-age``, else a few minutes."""
    for part in (response.getheader("Cache-Control") or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value)
    return DEFAULT_REUSE_SECONDS


#: The drivers the reader opens granules with, in place of the ones ``Location`` names.
_READING_DRIVERS = {filedriver.FileDriver: EndCheckingFileDriver,
                    s3driver.S3Driver: PresignedS3Driver,
                    webdriver.HTTPDriver: RedirectOnceHTTPDriver}


def drivers_for_reading(location: Location) -> Location:
    """``location`` with the driver the reader uses: :class:`EndCheckingFileDriver` for files,
    :class:`PresignedS3Driver` for S3, :class:`RedirectOnceHTTPDriver` for HTTPS.

    ``Location.driver`` keeps naming the driver a learner would use (``FileDriver``,
    ``S3Driver``); the reader opens granules through these drop-in replacements.
    """
    driver = _READING_DRIVERS.get(location.driver)
    return replace(location, driver=driver) if driver is not None else location
