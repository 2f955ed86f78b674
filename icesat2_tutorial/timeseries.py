"""From one granule to years of them: a streaming map-reduce over granules.

Each granule is read, filtered and reduced to :class:`~icesat2_tutorial.bucket.PartialSums`
in a task of its own (the *map*); only those sums, a few thousand cells per granule, travel
back and are merged (the *reduce*). Memory therefore grows with the grid cells the data
touch, not with the number of segments or granules: the seed notebook needed a machine with
twice the data's size in memory; this does not.

The same code runs

* serially, in this process (``client=None``, the default);
* on a local thread or process pool (``scheduler="threads"`` / ``"processes"``);
* on a Dask cluster (``client=distributed.Client(...)``): a ``LocalCluster`` on a laptop, a
  ``coiled.Cluster`` in AWS us-west-2 next to the data.

Granules are submitted a few at a time (a window of about twice the number of workers), so
neither the task graph nor the results waiting to be merged grow with the number of
granules. Results are merged in granule order, in batches of fixed size, so the result is
the same, bit for bit, whichever way the tasks ran.

Nothing is lost silently: a granule that fails is retried when the failure can pass (a
network error), given up after ``timeout`` seconds when it hangs, and otherwise recorded
with its reason in ``Dataset.attrs["failed_granules"]``. The tasks carry no credentials:
each worker reads them from its own environment (see :func:`icesat2_tutorial.access.locate`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import xarray as xr

from .access import granule_name
from .bucket import PartialSums, _combine
from .exceptions import GranuleError, IceSat2TutorialError
from .filters import quality_filter
from .gridding import segments_to_sums, to_dataset
from .grids import Grid, require_grid
from .periods import Period, check_frequency, parse_period
from .products import get_product
from .reader import DEFAULT_TIMEOUT_S, read_granule

Scheduler = Literal["serial", "threads", "processes"]

#: Results merged together at a time; fixed so that the merge order never depends on timing.
MERGE_BATCH = 32


@dataclass(frozen=True)
class GranuleJob:
    """What one task needs to grid one granule. Pickles small; holds no credentials."""

    index: int
    source: Any
    name: str
    grid: Grid
    period: Period
    product: str
    filters: dict[str, Any] | None
    access: str
    timeout: float | None
    retries: int
    retry_wait_s: float


@dataclass
class GranuleResult:
    """What a task sends back: the sums, or why there are none."""

    index: int
    name: str
    sums: PartialSums | None = None
    error: str | None = None
    attempts: int = 1
    segments_read: int = 0
    segments_kept: int = 0
    seconds: float = 0.0
    filter_report: dict[str, int] = field(default_factory=dict)


def _bin_one_thread(segments: Any, job: GranuleJob) -> PartialSums:
    """Partial sums of one granule, binned by one numba thread.

    The binning kernel runs in parallel by default; inside a task, other granules already
    keep the cores busy (pool processes, Dask workers), and numba threads on top of them
    only contend for the same cores. The setting is numba's per-thread one, restored after.
    """
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return segments_to_sums(segments, job.grid, job.period, source=job.name)
    finally:
        numba.set_num_threads(before)


def grid_granule(job: GranuleJob) -> GranuleResult:
    """The map step: read, filter and bin one granule; never raises for a bad granule.

    Retries up to ``job.retries`` times, with a growing wait, when the error says another
    attempt may succeed (``GranuleError.retryable``: network failures, HTTP 5xx).
    """
    t0 = time.perf_counter()
    attempt = 0
    while True:
        attempt += 1
        try:
            segments = read_granule(job.source, product=job.product, access=job.access,
                                    timeout=job.timeout)
            n_read = len(segments)
            report: dict[str, int] = {}
            if job.filters is not None:
                segments, table = quality_filter(segments, **job.filters)
                report = {str(r): int(n) for r, n in zip(table["rule"], table["removed"],
                                                         strict=True)}
            sums = _bin_one_thread(segments, job)
            return GranuleResult(job.index, job.name, sums, attempts=attempt,
                                 segments_read=n_read, segments_kept=len(segments),
                                 seconds=time.perf_counter() - t0, filter_report=report)
        except GranuleError as exc:
            if exc.retryable and attempt <= job.retries:
                time.sleep(job.retry_wait_s * attempt)
                continue
            reason = exc.problem + (f" (after {attempt} attempts)" if attempt > 1 else "")
        except IceSat2TutorialError as exc:
            reason = str(exc)
        except Exception as exc:  # a bug or an unforeseen library error: record, don't lose
            reason = f"unexpected {type(exc).__name__}: {exc}"
        return GranuleResult(job.index, job.name, None, error=reason, attempts=attempt,
                             seconds=time.perf_counter() - t0)


class _OrderedMerger:
    """Merge results in granule order, ``MERGE_BATCH`` at a time, whatever order they come in.

    Batches are merged like a binary counter: two merged blocks of the same size become one
    block of twice the size. Folding every batch into one growing total would copy the total
    once per batch, so a decade (about 100,000 granules) would take hours (time growing as
    granules squared); the counter copies each cell about log2(batches) times instead, and
    still merges in an order fixed by the granule order alone, so the result stays the same,
    bit for bit, however the tasks ran.
    """

    def __init__(self, template: PartialSums) -> None:
        self.template = template
        self._waiting: dict[int, GranuleResult] = {}
        self._batch: list[PartialSums] = []
        # _levels[i]: the merge of 2**i batches (or None); earlier granules in higher levels
        self._levels: list[PartialSums | None] = []
        self._next = 0
        self.results: list[GranuleResult] = []

    def add(self, result: GranuleResult) -> None:
        # keep only what the summary needs; the sums go into the merge
        self._waiting[result.index] = result
        while self._next in self._waiting:
            r = self._waiting.pop(self._next)
            self._next += 1
            if r.sums is not None:
                self._batch.append(r.sums)
                r.sums = None
            self.results.append(r)
            if len(self._batch) >= MERGE_BATCH:
                self._flush()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _flush(self) -> None:
        if not self._batch:
            return
        carry = _merge_parts(self.template, self._batch)
        self._batch = []
        level = 0
        while level < len(self._levels) and self._levels[level] is not None:
            carry = _merge_parts(self.template, [self._levels[level], carry])
            self._levels[level] = None
            level += 1
        if level == len(self._levels):
            self._levels.append(None)
        self._levels[level] = carry

    def finish(self) -> PartialSums:
        self._flush()
        # highest level first: it holds the earliest granules
        blocks = [b for b in reversed(self._levels) if b is not None]
        self._levels = []
        return _merge_parts(self.template, blocks or [self.template])


def _merge_parts(template: PartialSums, parts: list[PartialSums]) -> PartialSums:
    """Exact merge of several partial sums, in the order given."""
    if len(parts) == 1:
        return parts[0]
    return _combine(
        template, [p.key for p in parts], [p.count for p in parts],
        [p.sum_length for p in parts], [p.mean for p in parts], [p.m2 for p in parts],
        sum(p.n_invalid for p in parts), sum(p.n_outside for p in parts),
        [s for p in parts for s in p.sources],
    )


def _filters_kwargs(filters: Any) -> dict[str, Any] | None:
    if filters is None:
        return None
    if isinstance(filters, str):
        if filters != "default":
            raise ValueError(f"filters must be 'default', None or a dict, not {filters!r}")
        return {}
    if isinstance(filters, dict):
        return dict(filters)
    raise TypeError(f"filters must be 'default', None or a dict of quality_filter options, "
                    f"not a {type(filters).__name__}")


class _Pool:
    """One interface over serial execution, concurrent.futures pools and Dask clients."""

    def __init__(self, client: Any, scheduler: Scheduler, workers: int | None) -> None:
        self.client = client
        self._own: cf.Executor | None = None
        if client is not None:
            info = client.scheduler_info() if hasattr(client, "scheduler_info") else {}
            self.workers = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        elif scheduler == "serial":
            self.workers = 1
        else:
            self.workers = workers or multiprocessing.cpu_count()
            if scheduler == "threads":
                self._own = cf.ThreadPoolExecutor(self.workers)
            elif scheduler == "processes":
                # spawn, not fork: forking a process that runs threads (h5coro, numba) can deadlock
                self._own = cf.ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"))
            else:
                raise ValueError(f"scheduler must be 'serial', 'threads' or 'processes', not {scheduler!r}")

    def run(self, jobs: Iterator[GranuleJob], window: int) -> Iterator[GranuleResult]:
        """Yield results as they complete, keeping at most ``window`` jobs in flight."""
        if self.client is None and self._own is None:
            for job in jobs:
                yield grid_granule(job)
            return
        submitted: dict[Any, GranuleJob] = {}

        def submit(job: GranuleJob) -> Any:
            if self.client is not None:
                fut = self.client.submit(grid_granule, job, pure=False,
                                         key=f"grid_granule-{job.index}-{id(job):x}")
            else:
                fut = self._own.submit(grid_granule, job)
            submitted[fut] = job
            return fut

        for job in jobs:
            submit(job)
            if len(submitted) >= window:
                break
        if self.client is not None:
            from distributed import as_completed as dask_as_completed

            done_iter = dask_as_completed(list(submitted))
            for fut in done_iter:
                job = submitted.pop(fut)
                yield self._result(fut, job)
                nxt = next(jobs, None)
                if nxt is not None:
                    done_iter.add(submit(nxt))
            return
        while submitted:
            done, _ = cf.wait(list(submitted), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                job = submitted.pop(fut)
                yield self._result(fut, job)
                nxt = next(jobs, None)
                if nxt is None:
                    continue
                try:
                    submit(nxt)
                except Exception as exc:  # e.g. BrokenProcessPool: the rest cannot run here
                    for job in (nxt, *jobs):
                        yield GranuleResult(job.index, job.name, None,
                                            error=f"not run: the pool broke ({type(exc).__name__})")

    @staticmethod
    def _result(fut: Any, job: GranuleJob) -> GranuleResult:
        """The task's result; a task that died (worker killed, pool broken) is a failure too."""
        try:
            return fut.result()
        except Exception as exc:
            # one line: Dask's messages span several (tests/test_reliability_faults.py)
            text = " ".join(f"task failed: {type(exc).__name__}: {exc}".split())
            return GranuleResult(job.index, job.name, None, error=text[:500])

    def close(self) -> None:
        if self._own is not None:
            self._own.shutdown(wait=True, cancel_futures=True)


