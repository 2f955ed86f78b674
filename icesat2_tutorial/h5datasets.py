"""Reading many datasets of one granule at once with h5coro, faster where it is slowest.

h5coro's ``H5Coro.readDatasets`` starts one thread per dataset; each thread builds an
``H5Dataset``, which walks the file to the dataset, reads its chunk B-tree and inflates the
chunks into one buffer. Before it does, h5coro 1.0.7 pre-fills the buffer with the dataset's
HDF5 fill value (what a chunk that was never written must read as) in a Python loop, one
element at a time. ATL10 variables have fill values, so that loop runs once per segment per
variable: for a full-size granule's strong beams (3 x 90,000 segments x 8 variables) it
costs about 0.1 s of CPU, more than inflating the data, and as pure Python it holds the GIL,
so the dataset threads cannot overlap it.

:func:`read_datasets` does what ``readDatasets(paths, block=True)`` does, with these changes
in a subclass of ``H5Dataset``: it writes the same fill bytes with one numpy assignment, just
before h5coro reads the chunks (where h5coro's loop would have run; not at all when every
chunk is present), and it inflates gzip chunks with ISA-L (the ``isal`` package) instead of
zlib, about twice as fast for the same bytes. The values returned are byte-for-byte those of
``readDatasets`` (``tests/test_h5datasets.py`` compares them, also on a file with chunks that
were never written, against both h5coro and h5py). Besides:

* the chunk index is read and checked before h5coro follows it (:func:`_chunk_extents`):
  h5coro puts chunks where a corrupt key says, and returned wrong values without an error;
* with ``exact_chunks=True`` (the reader's S3 path) the chunks are fetched as the exact
  byte ranges the index gives, in parallel, instead of through h5coro's cache lines;
* :class:`CachedSmallReads`, the ``H5Coro`` the reader opens granules with, answers the
  many small reads of h5coro's parsing from held lines faster, and refuses reads past the
  end of the file.

This relies on h5coro internals (``H5Dataset``'s ``enableFill`` flag, ``readBTreeV1``,
``readField``, ``inflateChunk``, ``H5Coro.ioRequest`` and its cache), which is why
``pyproject.toml`` pins h5coro to 1.0.7.
"""

from __future__ import annotations

import math
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from h5coro import h5coro as _h5coro
from h5coro.h5dataset import H5Dataset
from h5coro.h5promise import massagePath

try:  # ISA-L's inflate: the same bytes as zlib's, about twice as fast (package ``isal``)
    from isal.isal_zlib import decompress as _inflate
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the safe fallback
    _inflate = zlib.decompress

#: Largest dataset read, bytes. The biggest ATL10/ATL07 per-beam datasets are tens of MB;
#: a corrupt dataspace can declare terabytes, and filling such a buffer would take the
#: machine's memory (found by tests/test_reliability_inputs.py's corruption fuzz).
MAX_DATASET_BYTES = 1 << 31


class ImplausibleDatasetError(ValueError):
    """A dataset declares more bytes than any granule holds: a corrupt file."""


#: Little-endian unsigned integers by size, as h5coro's ``readField`` reads them.
_UNPACK = {1: struct.Struct("<B").unpack_from, 2: struct.Struct("<H").unpack_from,
           4: struct.Struct("<I").unpack_from, 8: struct.Struct("<Q").unpack_from}


