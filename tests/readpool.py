"""Read broken granules in worker processes, each case within a time bound, against h5py.

Used by ``test_reliability_inputs.py`` for its truncation sweep and corruption fuzz. A case
is one file: a prefix of a good granule (truncation) or a good granule with one byte XORed
(corruption). A worker process writes that file, reads it with
:func:`icesat2_tutorial.read_granule`, then reads it again with h5py (the oracle), and
reports what each gave. Workers are reused across cases (starting one costs a second of
imports); one that dies (a crash in a C library) or overruns its bound is killed and
replaced, and the case records that.

The oracle
----------
h5py decodes the same bytes independently of h5coro. The expected table is built from the
arrays h5py reads, with the package's own rules for fill values and times
(``reader._beam_table``), so that a difference can only come from how the bytes were
decoded, never from the rules (those are checked against an independent reader on good
files in ``test_reader_fixtures.py``). A case passes when the package

* raises its own exception (:class:`~icesat2_tutorial.exceptions.IceSat2TutorialError`)
  whose message names the file, or
* returns the table h5py reads from the same corrupted file (values that the corruption
  changed included: h5py sees them too), or
* returns the table of the uncorrupted file (the byte was one that h5coro does not use,
  such as a checksum h5py verifies and h5coro does not, or a B-tree key h5py searches by
  and h5coro does not), or
* returns that table less whole beams it lists in ``attrs["missing_beams"]``, while h5py
  refuses the file (a garbled group header that h5coro reads as an empty group: see
  :func:`missing_beams_only`; counted apart).

It fails when the package returns any other table (wrong values, silently), raises a
foreign exception, or does not finish within its bound (a hang or a crash).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mpc
import os
import resource
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The timeout given to read_granule in each case (its own bound, in seconds).
PACKAGE_TIMEOUT_S = 5.0
#: The bound on each phase of a case (package read, h5py read) seen from outside, seconds.
PHASE_BOUND_S = 30.0
#: Address-space limit of a worker: a corrupt size field that asks for terabytes must give
#: a MemoryError, not take the machine's memory.
WORKER_MEMORY_BYTES = 8 * 1024**3


@dataclass(frozen=True)
class Case:
    """One broken file: ``source`` cut to ``cut`` bytes, or with byte ``offset`` XOR ``xor``."""

    family: str
    source: str
    cut: int | None = None
    offset: int | None = None
    xor: int = 0
    product: str = "ATL10"
    #: read as the S3 path reads: its small cache lines, chunks fetched as exact byte ranges
    exact_chunks: bool = False

    @property
    def label(self) -> str:
        what = f"cut at {self.cut}" if self.cut is not None else f"byte {self.offset} ^ {self.xor:#04x}"
        return f"{self.family}{' (exact chunks)' if self.exact_chunks else ''}: {what}"


@dataclass
class Outcome:
    """What happened to one case.

    ``package`` is ``"table"``, ``"own"`` (the package's exception), ``"foreign"`` (any
    other exception), ``"hung"`` or ``"died"``; ``h5py`` is ``"table"``, ``"error"``,
    ``"hung"`` or ``"died"``.
    """

    case: Case
    package: str = "pending"
    message: str = ""
    names_file: bool = False
    same_as_original: bool = False
    h5py: str = "pending"
    same_as_h5py: bool = False
    timed_out: bool = False
    original_less_missing: bool = False
    seconds: float = 0.0

    def failure(self) -> str | None:
        """Why this case fails the promise, or None when it keeps it."""
        if self.package in ("hung", "died", "foreign", "pending"):
            return f"{self.case.label}: package {self.package} {self.message}"
        if self.package == "own":
            return None if self.names_file else f"{self.case.label}: no file named: {self.message}"
        if self.same_as_original:
            return None  # the corruption did not touch what the package reads
        if self.h5py == "table":
            return None if self.same_as_h5py else (
                f"{self.case.label}: table differs from both the original and h5py's")
        if self.original_less_missing:
            return None  # see missing_beams_only: reported, not silent
        return f"{self.case.label}: h5py {self.h5py}, package returned a table unlike the original"

    def kind(self) -> str:
        """A summary class for counting."""
        if self.package == "own":
            return "refused: timed out" if self.timed_out else "refused with the package's error"
        if self.package == "table" and self.same_as_original:
            return "original table" + ("" if self.same_as_h5py else " (h5py failed or differs)")
        if self.package == "table" and self.same_as_h5py:
            return "changed values, the same as h5py's"
        if self.package == "table" and self.original_less_missing:
            return "original table less beams listed in missing_beams (h5py failed)"
        return f"FAILED ({self.package})"


# -- in the worker ------------------------------------------------------------------------


def h5py_table(path: str, product: str = "ATL10") -> Any:
    """The segment table expected from the bytes h5py reads (see the module docstring)."""
    import h5py
    import numpy as np
    import pandas as pd

    from icesat2_tutorial.products import GPS_EPOCH_PATH, SC_ORIENT_PATH, get_product, strong_beams
    from icesat2_tutorial.reader import _beam_table, empty_segments

    prod = get_product(product)
    tables, missing = [], []
    with h5py.File(path, "r") as f:
        f[prod.signature][...]
        orient = int(np.asarray(f[SC_ORIENT_PATH][...]).ravel()[0])
        epoch = float(np.asarray(f[GPS_EPOCH_PATH][...]).ravel()[0])
        beams = strong_beams(orient)
        for beam in beams:
            if f"{beam}/{prod.segment_group}" not in f:
                missing.append(beam)
                continue
            arrays = {v.column: f[prod.beam_path(beam, v)][...] for v in prod.variables}
            tables.append(_beam_table(path, prod, beam, arrays, epoch)[0])
    out = pd.concat(tables, ignore_index=True) if tables else empty_segments(prod)
    out.attrs.update(strong_beams=list(beams), missing_beams=missing)
    return out


def same_table(a: Any, b: Any) -> bool:
    """Equal values (NaN equal to NaN), dtypes, columns, strong and missing beams."""
    return (list(a.columns) == list(b.columns)
            and a.reset_index(drop=True).equals(b.reset_index(drop=True))
            and a.attrs.get("strong_beams") == b.attrs.get("strong_beams")
            and a.attrs.get("missing_beams") == b.attrs.get("missing_beams"))


def missing_beams_only(table: Any, original: Any) -> bool:
    """Whether ``table`` is ``original`` less whole beams that it lists as missing.

    h5coro reads a beam group whose object header is garbled as an empty group, and an
    empty group is what a real subset has where a beam has no segments: neither h5coro nor
    the package can tell them apart, so the beam is listed in ``attrs["missing_beams"]``
    (reported, not silent). h5py refuses such a file; the sweep counts these cases apart.
    """
    gone = set(table.attrs.get("missing_beams", [])) - set(original.attrs.get("missing_beams", []))
    if not gone:
        return False
    kept = original[~original["beam"].isin(gone)].reset_index(drop=True)
    return list(table.columns) == list(kept.columns) and table.reset_index(drop=True).equals(kept)


def _make_file(case: Case, originals: dict[str, bytes], workdir: Path) -> Path:
    data = originals.setdefault(case.source, Path(case.source).read_bytes())
    if case.cut is not None:
        data = data[:case.cut]
    else:
        buf = bytearray(data)
        buf[case.offset] ^= case.xor
        data = bytes(buf)
    path = workdir / Path(case.source).name  # the granule's own name, so messages show it
    path.write_bytes(data)
    return path


def _serve(conn: mpc.Connection, workdir: str) -> None:
    """Worker loop: receive a Case, send ("package", ...) then ("h5py", ...)."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    from icesat2_tutorial import read_granule, reader
    from icesat2_tutorial.exceptions import GranuleTimeoutError, IceSat2TutorialError

    mine = Path(workdir) / f"w{os.getpid()}"
    mine.mkdir(parents=True, exist_ok=True)
    originals: dict[str, bytes] = {}
    clean: dict[tuple[str, str], Any] = {}
    conn.send("ready")
    while True:
        case = conn.recv()
        if case is None:
            return
        key = (case.source, case.product)
        if key not in clean:
            clean[key] = read_granule(case.source, product=case.product)
        path = _make_file(case, originals, mine)
        # a local file read the way S3 granules are: the exact-chunk path, fuzzed locally
        if case.exact_chunks:
            reader.EXACT_CHUNKS.add("local")
            reader.CACHE_LINE_BYTES["local"] = reader.CACHE_LINE_BYTES["s3"]
        else:
            reader.EXACT_CHUNKS.discard("local")
            reader.CACHE_LINE_BYTES.pop("local", None)
        table = None
        timed_out = False
        try:
            table = read_granule(path, product=case.product, timeout=PACKAGE_TIMEOUT_S)
            kind, message = "table", ""
        except IceSat2TutorialError as exc:
            kind, message = "own", str(exc)
            # h5coro may still be looping in the reader's thread: this worker is spent
            timed_out = isinstance(exc, GranuleTimeoutError)
        except BaseException as exc:  # noqa: BLE001 - exactly what the sweep looks for
            kind = "foreign"
            message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        conn.send(("package", kind, message[:2000], str(path) in message,
                   table is not None and same_table(table, clean[key]), timed_out,
                   table is not None and missing_beams_only(table, clean[key])))
        try:
            expected = h5py_table(str(path), case.product)
        except BaseException:  # noqa: BLE001 - h5py refusing the file is an answer
            conn.send(("h5py", "error", False))
            continue
        conn.send(("h5py", "table", table is not None and same_table(table, expected)))


