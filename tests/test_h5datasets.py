"""read_datasets: the same bytes as h5coro's readDatasets and as h5py.

(With the fill done by numpy and gzip inflated by ISA-L instead of h5coro's loop and zlib.)

The case the fill exists for is a chunked dataset with chunks that were never written: HDF5
says they read as the dataset's fill value. h5py (the HDF5 library) is the oracle.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from h5coro import filedriver, h5coro

from conftest import real_granules
from icesat2_tutorial.fixtures import make_fixture_granules
from icesat2_tutorial.h5datasets import _fill, read_datasets


def _stock(path, paths):
    h5 = h5coro.H5Coro(str(path), filedriver.FileDriver, errorChecking=True, verbose=False)
    promise = h5.readDatasets(paths, block=True)
    return {p: promise[p] for p in paths}


def _ours(path, paths, threads=None):
    h5 = h5coro.H5Coro(str(path), filedriver.FileDriver, errorChecking=True, verbose=False)
    return read_datasets(h5, paths, threads=threads)


def _h5py(path, paths):
    with h5py.File(path, "r") as f:
        return {p: f[p][()] for p in paths}


def _assert_same_bytes(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), what  # bytes: NaN payloads and -0.0 included


@pytest.fixture(scope="module")
def sparse_file(tmp_path_factory):
    """Chunked, gzip'd datasets with fill values where only some chunks were written."""
    path = tmp_path_factory.mktemp("sparse") / "sparse.h5"
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        specs = {
            "g/f4": (np.float32, np.finfo(np.float32).max),
            "g/f8": (np.float64, -9999.5),
            "g/i1": (np.int8, 127),
            "g/i4": (np.int32, -2_000_000_001),
            "g/u2": (np.uint16, 65535),
        }
        for name, (dtype, fill) in specs.items():
            d = f.create_dataset(name, shape=(10_000,), chunks=(1_000,), dtype=dtype, fillvalue=fill,
                                 compression="gzip", shuffle=dtype != np.float32)
            # chunks 0, 3 and half of 7 written; 1-2, 4-6, the rest of 7, 8-9 never allocated
            d[0:1000] = rng.integers(0, 100, 1000).astype(dtype)
            d[3000:4000] = rng.integers(0, 100, 1000).astype(dtype)
            d[7000:7500] = rng.integers(0, 100, 500).astype(dtype)
        f.create_dataset("g/nofill", data=rng.normal(size=5000), chunks=(700,), compression="gzip")
        f.create_dataset("g/contiguous", data=np.arange(300, dtype=np.float32))
    return path, list(specs) + ["g/nofill", "g/contiguous"]


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_unwritten_chunks_read_as_the_fill_value(sparse_file, threads):
    path, paths = sparse_file
    ours, stock, ref = _ours(path, paths, threads), _stock(path, paths), _h5py(path, paths)
    for p in paths:
        _assert_same_bytes(ours[p], ref[p], p)
        _assert_same_bytes(ours[p], stock[p], p)
    # the fill really is there (not zeros): 7.5 of 10 chunks were never written
    assert int((ours["g/i4"] == -2_000_000_001).sum()) == 7500
    assert int((ours["g/f4"] == np.finfo(np.float32).max).sum()) == 7500


@pytest.mark.parametrize("threads", [None, 1])
def test_fixture_granule_same_as_readdatasets_and_h5py(tmp_path, threads):
    path = make_fixture_granules(tmp_path, n=1, seed=4)[0]
    with h5py.File(path, "r") as f:
        paths = []
        f.visititems(lambda name, obj: paths.append(name) if isinstance(obj, h5py.Dataset)
                     and obj.dtype.kind in "fiu" else None)
    assert len(paths) > 100
    ours, stock, ref = _ours(path, paths, threads), _stock(path, paths), _h5py(path, paths)
    for p in paths:
        _assert_same_bytes(ours[p], stock[p], p)
        np.testing.assert_array_equal(ours[p].reshape(ref[p].shape), ref[p], err_msg=p)


def test_real_granules_same_as_readdatasets():
    files = real_granules()
    if not files:
        pytest.skip("../shared/realdata is not present next to this checkout")
    for path in files:
        with h5py.File(path, "r") as f:
            paths = []
            f.visititems(lambda name, obj, paths=paths: paths.append(name)
                         if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and obj.ndim == 1
                         else None)
        ours, stock = _ours(path, paths), _stock(path, paths)
        for p in paths:
            if stock[p] is None:
                assert ours[p] is None, p
            else:
                _assert_same_bytes(ours[p], stock[p], f"{path.name}:{p}")


@pytest.mark.parametrize("threads", [None, 1])
def test_missing_dataset_is_none_like_readdatasets(sparse_file, threads):
    path, _ = sparse_file
    paths = ["g/f4", "g/not_there", "nowhere/at_all"]
    ours, stock = _ours(path, paths, threads), _stock(path, paths)
    assert ours["g/not_there"] is None and stock["g/not_there"] is None
    assert ours["nowhere/at_all"] is None and stock["nowhere/at_all"] is None
    _assert_same_bytes(ours["g/f4"], stock["g/f4"], "g/f4")
    assert read_datasets(None, []) == {}  # type: ignore[arg-type]


def test_inflate_is_isal_and_gives_zlibs_bytes():
    import zlib

    from icesat2_tutorial import h5datasets

    assert h5datasets._inflate.__module__.startswith("isal")  # a dependency: not the fallback
    data = np.random.default_rng(0).normal(size=20_000).tobytes()
    for level in (1, 6, 9):
        packed = zlib.compress(data, level)
        assert h5datasets._inflate(packed) == zlib.decompress(packed) == data


@pytest.mark.parametrize("size,length", [(4, 12), (8, 16), (1, 5), (2, 7), (4, 10)])
def test_fill_matches_h5coros_loop(size, length):
    """The loop h5coro 1.0.7 runs (written out here), against the numpy fill."""
    import struct

    fillvalue = 0x0123456789ABCDEF
    expected = bytearray(length)
    pattern = struct.pack("Q", fillvalue)[:size]
    for i in range(0, length, size):
        expected[i:i + size] = pattern
    del expected[length:]  # h5coro's loop would grow the bytearray past a partial element
    buf = bytearray(length)
    _fill(buf, fillvalue, size)
    assert bytes(buf) == bytes(expected)
    untouched = bytearray(b"\x07" * length)
    _fill(untouched, fillvalue, 0)
    assert untouched == bytearray(b"\x07" * length)


def test_implausibly_large_dataset_is_refused_before_filling(sparse_file, monkeypatch, tmp_path):
    """A corrupt dataspace declaring terabytes must not be filled; the reader calls it corrupt."""
    from icesat2_tutorial import h5datasets, read_granule
    from icesat2_tutorial.exceptions import NotHDF5Error

    path, _ = sparse_file
    monkeypatch.setattr(h5datasets, "MAX_DATASET_BYTES", 10_000 * 4 - 1)  # g/f4 is 40,000 bytes
    with pytest.raises(h5datasets.ImplausibleDatasetError, match="g/f4 declares 40,000 bytes"):
        _ours(path, ["g/f4"], threads=1)
    assert _ours(path, ["g/i1"], threads=1)["g/i1"].size == 10_000  # 10,000 bytes: read
    granule = make_fixture_granules(tmp_path, n=1, seed=4)[0]
    monkeypatch.setattr(h5datasets, "MAX_DATASET_BYTES", 1_000)  # below every beam variable
    with pytest.raises(NotHDF5Error, match=granule.name):
        read_granule(granule, timeout=None)
