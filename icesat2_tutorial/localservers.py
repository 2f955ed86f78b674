"""Local stand-ins for NASA Earthdata Cloud, so the S3 and HTTPS code paths run offline.

ICESat-2 granules live in NASA Earthdata Cloud: in an S3 bucket in AWS ``us-west-2``
(read with temporary credentials from an Earthdata ``s3credentials`` endpoint) and behind
an HTTPS endpoint that requires an Earthdata Login bearer token. Neither is reachable from
a test machine, a CI runner or an offline laptop. This module provides two small servers
that listen on the loopback interface (``127.0.0.1`` only) and speak the same protocols,
so that h5coro, boto3 and requests run their real network code against them:

:class:`LocalS3Server`
    An S3-compatible server (moto's server mode: moto's own Flask/werkzeug application).
    h5coro's ``S3Driver`` reaches it through boto3 when ``AWS_ENDPOINT_URL_S3`` points at
    it (see :meth:`LocalS3Server.environ`). Any credentials are accepted;
    :attr:`LocalS3Server.credentials` returns fake ones shaped like earthaccess's.
:class:`LocalHTTPServer`
    A file server that honours HTTP ``Range`` requests and, when given a token, demands
    ``Authorization: Bearer <token>`` like the Earthdata HTTPS endpoint. h5coro's
    ``webdriver.HTTPDriver`` reads from it.

These are **not** NASA's services and prove nothing about them: no Earthdata Login, no
egress limits, no real credentials. (``LocalHTTPServer(redirect=True)`` imitates the shape
of Earthdata's HTTPS answers, a redirect to a signed URL on another host, with a signature
of its own making.) They only let
a learner (and the test-suite, and the benchmarks) exercise the same client code offline.
Both can add a fixed delay to every request (``latency_s``) to imitate cloud round trips.

Neither server writes to stdout or stderr: per-request lines go to this module's logger
at DEBUG level and contain the method, the URL path and the status only -- never a
header, a token, a credential or a local filesystem path.

Examples
--------
>>> with LocalS3Server() as s3:  # doctest: +SKIP
...     url = s3.upload("ATL10_20230101.h5")  # s3://nsidc-cumulus-prod-protected/ATL10_...
...     os.environ.update(s3.environ())  # AWS_ENDPOINT_URL_S3, AWS_DEFAULT_REGION
...     h5 = h5coro.H5Coro(url[len("s3://"):], s3driver.S3Driver, credentials=s3.credentials)

>>> with LocalHTTPServer("granules/", token="tok") as web:  # doctest: +SKIP
...     h5 = h5coro.H5Coro(web.url_for("ATL10_20230101.h5"), webdriver.HTTPDriver,
...                        credentials="tok")
...     print(web.stats)  # how many byte ranges h5coro asked for, and how many bytes
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import re
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .products import NSIDC_S3_BUCKET

__all__ = [
    "DEFAULT_BUCKET",
    "HOST",
    "REGION",
    "LocalHTTPServer",
    "LocalS3Server",
]

logger = logging.getLogger(__name__)

#: The only interface the servers listen on. Never change it to a routable address:
#: the servers accept any credentials and serve files without further checks.
HOST = "127.0.0.1"

#: The AWS region of NASA Earthdata Cloud (NSIDC's buckets are in us-west-2).
REGION = "us-west-2"

#: NSIDC's protected bucket, where ICESat-2 granules live in Earthdata Cloud.
DEFAULT_BUCKET = NSIDC_S3_BUCKET

# How often the serving loops check for a stop request. The stdlib default (0.5 s) would
# make every stop() take up to half a second, which adds up over a test-suite.
_POLL_INTERVAL_S = 0.05

# How long stop() waits for a serving thread. serve_forever returns within one poll
# interval; in-flight requests run on daemon threads and do not hold the port.
_JOIN_TIMEOUT_S = 5.0

_CHUNK = 64 * 1024


def _redact(text: str) -> str:
    """Drop query strings from a log line: presigned URLs carry tokens and signatures there."""
    return re.sub(r"\?[^\s\"']*", "?<query>", text)


def _check_latency(latency_s: float) -> float:
    latency_s = float(latency_s)
    if not latency_s >= 0.0:  # also rejects NaN
        raise ValueError(f"latency_s must be >= 0, got {latency_s!r}")
    return latency_s


###############################################################################
# S3
###############################################################################


def _serve_in_thread(server: Any, name: str) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread (dies with the interpreter)."""
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": _POLL_INTERVAL_S}, name=name, daemon=True)
    thread.start()
    return thread


