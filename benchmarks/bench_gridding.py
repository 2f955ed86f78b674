#!/usr/bin/env python
"""Benchmark: a month of Antarctic ATL10 segments into daily EASE-Grid 2.0 South 6.25 km.

Compares, in one run and on the same segments,

* **ours**: ``icesat2_tutorial.grid_segments(segments, ease2_grid("south", 6.25), "1D")``,
  all four ATL20 statistics per cell and UTC day (segment count, mean segment length,
  length-weighted mean and standard deviation of freeboard);
* **the seed notebook's approach**: ``GeoDataFrame.to_crs(6932)``, then a per-point
  ``Affine`` list comprehension (``get_grid_index``, the seed's code unchanged, defects
  included), then ``groupby("grid_index").count()``: one count grid for the whole month.

Each approach runs in a fresh subprocess that loads the same cached segment table, so that
peak memory (``VmHWM``, the kernel's high-water mark, reset through ``/proc/self/clear_refs``
after loading) is not polluted by the other approach.

Usage::

    python benchmarks/bench_gridding.py                  # 5.2 M segments, 3 repeats
    python benchmarks/bench_gridding.py --segments 1000000 --repeat 5
    python benchmarks/bench_gridding.py --seed-segments 500000   # time the seed on a
                                                         # subset and scale (reported as such)

Fixture granules and the segment table are cached under ``benchmarks/.cache/`` (not in
git). Results go to ``benchmarks/results/gridding.json``. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np  # module level, as in the seed notebook: its get_grid_index uses np, Affine
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parent))
# measuring helpers shared with the time-series and cloud-read benchmarks
from ts_common import (  # noqa: E402
    MONTH_DAYS,
    MONTH_START,
    log,
    now,
    peak_rss,
    reset_peak,
    rss_now,
    system_busy_s,
    wait_quiet,
    write_month_granules,
)
from ts_common import machine_info as common_machine_info  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = HERE / ".cache"
DEFAULT_OUTPUT = HERE / "results" / "gridding.json"

#: The seed notebook's month (September 2019) had 5,205,785 segments from 59 granules.
DEFAULT_SEGMENTS = 5_200_000
DEFAULT_GRANULES = 59
STRONG_BEAMS = 3
#: Fraction of simulated strong-beam segments that survive the reader's fill removal
#: (measured on the fixtures: ~96.5 %); used only to size the granules.
KEPT_FRACTION = 0.965

TARGET_SPEEDUP = 300.0
TARGET_PEAK_BYTES = 0.5e9  # "0.5 GB", read as 10^9 bytes (0.5 GiB would be 537 MB)

MB = 1e6


# ----------------------------------------------------------------------------- memory


def ru_maxrss() -> int:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * (1 if sys.platform == "darwin" else 1024)


# ----------------------------------------------------------------------------- CPU contention

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def busy_processes(window: float = 1.0, min_share: float = 0.05) -> list[dict]:
    """Other processes using at least ``min_share`` of a core over ``window`` seconds."""
    def sample() -> dict:
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/stat") as fh:
                    raw = fh.read()
                name = raw[raw.index("(") + 1:raw.rindex(")")]
                fields = raw[raw.rindex(")") + 2:].split()
                out[int(d)] = (name, int(fields[11]) + int(fields[12]))
            except (OSError, ValueError, IndexError):
                continue
        return out

    if not os.path.isdir("/proc"):
        return []
    a = sample()
    time.sleep(window)
    b = sample()
    busy = []
    for pid, (name, ticks) in b.items():
        share = (ticks - a.get(pid, (name, ticks))[1]) / CLK_TCK / window
        if share >= min_share:
            busy.append({"pid": pid, "name": name, "cpu_share": round(share, 2)})
    return sorted(busy, key=lambda r: -r["cpu_share"])


def machine_load(window: float = 2.0) -> dict:
    """Load average, and the share of all cores the machine used over ``window`` seconds."""
    b0 = system_busy_s()
    time.sleep(window)
    busy = (system_busy_s() - b0) / window
    return {"loadavg": list(os.getloadavg()), "busy_cores": round(busy, 2),
            "busy_processes": busy_processes()}


def timed_repeats(func, repeat: int, max_wait: float = 60.0):
    """Time ``func()`` until ``repeat`` runs had the machine to themselves (or give up).

    Each run waits for a quiet machine, then records wall and CPU time and the CPU time
    other processes used meanwhile ("foreign"). Best and median are over the quiet runs
    (over all runs if none was quiet, flagged). Returns ``(stats, last output)``.
    """
    runs: list[dict] = []
    out = None
    attempts = max(3 * repeat, repeat + 3)
    while sum(r["quiet"] for r in runs) < repeat and len(runs) < attempts:
        out = None
        gc.collect()
        waited = wait_quiet(max_wait)
        b0, c0, t0 = system_busy_s(), time.process_time(), now()
        out = func()
        wall, cpu = now() - t0, time.process_time() - c0
        foreign = max(0.0, system_busy_s() - b0 - cpu)
        runs.append({"wall_s": wall, "cpu_s": cpu, "foreign_cpu_s": foreign,
                     "quiet": foreign <= max(0.03, 0.1 * wall), "waited_s": waited})
    quiet = [r["wall_s"] for r in runs if r["quiet"]]
    use = quiet or [r["wall_s"] for r in runs]
    return {"best_s": min(use), "median_s": statistics.median(use), "n_quiet": len(quiet),
            "all_quiet_s": quiet, "runs": runs, "contended": not quiet}, out


# ----------------------------------------------------------------------------- helpers


def machine_info() -> dict:
    """ts_common's record, for the libraries this benchmark uses, plus numba's thread count."""
    import numba

    info = common_machine_info(("numba", "geopandas", "shapely", "pyproj", "affine", "xarray",
                                "dask", "pyarrow"))
    info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    return info


# ----------------------------------------------------------------------------- data


def data_dir(segments: int, granules: int) -> tuple[Path, int]:
    size = math.ceil(segments / (granules * STRONG_BEAMS * KEPT_FRACTION))
    return CACHE / f"atl10_2019-09_{granules}g_{size}seg", size


def prepare_data(segments: int, granules: int) -> tuple[Path, dict]:
    """Fixture granules spread over September 2019, read with ``read_granule``; cached."""
    import pandas as pd

    import icesat2_tutorial as it

    directory, size = data_dir(segments, granules)
    marker = directory / "complete.json"
    info: dict = {"granules": granules, "segments_per_strong_beam_requested": size,
                  "cache_dir": str(directory.relative_to(ROOT))}
    if marker.exists():
        paths = [directory / name for name in json.loads(marker.read_text())["files"]]
        info["generate_s"] = None
        log(f"[data] reusing {len(paths)} cached fixture granules in {directory}")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        log(f"[data] writing {granules} full-layout ATL10 fixture granules, {size:,} segments "
            f"per strong beam, spread over {MONTH_DAYS} days from {MONTH_START[:10]} ...")
        t0 = now()
        paths = write_month_granules(directory, granules, size)
        info["generate_s"] = now() - t0
        marker.write_text(json.dumps({"files": [p.name for p in paths]}, indent=1))
        log(f"[data] wrote them in {info['generate_s']:.1f} s")
    t0 = now()
    tables = [it.read_granule(p) for p in paths]
    info["read_s"] = now() - t0
    t0 = now()
    segs = pd.concat(tables, ignore_index=True)
    segs["beam"] = segs["beam"].astype("category")
    info["concat_s"] = now() - t0
    del tables
    info["segments"] = len(segs)
    info["bytes_in_memory"] = int(segs.memory_usage(deep=True).sum())
    info["time_min"] = str(segs["time"].min())
    info["time_max"] = str(segs["time"].max())
    info["utc_days"] = int(segs["time"].dt.floor("D").nunique())
    info["latitude_range"] = [float(segs["latitude"].min()), float(segs["latitude"].max())]
    log(f"[data] read {len(paths)} granules with read_granule in {info['read_s']:.1f} s "
        f"(+ concat {info['concat_s']:.1f} s): {len(segs):,} segments, "
        f"{info['bytes_in_memory'] / MB:.0f} MB, {info['utc_days']} UTC days "
        f"{info['time_min'][:10]} .. {info['time_max'][:10]}")
    table = directory / "segments"
    if not (table / "columns.json").exists():
        save_table(segs, table)
    return table, info


def save_table(segs, table: Path) -> None:
    """The segment table as one ``.npy`` file per column (see :func:`load_table`)."""
    import numpy as np

    table.mkdir(parents=True, exist_ok=True)
    meta: dict = {"columns": list(segs.columns), "categories": {}}
    for col in segs.columns:
        s = segs[col]
        if isinstance(s.dtype, __import__("pandas").CategoricalDtype):
            meta["categories"][col] = [str(c) for c in s.cat.categories]
            np.save(table / f"{col}.npy", s.cat.codes.to_numpy())
        else:
            np.save(table / f"{col}.npy", s.to_numpy())
    (table / "columns.json").write_text(json.dumps(meta))


# ----------------------------------------------------------------------------- children


def load_table(path: str):
    """Load the cached segment table.

    Plain ``.npy`` columns rather than Parquet: pyarrow's memory pool keeps hundreds of MB
    resident after a ``read_parquet``, which would inflate every RSS figure; ``np.load``
    leaves exactly the table (dtypes as ``read_granule`` returns them) in memory.
    """
    import numpy as np
    import pandas as pd

    table = Path(path)
    meta = json.loads((table / "columns.json").read_text())
    data = {}
    for col in meta["columns"]:
        arr = np.load(table / f"{col}.npy")
        if col in meta["categories"]:
            arr = pd.Categorical.from_codes(arr, meta["categories"][col])
        data[col] = arr
    segs = pd.DataFrame(data)
    del data, arr
    gc.collect()
    return segs


def child_compile(args) -> dict:
    """Cold numba compile: run with NUMBA_CACHE_DIR pointing at an empty directory."""
    t0 = now()
    import icesat2_tutorial as it

    t_import = now() - t0
    segs = load_table(args.table).iloc[:20_000].copy()
    grid = it.ease2_grid("south", 6.25)
    t0 = now()
    it.grid_segments(segs, grid, "1D").compute()
    first = now() - t0
    t0 = now()
    it.grid_segments(segs, grid, "1D").compute()
    second = now() - t0
    return {"import_s": t_import, "first_call_s": first, "second_call_s": second,
            "compile_s": first - second, "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR")}


def _cache_hits() -> dict:
    from icesat2_tutorial import bucket

    out = {}
    for name in ("_bin", "_merge_sorted"):
        func = getattr(bucket, name, None)
        if func is not None and hasattr(func, "stats"):
            out[name] = {"hits": int(sum(func.stats.cache_hits.values())),
                         "misses": int(sum(func.stats.cache_misses.values()))}
    return out


def child_ours(args) -> dict:
    import numpy as np

    import icesat2_tutorial as it

    res: dict = {"peak_reset_supported": None}
    import pandas as pd  # noqa: F401  (imported before measuring, as the seed child does)

    gc.collect()
    res["rss_after_imports"] = rss_now()
    segs = load_table(args.table)
    gc.collect()
    res["rss_after_load"] = rss_now()
    grid = it.ease2_grid("south", 6.25)
    # warm-up: numba from its on-disk cache (or compiled, first run ever), dask, xarray
    t0 = now()
    it.grid_segments(segs.iloc[:5000], grid, "1D").compute()
    res["warmup_s"] = now() - t0
    res["numba_cache"] = _cache_hits()
    gc.collect()
    res["rss_after_warmup"] = rss_now()
    n = len(segs)
    log(f"[ours] {n:,} segments loaded; RSS {res['rss_after_load'] / MB:.0f} MB "
        f"(after warm-up {res['rss_after_warmup'] / MB:.0f} MB; warm-up {res['warmup_s']:.2f} s)")

    # (a) grid_segments: statistics computed eagerly into sparse sums, lazy Dataset
    res["peak_reset_supported"] = reset_peak()
    res["grid_segments"], ds = timed_repeats(lambda: it.grid_segments(segs, grid, "1D"), args.repeat)
    res["grid_segments"]["peak_rss"] = peak_rss()
    res["grid_segments"]["ru_maxrss"] = ru_maxrss()
    res["grid_segments"]["rss_after"] = rss_now()
    res["dataset"] = {"dims": {k: int(v) for k, v in ds.sizes.items()},
                      "variables": sorted(ds.data_vars),
                      "segments_gridded": int(ds.attrs["segments_gridded"]),
                      "segments_invalid": int(ds.attrs["segments_invalid"]),
                      "segments_outside_grid": int(ds.attrs["segments_outside_grid"])}
    r = res["grid_segments"]
    log(f"[ours] grid_segments: best {r['best_s']:.3f} s, median {r['median_s']:.3f} s "
        f"({r['n_quiet']} quiet runs of {len(r['runs'])}); peak RSS {r['peak_rss'] / MB:.0f} MB; "
        f"dims {res['dataset']['dims']}")

    # (b) ... and materialize the dense daily arrays
    reset_peak()
    res["compute_dense"], dense = timed_repeats(ds.compute, args.repeat)
    r = res["compute_dense"]
    r["peak_rss"] = peak_rss()
    r["ru_maxrss"] = ru_maxrss()
    r["dense_bytes"] = int(dense.nbytes)
    log(f"[ours] .compute() dense: best {r['best_s']:.3f} s, median {r['median_s']:.3f} s "
        f"({r['n_quiet']} quiet runs of {len(r['runs'])}); peak RSS {r['peak_rss'] / MB:.0f} MB "
        f"({dense.nbytes / MB:.0f} MB dense)")

    # counts per (day, cell) from the dense Dataset, for the correctness check
    count = dense["segment_count"].values
    rows, cols = grid.shape
    c0 = int(round((float(dense.x[0]) - grid.x0) / grid.resolution - 0.5))
    r0 = int(round((grid.y0 - float(dense.y[0])) / grid.resolution - 0.5))
    day = dense.time.values.astype("datetime64[D]").astype(np.int64)
    t_i, r_i, c_i = np.nonzero(count)
    keys = day[t_i] * (rows * cols) + (r0 + r_i) * cols + (c0 + c_i)
    np.savez(args.check_file, keys=keys.astype(np.int64), counts=count[t_i, r_i, c_i].astype(np.int64))
    res["cell_days"] = int(len(keys))
    del dense, count, ds
    gc.collect()

    res["profile"] = profile_ours(segs, grid, args.repeat)
    return res


def _bin_blocks(segs, grid, period="1D"):
    """The arguments ``bucket.bin_segments`` passes to ``bucket._bin``, block by block.

    Mirrors ``bin_segments`` (commit "Gridding in one parallel pass"): whole-day periods
    pass the int64 nanosecond times and ``period_ns``; calendar months pass the month
    numbers. Raises if the internals changed (the caller records the error).
    """
    import numpy as np

    from icesat2_tutorial import bucket, projection
    from icesat2_tutorial.periods import parse_period

    per = parse_period(period)
    p = projection.projection_params(grid)
    rows, cols = grid.shape
    lat = segs["latitude"].to_numpy()
    lon = segs["longitude"].to_numpy()
    length = segs["height_segment_length_seg"].to_numpy()
    value = segs["beam_fb_height"].to_numpy()
    times = segs["time"].to_numpy()
    n, block = len(lat), bucket.BLOCK
    blocks = []
    for s in range(0, max(n, 1), block):
        sl = slice(s, s + block)
        times_ns, period_ns, numbers = _time_args(times[sl], per)
        blocks.append((np.ascontiguousarray(lat[sl], dtype=np.float64),
                       np.ascontiguousarray(lon[sl], dtype=np.float64),
                       np.ascontiguousarray(length[sl]), np.ascontiguousarray(value[sl]),
                       times_ns, period_ns, numbers, p.kind, p.sign, p.a, p.e, p.lon0, p.k,
                       grid.x0, grid.y0, grid.resolution, rows, cols))
    return per, blocks


def _time_args(t, per):
    """``(times_ns, period_ns, numbers)`` for ``_bin``, as ``bin_segments`` builds them."""
    import numpy as np

    from icesat2_tutorial import bucket

    t = np.asarray(t)
    if per.unit == "D":  # whole days: a view of the int64 nanoseconds, no copy
        return (np.ascontiguousarray(t.astype("datetime64[ns]", copy=False).view(np.int64)),
                per.n * bucket.NS_PER_DAY, np.zeros(1, np.int64))
    return np.zeros(1, np.int64), 0, per.index(t)


def _bin_all(blocks, nthreads=None):
    from icesat2_tutorial import bucket

    if nthreads:
        return _one_thread(lambda: [bucket._bin(*b) for b in blocks])
    return [bucket._bin(*b) for b in blocks]


def _combine_pieces(grid, per, pieces):
    from icesat2_tutorial import bucket

    empty = bucket.PartialSums(grid, per, "beam_fb_height")
    return bucket._combine(empty, *[[pc[i] for pc in pieces] for i in range(5)],
                           sum(pc[5] for pc in pieces), sum(pc[6] for pc in pieces), [])


def profile_ours(segs, grid, repeat: int) -> dict:
    """Where the time of grid_segments goes: the stages of bucket.bin_segments, timed apart.

    The headline figures (``segments_to_sums_s``, ``to_dataset_s``) use only the public API;
    the stages call the package's internals and are skipped, with the error recorded, if
    those change.
    """
    import numpy as np

    import icesat2_tutorial as it
    from icesat2_tutorial import bucket, projection
    from icesat2_tutorial.periods import parse_period

    prof: dict = {}

    def best(func, reps=repeat):
        stats, out = timed_repeats(func, max(reps, 1))
        return stats["best_s"], out

    prof["segments_to_sums_s"], sums = best(lambda: it.segments_to_sums(segs, grid, "1D"))
    prof["to_dataset_s"], _ = best(lambda: it.to_dataset(sums))
    prof["cell_days"] = len(sums)
    try:
        prof["block"] = int(bucket.BLOCK)
        prof["projection_params_s"], _ = best(lambda: projection.projection_params(grid))
        times = segs["time"].to_numpy()
        prof["time_view_s"], _ = best(lambda: _time_args(times, parse_period("1D")))
        # calendar months (not on the daily path): the month number of each segment
        prof["month_index_s"], _ = best(lambda: _time_args(times, parse_period("1MS")))
        per, blocks = _bin_blocks(segs, grid, "1D")
        prof["bin_s"], pieces = best(lambda: _bin_all(blocks))
        prof["bin_1thread_s"], _ = best(lambda: _bin_all(blocks, 1))
        prof["runs"] = int(sum(len(pc[0]) for pc in pieces))
        prof["segments_invalid"] = int(sum(pc[5] for pc in pieces))
        prof["segments_outside"] = int(sum(pc[6] for pc in pieces))
        prof["combine_s"], _ = best(lambda: _combine_pieces(grid, per, pieces))
        k = np.concatenate([pc[0] for pc in pieces])
        prof["combine_argsort_s"], _ = best(lambda: np.argsort(k, kind="stable"))
        prof["stages_sum_s"] = prof["time_view_s"] + prof["bin_s"] + prof["combine_s"]
    except Exception as exc:  # internals changed: keep the rest of the results
        prof["error"] = f"{type(exc).__name__}: {exc}"
    try:
        # the projection alone, compiled (same formulas, parallel) and with pyproj
        p = projection.projection_params(grid)
        lat64 = np.ascontiguousarray(segs["latitude"].to_numpy(), dtype=np.float64)
        lon64 = np.ascontiguousarray(segs["longitude"].to_numpy(), dtype=np.float64)
        # warm-up: load project_points from numba's on-disk cache, set up pyproj's transformer
        projection.project_points(lat64[:1000], lon64[:1000], p.kind, p.sign, p.a, p.e,
                                  p.lon0, p.k)
        grid.project(lon64[:1000], lat64[:1000])
        prof["projection_compiled_s"], _ = best(lambda: projection.project_points(
            lat64, lon64, p.kind, p.sign, p.a, p.e, p.lon0, p.k))
        prof["projection_compiled_1thread_s"], _ = best(lambda: _one_thread(
            projection.project_points, lat64, lon64, p.kind, p.sign, p.a, p.e, p.lon0, p.k))
        prof["projection_pyproj_s"], _ = best(lambda: grid.project(lon64, lat64), 1)
        length = segs["height_segment_length_seg"].to_numpy()
        value = segs["beam_fb_height"].to_numpy()
        times = segs["time"].to_numpy()
        prof["memory_pass_s"], _ = best(lambda: (lat64.sum(), lon64.sum(), length.sum(),
                                                 value.sum(), times.view(np.int64).sum()))
    except Exception as exc:
        prof["projection_error"] = f"{type(exc).__name__}: {exc}"
    return prof


def child_memprofile(args) -> dict:
    """Peak-RSS increment of each stage of grid_segments.

    Run with glibc's mmap threshold fixed (``MALLOC_MMAP_THRESHOLD_``), so that every large
    array is its own mapping, returned to the system when freed: the peak of each stage is
    then what that stage allocates and touches, not what the allocator happened to keep
    from the stage before. The stages are run as ``bucket.bin_segments`` runs them, on its
    first block, each with the previous stage's output alive.
    """
    import icesat2_tutorial as it
    from icesat2_tutorial import bucket
    from icesat2_tutorial.periods import parse_period

    segs = load_table(args.table)
    grid = it.ease2_grid("south", 6.25)
    it.grid_segments(segs.iloc[:5000], grid, "1D").compute()
    mem: dict = {"malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_")}

    def peak_of(func):
        gc.collect()
        before = rss_now()
        reset_peak()
        out = func()
        return (peak_rss() - before) / MB, out

    mem["grid_segments_mb"], ds = peak_of(lambda: it.grid_segments(segs, grid, "1D"))
    del ds
    mem["segments_to_sums_mb"], sums = peak_of(lambda: it.segments_to_sums(segs, grid, "1D"))
    mem["to_dataset_mb"], _ = peak_of(lambda: it.to_dataset(sums))
    mem["sums_mb"] = sum(a.nbytes for a in (sums.key, sums.count, sums.sum_length,
                                               sums.mean, sums.m2)) / MB
    try:
        first = segs.iloc[:bucket.BLOCK]
        mem["block"] = len(first)
        times = first["time"].to_numpy()
        mem["time_view_mb"], _ = peak_of(lambda: _time_args(times, parse_period("1D")))
        mem["month_index_mb"], _ = peak_of(lambda: _time_args(times, parse_period("1MS")))
        mem["month_index_result_mb"] = _time_args(times, parse_period("1MS"))[2].nbytes / MB
        per, blocks = _bin_blocks(first, grid, "1D")
        mem["bin_mb"], pieces = peak_of(lambda: _bin_all(blocks))
        mem["bin_result_mb"] = sum(a.nbytes for pc in pieces for a in pc[:5]) / MB
        mem["combine_mb"], _ = peak_of(lambda: _combine_pieces(grid, per, pieces))
    except Exception as exc:  # internals changed
        mem["error"] = f"{type(exc).__name__}: {exc}"
    return mem


def _one_thread(func, *a):
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return func(*a)
    finally:
        numba.set_num_threads(old)


# --- the seed notebook's gridding section, verbatim apart from being wrapped in functions

SEED_EPSG = 6932
nrow = 2880
ncol = 2880
upper_left_x = -9000000.0
upper_left_y = 9000000.0
width = 10000.0    # seed defect: 10 km cells on a grid described as 6.25 km
height = -10000.0


def get_grid_index(xy):  # the seed's function, unchanged (np and Affine: module globals)
    geotransform = (upper_left_x, width, 0., upper_left_y, 0., height)
    fwd = Affine.from_gdal(*geotransform)
    row, col = ~fwd * xy  # seed defect: ~fwd * (x, y) gives (col, row)
    return (np.floor(row) * ncol) + np.floor(col)


def get_grid_index_fixed(xy):
    """The seed's function with both defects fixed: 6250 m cells and (col, row) order."""
    geotransform = (upper_left_x, 6250.0, 0., upper_left_y, 0., -6250.0)
    fwd = Affine.from_gdal(*geotransform)
    col, row = ~fwd * xy
    return (np.floor(row) * ncol) + np.floor(col)


