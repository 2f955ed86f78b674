"""Reading the strong beams of an ATL10 (or ATL07) granule into a table, with h5coro.

h5coro reads only the byte ranges of the datasets it is asked for, many at once, which is
what makes reading straight from S3 fast. It has three traps that this module handles for
the reader of the tutorial:

* it does not apply fill values (and cannot read the ``_FillValue`` attributes of NSIDC
  subsetter files), so the fill rules come from :mod:`icesat2_tutorial.products`;
* a dataset that is missing comes back as ``None`` with a warning, not an error, so a beam
  without its segment group has to be recognised and skipped;
* errors surface as low-level exceptions (``struct.error``, ``FatalError``, ``TypeError``);
  they are turned into the package's own, naming the granule.

Two ``readDatasets`` calls are made per granule: a tiny one for the spacecraft orientation,
the time epoch and the product's signature dataset, then one call for every variable of the
strong beams together. The first call is needed because the orientation decides which beams
are strong; reading all six beams in one call instead would fetch about a third more data.
For a remote granule both calls run at once, the second on the beams that were strong in the
last granule read (the spacecraft turns about twice a year; a wrong guess is read again).
Both calls go through :func:`icesat2_tutorial.h5datasets.read_datasets`: ``readDatasets``
without h5coro's per-element fill loop (a full granule reads about 2.5x faster), and from S3
with each dataset's chunks fetched as exact byte ranges.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from h5coro import h5coro

from .access import Access, Location, granule_name, locate
from .drivers import drivers_for_reading
from .exceptions import (
    AccessError,
    GranuleError,
    GranuleNotFoundError,
    GranuleTimeoutError,
    NotHDF5Error,
    OrientationError,
    WrongProductError,
)
from .h5datasets import CachedSmallReads, read_datasets
from .products import (
    BEAMS,
    FLOAT32_FILL,
    GPS_EPOCH_PATH,
    PRODUCTS,
    SC_ORIENT_NAMES,
    SC_ORIENT_PATH,
    Product,
    get_product,
    strong_beams,
)
from .times import delta_time_to_utc

# h5coro logs a warning for every missing dataset and an error for every failed S3 read;
# this package reports those problems itself (skipped beams, GranuleError), so h5coro's own
# messages would only be noise on a learner's screen. A user who configured the level keeps it.
if logging.getLogger("h5coro").level == logging.NOTSET:
    logging.getLogger("h5coro").setLevel(logging.CRITICAL)

#: Default limit for reading one granule, in seconds: long enough for a full granule over a
#: slow HTTPS link, short enough that a stalled read never hangs a notebook.
DEFAULT_TIMEOUT_S = 300.0

#: Bytes h5coro fetches per remote request when it reads metadata (its "cache line"); the
#: chunks themselves are fetched as exact byte ranges (``read_datasets(exact_chunks=True)``).
#: h5coro's default, 4 MiB, fetches most of a granule when the wanted datasets lie between
#: unwanted ones, as in a real ATL10 file (about 100 variables per beam): for a 78 MB granule
#: 1 MiB lines fetched 49 MB; 128 KiB lines and exact chunks 17 MB (64 KiB: 13 MB, but a
#: beam's headers then straddle two lines more often: one more round trip). The same for
#: HTTPS, now that a range there costs one round trip, not two
#: (:class:`~icesat2_tutorial.drivers.RedirectOnceHTTPDriver`): outside AWS the bytes are
#: what is slow. Measured in benchmarks/bench_cloud_reads.py.
CACHE_LINE_BYTES = {"s3": 1 << 17, "https": 1 << 17}

#: Kinds of location whose chunks are fetched as exact byte ranges: the remote ones. Local
#: files read whole 4 MiB lines faster.
EXACT_CHUNKS = {"s3", "https"}

OnTransition = Literal["raise", "empty"]


def _columns(product: Product) -> list[str]:
    """Column order of the table: time first, delta_time replaced by it, beam last."""
    return ["time"] + [c for c in product.columns if c != "delta_time"] + ["beam"]


def empty_segments(product: str | Product = "ATL10") -> pd.DataFrame:
    """An empty segment table with the right columns and dtypes."""
    prod = get_product(product) if isinstance(product, str) else product
    data: dict[str, Any] = {"time": np.array([], dtype="datetime64[ns]")}
    for v in prod.variables:
        if v.column != "delta_time":
            data[v.column] = np.array([], dtype=v.dtype)
    data["beam"] = pd.Categorical([], categories=BEAMS)
    return pd.DataFrame(data)


def read_granule(
    source: Any,
    product: str = "ATL10",
    *,
    access: Access = "auto",
    credentials: dict[str, str] | None = None,
    token: str | None = None,
    on_transition: OnTransition = "raise",
    timeout: float | None = DEFAULT_TIMEOUT_S,
) -> pd.DataFrame:
    """Read the strong-beam segments of one ATL10 (or ATL07) granule.

    Parameters
    ----------
    source:
        A local path, an ``s3://bucket/key`` URL (read in place with h5coro's S3 driver),
        an ``https://`` URL (h5coro's HTTP driver with an Earthdata Login token), or an
        ``earthaccess`` search result (S3 in us-west-2, HTTPS elsewhere; see
        :func:`icesat2_tutorial.access.locate`).
    product:
        ``"ATL10"`` (sea ice freeboard) or ``"ATL07"`` (sea ice height).
    access, credentials, token:
        How to reach a remote granule; see :func:`icesat2_tutorial.access.locate`.
    on_transition:
        What to do when the spacecraft was turning (``sc_orient`` = 2) and no beam is known
        to be strong: ``"raise"`` an :class:`~icesat2_tutorial.exceptions.OrientationError`,
        or return an ``"empty"`` table with a warning.
    timeout:
        Give up after this many seconds (``None``: wait as long as it takes).

    Returns
    -------
    pandas.DataFrame
        One row per strong-beam segment whose value and length are not fill, with columns

        - ``time`` (datetime64[ns]): UTC, leap seconds applied;
        - ``latitude``, ``longitude`` (float64): degrees north and east (-180..180);
        - ``seg_dist_x`` (float64): along-track distance, m;
        - ``height_segment_length_seg`` (float32): segment length, m;
        - ``beam_fb_height`` (float32): freeboard, m (ATL10), or ``height_segment_height``
          (float32): height above the local sea surface, m (ATL07);
        - ``height_segment_type`` (int8): surface type (1 ice, 2-9 leads);
        - ``beam_fb_quality_flag`` (int8): ATL10 only (1 best .. 5 poor);
        - ``beam`` (category): ``gt1l`` ... ``gt3r``.

        ``DataFrame.attrs`` records the granule, product, ``sc_orient``, the strong beams,
        the beams that had no segment group, and per beam how many segments were read and
        how many were dropped as fill.

    Raises
    ------
    GranuleNotFoundError
        The file, S3 object or URL does not exist.
    NotHDF5Error
        Not an HDF5 file, or truncated/corrupt beyond parsing.
    WrongProductError
        An HDF5 file, but not a granule of ``product`` (e.g. ATL07 read as ATL10, or ATL06).
    OrientationError
        ``sc_orient`` is 2 (transition) and ``on_transition="raise"``.
    AccessError
        Credentials missing or refused, or the network failed.
    GranuleTimeoutError
        The read took longer than ``timeout``.

    Examples
    --------
    >>> import icesat2_tutorial as it
    >>> paths = it.make_fixture_granules("fixtures", n=1)       # doctest: +SKIP
    >>> segments = it.read_granule(paths[0])                   # doctest: +SKIP
    >>> sorted(segments["beam"].unique())                      # doctest: +SKIP
    ['gt1l', 'gt2l', 'gt3l']
    """
    prod = get_product(product)
    if on_transition not in ("raise", "empty"):
        raise ValueError(f"on_transition must be 'raise' or 'empty', not {on_transition!r}")
    if timeout is not None and not timeout > 0:  # 0 or -1 used to time out every read
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    name = granule_name(source)
    location = locate(source, access=access, credentials=credentials, token=token)
    if timeout is None:
        return _read(location, prod, on_transition)
    return _with_timeout(lambda: _read(location, prod, on_transition), timeout, name)


def _with_timeout(func: Any, timeout: float, name: str) -> pd.DataFrame:
    """Run ``func`` in a daemon thread; raise GranuleTimeoutError if it outlives ``timeout``.

    A daemon thread, so that a read stuck in the network cannot keep the interpreter alive.
    """
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = func()
        except BaseException as exc:  # handed to the caller's thread below
            result["error"] = exc

    thread = threading.Thread(target=run, name=f"read {name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise GranuleTimeoutError(name, f"reading took longer than {timeout:g} s; gave up")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _open(location: Location) -> h5coro.H5Coro:
    """Open the granule with h5coro, turning low-level failures into GranuleErrors."""
    try:
        line = CACHE_LINE_BYTES.get(location.kind)
        kw = {"cacheLineSize": line} if line else {}
        return CachedSmallReads(location.resource, location.driver, credentials=location.credentials,
                             **kw)
    except GranuleError:
        raise
    except FileNotFoundError:
        raise GranuleNotFoundError(location.name, "no such file") from None
    except IsADirectoryError:
        raise NotHDF5Error(location.name, "is a directory, not an HDF5 granule") from None
    except Exception as exc:
        raise _diagnose(location, exc) from None


def _diagnose(location: Location, exc: BaseException) -> GranuleError:
    """Explain a failure to open or read a granule in words a user can act on."""
    text = str(exc)
    if "unsupported superblock version" in text:
        return NotHDF5Error(
            location.name,
            f"HDF5 {text.strip()} (files written with libver='latest' cannot be read by "
            "h5coro; NASA's granules use superblock version 0 or 2)",
        )
    if location.kind == "s3":
        return _diagnose_s3(location, exc)
    if location.kind == "https":
        return _diagnose_https(location, exc)
    if "invalid file signature" in text:
        return NotHDF5Error(location.name, "not an HDF5 file (no HDF5 signature)")
    return NotHDF5Error(
        location.name,
        f"cannot be parsed as HDF5; the file may be truncated or corrupt "
        f"({type(exc).__name__}: {text[:200]})",
    )


def _is_failed_read(exc: BaseException) -> bool:
    """Whether h5coro failed because a byte-range read returned nothing (network, access).

    Its S3 driver returns ``None`` for any failed read, which surfaces as a ``TypeError``
    about ``NoneType``; its HTTP driver raises ``FatalError("Failed to read range ...")``.
    A corrupt file fails differently: the bytes arrive and cannot be parsed.
    """
    text = str(exc)
    return (isinstance(exc, TypeError) and "NoneType" in text) or "Failed to read range" in text


def _diagnose_s3(location: Location, exc: BaseException) -> GranuleError:
    """h5coro's S3 driver swallows boto3's error; ask S3 once more what is wrong."""
    import boto3
    import botocore.exceptions

    bucket, _, key = location.resource.partition("/")
    creds = location.credentials or {}
    kwargs = {
        "aws_access_key_id": creds.get("accessKeyId", creds.get("aws_access_key_id")),
        "aws_secret_access_key": creds.get("secretAccessKey", creds.get("aws_secret_access_key")),
        "aws_session_token": creds.get("sessionToken", creds.get("aws_session_token")),
    }
    try:
        client = boto3.session.Session(**kwargs).client(
            "s3",
            config=botocore.config.Config(
                connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}
            ),
        )
        client.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.response.get("Error", {}).get("Code", "")
        if status == 404 or code in ("404", "NoSuchKey", "NoSuchBucket"):
            return GranuleNotFoundError(location.name, "no such S3 object")
        if status == 403:
            return AccessError(
                location.name,
                "S3 refused access (403): the credentials are missing or expired, or this "
                "machine is not in us-west-2 where NASA allows direct S3 reads",
            )
        return AccessError(location.name, f"S3 error {code or status}",
                           retryable=status is not None and int(status) >= 500)
    except Exception as err:  # no network, no endpoint, no credentials at all
        return AccessError(location.name, f"S3 is not reachable ({type(err).__name__})",
                           retryable=True)
    if _is_failed_read(exc):
        # the object is there now, so the read that failed met a passing network problem
        return AccessError(location.name, "reading from S3 failed although the object exists "
                           "(a network error?)", retryable=True)
    return NotHDF5Error(
        location.name,
        f"the S3 object exists but cannot be parsed as HDF5 ({type(exc).__name__})",
    )


def _diagnose_https(location: Location, exc: BaseException) -> GranuleError:
    """h5coro's HTTP driver says only 'failed to read'; ask the server for the status."""
    import requests

    headers = {"Range": "bytes=0-7"}
    if isinstance(location.credentials, str):
        headers["Authorization"] = f"Bearer {location.credentials}"
    try:
        r = requests.get(location.resource, headers=headers, timeout=10, allow_redirects=True)
    except requests.RequestException as err:
        return AccessError(location.name, f"the server is not reachable ({type(err).__name__})",
                           retryable=True)
    if r.status_code == 404:
        return GranuleNotFoundError(location.name, "no such URL (HTTP 404)")
    if r.status_code in (401, 403):
        return AccessError(
            location.name,
            f"the server refused access (HTTP {r.status_code}): log in with "
            "earthaccess.login() or pass an Earthdata Login token",
        )
    if r.status_code >= 400:
        return AccessError(location.name, f"HTTP {r.status_code}", retryable=r.status_code >= 500)
    if r.headers.get("Content-Type", "").startswith("text/html"):
        return AccessError(
            location.name,
            "the server sent a web page (a login page?) instead of the granule: log in "
            "with earthaccess.login() or pass an Earthdata Login token",
        )
    if not r.content.startswith(b"\x89HDF\r\n\x1a\n"):
        return NotHDF5Error(location.name, "not an HDF5 file (no HDF5 signature)")
    if _is_failed_read(exc):
        return AccessError(location.name, "reading over HTTPS failed although the server "
                           "answers now (a network error?)", retryable=True)
    return NotHDF5Error(
        location.name, f"cannot be parsed as HDF5; truncated or corrupt ({type(exc).__name__})"
    )


