"""Writing results: grids to NetCDF or Zarr, series to CSV or Parquet, segments to GeoParquet.

Two traps are handled here:

* NetCDF attributes cannot hold an empty list, and a list of strings needs NETCDF4, so the
  list-valued attributes (``failed_granules``) are written as one newline-separated string
  and split again by :func:`open_grids`.
* The seed's ``to_parquet`` failed with "Casting from timestamp[ns] to timestamp[us] would
  lose data": an old Parquet format version cannot store nanoseconds. Parquet format 2.6
  can, so segments are written with it and their times come back to the nanosecond.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import xarray as xr

#: Dataset attributes that hold lists, stored as newline-separated text.
LIST_ATTRS = ("failed_granules",)


def _suffix(path: str | os.PathLike[str]) -> str:
    return Path(path).suffix.lower()


def write_grids(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write a gridded Dataset to NetCDF (``.nc``) or Zarr (``.zarr``), computing it slice by slice.

    Raises
    ------
    ValueError
        For another file extension.
    """
    path = Path(path)
    out = ds.copy()
    for name in LIST_ATTRS:
        if name in out.attrs:
            out.attrs[name] = "\n".join(out.attrs[name])
    encoding = {"time": {"units": "seconds since 1970-01-01", "dtype": "int64"},
                "time_bounds": {"units": "seconds since 1970-01-01", "dtype": "int64"}}
    if _suffix(path) == ".nc":
        # compressed: daily grids are mostly empty cells (NaN), which zlib shrinks to little
        for name, var in out.data_vars.items():
            if var.ndim == 3:
                encoding[name] = {"zlib": True, "complevel": 4}
        out.to_netcdf(path, engine="netcdf4", encoding=encoding)
    elif _suffix(path) == ".zarr":
        # Zarr format 2: read by every Zarr library, and it has consolidated metadata
        out.to_zarr(path, mode="w", encoding=encoding, consolidated=True, zarr_format=2)
    else:
        raise ValueError(f"{path.name}: grids are written to .nc (NetCDF) or .zarr (Zarr)")
    return path


def open_grids(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open grids written by :func:`write_grids`, restoring list attributes."""
    path = Path(path)
    if _suffix(path) == ".zarr":
        ds = xr.open_zarr(path, consolidated=True)
    else:
        ds = xr.open_dataset(path, engine="netcdf4")
    for name in LIST_ATTRS:
        if name in ds.attrs:
            text = ds.attrs[name]
            ds.attrs[name] = [line for line in str(text).split("\n") if line]
    return ds


def write_series(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a regional series table to ``.csv`` or ``.parquet``."""
    path = Path(path)
    if _suffix(path) == ".csv":
        table.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    elif _suffix(path) == ".parquet":
        table.to_parquet(path, index=False)
    else:
        raise ValueError(f"{path.name}: series are written to .csv or .parquet")
    return path


def write_segments(segments: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a segment table to GeoParquet (points in EPSG:4326), times to the nanosecond."""
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(
        segments.copy(),
        geometry=gpd.points_from_xy(segments["longitude"], segments["latitude"]),
        crs="EPSG:4326",
    )
    gdf.attrs = {}  # pandas attrs (per-beam counts) are not Parquet metadata
    gdf.to_parquet(path, index=False, version="2.6", coerce_timestamps=None)
    return Path(path)


def read_segments(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read segments written by :func:`write_segments` (a GeoDataFrame)."""
    import geopandas as gpd

    return gpd.read_parquet(path)
