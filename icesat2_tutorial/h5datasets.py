"""Reading many datasets of one granule at once with h5coro, faster where it is slowest.

h5coro's ``H5Coro.readDatasets`` starts one thread per dataset; each thread builds an
``H5Dataset``, which walks the file to the dataset, reads its chunk B-tree and inflates the
chunks into one buffer. Before it does, h5coro 1.0.7 pre-fills the buffer with the dataset's
HDF5 fill value (what a chunk that was never written must read as) in a Python loop, one
element at a time. ATL10 variables have fill values, so that loop runs once per segment per
variable: for a full-size granule's strong beams (3 x 90,000 segments x 8 variables) it
costs about 0.1 s of CPU, more than inflating the data, and as pure Python it holds the GIL,
so the dataset threads cannot overlap it.

:func:`read_datasets` does what ``readDatasets(paths, block=True)`` does, with two changes
in a subclass of ``H5Dataset``: it writes the same fill bytes with one numpy assignment, just
before h5coro reads the chunks (where h5coro's loop would have run), and it inflates gzip
chunks with ISA-L (the ``isal`` package) instead of zlib, about twice as fast for the same
bytes. The values returned are byte-for-byte those of ``readDatasets``
(``tests/test_h5datasets.py`` compares them, also on a file with chunks that were never
written, against both h5coro and h5py).

This relies on h5coro internals (``H5Dataset``'s ``enableFill`` flag, ``readBTreeV1`` and
``inflateChunk``), which is why ``pyproject.toml`` pins h5coro to 1.0.7.
"""

from __future__ import annotations

import math
import struct
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


class _NumpyFillDataset(H5Dataset):
    """``H5Dataset`` whose pre-fill with the HDF5 fill value is one numpy assignment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._fill_pending = True  # h5coro's own loop is switched off; see readBTreeV1
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
            _fill(buffer, self.meta.fillvalue, self.meta.fillsize)
        return super().readBTreeV1(buffer, dlvl)

    def inflateChunk(self, input: bytes) -> bytes:  # noqa: A002, N802 (h5coro's names)
        # inflating is most of the CPU time of a read; h5coro uses zlib.decompress
        return _inflate(input)


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


def _read_one(h5: _h5coro.H5Coro, path: str) -> _NumpyFillDataset:
    kwargs = {"earlyExit": _h5coro.EARLY_EXIT_DEFAULT, "metaOnly": _h5coro.META_ONLY_DEFAULT,
              "enableAttributes": _h5coro.ENABLE_ATTRIBUTES_DEFAULT}
    try:
        return _NumpyFillDataset(h5, path, [], **kwargs)
    except RuntimeError:
        # as readDatasets does: a dataset that cannot be read (e.g. missing) comes back empty
        return _NumpyFillDataset(h5, path, [], makeNull=True, **kwargs)


def read_datasets(
    h5: _h5coro.H5Coro, paths: list[str], *, threads: int | None = None
) -> dict[str, np.ndarray | None]:
    """Read ``paths`` from an open h5coro granule: path -> values, or ``None`` if missing.

    Like ``h5.readDatasets(paths, block=True)``: by default one thread per dataset, which
    overlaps the requests to S3 or HTTPS (and the inflating, which releases the GIL). A
    dataset that is missing or cannot be read maps to ``None``; other exceptions (a
    truncated file, a failed request) propagate to the caller.

    ``threads=1`` reads the datasets one after the other in the calling thread: for a local
    file there is no latency to hide, and when every core already runs a granule of its own
    (a process pool, a Dask worker) the threads would only add work.
    """
    if not paths:
        return {}
    wanted = {p: massagePath(p) for p in paths}
    if threads == 1:
        return {p: _read_one(h5, q).values for p, q in wanted.items()}
    n = len(paths) if threads is None else max(1, min(threads, len(paths)))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="h5coro") as pool:
        futures = {p: pool.submit(_read_one, h5, q) for p, q in wanted.items()}
        return {p: f.result().values for p, f in futures.items()}