def _read_many(h5: h5coro.H5Coro, paths: list[str], location: Location,
               ahead: _Ahead | None = None) -> dict[str, Any]:
    """One ``readDatasets``-like call (all datasets at once); missing ones map to ``None``.

    With ``ahead``: the result of that call, started earlier, instead of a new one.
    """
    try:
        if ahead is not None:
            return ahead.result()
        return _read_datasets(h5, paths, location)
    except GranuleError:
        raise
    except Exception as exc:
        raise _diagnose(location, exc) from None


def _read_datasets(h5: h5coro.H5Coro, paths: list[str], location: Location) -> dict[str, Any]:
    # local: one dataset after another (no latency to hide; the pool runs granules side by
    # side); remote: a thread per dataset, so the requests overlap
    return read_datasets(h5, paths, threads=1 if location.kind == "local" else None,
                         exact_chunks=location.kind in EXACT_CHUNKS)


class _Ahead:
    """A ``read_datasets`` call run in a daemon thread, whose result may never be asked for.

    A daemon thread, not a pool's: a read left behind (a wrong guess, or a granule refused
    meanwhile) must not delay the caller's error or the interpreter's exit; it ends by
    itself, at the latest when the granule is closed under it (its error is dropped).
    """

    def __init__(self, h5: h5coro.H5Coro, paths: list[str], location: Location) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(h5, paths, location), daemon=True,
                         name=f"ahead {location.name}").start()

    def _run(self, h5: h5coro.H5Coro, paths: list[str], location: Location) -> None:
        try:
            self._value = _read_datasets(h5, paths, location)
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def hdf5_end_of_file_address(header: bytes) -> int | None:
    """The end-of-file address an HDF5 superblock records (bytes), or ``None`` if unknown.

    A file shorter than this address was cut off (an interrupted download or copy). Knowing
    it up front matters: h5coro would return a truncated dataset as missing, and a beam
    that looks missing would be skipped instead of reported.
    """
    if not header.startswith(HDF5_SIGNATURE) or len(header) < 16:
        return None
    version = header[8]
    if version in (0, 1):
        size_of_offsets = header[13]
        # v0: 24 bytes of fixed fields, v1 has 4 more; then base, free-space, EOF addresses
        start = 24 if version == 0 else 28
        pos = start + 2 * size_of_offsets
    elif version in (2, 3):
        size_of_offsets = header[9]
        pos = 12 + 2 * size_of_offsets  # after base address and superblock extension address
    else:
        return None
    if size_of_offsets not in (2, 4, 8) or len(header) < pos + size_of_offsets:
        return None
    return int.from_bytes(header[pos:pos + size_of_offsets], "little")


