"""From segments to a gridded ``xarray.Dataset``: ATL20-style statistics with CF metadata.

:func:`grid_segments` bins a segment table (what :func:`~icesat2_tutorial.read_granule`
returns) into :class:`~icesat2_tutorial.bucket.PartialSums` and lays them out as a Dataset
with dims ``(time, y, x)``. The layout is lazy (dask): a month of daily 6.25 km grids over
the Antarctic is about 30 x 1440 x 1440 cells per variable, gigabytes if held densely,
while the statistics themselves are a few megabytes of sparse sums. Each daily (or monthly)
slice is filled in from the sums only when it is plotted, computed or written.
"""

from __future__ import annotations

import uuid
from typing import Any

import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from .bucket import PartialSums, bin_segments
from .grids import Grid, require_grid
from .periods import Period

#: Variable names per gridded column: (mean name, std name, what it is).
_VALUE_NAMES = {
    "beam_fb_height": ("freeboard_mean", "freeboard_std", "sea ice freeboard"),
    "height_segment_height": ("height_mean", "height_std", "sea ice surface height"),
}


def grid_segments(
    segments: pd.DataFrame,
    grid: Grid,
    period: str | Period = "1D",
    *,
    extent: Any = None,
    value: str | None = None,
) -> xr.Dataset:
    """Grid segments drop-in-the-bucket, as ATL20 does, into per-period statistics.

    Parameters
    ----------
    segments:
        Table with ``time`` (UTC), ``latitude``, ``longitude`` (degrees),
        ``height_segment_length_seg`` (m) and ``beam_fb_height`` (ATL10) or
        ``height_segment_height`` (ATL07), e.g. from :func:`~icesat2_tutorial.read_granule`.
    grid:
        From :func:`~icesat2_tutorial.ease2_grid` or :func:`~icesat2_tutorial.atl20_grid`.
    period:
        ``"1D"`` for UTC days, ``"1MS"`` for calendar months (or multiples such as ``"7D"``).
    extent:
        ``None``: the rows and columns the data touch; ``"full"``: the whole grid;
        or ``(xmin, ymin, xmax, ymax)`` in the grid's metres (snapped outwards to cells).
    value:
        The column to grid; default ``beam_fb_height`` if present, else
        ``height_segment_height``.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, y, x)``; ``x``/``y`` are cell-centre coordinates (m) and ``time`` the
        start of each period. Variables ``segment_count``, ``mean_segment_length`` (m),
        ``freeboard_mean`` and ``freeboard_std`` (m; ``height_*`` for ATL07), NaN where a cell
        has no segments, with CF-1.8 metadata and a ``crs`` grid-mapping variable.
        ``attrs`` count the segments gridded, invalid (NaN) and off the grid. Nothing else
        is filtered: apply :func:`~icesat2_tutorial.quality_filter` first.

    Examples
    --------
    >>> ds = grid_segments(segments, ease2_grid("south", 25), "1MS")   # doctest: +SKIP
    >>> ds.freeboard_mean.isel(time=0).plot()                          # doctest: +SKIP
    """
    sums = segments_to_sums(segments, grid, period, value=value)
    return to_dataset(sums, extent=extent)


def segments_to_sums(
    segments: pd.DataFrame, grid: Grid, period: str | Period = "1D", *, value: str | None = None,
    source: str | None = None,
) -> PartialSums:
    """The partial sums of a segment table (see :func:`grid_segments` for the parameters)."""
    grid = require_grid(grid)
    if value is None:
        value = "beam_fb_height" if "beam_fb_height" in segments else "height_segment_height"
    missing = [c for c in ("time", "latitude", "longitude", "height_segment_length_seg", value)
               if c not in segments]
    if missing:
        raise KeyError(f"the segment table lacks column(s) {', '.join(missing)}")
    return bin_segments(
        segments["latitude"].to_numpy(), segments["longitude"].to_numpy(),
        segments["height_segment_length_seg"].to_numpy(), segments[value].to_numpy(),
        segments["time"].to_numpy(), grid, period, value_name=value, source=source,
    )


