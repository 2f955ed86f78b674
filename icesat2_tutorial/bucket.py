"""Drop-in-the-bucket: per-cell, per-period partial sums that can be merged.

ATL20 grids freeboard "drop in the bucket": every segment falls into the grid cell that
contains it, and each cell's statistics come from the segments in it, weighted by segment
length ``L`` (``height_segment_length_seg``)::

    N          = number of segments
    mean L     = sum(L) / N
    mean h     = sum(L h) / sum(L)
    std h      = sqrt( sum(L (h - mean h)^2) / sum(L) )

The textbook one-pass form of the variance, ``sum(L h^2)/sum(L) - mean^2``, subtracts two
nearly equal numbers: it goes negative in one-segment cells and loses the whole standard
deviation in float32. So each cell keeps ``N``, ``W = sum(L)``, the weighted mean ``M`` and
``S = sum(L (h - M)^2)``. Within a run of segments they are updated one segment at a time
(West 1979), and two sets of sums are merged exactly (Chan, Golub and LeVeque 1979)::

    W = Wa + Wb,   d = Mb - Ma,   M = Ma + d Wb / W,   S = Sa + Sb + d^2 Wa Wb / W

``S`` only ever grows by non-negative terms, so the variance is never negative and is
exactly 0 for a one-segment cell. Because merging is exact, gridding granule by granule and
merging gives the same result as gridding everything at once: the basis of the time series.

Only cells with segments are stored (sparse): a key ``period * n_cells + row * n_cols + col``
per cell and period, sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from .grids import Grid
from .periods import Period, parse_period
from .projection import project_point, projection_params

#: The float32 fill value as float64: values at or beyond it are fill, not measurements.
FILL = float(np.finfo(np.float32).max)

NS_PER_DAY = 86_400 * 1_000_000_000

#: Segments per block when binning; bounds the temporary memory per call.
BLOCK = 8_000_000


#: Segments per chunk of the parallel binning pass. Fixed, not derived from the number of
#: threads, so that the result is the same bits on any machine.
RUN_CHUNK = 1 << 18


@numba.njit(cache=True, parallel=True, nogil=True)
def _bin(lat, lon, length, value, times_ns, period_ns, period, kind, sign, a, e, lon0, k,
         x0, y0, res, nrows, ncols):
    """One pass over the segments: validate, project, find the cell, accumulate runs.

    Segments are cut into fixed chunks handled in parallel. Within a chunk, consecutive
    segments in the same cell and period form a run, accumulated with West's weighted
    update; along-track data put ~100 segments in a row into one cell, so runs are few and
    sorting them later is cheap (sorting every segment would dominate the cost). A run cut
    by a chunk edge is merged back exactly by :func:`_merge_sorted`.

    The period number is ``times_ns // period_ns`` for whole days, or ``period[i]`` for
    calendar months (``period_ns == 0``). Invalid segments (NaN, fill, a length that is not
    positive, an impossible latitude, a NaT time or one before 1970, which the keys cannot
    hold) and segments off the grid are counted, not binned.

    The run arrays are allocated for the worst case (a run per segment) but only the pages
    written are ever touched, so their real memory is that of the runs.
    """
    n = lat.shape[0]
    ncells = nrows * ncols
    rk = np.empty(n, dtype=np.int64)
    rn = np.empty(n, dtype=np.int64)
    rw = np.empty(n, dtype=np.float64)
    rm = np.empty(n, dtype=np.float64)
    rs = np.empty(n, dtype=np.float64)
    nchunks = (n + RUN_CHUNK - 1) // RUN_CHUNK
    counts = np.zeros(nchunks, dtype=np.int64)
    invalid = np.zeros(nchunks, dtype=np.int64)
    outside = np.zeros(nchunks, dtype=np.int64)
    for c in numba.prange(nchunks):
        first = c * RUN_CHUNK
        m = first
        current = np.int64(-1)
        for i in range(first, min(n, first + RUN_CHUNK)):
            la = lat[i]
            lo = lon[i]
            w = np.float64(length[i])
            h = np.float64(value[i])
            pn = times_ns[i] // period_ns if period_ns > 0 else period[i]
            # NaN, the float32 fill value (a table not from the reader may still hold it:
            # one 3.4e38 would ruin a cell), a length that is not positive, an impossible
            # latitude, or a time before 1970 (NaT included) make a segment invalid
            if not (np.isfinite(la) and np.isfinite(lo) and np.isfinite(w) and np.isfinite(h)) \
                    or w <= 0.0 or w >= FILL or abs(h) >= FILL or la < -90.0 or la > 90.0 \
                    or pn < 0:
                invalid[c] += 1
                continue
            x, y = project_point(la, lo, kind, sign, a, e, lon0, k)
            col = np.floor((x - x0) / res)
            row = np.floor((y0 - y) / res)
            if col < 0 or col >= ncols or row < 0 or row >= nrows:
                outside[c] += 1
                continue
            key = pn * ncells + np.int64(row) * ncols + np.int64(col)
            if key != current:
                rk[m] = key
                rn[m] = 1
                rw[m] = w
                rm[m] = h
                rs[m] = 0.0
                m += 1
                current = key
            else:
                j = m - 1
                total = rw[j] + w
                d = h - rm[j]
                rm[j] += d * w / total
                rs[j] += w * d * (h - rm[j])  # = w d^2 W_old / W_new >= 0
                rw[j] = total
                rn[j] += 1
        counts[c] = m - first
    total_runs = counts.sum()
    ok = np.empty(total_runs, dtype=np.int64)
    on = np.empty(total_runs, dtype=np.int64)
    ow = np.empty(total_runs, dtype=np.float64)
    om = np.empty(total_runs, dtype=np.float64)
    os_ = np.empty(total_runs, dtype=np.float64)
    pos = 0
    for c in range(nchunks):
        first = c * RUN_CHUNK
        m = counts[c]
        ok[pos:pos + m] = rk[first:first + m]
        on[pos:pos + m] = rn[first:first + m]
        ow[pos:pos + m] = rw[first:first + m]
        om[pos:pos + m] = rm[first:first + m]
        os_[pos:pos + m] = rs[first:first + m]
        pos += m
    return ok, on, ow, om, os_, invalid.sum(), outside.sum()


@numba.njit(cache=True)
def _merge_sorted(k, n, w, mean, s):
    """Merge entries with equal keys (input sorted by key) with Chan's exact formula."""
    size = k.shape[0]
    ok = np.empty(size, dtype=np.int64)
    on = np.empty(size, dtype=np.int64)
    ow = np.empty(size, dtype=np.float64)
    om = np.empty(size, dtype=np.float64)
    os_ = np.empty(size, dtype=np.float64)
    m = -1
    for i in range(size):
        if m >= 0 and k[i] == ok[m]:
            wa = ow[m]
            wb = w[i]
            total = wa + wb
            d = mean[i] - om[m]
            om[m] += d * wb / total
            os_[m] += s[i] + d * d * wa * wb / total
            ow[m] = total
            on[m] += n[i]
        else:
            m += 1
            ok[m] = k[i]
            on[m] = n[i]
            ow[m] = w[i]
            om[m] = mean[i]
            os_[m] = s[i]
    m += 1
    return ok[:m].copy(), on[:m].copy(), ow[:m].copy(), om[:m].copy(), os_[:m].copy()