# -- in the test process ------------------------------------------------------------------


class ReadPool:
    """``n`` worker processes that run cases; use as a context manager."""

    def __init__(self, n: int, workdir: str | os.PathLike[str]) -> None:
        self.n = n
        self.workdir = str(workdir)
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[tuple[Any, mpc.Connection]] = []
        self.replaced = 0

    def __enter__(self) -> ReadPool:
        started = [self._start() for _ in range(self.n)]
        for _, conn in started:
            if not conn.poll(120) or conn.recv() != "ready":
                raise RuntimeError("a read worker did not start")
        self._workers = started
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, conn in self._workers:
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()

    def _start(self) -> tuple[Any, mpc.Connection]:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child, self.workdir), daemon=True)
        proc.start()
        child.close()
        return proc, parent

    def _replace(self, i: int) -> None:
        proc, conn = self._workers[i]
        proc.kill()
        proc.join()
        conn.close()
        self.replaced += 1
        new = self._start()
        if not new[1].poll(120) or new[1].recv() != "ready":
            raise RuntimeError("a read worker did not restart")
        self._workers[i] = new

    def run(self, cases: list[Case]) -> list[Outcome]:
        """Run every case; return their outcomes in the order given."""
        outcomes: list[Outcome | None] = [None] * len(cases)
        todo = list(range(len(cases)))[::-1]
        busy: dict[int, tuple[int, Outcome, float, float]] = {}  # worker -> (case, outcome, t0, deadline)

        def feed(w: int) -> None:
            while todo:
                i = todo.pop()
                now = time.monotonic()
                try:
                    self._workers[w][1].send(cases[i])
                except OSError:  # the worker died between cases
                    out = Outcome(cases[i])
                    self._finish(out, now, "died")
                    outcomes[i] = out
                    self._replace(w)
                    continue
                busy[w] = (i, Outcome(cases[i]), now, now + PHASE_BOUND_S)
                return

        for w in range(len(self._workers)):
            feed(w)
        while busy:
            conns = {self._workers[w][1]: w for w in busy}
            timeout = max(0.0, min(d for _, _, _, d in busy.values()) - time.monotonic())
            ready = mpc.wait(list(conns), timeout)
            for conn in ready:
                w = conns[conn]
                i, out, t0, _ = busy[w]
                try:
                    msg = conn.recv()
                except (EOFError, OSError):  # the worker died mid-case
                    self._finish(out, t0, "died")
                    outcomes[i] = out
                    del busy[w]
                    self._replace(w)
                    feed(w)
                    continue
                if msg[0] == "package":
                    (_, out.package, out.message, out.names_file, out.same_as_original,
                     out.timed_out, out.original_less_missing) = msg
                    busy[w] = (i, out, t0, time.monotonic() + PHASE_BOUND_S)
                else:
                    _, out.h5py, out.same_as_h5py = msg
                    out.seconds = time.monotonic() - t0
                    outcomes[i] = out
                    del busy[w]
                    if out.timed_out:  # its reader thread may still be spinning
                        self._replace(w)
                    feed(w)
            now = time.monotonic()
            for w, (i, out, t0, deadline) in list(busy.items()):
                if now >= deadline:  # hung: whichever phase it was in
                    self._finish(out, t0, "hung")
                    outcomes[i] = out
                    del busy[w]
                    self._replace(w)
                    feed(w)
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _finish(out: Outcome, t0: float, what: str) -> None:
        """Record a death or a hang in whichever phase the case had reached."""
        if out.package == "pending":
            out.package = what
            out.message = f"(worker {what} after {time.monotonic() - t0:.1f} s)"
        else:
            out.h5py = what  # h5py crashing or hanging on a corrupt file is its answer
        out.seconds = time.monotonic() - t0
