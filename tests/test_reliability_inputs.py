"""Bad input, swept: every truncation point and a seeded single-byte corruption fuzz.

``test_bad_inputs.py`` has one example of each kind of bad file; this module tries them by
the thousand, each case in a worker process with a time bound (see ``readpool.py`` for
the oracle: the package's own exception naming the file, or exactly the table h5py reads
from the same bytes). It also reads granules from servers that refuse or stall.

Three files are broken:

* ``fixture-sb0``: a small fixture granule, NASA's layout (chunked, gzip, superblock 0);
* ``fixture-sb2``: the same in superblock 2, as NSIDC's subsetter writes (checksummed
  metadata);
* ``handmade``: a minimal ATL10-shaped file written here with h5py, contiguous and
  uncompressed, so a corrupted data byte silently changes a value (h5py sees it too, and
  the package must return exactly what h5py returns).

The counts and timings are printed (``pytest -s``) and recorded in the README.
"""

from __future__ import annotations

import collections
import os
import socket
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from readpool import Case, Outcome, ReadPool

from icesat2_tutorial import ease2_grid, grid_segments, make_fixture_granules, read_granule
from icesat2_tutorial.exceptions import (
    AccessError,
    GranuleTimeoutError,
    IceSat2TutorialError,
    OrientationError,
    WrongProductError,
)
from icesat2_tutorial.localservers import LocalHTTPServer, LocalS3Server
from icesat2_tutorial.products import ATL10, GPS_EPOCH_PATH, SC_ORIENT_PATH, strong_beams

SEED = 20261125
#: Truncation: every byte of the first TRUNC_DENSE bytes (superblock, root group, first
#: object headers), then every TRUNC_STEP bytes, then every byte of the last TRUNC_TAIL.
TRUNC_DENSE, TRUNC_STEP, TRUNC_TAIL = 4096, 1024, 16
#: Corruption: per file, offsets drawn in metadata (anything that is not dataset storage)
#: and in dataset storage, plus every byte of the superblock.
FUZZ_META, FUZZ_DATA, SUPERBLOCK_BYTES = 1200, 300, 96
#: Wall-clock bound of a whole sweep on the project's 2-core machine (seconds).
SWEEP_BOUND_S = 150.0
#: Bound for one remote read that fails (refused, stalled), seconds.
REMOTE_BOUND_S = 15.0


def _handmade(path: Path, n: int = 300, sc_orient: object = (1,), epoch: float = 1198800018.0,
              nan_times: int = 0) -> Path:
    """A minimal ATL10 granule: the paths and dtypes the reader uses, contiguous storage.

    ``sc_orient``, ``epoch`` and ``nan_times`` (the first so many ``delta_time`` values
    made NaN) give values that no sound granule has.
    """
    rng = np.random.default_rng(SEED)
    with h5py.File(path, "w", libver="earliest") as f:
        f[SC_ORIENT_PATH] = np.array(sc_orient, dtype="i1")
        f[GPS_EPOCH_PATH] = np.array([epoch])
        f[ATL10.signature] = np.array([4.0])
        for beam in strong_beams(1):
            for v in ATL10.variables:
                if v.column == "delta_time":
                    data = 7.0e7 + np.cumsum(rng.uniform(0.01, 0.05, n))
                    data[:nan_times] = np.nan
                elif v.column in ("latitude", "longitude"):
                    data = np.linspace(-70, -65, n) if v.column == "latitude" else np.linspace(-170, -160, n)
                elif v.column == "height_segment_type":
                    data = rng.integers(1, 10, n)
                elif v.column == "beam_fb_quality_flag":
                    data = rng.integers(1, 6, n)
                else:
                    data = rng.uniform(0, 100, n)
                f.create_dataset(ATL10.beam_path(beam, v), data=np.asarray(data).astype(v.dtype))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sweep-sources")
    sb0 = make_fixture_granules(out / "sb0", n=1, seed=7, superblock=0)[0]
    sb2 = make_fixture_granules(out / "sb2", n=1, seed=7, superblock=2, processed=True)[0]
    handmade = _handmade(out / "ATL10-02_20190901000000_00010401_006_01.h5")
    for p in (sb0, sb2, handmade):
        assert len(read_granule(p)) > 0
    return {"fixture-sb0": sb0, "fixture-sb2": sb2, "handmade": handmade}


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    with ReadPool(2, tmp_path_factory.mktemp("sweep-work")) as p:
        yield p


def storage_extents(path: Path) -> list[tuple[int, int]]:
    """(offset, size) of every dataset's raw storage (contiguous data and every chunk)."""
    extents: list[tuple[int, int]] = []

    def visit(_name: str, obj: object) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        if obj.chunks:
            for i in range(obj.id.get_num_chunks()):
                info = obj.id.get_chunk_info(i)
                extents.append((info.byte_offset, info.size))
        elif obj.id.get_offset() is not None:
            extents.append((obj.id.get_offset(), obj.id.get_storage_size()))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sorted(extents)


