"""Shared helpers for ``bench_timeseries.py`` and ``bench_cloud_reads.py``.

Memory, CPU-contention and machine-information helpers (the same methods as
``bench_gridding.py``: peak RSS from ``VmHWM`` with a reset through ``/proc/self/clear_refs``,
waiting for a quiet machine before each timed run), and the cached fixture granule sets.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = HERE / ".cache"
RESULTS = HERE / "results"
MB = 1e6

#: The seed notebook's month: September 2019, 59 granules over the Ross Sea.
MONTH_START = "2019-09-01T00:00:00"
MONTH_DAYS = 30


def now() -> float:
    return time.perf_counter()


def log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- memory


def _status_field(name: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss_now() -> int:
    """Current resident set size, bytes."""
    v = _status_field("VmRSS")
    if v is not None:
        return v
    import psutil

    return psutil.Process().memory_info().rss


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """Peak RSS (``VmHWM``) since the process started or the last :func:`reset_peak`.

    Not ``getrusage().ru_maxrss``: the kernel folds the high-water mark into it for good
    whenever a thread exits, so after a reset it can still report an earlier peak.
    """
    v = _status_field("VmHWM")
    if v is not None:
        return v
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * (1 if sys.platform == "darwin" else 1024)


def children_peak_rss(pid: int | None = None) -> dict[int, int]:
    """``VmHWM`` of every live descendant of ``pid`` (default: this process), bytes."""
    import psutil

    out = {}
    for child in psutil.Process(pid).children(recursive=True):
        try:
            with open(f"/proc/{child.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        out[child.pid] = int(line.split()[1]) * 1024
        except OSError:
            pass
    return out


# ----------------------------------------------------------------------------- CPU contention

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def system_busy_s() -> float:
    """CPU-seconds all processes on the machine have used (``/proc/stat``), all cores."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(v) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait


def wait_quiet(max_wait: float = 60.0, threshold: float = 0.1, window: float = 0.5) -> float:
    """Wait until the rest of the machine uses under ``threshold`` of a core; seconds waited."""
    t0 = now()
    while now() - t0 < max_wait:
        b0 = system_busy_s()
        time.sleep(window)
        if (system_busy_s() - b0) / window < threshold:
            break
    return now() - t0


def other_benchmarks_running() -> list[str]:
    """Command lines of other benchmark processes (``bench_*.py``) on this machine."""
    import psutil

    me = {os.getpid(), os.getppid()}
    try:
        me |= {p.pid for p in psutil.Process().parents()}
        me |= {p.pid for p in psutil.Process().children(recursive=True)}
    except Exception:
        pass
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if p.info["pid"] in me or "bench_" not in cmd or "python" not in cmd:
            continue
        found.append(cmd[:200])
    return found


def wait_for_machine(max_wait: float = 600.0, poll: float = 10.0) -> dict:
    """Wait (up to ``max_wait``) until no other ``bench_*.py`` runs and the load is low."""
    t0 = now()
    seen: list[str] = []
    while now() - t0 < max_wait:
        others = [c for c in other_benchmarks_running() if "bench_timeseries" not in c
                  and "bench_cloud_reads" not in c]
        load1 = os.getloadavg()[0]
        if not others and load1 < 1.5:
            break
        seen = others or seen
        log(f"[wait] machine busy (load {load1:.2f}; other benchmarks: {len(others)}); "
            f"polling again in {poll:.0f} s")
        time.sleep(poll)
    return {"waited_s": now() - t0, "other_benchmarks_seen": seen,
            "loadavg_at_start": list(os.getloadavg())}


def timed(func):
    """Run ``func()`` once after waiting for a quiet machine: (record, output).

    The record has wall and CPU time of this process, and the CPU time other processes
    (not our children: their CPU is ours) used meanwhile ("foreign").
    """
    gc.collect()
    waited = wait_quiet()
    b0, t0 = system_busy_s(), now()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = func()
    wall = now() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    cpu_children = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    busy = system_busy_s() - b0
    return {"wall_s": wall, "cpu_s": cpu, "cpu_children_s": cpu_children,
            "machine_busy_cpu_s": busy, "waited_s": waited}, out


def mark_quiet(rec: dict, own_cpu_s: float, tolerance: float = 0.1) -> dict:
    """Record the CPU time other processes used during a run, and whether it was quiet.

    ``own_cpu_s``: all the CPU the measured work used (this process, its pool or workers).
    Quiet: the others used at most ``tolerance`` of a core over the run (at least 0.3 s).
    """
    rec["foreign_cpu_s"] = max(0.0, rec["machine_busy_cpu_s"] - own_cpu_s)
    rec["quiet"] = rec["foreign_cpu_s"] <= max(0.3, tolerance * rec["wall_s"])
    return rec


