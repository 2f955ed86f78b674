#!/usr/bin/env python
"""Benchmark: ``build_timeseries`` at scale -- a month end to end, memory, Dask workers.

Three parts, each measured in fresh processes (``--parts month,memory,dask``):

**month** -- 59 full-size fixture granules (``make_fixture_granules(size="full")``, about
90,000 segments per strong beam) spread over September 2019 like the seed's month, read +
filtered + gridded into daily EASE-Grid 2.0 South 6.25 km grids:

* ours: ``build_timeseries(paths, ease2_grid("south", 6.25), "1D", scheduler=...)`` with
  the default quality filter, all four statistics, for ``serial``, ``threads`` (2) and
  ``processes`` (2); timed as returned (a lazy Dataset over exact sums) and with
  ``.compute()`` of the dense daily arrays;
* the seed notebook's pipeline on the same files: ``read_atl10_local`` (pqdm threads, 16
  as in the seed; h5coro with its ``FileDriver`` instead of the ``S3Driver``; a
  GeoDataFrame per beam; ``pd.concat`` of the first beam of each granule, as the seed
  does), ``to_crs(6932)``, the per-point ``get_grid_index`` list comprehension (10 km cells
  and swapped row/col kept: they do not change the cost), ``groupby("grid_index").count()``
  and the dense 2880 x 2880 grid. ``--seed-all-beams`` also times it with all three beams.

**memory** -- peak RSS (``VmHWM``) of a fresh process running ``build_timeseries`` over 60
and over 600 distinct granules of 5,000 segments per strong beam on successive orbits (the
real density: ~15 granules a day, so 4 and 40 days); and, for contrast, the seed's
approach (all segments in one GeoDataFrame) over the same granules.

**dask** -- ``build_timeseries(..., client=Client(LocalCluster(n_workers=k,
threads_per_worker=1)))`` for k = 1 and 2 on the month's granules (workers warmed up
first; cluster start-up timed apart), and the ``threads`` scheduler with 1 and 2 threads;
also the machine's own ceiling (two CPU-bound processes against one).

**reduce** -- ``build_timeseries``'s merge of the granule results alone
(``_OrderedMerger``), fed 1,500 / 6,000 / 24,000 synthetic results shaped like the month's
(~960 cell-days per granule, 29 granules a day), to see how it grows toward a decade.

Every timed run waits for a quiet machine and records the CPU time other processes used
meanwhile; runs that shared the machine are repeated (up to 3x the requested number) and
left out of best/median (flagged in the JSON).

Usage::

    python benchmarks/bench_timeseries.py                  # everything (~25 min, 2 cores)
    python benchmarks/bench_timeseries.py --quick          # small sets (~3 min)
    python benchmarks/bench_timeseries.py --parts memory   # one part (the others are kept
                                                           # from the previous results file)
    python benchmarks/bench_timeseries.py --seed-all-beams # also the seed with 3 beams

Granules are cached under ``benchmarks/.cache/`` (git-ignored): 59 full-size (1.7 GB,
~2 min to write) and 600 small ones (1.3 GB, ~2 min). Results:
``benchmarks/results/timeseries.json``. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
from pathlib import Path

import numpy as np  # module level, as in the seed notebook (its get_grid_index uses np, Affine)
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ts_common as C  # noqa: E402

SCRIPT = Path(__file__).resolve()
DEFAULT_OUTPUT = C.RESULTS / "timeseries.json"

TARGET_MONTH_SPEEDUP = 20.0
TARGET_MEMORY_RATIO = 1.2
TARGET_DASK_SPEEDUP = 1.7
SEED_EXECUTORS = 16  # the seed's read_atl10_local(..., executors=16)


# ============================================================================ the seed's code
# Copied from the seed notebook (coiled_h5coro_atl10_timeseries), changed only where it
# cannot run otherwise: local files with h5coro's FileDriver instead of earthaccess file
# objects with the S3Driver, and h5coro 1.0.7's API (readDatasets returns a promise that is
# indexed; the H5Coro object itself is no longer subscriptable).

def seed_read_atl10_local(files, executors, all_beams=False):
    from itertools import product

    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from h5coro import filedriver, h5coro
    from pqdm.threads import pqdm

    GPS_EPOCH = pd.to_datetime('1980-01-06 00:00:00')

    def get_strong_beams(f):
        """Returns ground track for strong beams based on IS2 orientation"""
        orient = f['orbit_info/sc_orient'][0]
        if orient == 0:
            return [f"gt{i}l" for i in [1, 2, 3]]
        elif orient == 1:
            return [f"gt{i}r" for i in [1, 2, 3]]
        else:
            raise KeyError("Spacecraft orientation neither forward nor backward")

    def read_atl10(file):
        # Open file object
        f = h5coro.H5Coro(str(file), filedriver.FileDriver)
        # Get strong beams based on orientation
        ancillary_datasets = ["orbit_info/sc_orient", "ancillary_data/atlas_sdp_gps_epoch"]
        anc = f.readDatasets(datasets=ancillary_datasets, block=True)
        strong_beams = get_strong_beams(anc)
        atlas_sdp_gps_epoch = anc["ancillary_data/atlas_sdp_gps_epoch"][:]
        # Create list of datasets to load
        datasets = ["freeboard_segment/latitude",
                    "freeboard_segment/longitude",
                    "freeboard_segment/delta_time",
                    "freeboard_segment/seg_dist_x",
                    "freeboard_segment/heights/height_segment_length_seg",
                    "freeboard_segment/beam_fb_height",
                    "freeboard_segment/heights/height_segment_type"]
        ds_list = ["/".join(p) for p in list(product(strong_beams, datasets))]
        # Load datasets
        got = f.readDatasets(datasets=ds_list, block=True)
        # Create a list of geopandas.DataFrames containing beams
        tracks = []
        for beam in strong_beams:
            ds = {dataset.split("/")[-1]: got[dataset][:] for dataset in ds_list if dataset.startswith(beam)}
            # Convert delta_time to datetime
            ds["delta_time"] = GPS_EPOCH + pd.to_timedelta(ds["delta_time"] + atlas_sdp_gps_epoch, unit='s')
            # Add beam identifier
            ds["beam"] = beam
            # Set fill values to NaN - assume 100 m as threshold
            ds["beam_fb_height"] = np.where(ds["beam_fb_height"] > 100, np.nan, ds["beam_fb_height"])
            geometry = gpd.points_from_xy(ds["longitude"], ds["latitude"])
            del ds["longitude"]
            del ds["latitude"]
            gdf = gpd.GeoDataFrame(ds, geometry=geometry, crs="EPSG:4326")
            gdf.dropna(axis=0, inplace=True)
            tracks.append(gdf)
        return tracks

    df = pqdm(files, read_atl10, n_jobs=executors)
    if all_beams:  # not the seed: every strong beam of every granule
        return pd.concat([t for tr in df if type(tr) is list for t in tr])
    combined = pd.concat([t[0] for t in df if type(t) is list])
    return combined


# the seed's grid (its defect kept: 10 km cells on a grid described as 6.25 km)
easegrid2_epsg = 6932
nrow = 2880
ncol = 2880
upper_left_x = -9000000.0
upper_left_y = 9000000.0
width = 10000.0
height = -10000.0


def get_grid_index(xy):
    geotransform = (upper_left_x, width, 0., upper_left_y, 0., height)
    fwd = Affine.from_gdal(*geotransform)
    row, col = ~fwd * xy
    return (np.floor(row) * ncol) + np.floor(col)


def seed_pipeline(files, executors, all_beams=False) -> dict:
    """The seed end to end; returns the time of each step."""
    import numpy as np

    t = {}
    t0 = C.now()
    tracks = seed_read_atl10_local(files, executors, all_beams)
    t["read_s"] = C.now() - t0
    n = len(tracks)
    t1 = C.now()
    tracks = tracks.to_crs(easegrid2_epsg)
    t["to_crs_s"] = C.now() - t1
    t1 = C.now()
    tracks["grid_index"] = [get_grid_index((x, y)) for x, y in zip(tracks.geometry.x, tracks.geometry.y,
                                                                          strict=True)]
    t["grid_index_listcomp_s"] = C.now() - t1
    t1 = C.now()
    cell_segment_counts = tracks.groupby("grid_index")["beam_fb_height"].count()
    t["groupby_s"] = C.now() - t1
    t1 = C.now()
    grid = np.zeros((nrow, ncol)).flatten()
    idx = cell_segment_counts.index.values.astype(int)
    ok = (idx >= 0) & (idx < nrow * ncol)  # the seed never clipped; negative indices wrap
    grid[idx[ok]] = cell_segment_counts.to_numpy()[ok]
    grid = grid.reshape((nrow, ncol))
    t["dense_grid_s"] = C.now() - t1
    t["total_s"] = C.now() - t0
    t["segments"] = n
    t["cells_with_data"] = int((grid > 0).sum())
    t["count_sum"] = float(grid.sum())
    return t


# ============================================================================ children


def _import_ours():
    import icesat2_tutorial as it

    return it


def child_ours(opts: dict) -> dict:
    """build_timeseries over the given granules, ``repeat`` times, one scheduler."""
    res: dict = {"rss_start": C.rss_now()}
    it = _import_ours()
    import numpy as np  # noqa: F401

    paths = opts["paths"]
    grid = it.ease2_grid("south", 6.25)
    kw = dict(scheduler=opts.get("scheduler", "serial"), workers=opts.get("workers"),
              progress=False)
    gc.collect()
    res["rss_after_imports"] = C.rss_now()
    t0 = C.now()
    it.build_timeseries(paths[:max(1, opts.get("workers") or 1)], grid, "1D", **kw)
    res["warmup_s"] = C.now() - t0
    gc.collect()
    res["rss_after_warmup"] = C.rss_now()
    res["peak_after_warmup"] = C.peak_rss()
    runs, computes = [], []
    r = -1
    while not runs or not C.enough_quiet(runs, opts["repeat"]):
        r += 1
        C.reset_peak()
        rec, ds = C.timed(lambda: it.build_timeseries(paths, grid, "1D", **kw))
        rec["peak_rss"] = C.peak_rss()
        rec["cores_busy"] = (rec["cpu_s"] + rec["cpu_children_s"]) / rec["wall_s"]
        C.mark_quiet(rec, rec["cpu_s"] + rec["cpu_children_s"])
        runs.append(rec)
        if r == 0:
            res["attrs"] = {k: ds.attrs[k] for k in ("granules_total", "granules_ok",
                                                      "granules_failed", "segments_read",
                                                      "segments_kept")}
            res["dims"] = {k: int(v) for k, v in ds.sizes.items()}
            res["dense_nbytes"] = int(sum(ds[v].nbytes for v in ds.data_vars))
        if opts.get("compute", True):
            rec2, dense = C.timed(ds.compute)
            rec2["peak_rss"] = C.peak_rss()
            C.mark_quiet(rec2, rec2["cpu_s"])
            computes.append(rec2)
            if r == 0:
                res["segment_count_sum"] = int(dense["segment_count"].sum())
                res["cell_days_with_data"] = int((dense["segment_count"] > 0).sum())
            del dense
        del ds
        gc.collect()
    res["runs"] = runs
    res["build"] = C.summarize(runs)
    if computes:
        res["compute"] = C.summarize(computes)
        res["build_plus_compute"] = C.summarize(
            [{"wall_s": a["wall_s"] + b["wall_s"], "quiet": a["quiet"] and b["quiet"]}
             for a, b in zip(runs, computes, strict=True)])
        res["compute_runs"] = computes
    # the first run's peak: later runs start from an RSS inflated by the previous .compute()
    # (freed memory the allocator keeps), so their peaks say less about build_timeseries
    res["peak_rss_build"] = runs[0]["peak_rss"]
    res["peak_rss_build_all_runs"] = [r["peak_rss"] for r in runs]
    res["peak_rss_process"] = max([res["peak_after_warmup"], res["peak_rss_build"]]
                                  + [c["peak_rss"] for c in computes])
    return res


def child_seed(opts: dict) -> dict:
    res: dict = {"rss_start": C.rss_now()}
    import geopandas  # noqa: F401
    import numpy as np  # noqa: F401
    import pandas as pd  # noqa: F401
    from affine import Affine  # noqa: F401
    from h5coro import filedriver, h5coro  # noqa: F401
    from pqdm.threads import pqdm  # noqa: F401

    paths = opts["paths"]
    gc.collect()
    res["rss_after_imports"] = C.rss_now()
    t0 = C.now()
    seed_pipeline(paths[:1], SEED_EXECUTORS, opts.get("all_beams", False))
    res["warmup_s"] = C.now() - t0
    gc.collect()
    res["rss_after_warmup"] = C.rss_now()
    res["peak_after_warmup"] = C.peak_rss()
    C.reset_peak()
    rec, steps = C.timed(lambda: seed_pipeline(paths, SEED_EXECUTORS, opts.get("all_beams", False)))
    rec["peak_rss"] = C.peak_rss()
    C.mark_quiet(rec, rec["cpu_s"])
    res["run"] = rec
    res["steps"] = steps
    res["peak_rss_process"] = max(res["peak_after_warmup"], rec["peak_rss"])
    return res


def _warm_worker(path: str) -> float:
    """Run on every Dask worker before timing: imports, numba cache, one granule."""
    import time

    import icesat2_tutorial as it

    t0 = time.perf_counter()
    it.build_timeseries([path], it.ease2_grid("south", 6.25), "1D", progress=False)
    return time.perf_counter() - t0


def _cpu_seconds() -> float:
    """CPU time (user + system, all threads) of the calling process."""
    import os

    t = os.times()
    return t.user + t.system


def _children_cpu_seconds() -> float:
    """CPU time of every live descendant of this process (Dask workers and nannies)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def child_dask(opts: dict) -> dict:
    it = _import_ours()
    from distributed import Client, LocalCluster

    paths = opts["paths"]
    grid = it.ease2_grid("south", 6.25)
    res: dict = {"n_workers": opts["n_workers"]}
    t0 = C.now()
    cluster = LocalCluster(n_workers=opts["n_workers"], threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    res["cluster_start_s"] = C.now() - t0
    try:
        t0 = C.now()
        res["worker_warmup_s"] = client.run(_warm_worker, str(paths[0]))
        res["warmup_total_s"] = C.now() - t0
        runs = []
        while not runs or not C.enough_quiet(runs, opts["repeat"]):
            w0 = client.run(_cpu_seconds)
            k0 = _children_cpu_seconds()
            rec, ds = C.timed(lambda: it.build_timeseries(paths, grid, "1D", client=client,
                                                          progress=False))
            w1 = client.run(_cpu_seconds)
            rec["children_cpu_s"] = _children_cpu_seconds() - k0  # workers and nannies
            rec["worker_cpu_s"] = {str(i): w1[k] - w0[k] for i, k in enumerate(sorted(w1))}
            rec["worker_cores_busy"] = sum(rec["worker_cpu_s"].values()) / rec["wall_s"]
            rec["client_cores_busy"] = rec["cpu_s"] / rec["wall_s"]
            C.mark_quiet(rec, rec["cpu_s"] + max(rec["children_cpu_s"],
                                                 sum(rec["worker_cpu_s"].values())))
            runs.append(rec)
            res["attrs"] = {k: ds.attrs[k] for k in ("granules_ok", "granules_failed",
                                                      "segments_kept")}
            del ds
        res["runs"] = runs
        res["build"] = C.summarize(runs)
        res["worker_peak_rss"] = list(C.children_peak_rss().values())
    finally:
        client.close()
        cluster.close()
    return res


def child_reduce(opts: dict) -> dict:
    """build_timeseries's reduce alone: ``_OrderedMerger`` fed synthetic granule results.

    Shaped like the month's (about 960 cell-days per full-size granule) at both hemispheres'
    density (29 granules a day), keys arriving in time order, as the tasks return them.
    """
    import numpy as np

    it = _import_ours()
    from icesat2_tutorial.bucket import PartialSums
    from icesat2_tutorial.periods import parse_period
    from icesat2_tutorial.timeseries import GranuleResult, _OrderedMerger

    grid, per = it.ease2_grid("south", 6.25), parse_period("1D")
    ncell = grid.shape[0] * grid.shape[1]
    rng = np.random.default_rng(0)

    def result(i):
        day = 17775 + i // 29
        keys = np.unique(day * ncell + rng.integers(0, ncell, 980)).astype(np.int64)
        n = len(keys)
        return GranuleResult(i, f"g{i}", PartialSums(grid, per, "beam_fb_height", keys,
                                                     np.ones(n, np.int64), np.ones(n),
                                                     np.zeros(n), np.zeros(n)))

    out = []
    for n in opts["granules"]:
        results = [result(i) for i in range(n)]
        merger = _OrderedMerger(PartialSums(grid, per, "beam_fb_height"))
        t0 = C.now()
        for r in results:
            merger.add(r)
        total = merger.finish()
        dt = C.now() - t0
        out.append({"granules": n, "reduce_s": dt, "ms_per_granule": dt / n * 1000,
                    "cell_days": int(len(total.key))})
        del results, merger, total
        gc.collect()
    return {"runs": out}


CHILDREN = {"ours": child_ours, "seed": child_seed, "dask": child_dask, "reduce": child_reduce}


def run_child(kind: str, opts: dict) -> dict:
    opts = dict(opts, paths=[str(p) for p in opts["paths"]])
    return C.run_child(SCRIPT, ["--child", kind, json.dumps(opts)])


# ============================================================================ parts


def part_month(args, results: dict) -> None:
    if args.quick:
        month_dir = C.CACHE / "atl10_2019-09_59g_full"
        if (month_dir / "complete.json").exists():
            paths, info = C.month_granules(59, "full")
            paths = paths[::7][:8]
            info = dict(info, granules=len(paths), subset="every 7th granule, first 8")
        else:
            paths, info = C.month_granules(8, "full")
    else:
        paths, info = C.month_granules(59, "full")
    out: dict = {"data": info}
    results["month"] = out
    configs = [("serial", None), ("threads", 2), ("processes", 2)]
    out["ours"] = {}
    for sched, workers in configs:
        label = sched if workers is None else f"{sched}({workers})"
        C.log(f"[month] ours, build_timeseries scheduler={label}, fresh process, "
              f"{args.repeat} runs ...")
        r = run_child("ours", {"paths": paths, "scheduler": sched, "workers": workers,
                               "repeat": args.repeat})
        out["ours"][label] = r
        C.log(f"[month]   build {r['build']['median_s']:.2f} s median "
              f"(best {r['build']['best_s']:.2f}); + compute {r['compute']['median_s']:.2f} s; "
              f"{r['attrs']['segments_read']:,} segments read, {r['attrs']['segments_kept']:,} "
              f"kept; peak RSS {r['peak_rss_build'] / C.MB:.0f} MB")
        save(args, results)
    C.log(f"[month] seed pipeline (pqdm {SEED_EXECUTORS} threads + h5coro + GeoDataFrame + "
          f"to_crs + list comprehension + groupby), fresh process, once ...")
    out["seed"] = run_child("seed", {"paths": paths})
    s = out["seed"]
    C.log(f"[month]   seed {s['steps']['total_s']:.1f} s: " + ", ".join(
        f"{k[:-2]} {v:.1f}" for k, v in s["steps"].items() if k.endswith("_s") and k != "total_s")
        + f"; {s['steps']['segments']:,} segments; peak RSS {s['run']['peak_rss'] / C.MB:.0f} MB")
    save(args, results)
    if args.seed_all_beams:
        C.log("[month] seed pipeline with all three strong beams (not the seed's t[0]) ...")
        out["seed_all_beams"] = run_child("seed", {"paths": paths, "all_beams": True})
        s3 = out["seed_all_beams"]
        C.log(f"[month]   seed, 3 beams: {s3['steps']['total_s']:.1f} s; "
              f"{s3['steps']['segments']:,} segments; peak RSS {s3['run']['peak_rss'] / C.MB:.0f} MB")
    # verdict
    seed_t = s["steps"]["total_s"]
    best_label = min(out["ours"], key=lambda k: out["ours"][k]["build"]["median_s"])
    best = out["ours"][best_label]
    v = {
        "seed_total_s": seed_t,
        "best_config": best_label,
        "ours_build_median_s": {k: r["build"]["median_s"] for k, r in out["ours"].items()},
        "ours_build_best_s": {k: r["build"]["best_s"] for k, r in out["ours"].items()},
        "ours_build_plus_compute_median_s": {k: r["build_plus_compute"]["median_s"]
                                             for k, r in out["ours"].items()},
        "speedup_median": {k: seed_t / r["build"]["median_s"] for k, r in out["ours"].items()},
        "speedup_incl_compute_median": {k: seed_t / r["build_plus_compute"]["median_s"]
                                        for k, r in out["ours"].items()},
        "speedup_best_config_median": seed_t / best["build"]["median_s"],
        "speedup_seed_read_only_vs_ours": s["steps"]["read_s"] / best["build"]["median_s"],
        "target": TARGET_MONTH_SPEEDUP,
    }
    if "seed_all_beams" in out:
        v["seed_all_beams_total_s"] = out["seed_all_beams"]["steps"]["total_s"]
        v["speedup_vs_seed_all_beams"] = v["seed_all_beams_total_s"] / best["build"]["median_s"]
    v["target_met"] = v["speedup_best_config_median"] >= TARGET_MONTH_SPEEDUP
    out["verdict"] = v
    save(args, results)


def part_memory(args, results: dict) -> None:
    small, large = (10, 100) if args.quick else (60, 600)
    paths, info = C.orbit_granules(large, size=5000)
    out: dict = {"data": info, "n_small": small, "n_large": large}
    results["memory"] = out
    for sched, workers in (("serial", None), ("threads", 2)):
        label = sched if workers is None else f"{sched}({workers})"
        for n in (small, large):
            C.log(f"[memory] ours over {n} granules, scheduler={label}, fresh process ...")
            r = run_child("ours", {"paths": paths[:n], "scheduler": sched, "workers": workers,
                                   "repeat": 1, "compute": False})
            out[f"ours_{label}_{n}"] = r
            C.log(f"[memory]   {r['build']['best_s']:.1f} s; peak RSS {r['peak_rss_process'] / C.MB:.0f}"
                  f" MB (process), {(r['peak_rss_build'] - r['rss_after_imports']) / C.MB:.0f} MB "
                  f"above the imports; {r['dims']}")
            save(args, results)
    for n in (small, large):
        C.log(f"[memory] seed approach (one GeoDataFrame) over {n} granules, fresh process ...")
        r = run_child("seed", {"paths": paths[:n]})
        out[f"seed_{n}"] = r
        C.log(f"[memory]   {r['steps']['total_s']:.1f} s; peak RSS {r['peak_rss_process'] / C.MB:.0f} MB;"
              f" {r['steps']['segments']:,} segments")
        save(args, results)
    v: dict = {"target_ratio": TARGET_MEMORY_RATIO,
               "definition": "peak RSS (VmHWM) of the whole fresh process, imports included"}
    for label in ("serial", "threads(2)"):
        a, b = out[f"ours_{label}_{small}"], out[f"ours_{label}_{large}"]
        v[f"ours_{label}_peak_small_mb"] = a["peak_rss_process"] / C.MB
        v[f"ours_{label}_peak_large_mb"] = b["peak_rss_process"] / C.MB
        v[f"ours_{label}_ratio"] = b["peak_rss_process"] / a["peak_rss_process"]
        v[f"ours_{label}_increment_small_mb"] = (a["peak_rss_build"] - a["rss_after_imports"]) / C.MB
        v[f"ours_{label}_increment_large_mb"] = (b["peak_rss_build"] - b["rss_after_imports"]) / C.MB
    v["seed_peak_small_mb"] = out[f"seed_{small}"]["peak_rss_process"] / C.MB
    v["seed_peak_large_mb"] = out[f"seed_{large}"]["peak_rss_process"] / C.MB
    v["seed_ratio"] = out[f"seed_{large}"]["peak_rss_process"] / out[f"seed_{small}"]["peak_rss_process"]
    v["target_met"] = all(v[f"ours_{lb}_ratio"] <= TARGET_MEMORY_RATIO for lb in ("serial", "threads(2)"))
    out["verdict"] = v
    save(args, results)


def part_dask(args, results: dict) -> None:
    if args.quick:
        paths, info = C.orbit_granules(100, size=5000)
        paths = paths[:24]
        info = dict(info, granules=24)
        if (C.CACHE / "atl10_2019-09_59g_full" / "complete.json").exists():
            paths, info = C.month_granules(59, "full")
            paths = paths[:12]
            info = dict(info, granules=12)
    else:
        paths, info = C.month_granules(59, "full")
    out: dict = {"data": info}
    results["dask"] = out
    C.log("[dask] the machine's own ceiling: 1 vs 2 processes on CPU-bound loops ...")
    out["parallel_ceiling"] = C.parallel_ceiling()
    C.log("[dask]   speed-up of 2 processes over 1: " + ", ".join(
        f"{k} {v['speedup_2_vs_1']:.2f}x" for k, v in out["parallel_ceiling"].items()))
    for k in (1, 2):
        C.log(f"[dask] LocalCluster(n_workers={k}, threads_per_worker=1), fresh process ...")
        r = run_child("dask", {"paths": paths, "n_workers": k, "repeat": args.repeat})
        out[f"localcluster_{k}"] = r
        C.log(f"[dask]   {r['build']['median_s']:.2f} s median (best {r['build']['best_s']:.2f}); "
              f"cluster start {r['cluster_start_s']:.1f} s")
        save(args, results)
    for k in (1, 2):
        C.log(f"[dask] threads scheduler, {k} thread(s), fresh process ...")
        r = run_child("ours", {"paths": paths, "scheduler": "threads", "workers": k,
                               "repeat": args.repeat, "compute": False})
        out[f"threads_{k}"] = r
        C.log(f"[dask]   {r['build']['median_s']:.2f} s median (best {r['build']['best_s']:.2f})")
        save(args, results)
    d1, d2 = out["localcluster_1"]["build"], out["localcluster_2"]["build"]
    t1, t2 = out["threads_1"]["build"], out["threads_2"]["build"]
    busy = {k: statistics.median(r[key] for r in out[k]["runs"])
            for k, key in (("localcluster_1", "worker_cores_busy"),
                           ("localcluster_2", "worker_cores_busy"))}
    v = {"localcluster_speedup_median": d1["median_s"] / d2["median_s"],
         "worker_cores_busy_median": busy,
         "client_cores_busy_median": {k: statistics.median(r["client_cores_busy"]
                                                           for r in out[k]["runs"])
                                      for k in ("localcluster_1", "localcluster_2")},
         "threads_cores_busy_median": {k: statistics.median(r["cores_busy"]
                                                            for r in out[k]["runs"])
                                       for k in ("threads_1", "threads_2")},
         "machine_ceiling_2_vs_1": {k: c["speedup_2_vs_1"]
                                    for k, c in out["parallel_ceiling"].items()},
         "localcluster_speedup_best": d1["best_s"] / d2["best_s"],
         "threads_speedup_median": t1["median_s"] / t2["median_s"],
         "target": TARGET_DASK_SPEEDUP}
    v["target_met"] = v["localcluster_speedup_median"] >= TARGET_DASK_SPEEDUP
    out["verdict"] = v
    save(args, results)


def part_reduce(args, results: dict) -> None:
    sizes = [500, 1000, 2000] if args.quick else [1500, 6000, 24000]
    C.log(f"[reduce] build_timeseries's merge of granule results alone, {sizes} granules ...")
    r = C.run_child(SCRIPT, ["--child", "reduce", json.dumps({"granules": sizes})])
    runs = r["runs"]
    for x in runs:
        C.log(f"[reduce]   {x['granules']:6d} granules: {x['reduce_s']:6.1f} s "
              f"({x['ms_per_granule']:.1f} ms per granule), {x['cell_days']:,} cell-days")
    # extrapolate from the largest run with the growth measured between the smallest and it
    decade = round(14.5 * 2 * 365.25 * 10)
    last = runs[-1]
    exponent = float(np.log(runs[-1]["reduce_s"] / runs[0]["reduce_s"])
                     / np.log(runs[-1]["granules"] / runs[0]["granules"]))
    decade_s = last["reduce_s"] * (decade / last["granules"]) ** exponent
    results["reduce"] = {"runs": runs, "growth_exponent": exponent, "decade_granules": decade,
                         "decade_reduce_s_extrapolated": decade_s,
                         "decade_cell_days_extrapolated":
                             round(last["cell_days"] * decade / last["granules"])}
    C.log(f"[reduce]   time grows as granules^{exponent:.2f}; a decade ({decade:,} granules, "
          f"daily 6.25 km cells) extrapolated with that exponent: {decade_s / 60:.1f} min")
    save(args, results)


def save(args, results: dict) -> None:
    args.output.parent.mkdir(parents=True, exist_ok=True)
    results["total_wall_s"] = C.now() - results["_t0"]
    clean = {k: v for k, v in results.items() if not k.startswith("_")}
    args.output.write_text(json.dumps(clean, indent=1, default=str) + "\n")


def report(results: dict) -> None:
    C.log("")
    C.log("=" * 78)
    if "month" in results and "verdict" in results["month"]:
        v = results["month"]["verdict"]
        m = results["month"]
        C.log(f"1. A month, {m['data']['granules']} full-size granules, read + filter + daily 6.25 km grids")
        C.log(f"   seed pipeline: {v['seed_total_s']:.1f} s ({m['seed']['steps']['segments']:,} "
              f"segments, first strong beam of each granule)")
        for k in v["ours_build_median_s"]:
            C.log(f"   ours {k:14s}: {v['ours_build_median_s'][k]:6.2f} s median "
                  f"({v['speedup_median'][k]:5.1f}x); with .compute() "
                  f"{v['ours_build_plus_compute_median_s'][k]:6.2f} s "
                  f"({v['speedup_incl_compute_median'][k]:5.1f}x)")
        if "speedup_vs_seed_all_beams" in v:
            C.log(f"   seed with all 3 beams: {v['seed_all_beams_total_s']:.1f} s "
                  f"({v['speedup_vs_seed_all_beams']:.1f}x)")
        C.log(f"   best: {v['best_config']} {v['speedup_best_config_median']:.1f}x; target "
              f">= {v['target']:.0f}x: {'met' if v['target_met'] else 'NOT met'}")
    if "memory" in results and "verdict" in results["memory"]:
        v = results["memory"]["verdict"]
        m = results["memory"]
        C.log(f"3. Memory, {m['n_small']} vs {m['n_large']} granules (5,000 segments per strong beam)")
        for lb in ("serial", "threads(2)"):
            C.log(f"   ours {lb:11s}: peak RSS {v[f'ours_{lb}_peak_small_mb']:.0f} MB vs "
                  f"{v[f'ours_{lb}_peak_large_mb']:.0f} MB: ratio {v[f'ours_{lb}_ratio']:.3f}")
        C.log(f"   seed approach: {v['seed_peak_small_mb']:.0f} MB vs {v['seed_peak_large_mb']:.0f} MB: "
              f"ratio {v['seed_ratio']:.2f}")
        C.log(f"   target <= {v['target_ratio']}: {'met' if v['target_met'] else 'NOT met'}")
    if "dask" in results and "verdict" in results["dask"]:
        v = results["dask"]["verdict"]
        d = results["dask"]
        C.log(f"4. Dask LocalCluster, {d['data']['granules']} granules")
        C.log(f"   1 worker {d['localcluster_1']['build']['median_s']:.2f} s, 2 workers "
              f"{d['localcluster_2']['build']['median_s']:.2f} s: {v['localcluster_speedup_median']:.2f}x; "
              f"threads 1 {d['threads_1']['build']['median_s']:.2f} s, 2 "
              f"{d['threads_2']['build']['median_s']:.2f} s: {v['threads_speedup_median']:.2f}x")
        if "worker_cores_busy_median" in v:
            C.log("   cores kept busy by the workers: " + ", ".join(
                f"{k} {x:.2f}" for k, x in v["worker_cores_busy_median"].items())
                + "; by the client: " + ", ".join(
                f"{k} {x:.2f}" for k, x in v["client_cores_busy_median"].items()))
            C.log("   this machine, 2 processes vs 1 on CPU-bound loops: " + ", ".join(
                f"{k} {x:.2f}x" for k, x in v["machine_ceiling_2_vs_1"].items()))
        C.log(f"   target >= {v['target']}x: {'met' if v['target_met'] else 'NOT met'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sets, 2 runs each")
    ap.add_argument("--parts", default="month,memory,dask,reduce",
                    help="comma-separated: month,memory,dask,reduce")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per configuration (3)")
    ap.add_argument("--seed-all-beams", action="store_true",
                    help="also time the seed pipeline with all three strong beams")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for other benchmarks")
    ap.add_argument("--output", type=Path, default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("child_opts", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import logging
        import warnings

        warnings.simplefilter("ignore")
        logging.getLogger("distributed").setLevel(logging.ERROR)
        out = CHILDREN[args.child](json.loads(args.child_opts))
        print(json.dumps(out, default=str), flush=True)
        return 0
    args.repeat = args.repeat or (2 if args.quick else 3)
    args.output = args.output or (C.RESULTS / "timeseries_quick.json" if args.quick else DEFAULT_OUTPUT)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    results: dict = {"benchmark": "timeseries", "quick": args.quick,
                     "command": " ".join([Path(sys.executable).name, *sys.argv]),
                     "machine": C.machine_info(), "_t0": C.now()}
    if args.output.exists():  # keep the parts not rerun this time
        try:
            old = json.loads(args.output.read_text())
            for p in ("month", "memory", "dask", "reduce"):
                if p not in parts and p in old:
                    results[p] = old[p]
                    results.setdefault("kept_from_earlier_run", []).append(
                        {"part": p, "date_utc": old.get("machine", {}).get("date_utc")})
        except Exception:
            pass
    if not args.no_wait:
        results["machine"]["wait"] = C.wait_for_machine()
    for p in parts:
        {"month": part_month, "memory": part_memory, "dask": part_dask,
         "reduce": part_reduce}[p](args, results)
    save(args, results)
    report(results)
    C.log(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
