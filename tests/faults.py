"""Faults to inject into a run: a flaky TCP proxy, an HTTP server that misbehaves as told,
and granule sources that misbehave in a worker.

A helper module (not a test module) so that Dask worker processes can import it: they are
spawned with the test process's ``sys.path``, so objects pickled by reference from here
unpickle there.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 from a daemon thread; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def flaky_proxy(target_port: int, refuse_first: int) -> tuple[int, threading.Event, list[int]]:
    """A TCP proxy on 127.0.0.1 that drops the first ``refuse_first`` connections.

    Returns the proxy's port, an event that stops it, and a list with one entry per
    connection it accepted.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()
    seen: list[int] = []

    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            seen.append(1)
            if len(seen) <= refuse_first:
                conn.close()  # a network error that passes
                continue
            upstream = socket.create_connection(("127.0.0.1", target_port))
            threading.Thread(target=pipe, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], stop, seen


class Environ(WorkerPlugin):
    """Sets environment variables in every worker, including workers that replace killed ones."""

    name = "test-environ"

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = dict(environ)

    def setup(self, worker: Any) -> None:
        os.environ.update(self.environ)


class RaisesInWorker(str):
    """A granule path that raises RuntimeError when the reader looks at it (a bug, say)."""

    def startswith(self, *args: Any) -> bool:  # locate() asks startswith("s3://") first
        raise RuntimeError(f"injected fault reading {str(self)}")


def _explode(name: str) -> str:
    raise RuntimeError(f"injected fault unpickling {name}")


class FailsToUnpickle(str):
    """A granule path whose task cannot be unpickled where it is sent: the task itself errs.

    (The scheduler unpickles tasks too, and is first to fail.)
    """

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _explode, (str(self),)


class KillsItsWorker(str):
    """A granule path that kills the Dask worker process reading it (a crash in C, say).

    It kills only inside a worker: a LocalCluster's scheduler, which also unpickles tasks,
    runs in the test process.
    """

    def startswith(self, *args: Any) -> bool:  # locate() asks startswith("s3://") first
        from distributed import get_worker

        get_worker()  # ValueError outside a worker: nothing is killed
        os.kill(os.getpid(), signal.SIGKILL)
        return False  # never reached


class KillWhileProcessing(SchedulerPlugin):
    """Kills (SIGKILL) the worker running ``key_part`` once ``after`` other tasks have finished
    and ``started()`` says the task is under way.

    Runs inside the scheduler (a LocalCluster's scheduler is in the test process), so it sees
    every task transition as it happens; :meth:`watch` checks the conditions from a thread.
    ``pids`` maps worker addresses to process ids.
    """

    def __init__(self, scheduler: Any, key_part: str, after: int, pids: dict[str, int],
                 started: Any) -> None:
        self.scheduler = scheduler
        self.key_part = key_part
        self.after = after
        self.pids = pids
        self.started = started
        self.finished: list[str] = []
        self.running_on: str | None = None
        self.killed: tuple[str, int, int] | None = None  # (address, pid, tasks finished then)
        self._stop = threading.Event()

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if self.key_part not in str(key):
            if finish == "memory":
                self.finished.append(str(key))
            return
        ts = self.scheduler.tasks.get(key)
        on = getattr(ts, "processing_on", None) if finish == "processing" else None
        self.running_on = on.address if on is not None else None

    def watch(self, timeout: float = 60.0) -> threading.Thread:
        """Start a thread that kills the worker as soon as every condition holds."""

        def run() -> None:
            deadline = time.monotonic() + timeout
            while not self._stop.is_set() and time.monotonic() < deadline:
                on = self.running_on
                if on and len(self.finished) >= self.after and self.started():
                    self.killed = (on, self.pids[on], len(self.finished))
                    os.kill(self.pids[on], signal.SIGKILL)
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
