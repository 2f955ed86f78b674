#!/usr/bin/env python
"""Benchmark: reading full-size ATL10 granules over HTTPS from outside AWS (simulated).

Outside us-west-2 (a laptop, a university hub) granules are read through Earthdata's HTTPS
endpoint, which answers each request with a redirect to a signed S3 URL. Here the
package's stand-in does the same (``LocalHTTPServer(redirect=True)``: ``303`` to a signed
URL on a second port, ``Cache-Control: max-age``), in a process of its own, with
``--latency`` seconds added to every request (default 0.05 s: a round trip from outside
AWS) and, with ``--bandwidth-mbps``, each answer's body sent no faster than that.

Compared, granule by granule in the same run, reading the same datasets as
``bench_cloud_reads.py`` (the 3 strong beams' 8 variables, the orientation, the epoch):

* **ours**: ``read_granule(url, token=...)``: ``RedirectOnceHTTPDriver`` (the redirect
  followed once per granule), 128 KiB metadata lines, chunks fetched as exact ranges;
* **package before**: the same reader as it read HTTPS before (h5coro's ``HTTPDriver``,
  which follows the redirect for every range; h5coro's 4 MiB lines; no exact chunks);
* **fsspec + h5py, defaults**: ``h5py.File(fs.open(url))`` with
  ``fsspec.filesystem("https", client_kwargs={"headers": {"Authorization": ...}})``;
* **fsspec + h5py, earthaccess settings**: what ``earthaccess.open`` (0.17) does over
  HTTPS: the same file system, ``fs.info``, then ``cache_type="background"`` and 4 MiB blocks.

Per granule: wall time, requests the endpoint and the signed URLs answered, body bytes sent.

Usage::

    python benchmarks/bench_https_reads.py                      # 6 granules, 3 rounds
    python benchmarks/bench_https_reads.py --quick
    python benchmarks/bench_https_reads.py --bandwidth-mbps 25 \
        --output benchmarks/results/https_reads_25MBps.json

Results: ``benchmarks/results/https_reads*.json``. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cloud_reads as B  # noqa: E402
import ts_common as C  # noqa: E402

DEFAULT_OUTPUT = C.RESULTS / "https_reads.json"
TOKEN = "edl-token-of-the-benchmark"


def serve(args) -> int:
    """Child: a redirecting LocalHTTPServer over the granules' directory; commands on stdin."""
    import logging

    logging.disable(logging.CRITICAL)
    from icesat2_tutorial import localservers

    if args.bandwidth_mbps:  # each answer's body no faster than this
        rate = args.bandwidth_mbps * 1e6
        handler = localservers._RangeRequestHandler
        setup = handler.setup

        class Throttled:
            def __init__(self, raw) -> None:
                self.raw = raw

            def write(self, data) -> int:
                n = self.raw.write(data)
                time.sleep(len(data) / rate)
                return n

            def __getattr__(self, name):
                return getattr(self.raw, name)

        def throttled_setup(self) -> None:
            setup(self)
            self.wfile = Throttled(self.wfile)

        handler.setup = throttled_setup
    files = [Path(f) for f in args.files]
    server = localservers.LocalHTTPServer(files[0].parent, token=TOKEN, redirect=True,
                                          latency_s=args.latency).start()
    print(json.dumps({"urls": [server.url_for(f.name) for f in files]}), flush=True)
    B.answer_commands(server, {"stats": lambda: json.dumps(server.stats)})
    return 0


class ServerProcess(B.ServerProcess):
    def __init__(self, files: list[Path], latency: float, bandwidth_mbps: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency", str(latency),
             "--bandwidth-mbps", str(bandwidth_mbps), *map(str, files)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONWARNINGS="ignore"))
        self.info = json.loads(self.proc.stdout.readline())

    def stats(self) -> dict:
        return json.loads(self._ask("stats"))


@contextlib.contextmanager
def _package_before():
    """The reader as it read HTTPS before RedirectOnceHTTPDriver: h5coro's HTTPDriver, its
    4 MiB lines, chunks through the lines."""
    from icesat2_tutorial import drivers, reader

    saved = (dict(drivers._READING_DRIVERS), dict(reader.CACHE_LINE_BYTES), set(reader.EXACT_CHUNKS))
    from h5coro import webdriver

    drivers._READING_DRIVERS.pop(webdriver.HTTPDriver, None)
    reader.CACHE_LINE_BYTES.pop("https", None)
    reader.EXACT_CHUNKS.discard("https")
    try:
        yield
    finally:
        drivers._READING_DRIVERS.clear()
        drivers._READING_DRIVERS.update(saved[0])
        reader.CACHE_LINE_BYTES.clear()
        reader.CACHE_LINE_BYTES.update(saved[1])
        reader.EXACT_CHUNKS.clear()
        reader.EXACT_CHUNKS.update(saved[2])


def read_ours(url: str, fs) -> int:
    import icesat2_tutorial as it

    table = it.read_granule(url, token=TOKEN)
    return sum(c["read"] for c in table.attrs["beam_counts"].values())


def read_package_before(url: str, fs) -> int:
    with _package_before():
        return read_ours(url, fs)