def child_seed(args) -> dict:
    import geopandas as gpd
    import numpy as np

    res: dict = {}
    gc.collect()
    res["rss_after_imports"] = rss_now()
    segs = load_table(args.table)
    n_total = len(segs)
    if args.seed_segments and args.seed_segments < n_total:
        take = np.linspace(0, n_total - 1, args.seed_segments).round().astype(np.int64)
        segs = segs.iloc[take].reset_index(drop=True)
    n = len(segs)
    res["segments_total"] = n_total
    res["segments_timed"] = n
    res["scaled"] = n != n_total
    scale = n_total / n
    gc.collect()
    res["rss_after_load"] = rss_now()
    log(f"[seed] {n:,} segments loaded{' (subset)' if res['scaled'] else ''}; "
        f"RSS {res['rss_after_load'] / MB:.0f} MB")
    res["peak_reset_supported"] = reset_peak()
    steps: dict = {}

    # the GeoDataFrame the seed's reader builds (its columns, beam as object, EPSG:4326);
    # not part of the gridding section, timed apart
    t0 = now()
    tracks = gpd.GeoDataFrame(
        {"delta_time": segs["time"].to_numpy(),
         "seg_dist_x": segs["seg_dist_x"].to_numpy(),
         "height_segment_length_seg": segs["height_segment_length_seg"].to_numpy(),
         "beam_fb_height": segs["beam_fb_height"].to_numpy(),
         "height_segment_type": segs["height_segment_type"].to_numpy(),
         "beam": segs["beam"].astype(str).to_numpy(dtype=object)},
        geometry=gpd.points_from_xy(segs["longitude"].to_numpy(), segs["latitude"].to_numpy()),
        crs="EPSG:4326")
    tracks = tracks.dropna(axis=0)  # the seed: dropna(axis=0, inplace=True); inplace is deprecated
    steps["build_geodataframe_s"] = now() - t0
    res["rss_after_geodataframe"] = rss_now()
    log(f"[seed] GeoDataFrame built in {steps['build_geodataframe_s']:.1f} s; "
        f"RSS {res['rss_after_geodataframe'] / MB:.0f} MB")

    # ---- the seed's gridding section
    res["waited_for_quiet_s"] = wait_quiet()
    busy0 = system_busy_s()
    cpu0 = time.process_time()
    t0 = now()
    tracks = tracks.to_crs(SEED_EPSG)
    steps["to_crs_s"] = now() - t0
    log(f"[seed] to_crs({SEED_EPSG}): {steps['to_crs_s']:.1f} s")
    t0 = now()
    tracks["grid_index"] = [get_grid_index((x, y)) for x, y in zip(tracks.geometry.x, tracks.geometry.y)]  # noqa: B905, E501 (seed verbatim)
    steps["grid_index_listcomp_s"] = now() - t0
    log(f"[seed] get_grid_index list comprehension: {steps['grid_index_listcomp_s']:.1f} s")
    t0 = now()
    cell_segment_counts = tracks.groupby("grid_index")["beam_fb_height"].count()
    steps["groupby_count_s"] = now() - t0
    t0 = now()
    grid = np.zeros((nrow, ncol)).flatten()
    grid[cell_segment_counts.index.values.astype(int)] = cell_segment_counts
    grid = grid.reshape((nrow, ncol))
    steps["dense_grid_s"] = now() - t0
    steps["cpu_s"] = time.process_time() - cpu0  # single-threaded: wall >> cpu means contention
    steps["foreign_cpu_s"] = max(0.0, system_busy_s() - busy0 - steps["cpu_s"])
    # ----
    res["peak_rss"] = peak_rss()
    res["ru_maxrss"] = ru_maxrss()
    res["as_is"] = steps
    per_point = ("to_crs_s", "grid_index_listcomp_s", "groupby_count_s")
    res["gridding_s"] = sum(steps[k] * scale for k in per_point) + steps["dense_grid_s"]
    res["gridding_with_geodataframe_s"] = res["gridding_s"] + steps["build_geodataframe_s"] * scale
    res["as_is_count_total"] = int(grid.sum())
    res["as_is_cells"] = int((grid > 0).sum())
    res["as_is_count_max"] = int(grid.max())
    log(f"[seed] as-is gridding (to_crs + list comprehension + groupby + grid): "
        f"{res['gridding_s']:.1f} s{' (scaled to all segments)' if res['scaled'] else ''}; "
        f"peak RSS {res['peak_rss'] / MB:.0f} MB")

    # ---- the same with the defects fixed (6250 m cells, col/row order): same cost
    del grid, cell_segment_counts
    gc.collect()
    fixed: dict = {}
    t0 = now()
    tracks["grid_index"] = [get_grid_index_fixed((x, y))
                            for x, y in zip(tracks.geometry.x, tracks.geometry.y)]  # noqa: B905
    fixed["grid_index_listcomp_s"] = now() - t0
    t0 = now()
    counts_fixed = tracks.groupby("grid_index")["beam_fb_height"].count()
    fixed["groupby_count_s"] = now() - t0
    t0 = now()
    grid = np.zeros((nrow, ncol)).flatten()
    grid[counts_fixed.index.values.astype(int)] = counts_fixed
    grid = grid.reshape((nrow, ncol))
    fixed["dense_grid_s"] = now() - t0
    res["fixed"] = fixed
    res["fixed_gridding_s"] = ((steps["to_crs_s"] + fixed["grid_index_listcomp_s"]
                                + fixed["groupby_count_s"]) * scale + fixed["dense_grid_s"])
    log(f"[seed] with 6250 m cells and (col, row): list comprehension "
        f"{fixed['grid_index_listcomp_s']:.1f} s; gridding {res['fixed_gridding_s']:.1f} s")

    # for the correctness check: month counts, and counts per (UTC day, cell)
    idx = tracks["grid_index"].to_numpy().astype(np.int64)
    day = tracks["delta_time"].to_numpy().astype("datetime64[D]").astype(np.int64)
    keys, kcounts = np.unique(day * (nrow * ncol) + idx, return_counts=True)
    np.savez(args.check_file, month_cells=counts_fixed.index.to_numpy().astype(np.int64),
             month_counts=counts_fixed.to_numpy().astype(np.int64), keys=keys, counts=kcounts)

    # how much of the list comprehension is affine 3.x's PendingDeprecationWarning for `*`
    # (affine 2.x, which the seed ran with, had none): same subset, with and without it
    res["affine_warning"] = affine_warning_overhead(tracks, args.warning_subset)
    return res