@dataclass
class PartialSums:
    """Mergeable per-cell, per-period sums for one grid, period and measured variable.

    Attributes
    ----------
    grid, period:
        The grid and the period length the keys refer to.
    value:
        The column that was gridded (``beam_fb_height`` or ``height_segment_height``).
    key:
        Sorted unique int64 keys ``period_number * n_cells + row * n_cols + col``.
    count:
        Segments per key (N).
    sum_length:
        Sum of segment lengths per key (W), m.
    mean:
        Length-weighted mean of the value per key (M), m.
    m2:
        Sum of ``L (h - M)^2`` per key (S), m^3.
    n_invalid, n_outside:
        Segments dropped because a value was NaN (or the length not positive) and
        because they fell outside the grid.
    sources:
        Names of what was gridded (granules), for provenance.
    """

    grid: Grid
    period: Period
    value: str
    key: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    count: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    sum_length: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    mean: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    m2: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    n_invalid: int = 0
    n_outside: int = 0
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.key)

    def __repr__(self) -> str:
        return (f"PartialSums({self.grid.name}, period={self.period.alias}, value={self.value}, "
                f"{len(self)} cell-periods from {int(self.count.sum()):,} segments; "
                f"dropped {self.n_invalid:,} invalid, {self.n_outside:,} off the grid)")

    @property
    def n_segments(self) -> int:
        """Segments that went into cells."""
        return int(self.count.sum())

    def merge(self, other: PartialSums) -> PartialSums:
        """Exact merge of two sets of sums on the same grid, period and variable."""
        if (other.grid, other.period, other.value) != (self.grid, self.period, self.value):
            raise ValueError(
                "cannot merge partial sums of different grids, periods or variables: "
                f"{self.grid.name}/{self.period.alias}/{self.value} and "
                f"{other.grid.name}/{other.period.alias}/{other.value}"
            )
        return _combine(self, [self.key, other.key], [self.count, other.count],
                        [self.sum_length, other.sum_length], [self.mean, other.mean],
                        [self.m2, other.m2], self.n_invalid + other.n_invalid,
                        self.n_outside + other.n_outside, self.sources + other.sources)

    __add__ = merge

    def __radd__(self, other: object) -> PartialSums:
        """Let ``sum([a, b, c])`` work: it starts from 0."""
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented  # type: ignore[return-value]

    def split_key(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(period_number, row, col)`` of each key."""
        rows, cols = self.grid.shape
        period, cell = np.divmod(self.key, rows * cols)
        row, col = np.divmod(cell, cols)
        return period, row, col

    def statistics(self) -> dict[str, np.ndarray]:
        """Per key: ``segment_count``, ``mean_segment_length`` (m), value mean and std (m)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "segment_count": self.count,
                "mean_segment_length": self.sum_length / self.count,
                "mean": self.mean,
                "std": np.sqrt(self.m2 / self.sum_length),
            }