def _check_not_truncated(location: Location) -> None:
    """For local files: compare the file size with the superblock's end-of-file address."""
    if location.kind != "local":
        return
    import os

    try:
        with open(location.resource, "rb") as f:
            header = f.read(96)
        size = os.path.getsize(location.resource)
    except OSError as exc:
        raise NotHDF5Error(location.name, f"cannot be opened ({exc.strerror})") from None
    if not header.startswith(HDF5_SIGNATURE):
        raise NotHDF5Error(
            location.name, "empty file" if size == 0 else "not an HDF5 file (no HDF5 signature)"
        )
    eof = hdf5_end_of_file_address(header)
    if eof is not None and size < eof:
        raise NotHDF5Error(
            location.name,
            f"truncated: the file has {size} bytes but its HDF5 superblock says {eof}",
        )


def _read(location: Location, prod: Product, on_transition: OnTransition) -> pd.DataFrame:
    _check_not_truncated(location)
    h5 = _open(drivers_for_reading(location))
    try:
        return _read_open(h5, location, prod, on_transition)
    finally:
        h5.close()


#: The orientation of the last granule this process read, per product: the guess for the next.
_last_orientation: dict[str, int] = {}


def _read_open(
    h5: h5coro.H5Coro, location: Location, prod: Product, on_transition: OnTransition
) -> pd.DataFrame:
    # The orientation decides which beams are strong, so it is read first; but the
    # spacecraft turns only about twice a year, so for a remote granule the beams that were
    # strong in the last granule are read meanwhile, hiding the orientation's round trips.
    # A wrong guess (the first granule after a turn) is discarded and the right beams read.
    guess = _last_orientation.get(prod.short_name) if location.kind != "local" else None
    ahead = None
    if guess is not None:
        ahead = _Ahead(h5, _beam_paths(prod, strong_beams(guess)), location)
    return _read_strong_beams(h5, location, prod, on_transition, guess, ahead)