def affine_warning_overhead(tracks, n_sub: int) -> dict:
    import sys as _sys
    import types

    import numpy as np
    from affine import Affine

    sub = tracks.iloc[np.linspace(0, len(tracks) - 1, min(n_sub, len(tracks))).astype(np.int64)]
    xs, ys = sub.geometry.x, sub.geometry.y
    mod = _sys.modules[Affine.__module__]
    t0 = now()
    _ = [get_grid_index((x, y)) for x, y in zip(xs, ys)]  # noqa: B905, E501 (seed verbatim)
    with_warning = now() - t0
    saved = getattr(mod, "warnings", None)
    if saved is None:
        return {"subset": len(sub), "with_s": with_warning, "without_s": None, "fraction": 0.0}
    mod.warnings = types.SimpleNamespace(warn=lambda *a, **k: None)
    try:
        t0 = now()
        _ = [get_grid_index((x, y)) for x, y in zip(xs, ys)]  # noqa: B905, E501 (seed verbatim)
        without = now() - t0
    finally:
        mod.warnings = saved
    return {"subset": len(sub), "with_s": with_warning, "without_s": without,
            "fraction": 1.0 - without / with_warning}


def run_child(kind: str, args, table: Path, check_file: Path | None = None,
              env: dict | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--only", kind, "--table", str(table),
           "--repeat", str(args.repeat), "--result-file", str(out),
           "--warning-subset", str(args.warning_subset)]
    if args.seed_segments:
        cmd += ["--seed-segments", str(args.seed_segments)]
    if check_file is not None:
        cmd += ["--check-file", str(check_file)]
    load_before = os.getloadavg()
    t0 = now()
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})
    wall = now() - t0
    result = json.loads(out.read_text())
    out.unlink()
    result["process_wall_s"] = wall
    result["loadavg_before_after"] = [load_before, os.getloadavg()]
    return result