def _window(sums: PartialSums, extent: Any) -> tuple[int, int, int, int]:
    """Rows ``r0:r1`` and columns ``c0:c1`` the Dataset covers."""
    grid = sums.grid
    rows, cols = grid.shape
    if isinstance(extent, str):
        if extent != "full":
            raise ValueError(f"extent must be None, 'full' or (xmin, ymin, xmax, ymax), not {extent!r}")
        return 0, rows, 0, cols
    if extent is not None:
        xmin, ymin, xmax, ymax = (float(v) for v in extent)
        if not (xmin < xmax and ymin < ymax):
            raise ValueError(f"extent {extent!r} must be (xmin, ymin, xmax, ymax) with min < max")
        res = grid.resolution
        c0 = int(np.clip(np.floor((xmin - grid.x0) / res), 0, cols))
        c1 = int(np.clip(np.ceil((xmax - grid.x0) / res), 0, cols))
        r0 = int(np.clip(np.floor((grid.y0 - ymax) / res), 0, rows))
        r1 = int(np.clip(np.ceil((grid.y0 - ymin) / res), 0, rows))
        return r0, r1, c0, c1
    if len(sums) == 0:
        return 0, 0, 0, 0
    _, row, col = sums.split_key()
    return int(row.min()), int(row.max()) + 1, int(col.min()), int(col.max()) + 1


def _slice_stats(sums: PartialSums, period_number: int, window: tuple[int, int, int, int],
                 name: str) -> np.ndarray:
    """One period's dense (rows, cols) array of one statistic."""
    r0, r1, c0, c1 = window
    rows, cols = sums.grid.shape
    ncells = rows * cols
    lo, hi = np.searchsorted(sums.key, [period_number * ncells, (period_number + 1) * ncells])
    cell = sums.key[lo:hi] - period_number * ncells
    row, col = np.divmod(cell, cols)
    inside = (row >= r0) & (row < r1) & (col >= c0) & (col < c1)
    if name == "segment_count":
        out = np.zeros((r1 - r0, c1 - c0), dtype=np.int32)
    else:
        out = np.full((r1 - r0, c1 - c0), np.nan, dtype=np.float64)
    n = sums.count[lo:hi][inside]
    w = sums.sum_length[lo:hi][inside]
    if name == "segment_count":
        values = n
    elif name == "mean_segment_length":
        values = w / n
    elif name == "mean":
        values = sums.mean[lo:hi][inside]
    else:  # std: S / W is a mean of non-negative terms, never negative
        values = np.sqrt(sums.m2[lo:hi][inside] / w)
    out[row[inside] - r0, col[inside] - c0] = values
    return out


def _slice_block(sums: PartialSums, period_number: int, window: tuple[int, int, int, int],
                 name: str) -> np.ndarray:
    """:func:`_slice_stats` as a (1, rows, cols) block of the dask array."""
    return _slice_stats(sums, period_number, window, name)[np.newaxis]