def truncation_cases(family: str, path: Path) -> list[Case]:
    size = path.stat().st_size
    cuts = set(range(0, min(TRUNC_DENSE, size)))
    cuts |= set(range(TRUNC_DENSE, size, TRUNC_STEP))
    cuts |= set(range(max(0, size - TRUNC_TAIL), size))
    return [Case(family, str(path), cut=n) for n in sorted(cuts)]


def corruption_cases(family: str, path: Path, rng: np.random.Generator) -> list[Case]:
    size = path.stat().st_size
    in_storage = np.zeros(size, dtype=bool)
    for offset, n in storage_extents(path):
        in_storage[offset:offset + n] = True
    meta = np.flatnonzero(~in_storage)
    data = np.flatnonzero(in_storage)
    offsets = set(range(SUPERBLOCK_BYTES))
    offsets |= set(rng.choice(meta, min(FUZZ_META, len(meta)), replace=False).tolist())
    offsets |= set(rng.choice(data, min(FUZZ_DATA, len(data)), replace=False).tolist())
    return [Case(family, str(path), offset=int(o), xor=int(rng.integers(1, 256)))
            for o in sorted(offsets)]


def _report(title: str, outcomes: list[Outcome], seconds: float) -> None:
    kinds = collections.Counter(o.kind() for o in outcomes)
    per_family = collections.Counter(o.case.family for o in outcomes)
    print(f"\n{title}: {len(outcomes)} cases in {seconds:.1f} s "
          f"({', '.join(f'{k} {v}' for k, v in sorted(per_family.items()))})")
    for kind, count in kinds.most_common():
        print(f"  {count:6d}  {kind}")
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"  slowest case {slowest.seconds:.2f} s ({slowest.case.label})")


def _sweep(pool: ReadPool, title: str, cases: list[Case]) -> tuple[list[Outcome], collections.Counter]:
    """Run ``cases``, print what became of them, and check every promise and the time bound."""
    t0 = time.perf_counter()
    outcomes = pool.run(cases)
    elapsed = time.perf_counter() - t0
    _report(title, outcomes, elapsed)
    _check(outcomes, cases)
    assert elapsed < SWEEP_BOUND_S
    return outcomes, collections.Counter(o.kind() for o in outcomes)


def _check(outcomes: list[Outcome], cases: list[Case]) -> None:
    assert len(outcomes) == len(cases)
    failures = [f for o in outcomes if (f := o.failure())]
    assert failures == [], f"{len(failures)} failing cases, first: " + "\n".join(failures[:5])


def test_every_truncation_point(files, pool):
    """Each prefix of each file: the package's error naming the file (or the full table)."""
    cases = [c for family, path in files.items() for c in truncation_cases(family, path)]
    outcomes, kinds = _sweep(pool, "truncation sweep", cases)
    # a prefix is never a whole granule: every case but the full-length ones is refused
    assert all(o.package == "own" for o in outcomes), kinds


def test_single_byte_corruption_fuzz(files, pool):
    """Seeded single-byte corruptions: an error naming the file, or exactly h5py's values."""
    rng = np.random.default_rng(SEED)
    cases = [c for family, path in files.items() for c in corruption_cases(family, path, rng)]
    _, kinds = _sweep(pool, "corruption fuzz", cases)
    # the sweep reached every branch of the oracle
    assert kinds["refused with the package's error"] > 0
    assert kinds["changed values, the same as h5py's"] > 0  # handmade data bytes
    assert kinds["original table"] > 0
    assert kinds["original table (h5py failed or differs)"] > 0  # e.g. checksums h5coro skips


def test_corruption_fuzz_on_the_exact_chunk_path(files, pool):
    """The same promise where S3 reads differ: chunks found in the B-tree by the package's own
    walk (``h5datasets._chunk_extents``) and fetched as exact ranges, through the small
    metadata lines of S3 reads.

    400 bytes of chunk B-tree nodes per file, and a quarter of the other fuzz's offsets.
    """
    rng = np.random.default_rng(SEED + 1)
    cases = []
    for family, path in files.items():
        nodes = btree_node_bytes(path)
        nodes = rng.choice(nodes, min(400, len(nodes)), replace=False).tolist()
        picked = sorted(set(nodes) | set(
            o.offset for o in corruption_cases(family, path, rng)[::4]))
        cases += [Case(family, str(path), offset=int(o), xor=int(rng.integers(1, 256)),
                       exact_chunks=True) for o in picked]
    _, kinds = _sweep(pool, "corruption fuzz, exact chunks", cases)
    assert kinds["refused with the package's error"] > 0
    assert kinds["original table"] > 0


def btree_node_bytes(path: Path) -> list[int]:
    """Offsets of the bytes of every chunk B-tree node (v1 'TREE', type 1), and a few after."""
    data = path.read_bytes()
    out: list[int] = []
    at = data.find(b"TREE")
    while at >= 0:
        if data[at + 4] == 1:  # raw data chunk node; its header and its used entries
            used = int.from_bytes(data[at + 6: at + 8], "little")
            out += range(at, at + 24 + used * 40 + 32)
        at = data.find(b"TREE", at + 4)
    return out