def _beam_paths(prod: Product, beams: tuple[str, ...] | list[str]) -> list[str]:
    return [prod.beam_path(b, v) for b in beams for v in prod.variables]


def _read_strong_beams(
    h5: h5coro.H5Coro, location: Location, prod: Product, on_transition: OnTransition,
    guess: int | None, ahead: _Ahead | None,
) -> pd.DataFrame:
    name = location.name
    first = _read_many(h5, [SC_ORIENT_PATH, GPS_EPOCH_PATH, prod.signature], location)
    _check_product(h5, location, prod, first)
    sc_orient = int(np.asarray(first[SC_ORIENT_PATH]).ravel()[0])
    gps_epoch = float(np.asarray(first[GPS_EPOCH_PATH]).ravel()[0])

    attrs: dict[str, Any] = {
        "granule": name,
        "product": prod.short_name,
        "sc_orient": sc_orient,
        "orientation": SC_ORIENT_NAMES.get(sc_orient, "unknown"),
    }
    try:
        beams = strong_beams(sc_orient)
    except KeyError:
        problem = (
            f"sc_orient={sc_orient} ({attrs['orientation']}): the spacecraft was turning, "
            "so no beam is known to be strong"
        )
        if on_transition == "raise":
            raise OrientationError(name, problem) from None
        warnings.warn(f"{name}: {problem}; returning no segments", stacklevel=4)
        table = empty_segments(prod)
        table.attrs.update(attrs, strong_beams=[], missing_beams=[], beam_counts={})
        return table

    _last_orientation[prod.short_name] = sc_orient
    values = _read_many(h5, _beam_paths(prod, beams), location,
                        ahead=ahead if guess == sc_orient else None)

    tables, missing, counts = [], [], {}
    for beam in beams:
        arrays = {v.column: values[prod.beam_path(beam, v)] for v in prod.variables}
        absent = [c for c, a in arrays.items() if a is None]
        if len(absent) == len(arrays):
            if _group_exists(h5, beam, prod.segment_group, location):
                raise NotHDF5Error(
                    name, f"{beam}/{prod.segment_group} exists but none of its datasets "
                    "could be read; corrupt granule",
                )
            missing.append(beam)  # real subsets lack the whole group in some beams
            continue
        if absent:
            raise WrongProductError(
                name,
                f"{beam}/{prod.segment_group} lacks {', '.join(absent)}: not the "
                f"{prod.short_name} v{prod.version} layout",
            )
        columns, n_read = _beam_columns(name, prod, beam, arrays, gps_epoch)
        n_kept = len(columns["time"])
        counts[beam] = {"read": n_read, "kept": n_kept, "fill": n_read - n_kept}
        tables.append(columns)

    out = _join_beams(tables, prod)
    out.attrs.update(attrs, strong_beams=list(beams), missing_beams=missing, beam_counts=counts)
    return out