def summarize(runs: list[dict]) -> dict:
    """Best and median wall time over the quiet runs (over all runs if none was quiet)."""
    quiet = [r["wall_s"] for r in runs if r.get("quiet", True)]
    walls = quiet or [r["wall_s"] for r in runs]
    return {"best_s": min(walls), "median_s": statistics.median(walls), "runs_s": walls,
            "n_quiet": len(quiet), "n_runs": len(runs), "contended": not quiet,
            "all_runs_s": [r["wall_s"] for r in runs]}


def enough_quiet(runs: list[dict], repeat: int) -> bool:
    """Stop repeating: ``repeat`` quiet runs, or ``3 * repeat`` attempts."""
    return (sum(r.get("quiet", True) for r in runs) >= repeat
            or len(runs) >= max(3 * repeat, repeat + 2))


# ----------------------------------------------------------------------------- machine


#: Libraries whose versions the time-series and cloud-read results record.
VERSIONED = ("h5coro", "h5py", "numba", "geopandas", "shapely", "pyproj", "affine", "xarray",
             "dask", "distributed", "s3fs", "fsspec", "boto3", "moto", "pqdm", "earthaccess")


def machine_info(modules: tuple[str, ...] = VERSIONED) -> dict:
    """Date, machine, Python, the versions of ``modules``, and the git commit measured."""
    import numpy as np
    import pandas as pd

    info: dict = {
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    for mod in modules:
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", None)
        except Exception:
            info[mod] = None
    try:
        with open("/proc/cpuinfo") as fh:
            models = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        info["cpu_model"] = models[0] if models else platform.processor()
    except OSError:
        info["cpu_model"] = platform.processor()
    try:
        with open("/proc/meminfo") as fh:
            info["mem_total_gb"] = round(int(fh.readline().split()[1]) * 1024 / 1e9, 1)
    except OSError:
        info["mem_total_gb"] = None
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "icesat2_tutorial"], capture_output=True, text=True,
                               check=True).stdout.strip()
        info["git_commit"] = rev
        info["package_tree_dirty"] = bool(dirty)
        info["package_dirty_files"] = dirty.splitlines()
    except Exception:
        info["git_commit"] = None
    return info


# ----------------------------------------------------------------------------- data


def _cached(directory: Path) -> list[Path] | None:
    marker = directory / "complete.json"
    if not marker.exists():
        return None
    names = json.loads(marker.read_text())["files"]
    paths = [directory / n for n in names]
    return paths if all(p.exists() for p in paths) else None


def write_month_granules(directory: Path, n: int, size: Any, progress: bool = False,
                         sc_orient: int | str | None = None) -> list[Path]:
    """``n`` fixture granules spread evenly over the month from ``MONTH_START``, as the seed's were.

    ``sc_orient``: one orientation for all (as a real month has: the spacecraft turns about
    twice a year); ``"alternate"``, 0 and 1 by turns, granule after granule; ``None``, the
    fixtures' own schedule (by orbit number: even 0, odd 1).
    """
    import numpy as np

    import icesat2_tutorial as it

    t0 = now()
    start = np.datetime64(MONTH_START, "s")
    step = MONTH_DAYS * 86_400 / n
    paths: list[Path] = []
    for i in range(n):
        when = str(start + np.timedelta64(int(round(i * step)), "s"))
        orient = i % 2 if sc_orient == "alternate" else sc_orient
        paths += it.make_fixture_granules(directory, n=1, size=size, start=when, sc_orient=orient)
        if progress and (i + 1) % 10 == 0:
            log(f"[data]   {i + 1}/{n} ({now() - t0:.0f} s)")
    return paths


def month_granules(n: int = 59, size="full",
                   sc_orient: int | str | None = None) -> tuple[list[Path], dict]:
    """``n`` fixture granules spread evenly over September 2019 (as the seed's month).

    One granule every 30 days / ``n`` (12.2 hours for 59): the first orbit at or after each
    time, as in ``bench_gridding.py``. Cached under ``benchmarks/.cache/``. ``sc_orient``: see
    :func:`write_month_granules`.
    """
    tag = "full" if size == "full" else f"{size}seg"
    if sc_orient is not None:
        tag += f"_orient{sc_orient}" if sc_orient != "alternate" else "_alternate"
    directory = CACHE / f"atl10_2019-09_{n}g_{tag}"
    info = {"granules": n, "size": size, "cache_dir": str(directory.relative_to(ROOT)),
            "layout": f"one granule every {MONTH_DAYS * 24 / n:.1f} h from {MONTH_START[:10]}"}
    paths = _cached(directory)
    if paths is not None:
        info["generate_s"] = None
        log(f"[data] reusing {len(paths)} cached granules in {info['cache_dir']}")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        log(f"[data] writing {n} fixture granules (size={size!r}) over {MONTH_DAYS} days "
            f"into {info['cache_dir']} ...")
        t0 = now()
        paths = write_month_granules(directory, n, size, progress=True, sc_orient=sc_orient)
        _mark_complete(directory, paths, size, info, t0)
    info["bytes_on_disk"] = int(sum(p.stat().st_size for p in paths))
    return paths, info