def test_pool_detects_hangs_and_crashes(tmp_path, monkeypatch):
    """The sweep's own harness: a worker that hangs or dies is a failing case, not a hang."""
    import readpool

    fifo = tmp_path / "ATL10-02_fifo.h5"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: never
    monkeypatch.setattr(readpool, "PHASE_BOUND_S", 3.0)
    t0 = time.perf_counter()
    with ReadPool(1, tmp_path / "work") as p:
        hung, died = p.run([Case("x", str(fifo), cut=0), Case("x", str(tmp_path / "none.h5"), cut=0)])
    assert time.perf_counter() - t0 < 60
    assert hung.package == "hung" and hung.failure() is not None
    assert died.package == "died" and died.failure() is not None  # its worker raised and exited
    assert p.replaced == 2


# -- values no sound granule has ----------------------------------------------------------


def test_empty_orientation_is_the_packages_error(tmp_path):
    path = _handmade(tmp_path / "ATL10-02_empty_orient.h5", sc_orient=np.zeros(0))
    with pytest.raises(WrongProductError, match="no orbit_info/sc_orient") as info:
        read_granule(path)
    assert str(path) in str(info.value)


def test_unknown_orientation_is_an_orientation_error(tmp_path):
    path = _handmade(tmp_path / "ATL10-02_orient7.h5", sc_orient=(7,))
    with pytest.raises(OrientationError, match="sc_orient=7"):
        read_granule(path)


def test_nan_times_are_nat_not_a_wrapped_date(tmp_path):
    good = read_granule(_handmade(tmp_path / "ATL10-02_good.h5"))
    some = read_granule(_handmade(tmp_path / "ATL10-02_nan_times.h5", nan_times=5))
    per_beam = some.groupby("beam", observed=True)["time"]
    assert (per_beam.apply(lambda t: int(t.isna().sum())) == 5).all()  # was 1725-09-22
    known = some["time"].notna()
    assert (some.loc[known, "time"] == good.loc[known.to_numpy(), "time"]).all()
    nan_epoch = read_granule(_handmade(tmp_path / "ATL10-02_nan_epoch.h5", epoch=np.nan))
    assert len(nan_epoch) == len(good) and nan_epoch["time"].isna().all()  # was a ValueError
    # gridding counts such segments as invalid instead of putting them in 1725
    ds = grid_segments(some, ease2_grid("south", 25), "1D")
    assert ds.attrs["segments_invalid"] == 15


# -- remote sources that refuse or stall ----------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _expect_own_error(source: str, exc_type: type, bound_s: float, **kwargs) -> IceSat2TutorialError:
    t0 = time.perf_counter()
    with pytest.raises(exc_type) as info:
        read_granule(source, **kwargs)
    assert time.perf_counter() - t0 < bound_s
    assert source in str(info.value)
    return info.value


def test_https_connection_refused(files):
    url = f"http://127.0.0.1:{_closed_port()}/{files['fixture-sb0'].name}"
    err = _expect_own_error(url, AccessError, REMOTE_BOUND_S, token="t", timeout=60)
    assert "not reachable" in err.problem and err.retryable


def test_https_server_that_stalls(files):
    with LocalHTTPServer(files["fixture-sb0"].parent, latency_s=60.0) as web:
        err = _expect_own_error(web.url_for(files["fixture-sb0"].name), GranuleTimeoutError,
                                REMOTE_BOUND_S, timeout=2)
    assert "longer than 2 s" in err.problem


def test_s3_server_that_stalls(files, monkeypatch):
    with LocalS3Server() as s3:
        url = s3.upload(files["fixture-sb0"], key="stall/" + files["fixture-sb0"].name)
        for k, v in s3.environ().items():
            monkeypatch.setenv(k, v)
        s3.latency_s = 60.0
        err = _expect_own_error(url, GranuleTimeoutError, REMOTE_BOUND_S,
                                credentials=s3.credentials, timeout=2)
        s3.latency_s = 0.0
    assert "longer than 2 s" in err.problem


def test_truncated_granules_over_https(files):
    """Remote files get no size check up front; every cut must still be refused."""
    src = files["fixture-sb0"]
    data = src.read_bytes()
    served = src.parent / "cut"
    served.mkdir(exist_ok=True)
    cuts = [8, 100, 600, 2048, 5000] + list(range(16_384, len(data) - 64, 65_536))
    with LocalHTTPServer(served, token="tok") as web:
        for n in cuts:
            (served / src.name).write_bytes(data[:n])
            _expect_own_error(web.url_for(src.name), IceSat2TutorialError, REMOTE_BOUND_S,
                              token="tok", timeout=30)
    assert len(cuts) >= 20
    os.remove(served / src.name)