def _stop_serving(server: Any, thread: threading.Thread | None) -> None:
    """Stop the loop of ``server``, close its port and join its thread."""
    server.shutdown()  # returns once serve_forever has left its loop
    server.server_close()  # serve_forever closes it too; this makes it certain
    if thread is not None:
        thread.join(_JOIN_TIMEOUT_S)


class _BackgroundServer:
    """What both stand-ins share: a socket server run by a daemon thread, stopped cleanly."""

    _server: Any = None
    _thread: threading.Thread | None = None

    def _serve(self, server: Any, port: int) -> None:
        """Serve ``server`` from a daemon thread named after the class and port."""
        self._server = server
        self._thread = _serve_in_thread(server, f"{type(self).__name__}:{port}")

    def _shutdown(self, server: Any) -> None:
        """Stop the loop, close the port and join the thread."""
        _stop_serving(server, self._thread)
        self._thread = None

    def start(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None


class LocalS3Server(_BackgroundServer):
    """An S3-compatible server on ``127.0.0.1``, standing in for Earthdata Cloud's S3.

    It runs moto's S3 implementation in server mode (a real HTTP server on a free port,
    chosen by the operating system) in a background thread. Any client that lets you set
    an endpoint URL -- boto3, h5coro's ``S3Driver``, s3fs -- can talk to it.

    Parameters
    ----------
    latency_s
        Extra delay, in seconds, added to every HTTP request the server handles. It is
        implemented as a WSGI middleware around moto's application that sleeps in the
        request's handler thread before moto sees the request, so concurrent requests are
        delayed in parallel, like network latency (not like a bandwidth limit). It can be
        changed while the server runs (``server.latency_s = 0.05``).

    Notes
    -----
    * moto keeps its S3 data in process-global state, so every ``LocalS3Server`` in one
      Python process sees the same buckets and objects (moto server mode needs no
      ``MOTO_*`` environment variables, and starting a server resets nothing). To keep
      servers from leaking into each other, :meth:`stop` deletes the objects this server
      uploaded, and the last server to stop deletes the buckets the servers created
      (buckets made by other code are left alone). Two servers running *at the same
      time* share the namespace: give their uploads different keys.
    * moto's ``mock_aws`` resets that same global state when it starts; do not use it
      while a server is running.
    * Objects are held by moto in memory (large ones in temporary files): fine for test
      granules, not for a season of ATL03.
    * Uploads and the cleanup in :meth:`stop` do not pay ``latency_s``.
    * The application is composed from moto's own parts (``DomainDispatcherApplication``,
      ``create_backend_app``, ``MotoRequestHandler``), exactly as moto's
      ``ThreadedMotoServer`` does, but the socket is bound in the caller's thread: moto's
      class prints to stdout, cannot be silenced or wrapped, and waits forever in
      ``start()`` if the bind fails in its thread.

    Examples
    --------
    >>> with LocalS3Server(latency_s=0.02) as s3:                 # doctest: +SKIP
    ...     url = s3.upload("granule.h5")
    ...     monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint_url)
    """

    def __init__(self, latency_s: float = 0.0) -> None:
        self._latency_s = _check_latency(latency_s)
        self._lock = threading.Lock()
        self._request_count = 0
        self._server: Any = None  # werkzeug ThreadedWSGIServer while running
        self._thread: threading.Thread | None = None
        self._client: Any = None  # boto3 S3 client used for uploads and cleanup
        self._uid = next(_SERVER_IDS)  # for the process-wide bucket registry
        self._buckets: set[str] = set()  # buckets this server made or shares
        self._uploaded: list[tuple[str, str]] = []
        expiration = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        # Shaped like the JSON of an Earthdata s3credentials endpoint (what earthaccess
        # returns). The values are obviously fake; moto accepts any credentials.
        self._credentials = {
            "accessKeyId": "LOCALTESTACCESSKEY",
            "secretAccessKey": "local-test-secret-not-a-real-key",
            "sessionToken": "local-test-session-token",
            "expiration": expiration.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        }

    def __repr__(self) -> str:
        # Never the credentials: reprs end up in notebook outputs.
        state = f"port={self._server.port}" if self._server else "stopped"
        return f"<LocalS3Server {state} latency_s={self._latency_s}>"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalS3Server:
        """Start serving on a free port of ``127.0.0.1``; return ``self``.

        Raises
        ------
        RuntimeError
            If the server is already running.
        """
        if self._server is not None:
            raise RuntimeError("LocalS3Server is already running")
        # Imported here so that importing this module (e.g. for LocalHTTPServer) needs
        # neither moto nor boto3.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import ThreadedWSGIServer

        class QuietHandler(MotoRequestHandler):
            # Set explicitly: werkzeug would otherwise set it on the class for us.
            protocol_version = "HTTP/1.1"

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                # werkzeug would print every request line to stderr. Keep it at DEBUG,
                # without the query string (presigned URLs carry credentials there).
                path = urllib.parse.urlsplit(self.path).path
                logger.debug("S3 stand-in: %s %s -> %s", self.command, path, code)

            def log(self, type: str, message: str, *args: Any) -> None:
                # Other messages (bad request lines and the like): DEBUG, query redacted.
                text = message % args if args else message
                logger.debug("S3 stand-in: %s", _redact(text.rstrip()))

        class QuietServer(ThreadedWSGIServer):
            def log(self, type: str, message: str, *args: Any) -> None:
                # Tracebacks of moto errors: keep only their last line, which has no paths.
                lines = (message % args if args else message).strip().splitlines()
                logger.debug("S3 stand-in error: %s", lines[-1] if lines else type)

            def handle_error(self, request: Any, client_address: Any) -> None:
                logger.debug("S3 stand-in: connection error (client went away?)")

        app = _LatencyMiddleware(DomainDispatcherApplication(create_backend_app), self)
        # Port 0: the kernel picks a free port, so there is no race with other processes
        # (werkzeug would print and sys.exit() on a bind failure; with port 0 there is none).
        server = QuietServer(HOST, 0, app, QuietHandler)
        self._serve(server, server.port)
        try:
            self._connect_client()
        except BaseException:
            self.stop()
            raise
        return self

    def _connect_client(self) -> None:
        """Create the client used for uploads and cleanup, and warm moto's S3 up."""
        import boto3
        from botocore.config import Config

        self._client = boto3.session.Session(
            aws_access_key_id=self._credentials["accessKeyId"],
            aws_secret_access_key=self._credentials["secretAccessKey"],
            aws_session_token=self._credentials["sessionToken"],
            region_name=REGION,
        ).client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )
        # Tag this client's requests (uploads, cleanup), so that they neither pay the
        # latency nor count as requests: benchmarks then measure only the reader's requests.
        self._client.meta.events.register("before-sign.s3", _tag_internal)
        # Warm up: moto builds its S3 application on the first request (~0.5 s). Doing it
        # now keeps that cost out of the first timed read of a benchmark.
        self._client.list_buckets()

    def stop(self) -> None:
        """Delete what this server uploaded, stop serving and close the port.

        Safe to call more than once, and on a server that never started.
        """
        server, self._server = self._server, None
        if server is None:
            return
        try:
            self._cleanup()
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._shutdown(server)

    # -- what a client needs -------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on (``127.0.0.1`` only)."""
        return int(self._running_server().port)

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint, ``http://127.0.0.1:PORT`` (plain HTTP, as h5coro uses)."""
        return f"http://{HOST}:{self.port}"

    @property
    def credentials(self) -> dict[str, str]:
        """Fake temporary credentials shaped like earthaccess's ``get_s3_credentials()``.

        Keys: ``accessKeyId``, ``secretAccessKey``, ``sessionToken``, ``expiration``. h5coro's
        ``S3Driver`` accepts this dict as is. The server accepts any credentials.
        """
        return dict(self._credentials)

    def environ(self) -> dict[str, str]:
        """The environment variables that point boto3 (and so h5coro) at this server.

        Returns
        -------
        dict
            ``AWS_ENDPOINT_URL_S3`` (botocore >= 1.31 reads it when it creates an S3
            client, unless ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is set) and
            ``AWS_DEFAULT_REGION`` (``us-west-2``, like Earthdata Cloud). Credentials are
            deliberately not included: pass :attr:`credentials` to the reader, as one
            passes earthaccess's.
        """
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url, "AWS_DEFAULT_REGION": REGION}

    @property
    def latency_s(self) -> float:
        """Extra delay in seconds added to every request; settable while running."""
        return self._latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        self._latency_s = _check_latency(value)

    @property
    def request_count(self) -> int:
        """Number of client requests handled so far (uploads and cleanup not counted)."""
        with self._lock:
            return self._request_count

    def reset_stats(self) -> None:
        """Set :attr:`request_count` back to zero."""
        with self._lock:
            self._request_count = 0

    # -- data ----------------------------------------------------------------------------

    def upload(
        self, path: str | os.PathLike[str], bucket: str = DEFAULT_BUCKET, key: str | None = None
    ) -> str:
        """Copy a local file into the server, creating the bucket (in us-west-2) if needed.

        Parameters
        ----------
        path
            The local file.
        bucket
            Bucket name; by default NSIDC's protected bucket.
        key
            Object key; by default the file's name.

        Returns
        -------
        str
            ``s3://bucket/key``. h5coro's ``S3Driver`` wants it without the ``s3://``.
        """
        client = self._running_client()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file to upload: {path.name}")
        key = key if key is not None else path.name
        if not key or key.startswith("/"):
            raise ValueError("key must be a non-empty relative name")
        self._ensure_bucket(bucket)
        client.upload_file(str(path), bucket, key)
        with self._lock:
            self._uploaded.append((bucket, key))
        return f"s3://{bucket}/{key}"

    # -- internals -----------------------------------------------------------------------

    def _running_server(self) -> Any:
        if self._server is None:
            raise RuntimeError("LocalS3Server is not running; call start() or use `with`")
        return self._server

    def _running_client(self) -> Any:
        self._running_server()
        return self._client

    def _ensure_bucket(self, bucket: str) -> None:
        with _BUCKETS_LOCK:
            users = _BUCKET_USERS.get(bucket)
            if users is not None:  # made by a LocalS3Server that still uses it
                users.add(self._uid)
                self._buckets.add(bucket)
                return
            client = self._client
            try:
                client.head_bucket(Bucket=bucket)
                return  # made by someone else (e.g. a test, with boto3): not ours to delete
            except client.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            _BUCKET_USERS[bucket] = {self._uid}
            self._buckets.add(bucket)

    def _cleanup(self) -> None:
        """Remove this server's objects, and buckets no running server uses, from moto."""
        client = self._client
        if client is None:
            return
        for bucket, key in reversed(self._uploaded):
            try:
                client.delete_object(Bucket=bucket, Key=key)
            except Exception:  # best effort: the state may have been reset already
                logger.debug("S3 stand-in: could not delete an uploaded object")
        with _BUCKETS_LOCK:
            for bucket in self._buckets:
                users = _BUCKET_USERS.get(bucket, set())
                users.discard(self._uid)
                if users:
                    continue  # another running server still has objects in it
                _BUCKET_USERS.pop(bucket, None)
                try:
                    client.delete_bucket(Bucket=bucket)
                except Exception:  # e.g. someone else put objects in it
                    logger.debug("S3 stand-in: left a bucket in place (not empty?)")
        self._uploaded.clear()
        self._buckets.clear()

    def _on_request(self, environ: dict[str, Any]) -> float:
        """Count a request and return the delay it must pay."""
        if environ.get(_INTERNAL_ENVIRON_KEY) == "1":
            return 0.0
        with self._lock:
            self._request_count += 1
        return self._latency_s