def to_dataset(sums: PartialSums, *, extent: Any = None) -> xr.Dataset:
    """Lay partial sums out as a lazy CF Dataset (see :func:`grid_segments`)."""
    grid, period = sums.grid, sums.period
    window = _window(sums, extent)
    r0, r1, c0, c1 = window
    if len(sums):
        # only the periods with data: a multi-year run of Septembers has no empty Octobers
        periods = np.unique(sums.split_key()[0])
    else:
        periods = np.empty(0, dtype=np.int64)
    mean_name, std_name, what = _VALUE_NAMES.get(
        sums.value, (f"{sums.value}_mean", f"{sums.value}_std", sums.value))
    shape = (r1 - r0, c1 - c0)
    # One dask graph: a node that holds the sums, and per variable one task per period that
    # fills that period's slice in from them. Written out by hand because building it with
    # dask.delayed costs more than computing the statistics.
    tag = uuid.uuid4().hex
    sums_key = f"partial-sums-{tag}"
    graph: dict[Any, Any] = {sums_key: sums}
    specs = (("segment_count", "segment_count", np.int32),
             ("mean_segment_length", "mean_segment_length", np.float64),
             ("mean", mean_name, np.float64), ("std", std_name, np.float64))
    for stat, name, _ in specs:
        for i, p in enumerate(periods):
            graph[(f"{name}-{tag}", i, 0, 0)] = (_slice_block, sums_key, int(p), window, stat)
    chunks = ((1,) * len(periods), (shape[0],), (shape[1],))
    data_vars = {}
    for _, name, dtype in specs:
        if len(periods):
            arr = dsa.Array(graph, f"{name}-{tag}", chunks=chunks, dtype=dtype)
        else:
            arr = dsa.zeros((0,) + shape, dtype=dtype)
        data_vars[name] = (("time", "y", "x"), arr)
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", period.start(periods)),
            "y": ("y", grid.y_centers(r0, r1)),
            "x": ("x", grid.x_centers(c0, c1)),
        },
    )
    _cf_metadata(ds, sums, mean_name, std_name, what, periods)
    # an extent smaller than the data leaves some cells out: count their segments, so that
    # segment_count.sum() == segments_gridded always holds
    left_out = 0
    if len(sums):
        _, row, col = sums.split_key()
        inside = (row >= r0) & (row < r1) & (col >= c0) & (col < c1)
        left_out = int(sums.count[~inside].sum())
    ds.attrs["segments_gridded"] = np.int64(sums.n_segments - left_out)
    ds.attrs["segments_outside_extent"] = np.int64(left_out)
    return ds


def _cf_metadata(ds: xr.Dataset, sums: PartialSums, mean_name: str, std_name: str, what: str,
                 periods: np.ndarray) -> None:
    grid, period = sums.grid, sums.period
    crs_attrs = grid.crs.to_cf()
    crs_attrs["GeoTransform"] = " ".join(str(v) for v in grid.transform.to_gdal())
    ds["crs"] = xr.DataArray(np.int32(0), attrs=crs_attrs)
    ds["x"].attrs.update(standard_name="projection_x_coordinate", long_name="x of cell centre",
                         units="m", axis="X")
    ds["y"].attrs.update(standard_name="projection_y_coordinate", long_name="y of cell centre",
                         units="m", axis="Y")
    ds["time"].attrs.update(standard_name="time", long_name=f"start of the {period.alias} period (UTC)",
                            axis="T", bounds="time_bounds")
    ds["time_bounds"] = (("time", "nv"), np.stack([period.start(periods), period.end(periods)], axis=-1)
                         if len(periods) else np.empty((0, 2), dtype="datetime64[ns]"))
    # one time unit for time and its bounds, as CF asks (xarray otherwise infers each on
    # its own when writing, and warns that they may differ)
    for name in ("time", "time_bounds"):
        ds[name].encoding.update(units="seconds since 1970-01-01", calendar="proleptic_gregorian")
    weighted = "weighted by segment length height_segment_length_seg"
    meta = {
        "segment_count": dict(long_name="number of segments in the cell", units="1",
                              cell_methods="time: sum area: sum"),
        "mean_segment_length": dict(long_name="mean segment length", units="m",
                                    cell_methods="time: mean area: mean"),
        mean_name: dict(long_name=f"mean {what} ({weighted})", units="m",
                        cell_methods=f"time: mean area: mean ({weighted})", source=sums.value),
        std_name: dict(long_name=f"standard deviation of {what} ({weighted})", units="m",
                       cell_methods=f"time: standard_deviation area: standard_deviation ({weighted})",
                       source=sums.value),
    }
    for name, attrs in meta.items():
        ds[name].attrs.update(attrs, grid_mapping="crs", coverage_content_type="physicalMeasurement")
    ds.attrs.update(
        Conventions="CF-1.8",
        title=f"Gridded {what}, drop-in-the-bucket (ATL20 method), {grid.name}, {period.alias}",
        grid=grid.name,
        grid_epsg=np.int32(grid.epsg),
        grid_resolution_m=grid.resolution,
        period=period.alias,
        segments_gridded=np.int64(sums.n_segments),
        segments_invalid=np.int64(sums.n_invalid),
        segments_outside_grid=np.int64(sums.n_outside),
        history="created by icesat2_tutorial",
    )
    if sums.sources:
        ds.attrs["source_granules"] = "\n".join(sums.sources)