# ----------------------------------------------------------------------------- check


def check(ours_file: Path, seed_file: Path, rows: int, cols: int) -> dict:
    import numpy as np

    o = np.load(ours_file)
    s = np.load(seed_file)
    ncells = rows * cols
    # month: our daily counts summed over days, per cell
    o_cell = o["keys"] % ncells
    o_month = np.bincount(o_cell, weights=o["counts"], minlength=ncells).astype(np.int64)
    s_month = np.zeros(ncells, dtype=np.int64)
    s_month[s["month_cells"]] = s["month_counts"]
    month_diff = np.flatnonzero(o_month != s_month)
    # per UTC day and cell
    same_keys = len(o["keys"]) == len(s["keys"]) and np.array_equal(o["keys"], s["keys"])
    day_equal = bool(same_keys and np.array_equal(o["counts"], s["counts"]))
    out = {"month_cells_with_data": int((s_month > 0).sum()),
           "month_segments_seed_fixed": int(s_month.sum()),
           "month_segments_ours": int(o_month.sum()),
           "month_cells_differing": int(len(month_diff)),
           "month_equal": bool(len(month_diff) == 0),
           "cell_days_seed_fixed": int(len(s["keys"])),
           "cell_days_ours": int(len(o["keys"])),
           "daily_equal": day_equal}
    if len(month_diff):
        out["month_first_differences"] = [
            {"cell": int(c), "row": int(c // cols), "col": int(c % cols),
             "ours": int(o_month[c]), "seed_fixed": int(s_month[c])} for c in month_diff[:10]]
    return out


# ----------------------------------------------------------------------------- report


def fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f} s" if v < 10 else f"{v:.1f} s"