# moto's S3 state is process-global, so the buckets LocalS3Servers create are tracked
# process-wide too: bucket name -> ids of the running servers that uploaded into it. The
# last server to stop deletes the bucket, so nothing leaks into the next test.
_BUCKETS_LOCK = threading.Lock()
_BUCKET_USERS: dict[str, set[int]] = {}
_SERVER_IDS = itertools.count()

# Header by which the server recognises requests of its own upload client.
_INTERNAL_HEADER = "X-Localservers-Internal"
_INTERNAL_ENVIRON_KEY = "HTTP_X_LOCALSERVERS_INTERNAL"


def _tag_internal(request: Any, **kwargs: Any) -> None:
    """botocore ``before-sign`` hook: mark a request as the server's own."""
    request.headers[_INTERNAL_HEADER] = "1"


class _LatencyMiddleware:
    """WSGI middleware: sleep ``owner.latency_s`` in the handler thread, then call moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]], owner: LocalS3Server) -> None:
        self._app = app
        self._owner = owner

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        delay = self._owner._on_request(environ)
        if delay > 0.0:
            time.sleep(delay)
        return self._app(environ, start_response)


###############################################################################
# HTTPS endpoint stand-in
###############################################################################

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Interpret a ``Range`` header against a file of ``size`` bytes (RFC 9110, 14.2).

    Returns
    -------
    tuple or str or None
        ``(first, last)`` inclusive for a satisfiable single range (``last`` clamped to
        the end of the file); ``"unsatisfiable"`` for a well-formed range that selects
        nothing (answer 416); ``None`` when there is no usable range -- absent, malformed,
        or several ranges -- in which case the whole file is sent (RFC 9110 lets a server
        ignore a Range header; multipart responses are not implemented).
    """
    if header is None:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first_s, last_s = match.groups()
    if first_s == "" and last_s == "":
        return None
    if first_s == "":  # suffix range: the last N bytes
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - suffix), size - 1)
    first = int(first_s)
    if last_s and int(last_s) < first:
        return None  # syntactically invalid ("bytes=5-2"): ignore the header
    if first >= size:
        return "unsatisfiable"
    last = int(last_s) if last_s else size - 1
    return (first, min(last, size - 1))