def _mark_complete(directory: Path, paths: list[Path], size: Any, info: dict, t0: float) -> None:
    """Record a finished cache directory (``_cached`` trusts only complete ones)."""
    info["generate_s"] = now() - t0
    (directory / "complete.json").write_text(
        json.dumps({"files": [p.name for p in paths], "size": size}, indent=1))
    log(f"[data] wrote them in {info['generate_s']:.0f} s")


def orbit_granules(n: int, size: int = 5000) -> tuple[list[Path], dict]:
    """``n`` fixture granules on successive orbits from 2019-09-01 (~15 a day, one hemisphere).

    This is the real density of ATL10 in one hemisphere: 600 granules are 40 days.
    Cached under ``benchmarks/.cache/``; a larger cached set is reused for a smaller ``n``
    (its first ``n`` granules are the same files).
    """
    import icesat2_tutorial as it

    info: dict = {"granules": n, "size": size,
                  "layout": "successive orbits (about 15 a day) from 2019-09-01"}
    if CACHE.exists():
        for d in sorted(CACHE.glob(f"atl10_orbits_*g_{size}seg")):
            have = int(d.name.split("_")[2][:-1])
            paths = _cached(d) if have >= n else None
            if paths is not None:
                info["cache_dir"] = str(d.relative_to(ROOT))
                info["generate_s"] = None
                log(f"[data] reusing the first {n} of {len(paths)} cached granules in {d.name}")
                paths = paths[:n]
                info["bytes_on_disk"] = int(sum(p.stat().st_size for p in paths))
                return paths, info
    directory = CACHE / f"atl10_orbits_{n}g_{size}seg"
    info["cache_dir"] = str(directory.relative_to(ROOT))
    log(f"[data] writing {n} fixture granules ({size} segments per strong beam) on successive "
        f"orbits into {info['cache_dir']} ...")
    t0 = now()
    paths = it.make_fixture_granules(directory, n=n, size=size, start="2019-09-01")
    _mark_complete(directory, paths, size, info, t0)
    info["bytes_on_disk"] = int(sum(p.stat().st_size for p in paths))
    return paths, info


def run_child(script: Path, args: list[str], env: dict | None = None,
              timeout: float = 3600) -> dict:
    """Run ``script --child ...`` in a fresh interpreter; its last stdout line is JSON."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONWARNINGS", "ignore")
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    for ln in lines[:-1]:
        log("    " + ln)
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-5000:])
        raise RuntimeError(f"child {args} failed with code {proc.returncode}")
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- the machine's ceiling

def _burn(kind: str) -> tuple[float, float]:
    """One CPU-bound job; returns (wall, CPU) seconds of its loop."""
    import time as _time

    if kind == "zlib":
        import zlib

        import numpy as np

        data = zlib.compress(np.random.default_rng(0).integers(0, 50, 10_000_000, dtype=np.uint8)
                             .tobytes(), 6)
    elif kind == "numpy":
        import numpy as np

        a = np.random.default_rng(1).random(4_000_000)
    t, c = now(), _time.process_time()
    if kind == "python":
        s = 0
        for i in range(8_000_000):
            s += i
    elif kind == "zlib":
        for _ in range(8):
            zlib.decompress(data)
    else:
        for _ in range(20):
            np.sin(a)
    return now() - t, _time.process_time() - c


def parallel_ceiling(attempts: int = 5) -> dict:
    """How much faster two processes finish two CPU-bound jobs than one does one, here.

    Efficiency = time of one job alone / time of each of two jobs run at once (1.0: two
    cores as good as two machines; 0.5: the second core adds nothing). On a VM the two
    vCPUs can be hyperthreads of one core or be throttled by the host; this says which.
    A measurement counts only if every job got its core (CPU time >= 90% of wall time:
    otherwise another process took the CPU); up to ``attempts`` tries.
    """
    import multiprocessing as mp

    out = {}
    ctx = mp.get_context("fork")
    for kind in ("python", "zlib", "numpy"):
        tries = []
        for _ in range(attempts):
            wait_quiet(max_wait=30)
            one = _burn(kind)
            with ctx.Pool(2) as pool:
                two = pool.map(_burn, [kind, kind])
            ok = all(c >= 0.9 * w for w, c in [one, *two])
            tries.append({"one_s": one[0], "two_each_s": [w for w, _ in two],
                          "cpu_over_wall": [round(c / w, 3) for w, c in [one, *two]],
                          "got_the_cores": ok})
            if ok:
                break
        best = tries[-1]
        best["efficiency"] = best["one_s"] / max(best["two_each_s"])
        best["speedup_2_vs_1"] = 2 * best["efficiency"]
        best["attempts"] = len(tries)
        out[kind] = best
    return out
