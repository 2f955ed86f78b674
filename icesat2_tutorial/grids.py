"""The grids: EASE-Grid 2.0 (North and South) and ATL20's own polar stereographic grids.

A grid here is a projection (an EPSG code) plus a regular lattice of square cells: the
projected coordinates ``(x0, y0)`` of the upper-left corner of the upper-left cell, the
cell size ``resolution`` in metres, and the number of rows and columns. Rows count down
from the top, columns count right from the left, so a point's cell is

    col = floor((x - x0) / resolution)
    row = floor((y0 - y) / resolution)

and the affine transform from (col, row) to (x, y) is
``Affine(resolution, 0, x0, 0, -resolution, y0)``. Note its order: ``transform * (col, row)``
gives ``(x, y)`` and ``~transform * (x, y)`` gives ``(col, row)``, not (row, col): the seed
notebook unpacked it as ``row, col`` and swapped rows and columns. To find cells, divide as
above (:meth:`Grid.cell_of`) rather than flooring ``~transform * (x, y)``: the inverse
multiplies by 1/resolution, which puts some points exactly on an edge a hair short of it.

EASE-Grid 2.0 (Brodzik et al. 2012, doi:10.3390/ijgi1010032) is a Lambert azimuthal
equal-area projection on WGS 84 (EPSG:6931 north, EPSG:6932 south); its 25 km grid has
720 x 720 cells and every finer grid divides those cells exactly, with the same outer edge
at +-9,000 km. Equal area matters for gridding: every cell covers the same area of sea ice.

ATL20 (NASA's gridded sea ice freeboard) uses the NSIDC Sea Ice Polar Stereographic grids
at 25 km (EPSG:3411 north, 304 x 448 cells; EPSG:3412 south, 316 x 332 cells), the grids of
the passive-microwave sea ice concentration products; :func:`atl20_grid` gives them so a
result can be compared with ATL20 cell for cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pyproj
from affine import Affine

Hemisphere = Literal["north", "south"]

#: EASE-Grid 2.0 resolutions (km) and their number of cells per side.
EASE2_SIZES: dict[float, int] = {25.0: 720, 12.5: 1440, 6.25: 2880, 3.125: 5760}
#: Half the width of every EASE-Grid 2.0 azimuthal grid (m).
EASE2_HALF_WIDTH_M = 9_000_000.0


@dataclass(frozen=True)
class Grid:
    """A regular grid of square cells in a polar projection.

    Attributes
    ----------
    name:
        Human-readable name (``"EASE-Grid 2.0 South 6.25 km"``).
    epsg:
        EPSG code of the projection.
    shape:
        ``(rows, cols)``.
    resolution:
        Cell size, m.
    x0, y0:
        Projected coordinates of the upper-left corner of the upper-left cell, m.
    hemisphere:
        ``"north"`` or ``"south"``.
    projection:
        ``"laea"`` (Lambert azimuthal equal area) or ``"stere"`` (polar stereographic);
        tells the compiled binning code which formulas to use.
    """

    name: str
    epsg: int
    shape: tuple[int, int]
    resolution: float
    x0: float
    y0: float
    hemisphere: Hemisphere
    projection: Literal["laea", "stere"]

    def __repr__(self) -> str:
        rows, cols = self.shape
        return (f"Grid({self.name!r}, EPSG:{self.epsg}, {rows} x {cols} cells of "
                f"{self.resolution:g} m)")

    @property
    def transform(self) -> Affine:
        """Affine transform from ``(col, row)`` to ``(x, y)`` of the cell's upper-left corner."""
        return Affine(self.resolution, 0.0, self.x0, 0.0, -self.resolution, self.y0)

    @property
    def n_cells(self) -> int:
        """Number of cells, rows x cols."""
        return self.shape[0] * self.shape[1]

    @cached_property
    def crs(self) -> pyproj.CRS:
        """The projection as a :class:`pyproj.CRS`."""
        return pyproj.CRS.from_epsg(self.epsg)

    @cached_property
    def _to_xy(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(4326, self.epsg, always_xy=True)

    def project(self, longitude: np.ndarray, latitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project longitude/latitude (degrees) to grid coordinates x, y (m) with pyproj."""
        x, y = self._to_xy.transform(np.asarray(longitude, dtype=np.float64),
                                     np.asarray(latitude, dtype=np.float64))
        return np.asarray(x), np.asarray(y)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column of the cells that contain points (x, y) in metres.

        Returns
        -------
        row, col, inside:
            int64 row and column indices, and a boolean mask of the points inside the grid
            (row and column are meaningless where ``inside`` is False). A point on a cell
            edge belongs to the cell to its right (x) and below it (y): floor, not round.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        colf = np.floor((x - self.x0) / self.resolution)
        rowf = np.floor((self.y0 - y) / self.resolution)
        rows, cols = self.shape
        inside = (colf >= 0) & (colf < cols) & (rowf >= 0) & (rowf < rows)  # NaN -> False
        row = np.where(inside, rowf, -1).astype(np.int64)
        col = np.where(inside, colf, -1).astype(np.int64)
        return row, col, inside

    def x_centers(self, col0: int = 0, col1: int | None = None) -> np.ndarray:
        """x of the centres of columns ``col0 .. col1-1`` (m)."""
        col1 = self.shape[1] if col1 is None else col1
        return self.x0 + (np.arange(col0, col1) + 0.5) * self.resolution

    def y_centers(self, row0: int = 0, row1: int | None = None) -> np.ndarray:
        """y of the centres of rows ``row0 .. row1-1`` (m); decreasing, as rows go down."""
        row1 = self.shape[0] if row1 is None else row1
        return self.y0 - (np.arange(row0, row1) + 0.5) * self.resolution

    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the whole grid, m."""
        rows, cols = self.shape
        return (self.x0, self.y0 - rows * self.resolution,
                self.x0 + cols * self.resolution, self.y0)


def _hemisphere(hemisphere: str) -> Hemisphere:
    h = str(hemisphere).lower()
    if h not in ("north", "south"):
        raise ValueError(f"hemisphere must be 'north' or 'south', not {hemisphere!r}")
    return h  # type: ignore[return-value]


def ease2_grid(hemisphere: Hemisphere = "south", resolution_km: float = 6.25) -> Grid:
    """An EASE-Grid 2.0 azimuthal grid.

    Parameters
    ----------
    hemisphere:
        ``"south"`` (EPSG:6932) or ``"north"`` (EPSG:6931).
    resolution_km:
        Cell size in km: 3.125, 6.25, 12.5 or 25.

    Returns
    -------
    Grid
        E.g. for 6.25 km: 2880 x 2880 cells of 6250 m, upper-left corner
        (-9,000,000, 9,000,000).

    Raises
    ------
    ValueError
        For another hemisphere or resolution.

    Examples
    --------
    >>> g = ease2_grid("south", 6.25)
    >>> g.epsg, g.shape, g.resolution
    (6932, (2880, 2880), 6250.0)
    """
    h = _hemisphere(hemisphere)
    try:
        res = float(resolution_km)
    except (TypeError, ValueError):  # "abc" or None: say what is accepted, not float()'s words
        res = float("nan")
    if res not in EASE2_SIZES:
        raise ValueError(
            f"EASE-Grid 2.0 resolutions are {', '.join(f'{r:g}' for r in EASE2_SIZES)} km, "
            f"not {resolution_km!r}"
        )
    n = EASE2_SIZES[res]
    return Grid(
        name=f"EASE-Grid 2.0 {h.capitalize()} {res:g} km",
        epsg=6931 if h == "north" else 6932,
        shape=(n, n),
        resolution=res * 1000.0,
        x0=-EASE2_HALF_WIDTH_M,
        y0=EASE2_HALF_WIDTH_M,
        hemisphere=h,
        projection="laea",
    )


def atl20_grid(hemisphere: Hemisphere = "south") -> Grid:
    """ATL20's 25 km NSIDC Sea Ice Polar Stereographic grid.

    North: EPSG:3411, 448 rows x 304 columns, x from -3,850 to 3,750 km, y from 5,850 down
    to -5,350 km. South: EPSG:3412, 332 rows x 316 columns, x from -3,950 to 3,950 km,
    y from 4,350 down to -3,950 km (NSIDC's polar stereographic grid definitions).

    Examples
    --------
    >>> atl20_grid("north").shape
    (448, 304)
    """
    h = _hemisphere(hemisphere)
    if h == "north":
        return Grid("ATL20 North 25 km (NSIDC Polar Stereographic)", 3411, (448, 304),
                    25_000.0, -3_850_000.0, 5_850_000.0, "north", "stere")
    return Grid("ATL20 South 25 km (NSIDC Polar Stereographic)", 3412, (332, 316),
                25_000.0, -3_950_000.0, 4_350_000.0, "south", "stere")


def require_grid(grid: object) -> Grid:
    """``grid`` if it is a :class:`Grid`; otherwise a TypeError that says how to make one.

    A grid name alone (``"ease2-25"``) does not say which hemisphere, so functions that grid
    data take a Grid, not a name (a name used to fail deep inside with an AttributeError).
    """
    if isinstance(grid, Grid):
        return grid
    raise TypeError(
        f"grid must be a Grid, not a {type(grid).__name__} ({grid!r}): use "
        "ease2_grid(hemisphere, km), atl20_grid(hemisphere) or get_grid(name, hemisphere)"
    )


def get_grid(name: str | Grid, hemisphere: Hemisphere = "south") -> Grid:
    """A grid by name: ``"ease2-6.25"`` (also 3.125, 12.5, 25) or ``"atl20"``; Grids pass through.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if isinstance(name, Grid):
        return name
    key = str(name).lower().replace("_", "-").replace(" ", "")
    if key == "atl20":
        return atl20_grid(hemisphere)
    if key.startswith("ease2-"):
        try:
            return ease2_grid(hemisphere, float(key[len("ease2-"):].removesuffix("km")))
        except ValueError:
            pass
    known = ", ".join([f"ease2-{r:g}" for r in EASE2_SIZES] + ["atl20"])
    raise ValueError(f"unknown grid {name!r}; known grids: {known}")