def build_timeseries(
    granules: Iterable[Any],
    grid: Grid,
    period: str | Period = "1D",
    client: Any = None,
    *,
    product: str = "ATL10",
    filters: Any = "default",
    scheduler: Scheduler = "serial",
    workers: int | None = None,
    extent: Any = None,
    timeout: float | None = DEFAULT_TIMEOUT_S,
    retries: int = 2,
    retry_wait_s: float = 1.0,
    access: str = "auto",
    progress: bool = True,
    window: int | None = None,
) -> xr.Dataset:
    """Grid many granules into one Dataset, granule by granule, on any executor.

    Parameters
    ----------
    granules:
        Local paths, ``s3://``/``https://`` URLs, or earthaccess search results.
    grid, period, extent:
        As for :func:`~icesat2_tutorial.grid_segments` (``"1D"`` UTC days, ``"1MS"`` months).
    client:
        A ``dask.distributed.Client`` (LocalCluster, Coiled, ...); ``None`` runs locally
        according to ``scheduler``.
    product:
        ``"ATL10"`` or ``"ATL07"``.
    filters:
        ``"default"``: :func:`~icesat2_tutorial.quality_filter` with its documented defaults;
        a dict of its options; or ``None`` for no filtering (fill values and points off the
        grid are still dropped), which equals :func:`grid_segments` on the raw segments.
    scheduler, workers:
        Without a client: ``"serial"`` (default), ``"threads"`` or ``"processes"``, with
        ``workers`` of them (default: the number of cores).
    timeout:
        Seconds after which a granule that hangs is given up (and recorded as failed).
    retries, retry_wait_s:
        Further attempts for a granule whose error may pass (network), waiting
        ``retry_wait_s``, then twice that, ... seconds between attempts.
    access:
        How to reach earthaccess granules (see :func:`~icesat2_tutorial.access.locate`).
    progress:
        Show a progress bar (notebook or terminal).
    window:
        Granules in flight at once (default twice the number of workers).

    Returns
    -------
    xarray.Dataset
        As :func:`~icesat2_tutorial.grid_segments`, with ``attrs`` ``granules_total``,
        ``granules_ok``, ``granules_failed``, ``failed_granules`` (one ``"name: reason"``
        string per failed granule), ``segments_read``, ``segments_kept`` and ``filters``.
    """
    grid = require_grid(grid)
    per = parse_period(period)
    prod = get_product(product)
    kwargs = _filters_kwargs(filters)
    _check_run_options(timeout, retries, retry_wait_s, workers, window)
    sources = list(granules)
    jobs = (GranuleJob(i, src, granule_name(src).rsplit("/", 1)[-1], grid, per, prod.short_name,
                       kwargs, access, timeout, retries, retry_wait_s)
            for i, src in enumerate(sources))
    pool = _Pool(client, scheduler, workers)
    merger = _OrderedMerger(PartialSums(grid, per, prod.value))
    bar = _progress_bar(len(sources), progress)
    try:
        for result in pool.run(jobs, window or 2 * pool.workers):
            merger.add(result)
            if bar is not None:
                bar.update(1)
                failed = sum(r.error is not None for r in merger.results)
                if failed:
                    bar.set_postfix(failed=failed, refresh=False)
    finally:
        pool.close()
        if bar is not None:
            bar.close()
    sums = merger.finish()
    ds = to_dataset(sums, extent=extent)
    results = merger.results
    failed = [f"{r.name}: {r.error}" for r in results if r.error is not None]
    ds.attrs.update(
        product=prod.short_name,
        granules_total=len(sources),
        granules_ok=len(sources) - len(failed),
        granules_failed=len(failed),
        failed_granules=failed,
        segments_read=int(sum(r.segments_read for r in results)),
        segments_kept=int(sum(r.segments_kept for r in results)),
        filters="none" if kwargs is None else _describe_filters(kwargs),
    )
    return ds