def _group_exists(h5: h5coro.H5Coro, beam: str, group: str, location: Location) -> bool:
    """Whether ``beam/group`` exists (h5coro can list groups, though not attributes, of v2 files)."""
    # h5coro lists an absent group as empty, and leaves out of a listing any subgroup it
    # cannot read; so a group missing from its beam's listing is listed itself: an
    # exception there means it is present but unreadable. (Found by the corruption fuzz in
    # tests/test_reliability_inputs.py: a corrupt heap or B-tree made a whole beam look
    # "missing", and its segments vanished without an error.)
    try:
        _, _, groups = h5.list(beam, w_attr=False)
        if group in groups:
            return True
        h5.list(f"{beam}/{group}", w_attr=False)
    except Exception as exc:
        raise NotHDF5Error(location.name, f"{beam}/{group} cannot be read ({type(exc).__name__}: "
                           f"{str(exc)[:100]}); corrupt granule") from None
    return False


def _check_product(
    h5: h5coro.H5Coro, location: Location, prod: Product, first: dict[str, Any]
) -> None:
    """Refuse files that are not granules of ``prod``, saying what they look like instead."""
    if all(first[p] is not None for p in (prod.signature, SC_ORIENT_PATH, GPS_EPOCH_PATH)):
        return
    name = location.name
    # only on failure: look for the other products' signatures to name what the file is
    others = [p for p in PRODUCTS.values() if p is not prod]
    found = _read_many(h5, [p.signature for p in others], location)
    for other in others:
        if found[other.signature] is not None:
            raise WrongProductError(
                name, f"is an {other.short_name} granule, not {prod.short_name} "
                f"(read it with product={other.short_name!r})",
            )
    if first[SC_ORIENT_PATH] is None:
        raise WrongProductError(
            name, f"not an ICESat-2 {prod.short_name} granule: it has no {SC_ORIENT_PATH}"
        )
    lacking = prod.signature if first[prod.signature] is None else GPS_EPOCH_PATH
    raise WrongProductError(
        name, f"not an {prod.short_name} granule (it lacks {lacking}); ATL03 or ATL06?"
    )