def read_fsspec_default(url: str, fs) -> int:
    with fs.open(url, "rb") as f:
        return B._read_h5py(f)


def read_fsspec_earthaccess(url: str, fs) -> int:
    size = fs.info(url)["size"]
    block = 4 * 2**20 if size < 100 * 2**20 else (8 * 2**20 if size < 2**30 else 16 * 2**20)
    with fs.open(url, "rb", cache_type="background", block_size=block) as f:
        return B._read_h5py(f)


METHODS = {
    "ours_read_granule_redirect_once": read_ours,
    "package_before_h5coro_httpdriver": read_package_before,
    "fsspec_h5py_https_defaults": read_fsspec_default,
    "fsspec_h5py_earthaccess_defaults": read_fsspec_earthaccess,
}
BASELINES = ("package_before_h5coro_httpdriver", "fsspec_h5py_https_defaults",
             "fsspec_h5py_earthaccess_defaults")


def main() -> int:
    args = B.arguments(__doc__, latency=0.05).parse_args()
    if args.serve:
        return serve(args)

    n = args.granules or (2 if args.quick else 6)
    repeat = args.repeat or (2 if args.quick else 3)
    output = args.output or (DEFAULT_OUTPUT if not args.quick else C.RESULTS / "https_reads_quick.json")
    t_start = C.now()
    results: dict = {"benchmark": "https_reads", "quick": args.quick,
                     "command": " ".join([Path(sys.executable).name, *sys.argv]),
                     "machine": C.machine_info()}
    if not args.no_wait:
        results["machine"]["wait"] = C.wait_for_machine()
    paths, info = C.month_granules(max(n, 6), "full", sc_orient=0)
    paths = paths[:n]
    if args.pad_to_mb:
        paths = B.padded_granules(paths, args.pad_to_mb, "_orient0")
    sizes = [p.stat().st_size for p in paths]
    results["scenario"] = {"latency_s": args.latency,
                           "bandwidth_mbps_per_request": args.bandwidth_mbps or None,
                           "padded_to_mb": args.pad_to_mb or None, "redirect": "303 + max-age"}
    results["data"] = {"granules": n, "from": info["cache_dir"], "file_bytes": sizes,
                       "mean_file_mb": statistics.mean(sizes) / C.MB}

    import logging

    import fsspec

    logging.getLogger("h5coro").setLevel(logging.CRITICAL)
    C.log(f"[server] redirecting LocalHTTPServer(latency_s={args.latency}) in its own process, "
          f"{n} granules ({statistics.mean(sizes) / C.MB:.1f} MB each)")
    server = ServerProcess(paths, args.latency, args.bandwidth_mbps)
    try:
        fs = fsspec.filesystem("https", client_kwargs={
            "headers": {"Authorization": f"Bearer {TOKEN}"}, "trust_env": False})

        def one(m, func, url) -> dict:
            fs.invalidate_cache()
            server.reset()
            t0 = C.now()
            nseg = func(url, fs)
            dt = C.now() - t0
            st = server.stats()
            return {"seconds": dt, "requests": st["requests"], "redirects": st["redirects"],
                    "bytes": st["bytes_sent"], "segments": nseg}

        per = B.interleaved_rounds(METHODS, server.info["urls"], repeat, not args.no_wait, one)
    finally:
        server.close()

    summary = {m: {"median_s_per_granule": statistics.median(d["seconds"]),
                   "min_s": min(d["seconds"]), "max_s": max(d["seconds"]),
                   "requests_per_granule_median": statistics.median(d["requests"]),
                   "redirects_per_granule_median": statistics.median(d["redirects"]),
                   "bytes_per_granule_median": statistics.median(d["bytes"]),
                   "segments_read_per_granule_mean": statistics.mean(d["segments"]),
                   "warmup_s": d["warmup"], "all_s": d["seconds"]} for m, d in per.items()}
    ours = summary["ours_read_granule_redirect_once"]["median_s_per_granule"]
    verdict = {"same_segment_counts": len({tuple(d["segments"]) for d in per.values()}) == 1}
    for b in BASELINES:
        verdict[f"speedup_vs_{b}"] = summary[b]["median_s_per_granule"] / ours
    results.update(per_method=summary, verdict=verdict, total_wall_s=C.now() - t_start)

    C.log("")
    C.log(f"Simulated HTTPS from outside AWS: {n} granules ({statistics.mean(sizes) / C.MB:.0f} MB), "
          f"{args.latency * 1000:.0f} ms per request"
          + (f", {args.bandwidth_mbps:g} MB/s per answer" if args.bandwidth_mbps else "")
          + f", {repeat} rounds (median per granule)")
    for m, s in summary.items():
        C.log(f"  {m:34s} {s['median_s_per_granule']:7.3f} s  {s['requests_per_granule_median']:5.0f} "
              f"requests ({s['redirects_per_granule_median']:.0f} redirects) "
              f"{s['bytes_per_granule_median'] / C.MB:6.1f} MB")
    for b in BASELINES:
        C.log(f"  speed-up of ours vs {b}: {verdict[f'speedup_vs_{b}']:.2f}x")
    C.log(f"  same segments read: {verdict['same_segment_counts']}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, default=float) + "\n")
    C.log(f"results written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