def _check_run_options(timeout: float | None, retries: int, retry_wait_s: float,
                       workers: int | None, window: int | None) -> None:
    """ValueError for settings that make no sense, before any granule is read.

    (A timeout of 0 or -1 used to fail every granule with "took longer than -1 s".)
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    if int(retries) < 0 or not retry_wait_s >= 0:
        raise ValueError(f"retries and retry_wait_s must be >= 0, not {retries!r}, {retry_wait_s!r}")
    for name, value in (("workers", workers), ("window", window)):
        if value is not None and int(value) < 1:
            raise ValueError(f"{name} must be 1 or more (or None for the default), not {value!r}")


def _describe_filters(kwargs: dict[str, Any]) -> str:
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(quality_filter).parameters.items()
                if p.default is not inspect.Parameter.empty}
    defaults.update(kwargs)
    return "quality_filter(" + ", ".join(f"{k}={v!r}" for k, v in defaults.items()) + ")"


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="granules", unit="granule")



def aggregate_periods(ds: xr.Dataset, freq: str | None = "1MS") -> xr.Dataset:
    """Combine a Dataset's periods into longer ones exactly (e.g. daily grids into monthly).

    Each cell's counts and lengths add up; its mean is the length-weighted mean of the
    period means; its variance adds the spread of the period means about that mean to the
    periods' own (the exact merge of :mod:`icesat2_tutorial.bucket`, in two passes). The
    result equals gridding the same segments with the longer period directly.

    Parameters
    ----------
    ds:
        A gridded Dataset.
    freq:
        ``"1MS"`` (calendar months) or another pandas frequency; ``None`` combines every
        period into one, labelled with the first period's start.
    """
    if freq is not None:
        check_frequency(freq)
    mean_name = "freeboard_mean" if "freeboard_mean" in ds else "height_mean"
    std_name = mean_name.replace("_mean", "_std")
    n = ds["segment_count"]
    w = (n * ds["mean_segment_length"]).fillna(0.0)
    m = ds[mean_name].fillna(0.0)
    s = w * ds[std_name].fillna(0.0) ** 2

    def total(da: xr.DataArray) -> xr.DataArray:
        if freq is None:
            return da.sum("time").expand_dims(time=ds["time"].to_numpy()[:1])
        return da.resample(time=freq).sum()

    n_t, w_t, wm_t, s_t = total(n), total(w), total(w * m), total(s)
    # divide by NaN, not 0, where a cell has no data: the result is NaN and nothing warns
    # (the division runs later, inside dask, where np.errstate would not reach it)
    w_safe = w_t.where(w_t > 0)
    mean_t = wm_t / w_safe
    # second pass: the spread of each period's mean about the combined mean
    if freq is None:
        per_step = mean_t.isel(time=0, drop=True)
    else:
        per_step = mean_t.reindex(time=ds["time"].to_numpy(), method="ffill")
    spread = total(w * (m - per_step.fillna(0.0)) ** 2)
    std_t = np.sqrt((s_t + spread) / w_safe)
    length_t = w_t / n_t.where(n_t > 0)
    has = n_t > 0
    if freq is not None:
        # resampling fills the gaps between seasons with empty periods: keep those with data
        present = (n_t.sum(("y", "x")) > 0).compute()
        n_t, length_t, mean_t, std_t, has = (
            a.sel(time=present) for a in (n_t, length_t, mean_t, std_t, has))
    out = xr.Dataset({
        "segment_count": n_t.fillna(0).astype(np.int32),
        "mean_segment_length": length_t.where(has),
        mean_name: mean_t.where(has),
        std_name: std_t.where(has),
        "crs": ds["crs"],
    })
    for name in ("segment_count", "mean_segment_length", mean_name, std_name):
        out[name].attrs = dict(ds[name].attrs)
    for name in ("x", "y"):
        out[name].attrs = dict(ds[name].attrs)
    out["time"].attrs = {"standard_name": "time", "axis": "T",
                         "long_name": f"start of the {freq or 'whole'} period (UTC)"}
    out.attrs = dict(ds.attrs, period=freq or "all")
    return out