def _beam_columns(
    name: str, prod: Product, beam: str, arrays: dict[str, Any], gps_epoch: float
) -> tuple[dict[str, np.ndarray], int]:
    """One beam's arrays -> columns without fill segments; also returns the count read.

    Columns, not a DataFrame: the beams' columns are joined once, in :func:`_join_beams`
    (a DataFrame per beam and ``pd.concat`` would copy every column twice).
    """
    lengths = {c: len(a) for c, a in arrays.items()}
    n = lengths["delta_time"]
    if any(v != n for v in lengths.values()):
        raise NotHDF5Error(name, f"{beam}: datasets differ in length {lengths}; corrupt granule")

    cols = {v.column: np.asarray(arrays[v.column]).astype(v.dtype, copy=False)
            for v in prod.variables}
    keep = np.ones(n, dtype=bool)
    for v in prod.variables:
        if v.drop_fill:
            a = cols[v.column]
            # compare in float32: float32 max cast to float64 is not the decimal 3.4028235e38
            keep &= np.isfinite(a) & (a < FLOAT32_FILL)
    data: dict[str, np.ndarray] = {"time": delta_time_to_utc(cols["delta_time"][keep], gps_epoch)}
    for v in prod.variables:
        if v.column != "delta_time":
            data[v.column] = cols[v.column][keep]
    data["beam"] = np.full(int(keep.sum()), BEAMS.index(beam), dtype=np.int8)  # category codes
    return data, n


def _beam_table(
    name: str, prod: Product, beam: str, arrays: dict[str, Any], gps_epoch: float
) -> tuple[pd.DataFrame, int]:
    """One beam's arrays -> table without fill segments; also returns the count read."""
    columns, n = _beam_columns(name, prod, beam, arrays, gps_epoch)
    return _join_beams([columns], prod), n


def _join_beams(parts: list[dict[str, np.ndarray]], prod: Product) -> pd.DataFrame:
    """The beams' columns, one after the other, as the segment table (one copy per column)."""
    if not parts:
        return empty_segments(prod)
    cols: dict[str, Any] = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    cols["beam"] = pd.Categorical.from_codes(cols["beam"], categories=BEAMS)
    return pd.DataFrame(cols, copy=False)


def summarize_beams(table: pd.DataFrame) -> pd.DataFrame:
    """Per-beam summary of a table from :func:`read_granule` (segments, mean value, times).

    Parameters
    ----------
    table:
        Output of :func:`read_granule` (one granule or several concatenated).

    Returns
    -------
    pandas.DataFrame
        Indexed by beam: ``segments``, ``mean`` and ``std`` of the measured value (m),
        ``mean_length`` (m), ``first_time`` and ``last_time`` (UTC).
    """
    value = "beam_fb_height" if "beam_fb_height" in table else "height_segment_height"
    g = table.groupby("beam", observed=True)
    return pd.DataFrame({
        "segments": g.size(),
        f"mean_{value}": g[value].mean().astype("float64").round(3),
        "mean_segment_length": g["height_segment_length_seg"].mean().astype("float64").round(1),
        "first_time": g["time"].min(),
        "last_time": g["time"].max(),
    })