def fmt_mb(v: float | None) -> str:
    return "-" if v is None else f"{v / MB:,.0f} MB"


def report(res: dict) -> None:
    d, o, s = res["data"], res["ours"], res.get("seed")
    line = "-" * 100
    log("\n" + line)
    log(f"Segments: {d['segments']:,} strong-beam ATL10 fixture segments, {d['granules']} granules, "
        f"{d['utc_days']} UTC days {d['time_min'][:10]} .. {d['time_max'][:10]}; grid EASE-Grid 2.0 "
        f"South 6.25 km (2880 x 2880), period 1D")
    gen = "cached" if d["generate_s"] is None else f"{d['generate_s']:.1f} s"
    log(f"Input (not timed below): generate granules {gen}; read_granule x {d['granules']} "
        f"{d['read_s']:.1f} s; concat {d['concat_s']:.1f} s; table {d['bytes_in_memory'] / MB:.0f} MB")
    c = res.get("compile")
    if c:
        log(f"numba: cold compile {c['compile_s']:.1f} s (first call {c['first_call_s']:.1f} s with an "
            f"empty NUMBA_CACHE_DIR); first call from the on-disk cache {o['warmup_s']:.2f} s")
    log(line)
    base = o["rss_after_load"]
    log(f"{'':58s}{'best':>10s}{'median':>10s}{'peak RSS':>11s}{'peak-input':>11s}")
    for key, label in (("grid_segments", "ours: grid_segments, 4 statistics daily (lazy Dataset)"),
                       ("compute_dense", "ours: + .compute() of the dense daily arrays")):
        r = o[key]
        log(f"{label:58s}{fmt_s(r['best_s']):>10s}{fmt_s(r['median_s']):>10s}"
            f"{fmt_mb(r['peak_rss']):>11s}{fmt_mb(r['peak_rss'] - base):>11s}")
    p = o["profile"]
    log(f"{'ours: segments_to_sums alone (sparse statistics)':58s}{fmt_s(p['segments_to_sums_s']):>10s}")
    for key in ("grid_segments", "compute_dense"):
        r = o[key]
        flag = "  ** NO QUIET RUN: timings contended **" if r["contended"] else ""
        log(f"  ({key}: {r['n_quiet']} of {len(r['runs'])} runs had the machine to themselves; "
            f"quiet times {', '.join(f'{t:.3f}' for t in r['all_quiet_s'])} s){flag}")
    if s:
        scaled = " (scaled)" if s["scaled"] else ""
        log(f"{('seed as-is: to_crs + Affine list comp + groupby (count)' + scaled):58s}"
            f"{fmt_s(s['gridding_s']):>10s}{'once':>10s}{fmt_mb(s['peak_rss']):>11s}"
            f"{fmt_mb(s['peak_rss'] - s['rss_after_load']):>11s}")
        log(f"{('seed with 6250 m cells and (col, row)' + scaled):58s}{fmt_s(s['fixed_gridding_s']):>10s}"
            f"{'once':>10s}")
        a = s["as_is"]
        log(f"  seed steps: build GeoDataFrame {fmt_s(a['build_geodataframe_s'])} (excluded), to_crs "
            f"{fmt_s(a['to_crs_s'])}, list comprehension {fmt_s(a['grid_index_listcomp_s'])}, groupby "
            f"{fmt_s(a['groupby_count_s'])}, dense grid {fmt_s(a['dense_grid_s'])}; CPU time of the "
            f"section {fmt_s(a['cpu_s'])}, other processes' CPU meanwhile {fmt_s(a['foreign_cpu_s'])}"
            f"{'  [measured on ' + format(s['segments_timed'], ',') + ' segments]' if s['scaled'] else ''}")
    log(line)
    if p.get("error"):
        log(f"stage profile unavailable (package internals changed?): {p['error']}; "
            f"segments_to_sums {fmt_s(p['segments_to_sums_s'])}, to_dataset {fmt_s(p['to_dataset_s'])}")
    else:
        log(f"Where ours goes (best of {res['repeat']}): time view {fmt_s(p['time_view_s'])}, "
            f"_bin: validate + project + cell + period + runs (numba, "
            f"{res['machine']['numba_threads']} threads) {fmt_s(p['bin_s'])} [1 thread "
            f"{fmt_s(p['bin_1thread_s'])}] ({p['runs']:,} runs), sort + merge (_combine) "
            f"{fmt_s(p['combine_s'])} (argsort {fmt_s(p['combine_argsort_s'])}), to_dataset "
            f"{fmt_s(p['to_dataset_s'])}; segments_to_sums {fmt_s(p['segments_to_sums_s'])}; "
            f"{p['cell_days']:,} cell-days")
        log(f"  (for monthly periods, not timed above: month number of each segment "
            f"{fmt_s(p['month_index_s'])})")
    m = p.get("memory")
    if m:
        log(f"  peak RSS increments (MB, allocator not caching): grid_segments "
            f"{m['grid_segments_mb']:.0f}, segments_to_sums {m['segments_to_sums_mb']:.0f} "
            f"(result {m['sums_mb']:.1f}), to_dataset {m['to_dataset_mb']:.0f}")
        if "combine_mb" in m:
            log(f"    on one block of {m['block']:,} segments: time view {m['time_view_mb']:.0f}, "
                f"_bin {m['bin_mb']:.0f} (runs returned {m['bin_result_mb']:.1f}), _combine "
                f"{m['combine_mb']:.0f}; month index {m['month_index_mb']:.0f} "
                f"(result {m['month_index_result_mb']:.0f})")
        elif m.get("error"):
            log(f"    per-stage memory unavailable: {m['error']}")
    if "projection_compiled_s" in p:
        log(f"  projection alone: compiled {fmt_s(p['projection_compiled_s'])} "
            f"[1 thread {fmt_s(p['projection_compiled_1thread_s'])}], "
            f"pyproj {fmt_s(p['projection_pyproj_s'])}; "
            f"one read pass over the inputs {fmt_s(p['memory_pass_s'])}")
    elif p.get("projection_error"):
        log(f"  projection alone unavailable: {p['projection_error']}")
    log(f"  numba on-disk cache in the measuring process: {o.get('numba_cache')}")
    v = res["verdict"]
    if s:
        log(f"Speed-up, seed as-is / ours grid_segments: {v['speedup_median']:.0f}x (ours median), "
            f"{v['speedup_best']:.0f}x (ours best); target >= {TARGET_SPEEDUP:.0f}x: "
            f"{'MET' if v['speedup_met'] else 'NOT MET'}")
        log(f"  against the seed without affine 3.x's per-call deprecation warning "
            f"({s['affine_warning']['fraction']:.0%} of its list comprehension): "
            f"{v['speedup_median_no_affine_warning']:.0f}x; conservative (seed CPU time if lower, "
            f"no warning): {v['speedup_conservative']:.0f}x; including the seed's GeoDataFrame "
            f"build: {v['speedup_median_with_geodataframe']:.0f}x; ours incl. dense compute: "
            f"{v['speedup_median_incl_dense']:.0f}x")
    log(f"Ours process RSS: after imports {o['rss_after_imports'] / MB:.0f} MB, after loading the "
        f"table {base / MB:.0f} MB, after warm-up {o['rss_after_warmup'] / MB:.0f} MB, peak during "
        f"grid_segments {o['grid_segments']['peak_rss'] / MB:.0f} MB")
    log(f"Peak memory, ours grid_segments: {o['grid_segments']['peak_rss'] / MB:.0f} MB total process "
        f"(input table + interpreter + libraries included), "
        f"{(o['grid_segments']['peak_rss'] - base) / MB:.0f} MB above the loaded input; target <= "
        f"{TARGET_PEAK_BYTES / MB:.0f} MB: total {'MET' if v['memory_total_met'] else 'NOT MET'}, "
        f"increment {'MET' if v['memory_increment_met'] else 'NOT MET'}")
    q = res.get("machine_quiet")
    if q:
        log(f"Machine: {'quiet' if q['quiet'] else 'NOT QUIET (see machine_quiet in the JSON)'}; ours "
            f"quiet runs {q['ours_quiet_runs']}; seed section: wall {fmt_s(q.get('seed_wall_s'))}, CPU "
            f"{fmt_s(q.get('seed_cpu_s'))}, other processes' CPU meanwhile "
            f"{fmt_s(q.get('seed_foreign_cpu_s'))}; load average at start "
            f"{q['at_start']['loadavg'][0]:.2f}, at end {q['at_end']['loadavg'][0]:.2f}")
    if s and s["scaled"]:
        log("Check skipped: the seed was timed on a subset (--seed-segments)")
    if res.get("check"):
        ck = res["check"]
        log(f"Check: seed (6250 m, col/row) monthly count == sum over days of our segment_count in every "
            f"cell: {ck['month_equal']} ({ck['month_cells_with_data']:,} cells, "
            f"{ck['month_segments_ours']:,} segments); per (day, cell): {ck['daily_equal']} "
            f"({ck['cell_days_ours']:,} cell-days)")
    log(line)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segments", type=int, default=DEFAULT_SEGMENTS,
                    help="about how many strong-beam segments to grid (default 5,200,000)")
    ap.add_argument("--granules", type=int, default=DEFAULT_GRANULES,
                    help="fixture granules spread over September 2019 (default 59)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of our timings (default 3)")
    ap.add_argument("--seed-segments", type=int, default=None,
                    help="time the seed on this many segments (evenly spaced) and scale "
                         "linearly; default: all of them, once")
    ap.add_argument("--skip-seed", action="store_true", help="measure ours only (no factor)")
    ap.add_argument("--warning-subset", type=int, default=300_000,
                    help="segments used to measure affine's deprecation-warning overhead")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="results JSON")
    ap.add_argument("--wait-quiet", type=float, default=120.0,
                    help="seconds to wait at most for an idle machine before starting "
                         "(default 120; each timed run also waits, up to 60 s)")
    # internal: one approach per fresh process
    ap.add_argument("--only", choices=("ours", "seed", "compile", "memprofile"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--table", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    ap.add_argument("--check-file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.only:
        func = {"ours": child_ours, "seed": child_seed, "compile": child_compile,
                "memprofile": child_memprofile}[args.only]
        result = func(args)
        Path(args.result_file).write_text(json.dumps(result))
        return 0

    t_start = now()
    table, data = prepare_data(args.segments, args.granules)
    if args.wait_quiet > 0:
        log(f"[load] waiting up to {args.wait_quiet:.0f} s for an idle machine ...")
        waited = wait_quiet(args.wait_quiet, threshold=0.2, window=2.0)
        log(f"[load] waited {waited:.0f} s")
    load_start = machine_load()
    log(f"[load] at start: load average {load_start['loadavg'][0]:.2f}, other processes busy "
        f"{load_start['busy_cores']:.2f} cores {load_start['busy_processes']}")
    results: dict = {"benchmark": "ATL10 segments -> daily EASE-Grid 2.0 South 6.25 km, "
                                  "4 statistics (ours) vs the seed notebook's count grid",
                     "command": " ".join(["python", "benchmarks/bench_gridding.py"] + sys.argv[1:]),
                     "repeat": args.repeat, "machine": machine_info(), "data": data}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log("[compile] cold numba compile in a fresh process with an empty NUMBA_CACHE_DIR ...")
        results["compile"] = run_child("compile", args, table,
                                       env={"NUMBA_CACHE_DIR": str(tmp / "numba_cache")})
        log("[ours] fresh process ...")
        results["ours"] = run_child("ours", args, table, check_file=tmp / "ours.npz")
        log("[memprofile] peak memory per stage, fresh process, MALLOC_MMAP_THRESHOLD_=65536 ...")
        results["ours"]["profile"]["memory"] = run_child(
            "memprofile", args, table, env={"MALLOC_MMAP_THRESHOLD_": "65536"})
        if not args.skip_seed:
            log("[seed] fresh process (about a minute per 5 million segments, twice) ...")
            results["seed"] = run_child("seed", args, table, check_file=tmp / "seed.npz")
            if not results["seed"]["scaled"]:
                results["check"] = check(tmp / "ours.npz", tmp / "seed.npz", 2880, 2880)

    load_end = machine_load()
    o, s = results["ours"], results.get("seed")
    quiet: dict = {"at_start": load_start, "at_end": load_end,
                   "ours_quiet_runs": {k: f"{o[k]['n_quiet']} of {len(o[k]['runs'])}"
                                       for k in ("grid_segments", "compute_dense")},
                   "ours_contended": any(o[k]["contended"] for k in ("grid_segments", "compute_dense"))}
    if s:
        a = s["as_is"]
        wall = sum(a[k] for k in ("to_crs_s", "grid_index_listcomp_s", "groupby_count_s",
                                  "dense_grid_s"))
        quiet["seed_wall_s"], quiet["seed_cpu_s"] = wall, a["cpu_s"]
        quiet["seed_foreign_cpu_s"] = a["foreign_cpu_s"]
        # single-threaded: delayed if its wall time exceeds its CPU time; on a shared core
        # budget, also if other processes averaged half a core or more
        quiet["seed_contended"] = (wall - a["cpu_s"] > 0.03 * wall
                                   or a["foreign_cpu_s"] > 0.5 * wall)
    quiet["quiet"] = not (quiet["ours_contended"] or quiet.get("seed_contended", False))
    quiet["note"] = ("ours: only runs during which other processes used under 10 % of the run's "
                     "wall time in CPU are kept; seed (single-threaded, timed once): contended if "
                     "its wall time exceeds its CPU time by over 3 %, or other processes used "
                     "over half a core on average during it")
    results["machine_quiet"] = quiet
    verdict: dict = {
        "memory_definition": "peak RSS (VmHWM) of a fresh process over the timed grid_segments "
                             "calls, the kernel high-water mark reset (/proc/self/clear_refs) after "
                             "loading the input table and warming numba up; 'total' is that peak, "
                             "'increment' is that peak minus the RSS right after loading the table "
                             "(so it includes the ~60 MB numba/dask warm-up)",
        "peak_rss_total_bytes": o["grid_segments"]["peak_rss"],
        "peak_rss_increment_bytes": o["grid_segments"]["peak_rss"] - o["rss_after_load"],
    }
    verdict["memory_total_met"] = verdict["peak_rss_total_bytes"] <= TARGET_PEAK_BYTES
    verdict["memory_increment_met"] = verdict["peak_rss_increment_bytes"] <= TARGET_PEAK_BYTES
    if s:
        med, bst = o["grid_segments"]["median_s"], o["grid_segments"]["best_s"]
        lc = s["as_is"]["grid_index_listcomp_s"] * (s["segments_total"] / s["segments_timed"])
        no_warn = s["gridding_s"] - lc * s["affine_warning"]["fraction"]
        verdict.update(
            speedup_median=s["gridding_s"] / med,
            speedup_best=s["gridding_s"] / bst,
            speedup_median_no_affine_warning=no_warn / med,
            speedup_median_with_geodataframe=s["gridding_with_geodataframe_s"] / med,
            speedup_median_incl_dense=s["gridding_s"] / (med + o["compute_dense"]["median_s"]),
            speedup_fixed_seed_median=s["fixed_gridding_s"] / med,
            seed_scaled=s["scaled"],
        )
        seed_cpu = (s["as_is"]["cpu_s"] * (s["segments_total"] / s["segments_timed"])
                    if not s["scaled"] else s["gridding_s"])
        verdict["seed_cpu_s"] = seed_cpu
        verdict["speedup_conservative"] = (
            min(s["gridding_s"], seed_cpu) - lc * s["affine_warning"]["fraction"]) / med
        verdict["speedup_met"] = verdict["speedup_median"] >= TARGET_SPEEDUP
    results["verdict"] = verdict
    results["total_wall_s"] = now() - t_start
    report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1, default=float) + "\n")
    log(f"results written to {args.output}")
    if results.get("check") and not (results["check"]["month_equal"] and results["check"]["daily_equal"]):
        raise AssertionError(f"seed (fixed) and ours disagree: {results['check']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
