"""Bad input gets the package's own exception, naming the file and the problem, within seconds."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest

from icesat2_tutorial import read_granule
from icesat2_tutorial.exceptions import (
    GranuleError,
    GranuleNotFoundError,
    IceSat2TutorialError,
    NotHDF5Error,
    WrongProductError,
)

BOUND_S = 10.0  # "within seconds": generous for a loaded CI machine, far below a hang


def _granule_common(f: h5py.File) -> None:
    f["orbit_info/sc_orient"] = np.array([0], dtype="i1")
    f["ancillary_data/atlas_sdp_gps_epoch"] = np.array([1198800018.0])


def _atl06_like(path) -> None:
    with h5py.File(path, "w", libver="earliest") as f:
        _granule_common(f)
        f["ancillary_data/land_ice/min_fit_ph"] = np.array([10], dtype="i4")
        f["gt1l/land_ice_segments/h_li"] = np.zeros(10, dtype="f4")


def _atl03_like(path) -> None:
    with h5py.File(path, "w", libver="earliest") as f:
        _granule_common(f)
        f["gt1l/heights/h_ph"] = np.zeros(10, dtype="f4")


def _plain_hdf5(path) -> None:
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)


def _expect(exc_type, path, match, **kwargs):
    t0 = time.perf_counter()
    with pytest.raises(exc_type, match=match) as info:
        read_granule(path, **kwargs)
    elapsed = time.perf_counter() - t0
    assert elapsed < BOUND_S
    assert isinstance(info.value, IceSat2TutorialError)
    assert str(path) in str(info.value)  # the message names the file
    return info.value


def test_missing_file(tmp_path):
    err = _expect(GranuleNotFoundError, tmp_path / "ATL10-02_nothere.h5", "no such file")
    assert isinstance(err, FileNotFoundError)  # also catchable as the builtin


def test_directory(tmp_path):
    _expect(NotHDF5Error, tmp_path, "directory")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.h5"
    p.write_bytes(b"")
    _expect(NotHDF5Error, p, "empty file")


def test_random_bytes(tmp_path):
    p = tmp_path / "random.h5"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _expect(NotHDF5Error, p, "not an HDF5 file")


def test_text_file(tmp_path):
    p = tmp_path / "notes.h5"
    p.write_text("this is not a granule\n" * 100)
    _expect(NotHDF5Error, p, "not an HDF5 file")


def test_plain_hdf5_is_not_a_granule(tmp_path):
    p = tmp_path / "plain.h5"
    _plain_hdf5(p)
    _expect(WrongProductError, p, "no orbit_info/sc_orient")


@pytest.mark.parametrize("maker", [_atl06_like, _atl03_like], ids=["ATL06", "ATL03"])
def test_other_icesat2_products(tmp_path, maker):
    p = tmp_path / "granule.h5"
    maker(p)
    _expect(WrongProductError, p, "not an ATL10 granule")


def test_superblock_3_is_explained(tmp_path):
    p = tmp_path / "latest.h5"
    with h5py.File(p, "w", libver="latest") as f:
        _granule_common(f)
    assert p.read_bytes()[8] == 3
    _expect(NotHDF5Error, p, "superblock version: 3")


def test_truncated_hdf5(tmp_path):
    p = tmp_path / "full.h5"
    with h5py.File(p, "w", libver="earliest") as f:
        _granule_common(f)
        f.create_dataset("gt1l/freeboard_segment/latitude", data=np.linspace(-70, -60, 30000),
                         chunks=(10000,), compression="gzip")
    data = p.read_bytes()
    cut = tmp_path / "cut.h5"
    for n in (9, 200, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:n])
        _expect(NotHDF5Error, cut, "truncated")


def test_bad_parameters():
    with pytest.raises(ValueError, match="unknown product 'ATL99'"):
        read_granule("whatever.h5", product="ATL99")
    with pytest.raises(ValueError, match="on_transition"):
        read_granule("whatever.h5", on_transition="ignore")
    with pytest.raises(ValueError, match="access must be"):
        read_granule("whatever.h5", access="ftp")
    with pytest.raises(TypeError, match="cannot read a granule from a int"):
        read_granule(42)


def test_errors_share_one_base_class():
    assert issubclass(NotHDF5Error, GranuleError)
    assert issubclass(GranuleError, IceSat2TutorialError)