def _combine(template: PartialSums, keys, counts, weights, means, m2s, n_invalid, n_outside,
             sources) -> PartialSums:
    k = np.concatenate(keys)
    order = np.argsort(k, kind="stable")
    merged = _merge_sorted(k[order], np.concatenate(counts)[order],
                           np.concatenate(weights)[order], np.concatenate(means)[order],
                           np.concatenate(m2s)[order])
    return PartialSums(template.grid, template.period, template.value, *merged,
                       n_invalid=int(n_invalid), n_outside=int(n_outside), sources=list(sources))


def bin_segments(
    latitude: np.ndarray,
    longitude: np.ndarray,
    length: np.ndarray,
    value: np.ndarray,
    times: np.ndarray,
    grid: Grid,
    period: str | Period = "1D",
    *,
    value_name: str = "beam_fb_height",
    source: str | None = None,
) -> PartialSums:
    """Drop segments into grid cells and periods; return their partial sums.

    Parameters
    ----------
    latitude, longitude:
        Degrees (longitude in -180..180 or 0..360: both project the same).
    length:
        Segment lengths ``L``, m (the weights).
    value:
        Measured heights ``h``, m (freeboard for ATL10).
    times:
        UTC times, ``datetime64``.
    grid:
        A :class:`~icesat2_tutorial.grids.Grid`.
    period:
        ``"1D"`` (UTC days), ``"1MS"`` (calendar months) or a multiple.

    Returns
    -------
    PartialSums
        Segments with a NaN, a NaT time (or a time before 1970) or a length that is not
        positive are dropped and counted as invalid, segments off the grid are dropped and
        counted as such; nothing else is filtered.
    """
    per = parse_period(period)
    p = projection_params(grid)
    n = len(latitude)
    if not all(len(a) == n for a in (longitude, length, value, times)):
        raise ValueError("latitude, longitude, length, value and times must have one length")
    pieces = []
    rows, cols = grid.shape
    for start in range(0, max(n, 1), BLOCK):
        sl = slice(start, start + BLOCK)
        t = np.asarray(times[sl])
        if t.dtype.kind != "M":
            raise TypeError(f"times must be datetime64, not {t.dtype}")
        if per.unit == "D":  # whole days: the kernel divides the times itself
            times_ns, period_ns, numbers = t.astype("datetime64[ns]", copy=False).view(np.int64), \
                per.n * NS_PER_DAY, np.zeros(1, np.int64)
        else:
            times_ns, period_ns, numbers = np.zeros(1, np.int64), 0, per.index(t)
        pieces.append(_bin(
            np.ascontiguousarray(latitude[sl], dtype=np.float64),
            np.ascontiguousarray(longitude[sl], dtype=np.float64),
            np.ascontiguousarray(length[sl]), np.ascontiguousarray(value[sl]),
            np.ascontiguousarray(times_ns), period_ns, numbers,
            p.kind, p.sign, p.a, p.e, p.lon0, p.k,
            grid.x0, grid.y0, grid.resolution, rows, cols,
        ))
    empty = PartialSums(grid, per, value_name)
    return _combine(empty, *[[piece[i] for piece in pieces] for i in range(5)],
                    sum(piece[5] for piece in pieces), sum(piece[6] for piece in pieces),
                    [source] if source else [])
