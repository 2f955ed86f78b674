"""Plots: polar maps of gridded statistics and regional time series, offline.

cartopy downloads Natural Earth coastlines the first time a map draws them, which fails
without a network. The package ships the public-domain Natural Earth 1:110m and 1:50m land
and coastline shapefiles and points cartopy at them (:func:`use_shipped_natural_earth`,
called on import), so maps render anywhere.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

#: Where the shipped Natural Earth files live (cartopy's ``pre_existing_data_dir`` layout).
NATURAL_EARTH_DIR = Path(str(resources.files("icesat2_tutorial") / "data" / "natural_earth"))

FIXTURE_CAPTION = "Fixture data: synthetic values, not NASA measurements"


def use_shipped_natural_earth() -> Path:
    """Point cartopy at the shipped Natural Earth shapefiles (no download needed)."""
    import cartopy

    cartopy.config["pre_existing_data_dir"] = str(NATURAL_EARTH_DIR)
    return NATURAL_EARTH_DIR


def _grid_crs(ds: xr.Dataset) -> Any:
    import cartopy.crs as ccrs

    return ccrs.epsg(int(ds.attrs["grid_epsg"]))


def plot_map(
    ds: xr.Dataset,
    variable: str = "freeboard_mean",
    time: int | str = 0,
    *,
    ax: Any = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    caption: str | None = None,
) -> Any:
    """A polar map of one variable at one time step, with land and coastlines.

    Parameters
    ----------
    ds:
        A gridded Dataset.
    variable:
        ``freeboard_mean``, ``freeboard_std``, ``segment_count`` or ``mean_segment_length``.
    time:
        Index of the time step, or a date string (``"2019-09-15"``).
    caption:
        Text under the map (say there whether the data are fixtures).

    Returns
    -------
    matplotlib Axes (a cartopy GeoAxes).
    """
    import cartopy.crs as ccrs
    import cartopy.feature as cfeature
    import matplotlib.pyplot as plt

    use_shipped_natural_earth()
    da = ds[variable].isel(time=time) if isinstance(time, int) else ds[variable].sel(time=time)
    if "time" in da.dims:  # a partial date ("2021-09") selects a period range: take its first
        da = da.isel(time=0)
    if variable == "segment_count":
        da = da.where(da > 0)
    south = int(ds.attrs["grid_epsg"]) in (6932, 3412, 3976)
    proj = ccrs.SouthPolarStereo() if south else ccrs.NorthPolarStereo(central_longitude=-45)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7), subplot_kw={"projection": proj})
    ax.set_extent([-180, 180, -90, -55] if south else [-180, 180, 60, 90], ccrs.PlateCarree())
    ax.add_feature(cfeature.LAND.with_scale("50m"), facecolor="0.85", zorder=2)
    ax.coastlines("50m", linewidth=0.5, zorder=3)
    mesh = ax.pcolormesh(ds["x"], ds["y"], np.asarray(da), transform=_grid_crs(ds), cmap=cmap,
                         vmin=vmin, vmax=vmax, shading="nearest", zorder=1)
    units = ds[variable].attrs.get("units", "")
    label = ds[variable].attrs.get("long_name", variable)
    plt.colorbar(mesh, ax=ax, shrink=0.7, label=f"{variable} ({units})" if units else variable)
    when = pd.Timestamp(da["time"].to_numpy()[()]).strftime("%Y-%m-%d")
    ax.set_title(f"{label}\n{ds.attrs.get('period', '')} period starting {when}", fontsize=10)
    ax.gridlines(linewidth=0.3, color="0.5")
    if caption:
        ax.text(0.5, -0.06, caption, transform=ax.transAxes, ha="center", fontsize=8)
    return ax


def plot_series(
    table: pd.DataFrame,
    value: str = "freeboard_mean",
    *,
    ax: Any = None,
    caption: str | None = None,
) -> Any:
    """Regional series (from :func:`~icesat2_tutorial.regions.regional_series`), one line per region."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    for region, part in table.groupby("region", sort=False):
        ax.plot(part["time"], part[value], marker="o", ms=3, label=region)
    ax.set_ylabel(f"{value} (m)")
    ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)
    ax.legend(title="region")
    ax.set_title(f"Regional {value.replace('_', ' ')}, weighted by segment length", fontsize=10)
    if caption:
        ax.text(0.5, -0.25, caption, transform=ax.transAxes, ha="center", fontsize=8)
    return ax


use_shipped_natural_earth()