class _NumpyFillDataset(H5Dataset):
    """``H5Dataset`` whose pre-fill with the HDF5 fill value is one numpy assignment."""

    def __init__(self, *args: Any, exact_chunks: bool = False, **kwargs: Any) -> None:
        self._fill_pending = True  # h5coro's own loop is switched off; see readBTreeV1
        self._exact_chunks = exact_chunks
        super().__init__(*args, enableFill=False, **kwargs)

    def readObjHdr(self, dlvl: int) -> Any:  # noqa: N802 (h5coro's name)
        # h5coro allocates (and zeroes) the whole buffer right after the header is read:
        # refuse an implausible size here, before the allocation
        result = super().readObjHdr(dlvl)
        dims, type_size = self.meta.dimensions, self.meta.typeSize
        if dims and type_size:
            declared = type_size * math.prod(int(d) for d in dims)
            if declared > MAX_DATASET_BYTES:
                raise ImplausibleDatasetError(
                    f"{self.dataset} declares {declared:,} bytes (more than "
                    f"{MAX_DATASET_BYTES:,}); corrupt dataspace")
        return result

    def readBTreeV1(self, buffer: Any, dlvl: int) -> Any:  # noqa: N802 (h5coro's name)
        # h5coro 1.0.7 fills right before this call, for chunked datasets only: same place
        if self._fill_pending:
            self._fill_pending = False
            if len(buffer) > MAX_DATASET_BYTES:  # before touching a page of it
                raise ImplausibleDatasetError(
                    f"{self.dataset} declares {len(buffer):,} bytes (more than "
                    f"{MAX_DATASET_BYTES:,}); corrupt dataspace")
            extents = _chunk_extents(self)  # checked before h5coro follows it
            whole = _whole(self)
            grid = math.prod(-(-int(d) // int(c)) for d, c in
                             zip(self.meta.dimensions, self.meta.chunkDimensions, strict=False))
            if not (whole and len(extents) == grid):
                # some chunk was never written: it reads as the fill value. (With every chunk
                # present, each byte is written by a chunk: no need to fill first.)
                _fill(buffer, self.meta.fillvalue, self.meta.fillsize)
            if self._exact_chunks and whole:
                # the chunks fetched at once, exactly (_fetch), then h5coro's own B-tree
                # walk decodes them from memory (_ChunkBytes)
                real = self.resourceObject
                self.resourceObject = _ChunkBytes(real, _fetch(real, extents))
                try:
                    return super().readBTreeV1(buffer, dlvl)
                finally:
                    self.resourceObject = real
        return super().readBTreeV1(buffer, dlvl)

    def readField(self, size: int) -> int:  # noqa: N802 (h5coro's name)
        # h5coro builds a struct format string for each of a granule's ~7,000 fields
        raw = self.resourceObject.ioRequest(self.pos, size)
        self.pos += size
        return _UNPACK[size](raw)[0]

    def inflateChunk(self, input: bytes) -> bytes:  # noqa: A002, N802 (h5coro's names)
        # inflating is most of the CPU time of a read; h5coro uses zlib.decompress
        return _inflate(input)


#: Largest byte range fetched in one request when chunks are read exactly: neighbouring
#: chunks are merged into one request up to this size, the requests run in parallel.
MAX_RANGE_BYTES = 8 << 20


def _whole(ds: H5Dataset) -> bool:
    """Whether the read covers the whole dataset (read_datasets reads no hyperslices)."""
    return all(tuple(h) == (0, d) for h, d in zip(ds.hyperslice, ds.meta.dimensions, strict=False))


class CorruptChunkIndexError(ValueError):
    """A dataset's chunk B-tree says something no HDF5 writer writes: a corrupt file."""


def _chunk_extents(ds: H5Dataset) -> list[tuple[int, int]]:
    """(file address, stored size) of every chunk of ``ds``, from its version-1 B-tree, checked.

    The same nodes h5coro's ``readBTreeV1`` walks (through the same cache), read ahead of it
    to learn where the chunks are, and to refuse an index h5coro would follow into wrong
    values without noticing (found by tests/test_reliability_inputs.py's fuzz of B-tree
    bytes): chunk offsets that are not on the chunk grid, outside the dataset, out of order or
    repeated; a chunk with a filter skipped (h5coro ignores the mask and would decode it
    wrongly); stored sizes no chunk of this dataset can have; chunks that overlap.
    """
    res = ds.resourceObject
    osz = res.offsetSize
    rank = ds.meta.ndims
    key = 8 + 8 * (rank + 1)  # chunk size, filter mask, rank + 1 offsets
    address = struct.Struct("<Q" if osz == 8 else "<I").unpack_from
    offsets = struct.Struct(f"<{rank + 1}Q").unpack_from
    dims, chunk = list(ds.meta.dimensions), list(ds.meta.chunkDimensions)
    if len(chunk) != rank or any(c <= 0 for c in chunk):
        raise CorruptChunkIndexError(f"{ds.dataset}: chunk dimensions {chunk} for rank {rank}")
    # deflate can grow incompressible data a little (5 bytes per 16 KiB block and a header)
    most = ds.meta.chunkElements * ds.meta.typeSize * 2 + 4096

    def bad(why: str) -> CorruptChunkIndexError:
        return CorruptChunkIndexError(f"{ds.dataset}: corrupt chunk index ({why})")

    leaves: list[tuple[tuple[int, ...], int, int]] = []
    seen: set[int] = set()

    def walk(node: int, depth: int) -> None:
        if node in seen or depth > 64 or len(seen) > 100_000:
            raise bad("the B-tree loops or is implausibly deep")
        seen.add(node)
        sig, kind, level, used = struct.unpack_from("<4sBBH", bytes(res.ioRequest(node, 8)))
        if sig != b"TREE" or kind != 1:
            raise bad(f"no chunk B-tree node at byte {node}")
        body = bytes(res.ioRequest(node + 8 + 2 * osz, used * (key + osz) + key))
        for e in range(used):
            at = e * (key + osz)
            size, mask = struct.unpack_from("<II", body, at)
            where = offsets(body, at + 8)
            child = address(body, at + key)[0]
            if level > 0:
                walk(child, depth + 1)
                continue
            if where[rank] != 0 or any(o % c or o >= d for o, c, d in zip(where, chunk, dims,
                                                                           strict=False)):
                raise bad(f"chunk offset {list(where[:rank])} is not on the grid of {chunk} "
                          f"inside {dims}")
            if mask:
                raise bad(f"filter mask {mask:#x}: a filter was skipped for a chunk")
            if not 0 < size <= most:
                raise bad(f"a chunk of {size} bytes")
            leaves.append((where[:rank], child, size))

    walk(ds.meta.address, 0)
    for (a, _, _), (b, _, _) in zip(leaves, leaves[1:], strict=False):
        if not a < b:
            raise bad(f"chunk offsets out of order or repeated: {list(a)} then {list(b)}")
    extents = sorted((child, size) for _, child, size in leaves)
    for (a, n), (b, _) in zip(extents, extents[1:], strict=False):
        if a + n > b:
            raise bad(f"chunks overlap at byte {b}")
    return extents


def _cached(res: Any, addr: int, size: int) -> bool:
    """Whether bytes ``addr`` .. ``addr + size`` all lie in cache lines h5coro already holds."""
    at = addr + res.baseAddress
    line = at & res.cacheLineMask
    while line < at + size:
        if line not in res.cache:
            return False
        line += res.cacheLineSize
    return True


class RangeReadError(OSError):
    """A byte-range read of a granule returned nothing (network or access failure)."""


def _fetch(res: Any, extents: list[tuple[int, int]]) -> list[tuple[int, memoryview]]:
    """Fetch the chunks at ``extents`` (address, size) that no held cache line covers.

    Straight from the driver, not through h5coro's cache lines: neighbouring chunks in one
    request (up to :data:`MAX_RANGE_BYTES`), the requests in parallel. Returns the
    (address, bytes) runs fetched.
    """
    runs: list[list[int]] = []
    for addr, size in sorted(e for e in extents if not _cached(res, *e)):
        if runs and addr <= runs[-1][1] and addr + size - runs[-1][0] <= MAX_RANGE_BYTES:
            runs[-1][1] = max(runs[-1][1], addr + size)
        else:
            runs.append([addr, addr + size])

    def get(run: list[int]) -> tuple[int, memoryview]:
        start, stop = run
        try:
            data = res.driver.read(start + res.baseAddress, stop - start)
        except Exception as exc:  # the driver's own failure, named; the reader diagnoses it
            raise RangeReadError(f"Failed to read range {start}-{stop} ({type(exc).__name__})") from None
        if data is None or len(data) < stop - start:
            raise RangeReadError(f"Failed to read range {start}-{stop}")
        return start, memoryview(data)

    if len(runs) <= 1:
        return [get(r) for r in runs]
    with ThreadPoolExecutor(max_workers=min(len(runs), 8), thread_name_prefix="h5chunks") as pool:
        return list(pool.map(get, runs))


class _ChunkBytes:
    """Stands in for the ``H5Coro`` object while h5coro decodes one dataset's B-tree: reads of
    the fetched runs are answered from them, everything else goes to the real object."""

    def __init__(self, real: Any, runs: list[tuple[int, memoryview]]) -> None:
        self._real = real
        self._runs = runs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def ioRequest(self, pos: int, size: int, caching: bool = True, prefetch: bool = False) -> Any:  # noqa: N802
        for start, data in self._runs:
            if start <= pos and pos + size <= start + len(data):
                return data[pos - start: pos - start + size]
        return self._real.ioRequest(pos, size, caching, prefetch)


class CachedSmallReads(_h5coro.H5Coro):
    """``H5Coro`` with a faster way to bytes it already holds.

    h5coro parses HDF5 a field at a time: a granule makes about 10,000 ``ioRequest`` calls,
    nearly all for a few bytes of a cache line already held, and each walks h5coro's general
    path (locks, a list of blocks, a join). Here a request inside one held line returns its
    slice at once. And h5coro reads small contiguous datasets (``orbit_info``, the time
    epoch) with an uncached request of their own, a round trip each, even when their bytes
    sit in a line already held: those are answered from the line too. A read past the end of
    the file's last (short) line raises ``EOFError``.

    A remote granule no bigger than :attr:`WHOLE_FILE_BYTES` (a subset, as NSIDC's subsetter
    writes them) is fetched whole with the second request, when the first has told its size
    (``driver.object_size``): two round trips instead of dozens.
    """

    WHOLE_FILE_BYTES = 4 << 20

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # reads the superblock: the first line
        size = getattr(self.driver, "object_size", None)
        if size and self.cacheLineSize < size <= self.WHOLE_FILE_BYTES and not self.baseAddress:
            super().ioRequest(self.cacheLineSize, size - self.cacheLineSize, caching=False,
                              prefetch=True)

    def ioRequest(self, pos: int, size: int, caching: bool = True, prefetch: bool = False) -> Any:  # noqa: N802
        if not prefetch:
            at = pos + self.baseAddress
            line = at & self.cacheLineMask
            view = self.cache.get(line)
            if view is not None:
                start = at - line
                if start + size <= len(view):
                    return view[start: start + size] if caching else bytes(view[start: start + size])
                if start + size <= self.cacheLineSize:
                    # a short line is the file's last: these bytes lie past its end. h5coro
                    # would return an empty slice, and its link-name loop, reading a byte at a
                    # time until a NUL, then spins to the end of the line (17 s on a
                    # truncated granule over HTTPS; found by tests/test_reliability_inputs.py)
                    raise EOFError(f"a read at byte {pos} is past the end of the file "
                                   "(truncated, or a corrupt address)")
        return super().ioRequest(pos, size, caching, prefetch)


def _fill(buffer: Any, fillvalue: int, fillsize: int) -> None:
    """Repeat the first ``fillsize`` little-endian bytes of ``fillvalue`` over ``buffer``."""
    if fillsize <= 0:
        return
    pattern = struct.pack("Q", fillvalue)[:fillsize]
    view = np.frombuffer(buffer, dtype=np.uint8)
    whole = len(view) - len(view) % fillsize
    view[:whole].reshape(-1, fillsize)[:] = np.frombuffer(pattern, dtype=np.uint8)
    if whole < len(view):  # never for a well-formed dataset; as h5coro would, a partial copy
        view[whole:] = np.frombuffer(pattern, dtype=np.uint8)[: len(view) - whole]


def _read_one(h5: _h5coro.H5Coro, path: str, exact_chunks: bool = False) -> _NumpyFillDataset:
    kwargs = {"earlyExit": _h5coro.EARLY_EXIT_DEFAULT, "metaOnly": _h5coro.META_ONLY_DEFAULT,
              "enableAttributes": _h5coro.ENABLE_ATTRIBUTES_DEFAULT, "exact_chunks": exact_chunks}
    try:
        return _NumpyFillDataset(h5, path, [], **kwargs)
    except RuntimeError:
        # as readDatasets does: a dataset that cannot be read (e.g. missing) comes back empty
        return _NumpyFillDataset(h5, path, [], makeNull=True, **kwargs)


def read_datasets(
    h5: _h5coro.H5Coro, paths: list[str], *, threads: int | None = None,
    exact_chunks: bool = False,
) -> dict[str, np.ndarray | None]:
    """Read ``paths`` from an open h5coro granule: path -> values, or ``None`` if missing.

    Like ``h5.readDatasets(paths, block=True)``: by default one thread per dataset, which
    overlaps the requests to S3 or HTTPS (and the inflating, which releases the GIL). A
    dataset that is missing or cannot be read maps to ``None``; other exceptions (a
    truncated file, a failed request) propagate to the caller.

    ``threads=1`` reads the datasets one after the other in the calling thread: for a local
    file there is no latency to hide, and when every core already runs a granule of its own
    (a process pool, a Dask worker) the threads would only add work.

    ``exact_chunks=True`` fetches each dataset's chunks as the byte ranges its B-tree gives
    (neighbours in one request), instead of through h5coro's cache lines, which also carry
    whatever unwanted variables lie between them. For S3, with small cache lines for the
    metadata: a real-sized granule's strong beams cost a quarter of the bytes
    (benchmarks/bench_cloud_reads.py). Chunks already inside a held line are taken from it.
    """
    if not paths:
        return {}
    wanted = {p: massagePath(p) for p in paths}
    if threads == 1:
        return {p: _read_one(h5, q, exact_chunks).values for p, q in wanted.items()}
    if threads is None:
        # one long-lived pool for every granule's datasets: starting and joining a thread
        # per dataset per granule cost ~8 ms of CPU (GIL held) per granule
        futures = {p: _dataset_pool().submit(_read_one, h5, q, exact_chunks)
                   for p, q in wanted.items()}
        return {p: f.result().values for p, f in futures.items()}
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths))),
                            thread_name_prefix="h5coro") as pool:
        futures = {p: pool.submit(_read_one, h5, q, exact_chunks) for p, q in wanted.items()}
        return {p: f.result().values for p, f in futures.items()}


#: Threads reading datasets for all granules of this process (several granules at once, in a
#: Dask worker's threads, share it). Dataset reads wait on the network, not on each other.
DATASET_THREADS = 64
_pool: list[ThreadPoolExecutor] = []
_pool_lock = threading.Lock()


def _dataset_pool() -> ThreadPoolExecutor:
    with _pool_lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max_workers=DATASET_THREADS, thread_name_prefix="h5coro"))
        return _pool[0]


def _forget_pool_after_fork() -> None:
    # a forked child (a process pool's worker) inherits the pool object but none of its
    # threads, and would wait on it for ever; and maybe a lock some other thread held
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