class _FileServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that carries the configuration its handlers read."""

    daemon_threads = True  # in-flight requests must not block stop()

    def __init__(self, root: Path, owner: LocalHTTPServer, signed: bool = False) -> None:
        self.root = root
        self.owner = owner
        #: The "S3" side of a redirecting stand-in: serves signed URLs, takes no token
        self.signed = signed
        super().__init__((HOST, 0), _RangeRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall on a
        # machine without network; it is only used for SERVER_NAME, which we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name = HOST
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr, e.g. when a client hangs up mid-body.
        logger.debug("HTTP stand-in: connection error (client went away?)")


class _RangeRequestHandler(BaseHTTPRequestHandler):
    """Serve GET/HEAD of files under the server's root, with ranges and bearer tokens."""

    server: _FileServer
    # One request per connection: nothing lingers after stop(), and every request is a
    # fresh round trip, which is what latency_s imitates.
    protocol_version = "HTTP/1.0"

    def version_string(self) -> str:
        # Say what this is, and not which Python runs it.
        return "icesat2-tutorial-local-stand-in"

    def do_GET(self) -> None:  # noqa: N802 (name fixed by http.server)
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)

    # -- the request ---------------------------------------------------------------------

    def _serve(self, send_body: bool) -> None:
        owner = self.server.owner
        if owner.latency_s > 0.0:
            time.sleep(owner.latency_s)

        if self.server.signed:
            denied = self._check_signature(owner)
        else:
            denied = self._check_token(owner._token)
        if denied is not None:
            code, extra = denied
            self._send_empty(code, extra)
            return
        if owner._signed is not None and not self.server.signed:
            # Earthdata's HTTPS endpoint (TEA) answers an authorised request with a
            # redirect to a URL signed for an hour, saying how long it may be reused
            if self._resolve() is None:
                self._send_empty(404)
                return
            self._send_empty(303, {"Location": owner._sign(self._url_path()),
                                   "Cache-Control": f"private, max-age={owner._max_age}"})
            return

        path = self._resolve()
        if path is None:
            self._send_empty(404)
            return

        try:
            size = path.stat().st_size
            wanted = _parse_range(self.headers.get("Range"), size)
            if wanted == "unsatisfiable":
                self._send_empty(416, {"Content-Range": f"bytes */{size}"})
                return
            if wanted is None:
                first, last, code = 0, size - 1, 200
            else:
                (first, last), code = wanted, 206  # type: ignore[misc]
            length = last - first + 1
            with path.open("rb") as f:
                # counted before the answer leaves: a client that has it sees it counted
                owner._record(code)
                self.send_response(code)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                if code == 206:
                    self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
                self.end_headers()
                sent = 0
                if send_body:
                    f.seek(first)
                    while sent < length:
                        chunk = f.read(min(_CHUNK, length - sent))
                        if not chunk:
                            break  # file shrank underneath us; the client will notice
                        owner._record_bytes(len(chunk))  # before it leaves, as above
                        self.wfile.write(chunk)
                        sent += len(chunk)
        except OSError:
            # Unreadable file, or the client hung up mid-body: nothing useful to send.
            logger.debug("HTTP stand-in: %s %s failed", self.command, self._url_path())
            self.close_connection = True
            return

    def _check_token(self, token: str | None) -> tuple[int, dict[str, str]] | None:
        """``None`` if allowed, else ``(status, headers)``.

        401 without a bearer token, 403 with a wrong one.
        """
        if token is None:
            return None
        challenge = {"WWW-Authenticate": 'Bearer realm="local Earthdata stand-in"'}
        scheme, _, presented = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return 401, challenge
        if not hmac.compare_digest(presented.strip().encode(), token.encode()):
            return 403, {}
        return None

    def _check_signature(self, owner: LocalHTTPServer) -> tuple[int, dict[str, str]] | None:
        """``None`` if the signed URL is valid; 400 with an Authorization header (as S3
        answers a presigned URL sent with one: a client must not forward the token), 403 if
        the signature is wrong, revoked or expired."""
        if self.headers.get("Authorization"):
            return 400, {}
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        expires = (query.get("X-Expires") or [""])[0]
        given = (query.get("X-Signature") or [""])[0]
        if not expires.isdigit() or int(expires) < time.time():
            return 403, {}
        if not hmac.compare_digest(given, owner._signature(self._url_path(), expires)):
            return 403, {}
        return None

    def _resolve(self) -> Path | None:
        """The requested file, or ``None`` if it is missing, not a file, or outside the root."""
        parts = [p for p in urllib.parse.unquote(self._url_path()).split("/") if p]
        if not parts or any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
            return None
        root = self.server.root
        candidate = root.joinpath(*parts)
        try:
            candidate = candidate.resolve(strict=True)  # also follows symlinks out of root
        except (OSError, RuntimeError):
            return None
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def _url_path(self) -> str:
        return urllib.parse.urlsplit(self.path).path

    def _send_empty(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.server.owner._record(code)  # before the answer leaves (see _serve)
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- logging: never to stderr, never a header ---------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # URL path without the query string; the Authorization header is never logged.
        logger.debug("HTTP stand-in: %s %s -> %s", self.command, self._url_path(), code)

    def log_message(self, format: str, *args: Any) -> None:
        # Errors from http.server (bad request lines and the like): DEBUG, query redacted.
        text = format % args if args else format
        logger.debug("HTTP stand-in: %s", _redact(text))


class LocalHTTPServer(_BackgroundServer):
    """A Range-capable file server on ``127.0.0.1``, standing in for Earthdata's HTTPS endpoint.

    It serves the files under ``directory`` over plain HTTP (no TLS) on a free port, with
    the parts of the Earthdata endpoint that h5coro's ``HTTPDriver`` relies on:

    * ``Range: bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` give ``206 Partial Content``
      with ``Content-Range``; a range past the end gives ``416``; no (or an unusable)
      ``Range`` header gives ``200`` and the whole file;
    * ``HEAD`` answers the same headers without a body;
    * if ``token`` is set, every request needs ``Authorization: Bearer <token>``:
      ``401`` without one, ``403`` with a wrong one (Earthdata Login's bearer tokens);
    * paths that leave ``directory`` (``..``, symlinks out) and directories give ``404``;
    * with ``redirect=True``, as Earthdata's HTTPS endpoint does: an authorised request gets
      ``303 See Other`` to a signed URL on a second port (standing in for S3), with
      ``Cache-Control: private, max-age=...``; the signed URL serves the file without a
      token for ``signed_url_seconds``, answers ``403`` once expired or revoked
      (:meth:`revoke_signed_urls`) and ``400`` to a request that carries an
      ``Authorization`` header (as S3 does).

    Parameters
    ----------
    directory
        The directory whose files are served.
    token
        The bearer token to demand; ``None`` serves without authentication.
    latency_s
        Extra delay, in seconds, slept by the handler thread at the start of every request
        (rejected ones included) before it answers. Settable while running.
    redirect
        Answer with redirects to signed URLs, as Earthdata's endpoint does.
    signed_url_seconds
        How long a signed URL is valid (Earthdata's: up to an hour, reusable for the
        ``max-age`` the redirect gives, a minute less).

    Examples
    --------
    >>> with LocalHTTPServer(tmp_path, token="tok") as web:        # doctest: +SKIP
    ...     h5 = h5coro.H5Coro(web.url_for("granule.h5"), webdriver.HTTPDriver, credentials="tok")
    ...     web.stats["partial"], web.stats["bytes_sent"]
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        token: str | None = None,
        latency_s: float = 0.0,
        redirect: bool = False,
        signed_url_seconds: int = 3600,
    ) -> None:
        root = Path(directory).resolve()
        if not root.is_dir():
            raise NotADirectoryError("LocalHTTPServer needs an existing directory to serve")
        if token is not None and not token:
            raise ValueError("token must be a non-empty string or None")
        self._root = root
        self._token = token
        self._latency_s = _check_latency(latency_s)
        self._lock = threading.Lock()
        self._stats = self._zero_stats()
        self._server: _FileServer | None = None
        self._thread: threading.Thread | None = None
        self._redirect = bool(redirect)
        self._signed_url_seconds = int(signed_url_seconds)
        self._max_age = max(0, self._signed_url_seconds - 60)
        self._secret = os.urandom(16)
        self._signed: _FileServer | None = None
        self._signed_thread: threading.Thread | None = None

    def __repr__(self) -> str:
        # Neither the token nor the absolute directory: reprs end up in notebook outputs.
        state = f"port={self._server.server_port}" if self._server else "stopped"
        return f"<LocalHTTPServer {state} token={'set' if self._token else 'none'}>"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalHTTPServer:
        """Start serving on a free port of ``127.0.0.1``; return ``self``.

        Raises
        ------
        RuntimeError
            If the server is already running.
        """
        if self._server is not None:
            raise RuntimeError("LocalHTTPServer is already running")
        if self._redirect:
            signed = _FileServer(self._root, self, signed=True)
            self._signed_thread = _serve_in_thread(
                signed, f"LocalHTTPServer-signed:{signed.server_port}")
            self._signed = signed
        server = _FileServer(self._root, self)
        self._serve(server, server.server_port)
        return self

    def stop(self) -> None:
        """Stop serving and close the port(s). Safe to call more than once."""
        signed, self._signed = self._signed, None
        if signed is not None:
            _stop_serving(signed, self._signed_thread)
            self._signed_thread = None
        server, self._server = self._server, None
        if server is None:
            return
        self._shutdown(server)

    def revoke_signed_urls(self) -> None:
        """Make every signed URL handed out so far invalid (``403``), as expiry would."""
        self._secret = os.urandom(16)

    def _signature(self, path: str, expires: str) -> str:
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), "sha256").hexdigest()

    def _sign(self, path: str) -> str:
        expires = str(int(time.time()) + self._signed_url_seconds)
        query = urllib.parse.urlencode({"X-Expires": expires,
                                        "X-Signature": self._signature(path, expires)})
        assert self._signed is not None
        return f"http://{HOST}:{self._signed.server_port}{path}?{query}"

    # -- what a client needs -------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on (``127.0.0.1`` only)."""
        if self._server is None:
            raise RuntimeError("LocalHTTPServer is not running; call start() or use `with`")
        return int(self._server.server_port)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    def url_for(self, filename: str | os.PathLike[str]) -> str:
        """The URL of a file, given by its path relative to the served directory.

        Parameters
        ----------
        filename
            E.g. ``"ATL10_20230101.h5"`` or ``"2023/01/ATL10_20230101.h5"``.

        Returns
        -------
        str
            ``http://127.0.0.1:PORT/filename`` (percent-encoded).
        """
        name = Path(filename).as_posix()
        if Path(filename).is_absolute() or name in ("", ".") or ".." in name.split("/"):
            raise ValueError("filename must be relative to the served directory")
        return f"{self.base_url}/{urllib.parse.quote(name)}"

    @property
    def latency_s(self) -> float:
        """Extra delay in seconds added to every request; settable while running."""
        return self._latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        self._latency_s = _check_latency(value)

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start (or :meth:`reset_stats`), as a new dict.

        ``requests``
            Every request answered, rejected ones included.
        ``full``
            ``200`` answers (whole file).
        ``partial``
            ``206`` answers (one byte range each).
        ``rejected``
            Answers ``>= 400`` (400, 401, 403, 404, 416).
        ``redirects``
            ``303`` answers (``redirect=True``: one per request to the endpoint itself).
        ``bytes_sent``
            Body bytes sent for 200 and 206 answers.

        Each answer is counted just before it is sent, so a client that has received an
        answer finds it in the counters (a piece of body is counted as it goes out).
        """
        with self._lock:
            return dict(self._stats)

    @property
    def request_count(self) -> int:
        """Number of requests answered (``stats["requests"]``)."""
        return self.stats["requests"]

    def reset_stats(self) -> None:
        """Set every counter of :attr:`stats` back to zero."""
        with self._lock:
            self._stats = self._zero_stats()

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _zero_stats() -> dict[str, int]:
        return {"requests": 0, "full": 0, "partial": 0, "rejected": 0, "bytes_sent": 0,
                "redirects": 0}

    def _record_bytes(self, body_bytes: int) -> None:
        with self._lock:
            self._stats["bytes_sent"] += body_bytes

    def _record(self, code: int) -> None:
        with self._lock:
            self._stats["requests"] += 1
            if code == 200:
                self._stats["full"] += 1
            elif code == 206:
                self._stats["partial"] += 1
            elif code >= 400:
                self._stats["rejected"] += 1
            elif 300 <= code < 400:
                self._stats["redirects"] += 1
