"""Regional time series: length-weighted regional means of a gridded Dataset.

A regional mean freeboard must weight every cell by the total segment length in it, not
count cells equally: ``W = segment_count * mean_segment_length`` is that length, so

    regional mean = sum(W * freeboard_mean) / sum(W)

over the cells of the region, and the regional standard deviation follows exactly from the
cells' own (``S = W std^2`` plus the spread of the cell means about the regional mean).
This equals the mean over all the region's segments, as if they had never been gridded.

Named regions follow the Antarctic sectors of Parkinson and Cavalieri (2012,
doi:10.5194/tc-6-871-2012) south of 50 deg S, plus the whole Antarctic and the whole Arctic
(north of 50 deg N). Any shapely polygon in longitude/latitude works as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import xarray as xr


@dataclass(frozen=True)
class Region:
    """A region: a longitude sector and latitude band, or a polygon (lon/lat degrees).

    Longitudes are -180..180; a sector with ``lon_min > lon_max`` crosses the antimeridian
    (the Ross Sea: 160 E to 130 W is ``lon_min=160, lon_max=-130``). Sector longitudes given
    in 0..360 are converted (``lon_min=160, lon_max=230`` becomes ``160, -130``); a polygon
    may use either convention, or run past 180 to cross the antimeridian: a point is inside
    if it is at ``lon``, ``lon + 360`` or ``lon - 360``.

    Raises
    ------
    ValueError
        For a hemisphere other than north/south, latitudes outside -90..90 or not
        ``lat_min < lat_max``, longitudes outside -180..360 or a sector of zero width, and a
        polygon whose latitudes leave -90..90 (lat/lon swapped?).
    """

    name: str
    hemisphere: str
    lon_min: float = -180.0
    lon_max: float = 180.0
    lat_min: float = -90.0
    lat_max: float = 90.0
    polygon: Any = None  # shapely geometry in lon/lat, instead of the sector

    def __post_init__(self) -> None:
        # a sector in 0..360 used to select nothing east of 180, silently
        if self.hemisphere not in ("north", "south"):
            raise ValueError(f"region {self.name!r}: hemisphere must be 'north' or 'south', "
                             f"not {self.hemisphere!r}")
        if self.polygon is not None:
            xmin, ymin, xmax, ymax = self.polygon.bounds
            if not (-90 <= ymin and ymax <= 90):
                raise ValueError(f"region {self.name!r}: polygon latitudes {ymin:g}..{ymax:g} "
                                 "leave -90..90; give (longitude, latitude) pairs")
            if not (-360 <= xmin and xmax <= 540):
                raise ValueError(f"region {self.name!r}: polygon longitudes {xmin:g}..{xmax:g} "
                                 "are outside -180..180 and 0..360")
            return
        if not (-90 <= self.lat_min < self.lat_max <= 90):
            raise ValueError(f"region {self.name!r}: need -90 <= lat_min < lat_max <= 90, not "
                             f"lat_min={self.lat_min:g}, lat_max={self.lat_max:g}")
        lo, hi = float(self.lon_min), float(self.lon_max)
        if not (-180 <= lo <= 360 and -180 <= hi <= 360) or lo == hi:
            raise ValueError(f"region {self.name!r}: sector longitudes {lo:g}..{hi:g} must be "
                             "two different values in -180..180 (or 0..360)")
        if hi - lo >= 360:
            lo, hi = -180.0, 180.0
        lo, hi = (v - 360.0 if v > 180 else v for v in (lo, hi))
        object.__setattr__(self, "lon_min", lo)
        object.__setattr__(self, "lon_max", hi)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Boolean mask of the points (degrees) inside the region."""
        lon = (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0
        lat = np.asarray(lat, dtype=np.float64)
        if self.polygon is not None:
            import shapely

            inside = shapely.contains_xy(self.polygon, lon, lat)
            xmin, _, xmax, _ = self.polygon.bounds
            for shift, needed in ((360.0, xmax > 180), (-360.0, xmin < -180)):
                if needed:  # a polygon in 0..360, or one that runs past the antimeridian
                    inside |= shapely.contains_xy(self.polygon, lon + shift, lat)
            return inside
        band = (lat >= self.lat_min) & (lat <= self.lat_max)
        if self.lon_min <= self.lon_max:
            sector = (lon >= self.lon_min) & (lon < self.lon_max)
        else:  # crosses the antimeridian
            sector = (lon >= self.lon_min) | (lon < self.lon_max)
        return band & sector


REGIONS: dict[str, Region] = {
    "antarctic": Region("antarctic", "south", lat_max=-50.0),
    "weddell": Region("weddell", "south", -60.0, 20.0, lat_max=-50.0),
    "indian": Region("indian", "south", 20.0, 90.0, lat_max=-50.0),
    "western_pacific": Region("western_pacific", "south", 90.0, 160.0, lat_max=-50.0),
    "ross": Region("ross", "south", 160.0, -130.0, lat_max=-50.0),
    "bellingshausen_amundsen": Region("bellingshausen_amundsen", "south", -130.0, -60.0,
                                      lat_max=-50.0),
    "arctic": Region("arctic", "north", lat_min=50.0),
}


def get_region(region: str | Region | Any, name: str | None = None) -> Region:
    """A :class:`Region` by name (see ``REGIONS``), or from a shapely polygon in lon/lat.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if isinstance(region, Region):
        return region
    if isinstance(region, str):
        key = region.lower().replace(" ", "_").replace("-", "_").removesuffix("_sea")
        if key not in REGIONS:
            raise ValueError(f"unknown region {region!r}; known regions: {', '.join(REGIONS)} "
                             "(or give a shapely polygon in longitude/latitude)")
        return REGIONS[key]
    if hasattr(region, "geom_type"):
        lat = np.asarray(region.exterior.coords)[:, 1] if hasattr(region, "exterior") else [0]
        hemisphere = "south" if np.mean(lat) < 0 else "north"
        return Region(name or "polygon", hemisphere, polygon=region)
    raise TypeError(f"a region is a name or a shapely polygon, not a {type(region).__name__}")


def cell_lonlat(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees) of every cell centre of a gridded Dataset, (y, x)."""
    epsg = int(ds.attrs["grid_epsg"])
    x, y = np.meshgrid(ds["x"].to_numpy(), ds["y"].to_numpy())
    to_lonlat = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def region_mask(ds: xr.Dataset, region: str | Region | Any) -> xr.DataArray:
    """Boolean (y, x) mask of the Dataset's cells whose centres lie in ``region``."""
    reg = get_region(region)
    lon, lat = cell_lonlat(ds)
    epsg = int(ds.attrs["grid_epsg"])
    grid_hemisphere = "north" if epsg in (6931, 3411, 3413) else "south"
    if reg.hemisphere != grid_hemisphere:
        raise ValueError(f"region {reg.name!r} is in the {reg.hemisphere}ern hemisphere; "
                         f"this grid covers the {grid_hemisphere}")
    return xr.DataArray(reg.contains(lon, lat), dims=("y", "x"),
                        coords={"y": ds["y"], "x": ds["x"]}, name=reg.name)


def _value_names(ds: xr.Dataset) -> tuple[str, str, str]:
    if "freeboard_mean" in ds:
        return "freeboard_mean", "freeboard_std", "freeboard"
    return "height_mean", "height_std", "height"


def regional_series(
    ds: xr.Dataset,
    regions: Iterable[str | Region | Any] = ("antarctic",),
    freq: str | None = None,
) -> pd.DataFrame:
    """Length-weighted regional mean (and std) per time step, as a tidy table.

    Parameters
    ----------
    ds:
        From :func:`~icesat2_tutorial.grid_segments` or :func:`~icesat2_tutorial.build_timeseries`.
    regions:
        Names from ``REGIONS`` (``"ross"``, ``"weddell"``, ``"antarctic"``, ``"arctic"``...)
        or shapely polygons in lon/lat.
    freq:
        ``None`` keeps the Dataset's periods; ``"1MS"`` turns daily grids into a monthly series
        (exactly: the monthly sums of the daily sums).

    Returns
    -------
    pandas.DataFrame
        Columns ``region``, ``time``, ``<value>_mean`` and ``<value>_std`` (m),
        ``segment_count``, ``total_length_m`` and ``cells`` (cells with data); rows with no
        data have NaN means and zero counts.
    """
    from .periods import check_frequency

    if freq is not None:
        check_frequency(freq)
    regions = [get_region(r) for r in regions]  # unknown names fail before any computing
    mean_name, std_name, value = _value_names(ds)
    count = ds["segment_count"].fillna(0)
    w = (count * ds["mean_segment_length"]).fillna(0.0)  # total segment length per cell, m
    mean = ds[mean_name].fillna(0.0)
    s = w * ds[std_name].fillna(0.0) ** 2  # sum of L (h - cell mean)^2 in each cell
    parts = xr.Dataset({"n": count, "w": w, "wm": w * mean, "s": s,
                        "cells": (count > 0).astype(np.int64)})
    rows = []
    for region in regions:
        reg = get_region(region)
        mask = region_mask(ds, reg)
        inside = parts.where(mask, 0)
        totals = inside.sum(dim=("y", "x"))
        if freq is not None:
            # resampling fills the gaps between seasons with empty periods; drop those
            totals = totals.resample(time=freq).sum().fillna(0)
            present = np.unique(parts["time"].resample(time=freq).first().dropna("time"))
            totals = totals.sel(time=present)
        totals = totals.compute()
        with np.errstate(invalid="ignore", divide="ignore"):
            m = totals["wm"] / totals["w"]
        # second pass, as in the cells: the spread of cell means about the regional mean
        m_per_step = m if freq is None else m.reindex(
            time=parts["time"].to_numpy(), method="ffill")
        spread = (inside["w"] * (mean.where(mask, 0) - m_per_step.fillna(0)) ** 2
                  ).sum(dim=("y", "x"))
        if freq is not None:
            spread = spread.resample(time=freq).sum().sel(time=totals["time"])
        spread = spread.compute()
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (totals["s"] + spread) / totals["w"]
        rows.append(pd.DataFrame({
            "region": reg.name,
            "time": totals["time"].to_numpy(),
            f"{value}_mean": m.to_numpy(),
            f"{value}_std": np.sqrt(var.to_numpy()),
            "segment_count": totals["n"].to_numpy().astype(np.int64),
            "total_length_m": totals["w"].to_numpy(),
            "cells": totals["cells"].to_numpy().astype(np.int64),
        }))
    return pd.concat(rows, ignore_index=True)
