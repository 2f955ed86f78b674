"""Grids, projections and drop-in-the-bucket statistics, checked against independent sums.

Every expected value here comes from outside the code under test: the EASE-Grid 2.0 and
NSIDC polar stereographic grid definitions (written out below as literals), pyproj, Snyder's
formulas evaluated with mpmath at 40 digits, and a two-pass float64 computation with pandas
(``independent_stats``) that shares no code with the package. The seed notebook's index
function is reproduced here to show each of its defects on a concrete point.
"""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr
from affine import Affine

import icesat2_tutorial as it
from icesat2_tutorial.bucket import PartialSums
from icesat2_tutorial.projection import project

# --------------------------------------------------------------------------------------------
# The grids, as their defining documents give them (not read from the package)
# --------------------------------------------------------------------------------------------

WGS84_A = 6378137.0
WGS84_INV_F = 298.257223563
HUGHES_A = 6378273.0  # Hughes 1980 ellipsoid of the NSIDC polar stereographic grids
HUGHES_B = 6356889.449

#: name -> EPSG, projection, hemisphere, ellipsoid, origin, grid lattice
SPECS: dict[str, dict] = {}
for _h, _epsg in (("north", 6931), ("south", 6932)):
    for _km, _n in ((25.0, 720), (12.5, 1440), (6.25, 2880), (3.125, 5760)):
        SPECS[f"ease2-{_h}-{_km:g}"] = dict(
            epsg=_epsg, kind="laea", north=_h == "north", a=WGS84_A, b=WGS84_A * (1 - 1 / WGS84_INV_F),
            lon0=0.0, lat_ts=None, x0=-9_000_000.0, y0=9_000_000.0, res=_km * 1000.0, shape=(_n, _n))
SPECS["atl20-north"] = dict(epsg=3411, kind="stere", north=True, a=HUGHES_A, b=HUGHES_B, lon0=-45.0,
                            lat_ts=70.0, x0=-3_850_000.0, y0=5_850_000.0, res=25_000.0, shape=(448, 304))
SPECS["atl20-south"] = dict(epsg=3412, kind="stere", north=False, a=HUGHES_A, b=HUGHES_B, lon0=0.0,
                            lat_ts=-70.0, x0=-3_950_000.0, y0=4_350_000.0, res=25_000.0, shape=(332, 316))


def package_grid(name: str) -> it.Grid:
    if name.startswith("atl20"):
        return it.atl20_grid(name.split("-")[1])
    _, h, km = name.split("-")
    return it.ease2_grid(h, float(km))


FOUR_GRIDS = ["ease2-north-25", "ease2-south-25", "atl20-north", "atl20-south"]


# --------------------------------------------------------------------------------------------
# Independent computations
# --------------------------------------------------------------------------------------------

mp.mp.dps = 40


def mp_xy(spec: dict, lon, lat) -> tuple[mp.mpf, mp.mpf]:
    """Snyder (1987) polar LAEA (eqs. 3-12, 24-…) and polar stereographic (15-9, 14-15, 21-…)."""
    a, b = mp.mpf(spec["a"]), mp.mpf(spec["b"])
    e = mp.sqrt(1 - (b * b) / (a * a))
    phi = mp.radians(mp.mpf(lat))
    lam = mp.radians(mp.mpf(lon)) - mp.radians(mp.mpf(spec["lon0"]))
    if spec["kind"] == "laea":
        def q(p):
            s = mp.sin(p)
            return (1 - e**2) * (s / (1 - e**2 * s**2) - 1 / (2 * e) * mp.log((1 - e * s) / (1 + e * s)))
        qp = q(mp.pi / 2)
        if spec["north"]:
            rho = a * mp.sqrt(max(qp - q(phi), 0))
            return rho * mp.sin(lam), -rho * mp.cos(lam)
        rho = a * mp.sqrt(max(qp + q(phi), 0))
        return rho * mp.sin(lam), rho * mp.cos(lam)
    phic = mp.radians(mp.mpf(spec["lat_ts"]))
    if not spec["north"]:  # Snyder: the south aspect is the north one with phi, lambda, x, y negated
        phi, lam, phic = -phi, -lam, -phic

    def t(p):
        es = e * mp.sin(p)
        return mp.tan(mp.pi / 4 - p / 2) / ((1 - es) / (1 + es)) ** (e / 2)
    mc = mp.cos(phic) / mp.sqrt(1 - e**2 * mp.sin(phic) ** 2)
    rho = a * mc * t(phi) / t(phic)
    x, y = rho * mp.sin(lam), -rho * mp.cos(lam)
    return (x, y) if spec["north"] else (-x, -y)


def mp_project(spec: dict, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy = [mp_xy(spec, float(lo), float(la)) for lo, la in zip(lon, lat, strict=True)]
    return np.array([float(v[0]) for v in xy]), np.array([float(v[1]) for v in xy])


def lonlat_at(spec: dict, targets: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """Float64 lon/lat whose exact projection is within nanometres of each target (x, y).

    pyproj's inverse is the first guess (its EASE-Grid round trip is off by ~0.2 mm);
    Newton's method on the 40-digit forward projection does the rest.
    """
    inv = pyproj.Transformer.from_crs(spec["epsg"], 4326, always_xy=True)
    lons, lats = [], []
    h = mp.mpf("1e-15")
    for tx, ty in targets:
        tx, ty = mp.mpf(tx), mp.mpf(ty)
        lo, la = inv.transform(float(tx), float(ty))
        lo, la = mp.mpf(lo), mp.mpf(la)
        for _ in range(3):
            fx, fy = mp_xy(spec, lo, la)
            ax, ay = mp_xy(spec, lo + h, la)
            bx, by = mp_xy(spec, lo, la + h)
            j00, j01, j10, j11 = (ax - fx) / h, (bx - fx) / h, (ay - fy) / h, (by - fy) / h
            rx, ry = fx - tx, fy - ty
            det = j00 * j11 - j01 * j10
            lo -= (j11 * rx - j01 * ry) / det
            la -= (-j10 * rx + j00 * ry) / det
        lons.append(float(lo))
        lats.append(float(la))
        fx, fy = mp_xy(spec, lons[-1], lats[-1])
        assert abs(fx - tx) < 1e-8 and abs(fy - ty) < 1e-8  # the construction itself
    return np.array(lons), np.array(lats)


def period_start(times: pd.Series, period: str) -> pd.Series:
    """UTC period start with pandas (days and 7-day bins are anchored at 1970-01-01)."""
    t = pd.Series(pd.to_datetime(times)).astype("datetime64[ns]")
    if period.endswith("MS"):
        n = int(period[:-2] or 1)
        months = (t.dt.year - 1970) * 12 + (t.dt.month - 1)
        months = (months // n) * n
        return pd.to_datetime(pd.DataFrame({"year": 1970 + months // 12, "month": months % 12 + 1,
                                            "day": 1})).astype("datetime64[ns]")
    return t.dt.floor(period)


def independent_stats(df: pd.DataFrame, spec: dict, period: str = "1D",
                      value: str = "beam_fb_height") -> tuple[pd.DataFrame, int, int]:
    """pyproj + floor + pandas groupby, two passes in float64.

    Returns the per (time, row, col) table with n, mean_length, mean, std, and the numbers
    of invalid (NaN, NaT, length <= 0) and off-grid segments.
    """
    lat = df["latitude"].to_numpy(np.float64)
    lon = df["longitude"].to_numpy(np.float64)
    length = df["height_segment_length_seg"].to_numpy(np.float64)
    h = df[value].to_numpy(np.float64)
    times = pd.Series(df["time"].to_numpy()).astype("datetime64[ns]")
    valid = (np.isfinite(lat) & np.isfinite(lon) & np.isfinite(length) & np.isfinite(h)
             & (length > 0) & (np.abs(lat) <= 90) & times.notna().to_numpy())
    tr = pyproj.Transformer.from_crs("EPSG:4326", f"EPSG:{spec['epsg']}", always_xy=True)
    x, y = tr.transform(lon[valid], lat[valid])
    col = np.floor((np.asarray(x) - spec["x0"]) / spec["res"])
    row = np.floor((spec["y0"] - np.asarray(y)) / spec["res"])
    rows, cols = spec["shape"]
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    frame = pd.DataFrame({
        "time": period_start(times[valid].reset_index(drop=True), period)[inside].to_numpy(),
        "row": row[inside].astype(np.int64), "col": col[inside].astype(np.int64),
        "L": length[valid][inside], "h": h[valid][inside],
    })
    frame["Lh"] = frame["L"] * frame["h"]
    keys = ["time", "row", "col"]
    out = frame.groupby(keys).agg(n=("L", "size"), W=("L", "sum"), Lh=("Lh", "sum"))
    out["mean"] = out["Lh"] / out["W"]
    frame = frame.join(out["mean"], on=keys)
    frame["dev2"] = frame["L"] * (frame["h"] - frame["mean"]) ** 2  # second pass
    out["S"] = frame.groupby(keys)["dev2"].sum()
    out["std"] = np.sqrt(out["S"] / out["W"])
    out["mean_length"] = out["W"] / out["n"]
    return out.reset_index(), int((~valid).sum()), int((~inside).sum())


def assert_matches(ds: xr.Dataset, ref: pd.DataFrame, spec: dict, mean: str = "freeboard_mean",
                   std: str = "freeboard_std") -> None:
    """Every cell of ``ref`` is in ``ds`` (matched by coordinates) and ``ds`` has no others."""
    xc = spec["x0"] + (ref["col"].to_numpy() + 0.5) * spec["res"]
    yc = spec["y0"] - (ref["row"].to_numpy() + 0.5) * spec["res"]
    pts = ds.sel(time=xr.DataArray(ref["time"].to_numpy(), dims="p"),
                 x=xr.DataArray(xc, dims="p"), y=xr.DataArray(yc, dims="p")).compute()
    np.testing.assert_array_equal(pts["segment_count"].values, ref["n"].to_numpy())
    np.testing.assert_allclose(pts["mean_segment_length"].values, ref["mean_length"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(pts[mean].values, ref["mean"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(pts[std].values, ref["std"], rtol=0, atol=1e-12)
    full = ds.compute()
    assert int(full["segment_count"].sum()) == int(ref["n"].sum())
    assert int((full["segment_count"] > 0).sum()) == len(ref)
    assert int(full[mean].notnull().sum()) == len(ref)
    assert int(full[std].notnull().sum()) == len(ref)
    assert bool(((full["segment_count"] == 0) == full[mean].isnull()).all())


def table(lat, lon, length, h, times) -> pd.DataFrame:
    n = len(lat)
    times = np.asarray(times, dtype="datetime64[ns]")
    if times.size == 1:
        times = np.repeat(times, n)
    return pd.DataFrame({"time": times, "latitude": np.asarray(lat, np.float64),
                         "longitude": np.asarray(lon, np.float64),
                         "height_segment_length_seg": np.asarray(length, np.float32),
                         "beam_fb_height": np.asarray(h, np.float32)})


def random_table(n: int, seed: int, days: int = 3, lat=(-78.0, -55.0), north: bool = False) -> pd.DataFrame:
    """Random segments in clusters (cells hold many), south unless ``north``."""
    rng = np.random.default_rng(seed)
    # clustered points so that cells hold many segments
    centres = rng.uniform([lat[0], -180.0], [lat[1], 180.0], size=(n // 200 + 1, 2))
    pick = rng.integers(0, len(centres), n)
    la = np.clip(centres[pick, 0] + rng.normal(0, 0.05, n), -89.9, -50)
    lo = (centres[pick, 1] + rng.normal(0, 0.2, n) + 180.0) % 360.0 - 180.0
    t0 = np.datetime64("2019-09-01T00:00:00", "ns")
    t = t0 + rng.integers(0, days * 86_400 * 10**9, n).astype("timedelta64[ns]")
    return table(-la if north else la, lo, rng.uniform(4.0, 150.0, n), rng.lognormal(-1.3, 0.6, n), t)


@pytest.fixture(scope="module")
def granules(tmp_path_factory) -> list[pd.DataFrame]:
    paths = it.make_fixture_granules(tmp_path_factory.mktemp("atl10"), n=3, size="small", seed=11)
    return [it.read_granule(p) for p in paths]


@pytest.fixture(scope="module")
def segments(granules) -> pd.DataFrame:
    return pd.concat(granules, ignore_index=True)


# --------------------------------------------------------------------------------------------
# 1. Grid definitions, and the seed's index function
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [k for k in SPECS if k.startswith("ease2")])
def test_ease2_grid_definition(name):
    spec, grid = SPECS[name], package_grid(name)
    rows, cols = spec["shape"]
    assert grid.epsg == spec["epsg"] and grid.crs.to_epsg() == spec["epsg"]
    assert grid.shape == (rows, cols) and rows == cols
    assert grid.resolution == spec["res"]
    assert rows * spec["res"] == 18_000_000.0  # the +-9,000 km EASE-Grid 2.0 extent
    assert (grid.x0, grid.y0) == (-9_000_000.0, 9_000_000.0)
    assert grid.bounds() == (-9e6, -9e6, 9e6, 9e6)
    assert grid.transform == Affine(spec["res"], 0, -9e6, 0, -spec["res"], 9e6)
    assert grid.transform @ (0, 0) == (-9e6, 9e6)
    assert grid.transform @ (cols, rows) == (9e6, -9e6)
    assert grid.transform @ (cols // 2, rows // 2) == (0.0, 0.0)  # the pole is a cell corner
    assert grid.crs.coordinate_operation.method_name == "Lambert Azimuthal Equal Area"


def test_ease2_6_25_is_the_seeds_grid_done_right():
    grid = it.ease2_grid(hemisphere="south", resolution_km=6.25)
    assert (grid.epsg, grid.shape, grid.resolution) == (6932, (2880, 2880), 6250.0)
    assert (grid.x0, grid.y0) == (-9_000_000.0, 9_000_000.0)
    assert it.ease2_grid("north", 6.25).epsg == 6931
    assert it.get_grid("ease2-6.25", "south") == grid
    assert it.get_grid("EASE2_6.25km", "south") == grid
    assert it.get_grid(grid) is grid


@pytest.mark.parametrize("name", ["atl20-north", "atl20-south"])
def test_atl20_grid_definition(name):
    spec, grid = SPECS[name], package_grid(name)
    rows, cols = spec["shape"]
    assert (grid.epsg, grid.shape, grid.resolution) == (spec["epsg"], spec["shape"], 25_000.0)
    assert grid.transform @ (0, 0) == (spec["x0"], spec["y0"])
    xmax, ymin = grid.transform @ (cols, rows)
    # NSIDC: north x -3850..3750 km, y 5850..-5350 km; south x -3950..3950 km, y 4350..-3950 km
    assert (xmax, ymin) == ((3_750_000.0, -5_350_000.0) if spec["north"] else (3_950_000.0, -3_950_000.0))
    assert grid.bounds() == (spec["x0"], ymin, xmax, spec["y0"])
    assert grid.crs.coordinate_operation.method_name.startswith("Polar Stereographic")
    assert it.get_grid("atl20", name.split("-")[1]) == grid


@pytest.mark.parametrize("call", [
    lambda: it.ease2_grid("east", 25), lambda: it.ease2_grid("south", 10),
    lambda: it.ease2_grid("south", 36), lambda: it.atl20_grid("equator"),
    lambda: it.get_grid("ease2-10"), lambda: it.get_grid("utm"),
])
def test_bad_grid_parameters_raise(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("name", ["ease2-south-6.25", "ease2-north-25", "atl20-north", "atl20-south"])
def test_cell_of_is_exact_on_every_edge(name):
    # floor(~transform @ (x, y)) is not: affine's inverse multiplies by 1/res, and on the ATL20
    # North grid x = x0 + 27 res comes back as column 26.999999999999986. cell_of divides.
    spec, grid = SPECS[name], package_grid(name)
    rows, cols = spec["shape"]
    k = np.arange(cols)
    j = np.arange(rows)
    r, c, inside = grid.cell_of(spec["x0"] + k * spec["res"], np.full(cols, spec["y0"]))
    assert inside.all() and (c == k).all() and (r == 0).all()
    r, c, inside = grid.cell_of(np.full(rows, spec["x0"]), spec["y0"] - j * spec["res"])
    assert inside.all() and (r == j).all() and (c == 0).all()


# The seed notebook's grid and index function (coiled_h5coro_atl10_timeseries, In [34] and
# In [40]), verbatim but for silencing affine 3's warning about `*`:
SEED_NROW, SEED_NCOL = 2880, 2880
SEED_ULX, SEED_ULY = -9000000.0, 9000000.0
SEED_WIDTH, SEED_HEIGHT = 10000.0, -10000.0


def seed_get_grid_index(xy, width=SEED_WIDTH, height=SEED_HEIGHT):
    geotransform = (SEED_ULX, width, 0., SEED_ULY, 0., height)
    fwd = Affine.from_gdal(*geotransform)
    with warnings.catch_warnings():  # affine 3 prefers `@` to the seed's `*`
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        row, col = ~fwd * xy
    return (np.floor(row) * SEED_NCOL) + np.floor(col)


def seed_series_to_grid_mask(index, nrow=SEED_NROW, ncol=SEED_NCOL):
    """The 2023 successor's filter in ``series_to_grid``."""
    index = np.asarray(index)
    return (index >= 0) & (index < (nrow * ncol - 1))


def test_transform_order_col_row_and_seed_swap():
    grid = it.ease2_grid("south", 6.25)
    row, col = 2000, 100
    x, y = -9e6 + (col + 0.5) * 6250, 9e6 - (row + 0.5) * 6250  # centre of (row 2000, col 100)
    assert grid.transform @ (col + 0.5, row + 0.5) == (x, y)
    c, r = ~grid.transform @ (x, y)  # (col, row), to rounding
    assert c == pytest.approx(col + 0.5, abs=1e-9) and r == pytest.approx(row + 0.5, abs=1e-9)
    got_row, got_col, inside = grid.cell_of(np.array([x]), np.array([y]))
    assert (got_row[0], got_col[0], inside[0]) == (row, col, True)
    # the seed unpacked (col, row) as (row, col): with its cells made 6250 m, the point still
    # lands in the transposed cell
    seed_index = seed_get_grid_index((x, y), 6250.0, -6250.0)
    assert divmod(int(seed_index), SEED_NCOL) == (col, row)
    assert divmod(int(seed_index), SEED_NCOL) != (row, col)


def test_seed_10_km_cells_do_not_make_a_6_25_km_grid():
    assert SEED_NCOL * SEED_WIDTH == 28_800_000.0  # 2880 cells of 10 km: not the 18,000 km EASE extent
    assert SEED_NCOL * 6250.0 == 18_000_000.0 == 2 * 9_000_000.0
    grid = it.ease2_grid("south", 6.25)
    x, y = 5_000_000.0 + 10.0, -3_000_000.0 - 10.0  # inside cell (1920, 2240) of the real grid
    row, col, inside = grid.cell_of(np.array([x]), np.array([y]))
    assert (row[0], col[0], inside[0]) == (1920, 2240, True)
    # the seed's 10 km cells (and swapped axes) put it in row 1400, col 1200
    assert divmod(int(seed_get_grid_index((x, y))), SEED_NCOL) == (1400, 1200)
    # even with the axes in the right order, 10 km cells give (1200, 1400), not (1920, 2240)
    fwd = Affine.from_gdal(SEED_ULX, SEED_WIDTH, 0.0, SEED_ULY, 0.0, SEED_HEIGHT)
    c, r = ~fwd @ (x, y)
    assert (math.floor(r), math.floor(c)) == (1200, 1400)


def test_seed_dropped_the_last_cell():
    grid = it.ease2_grid("south", 6.25)
    x, y = 9e6 - 1.0, -9e6 + 1.0  # the lower-right cell, row 2879 col 2879
    seed_index = seed_get_grid_index((x, y), 6250.0, -6250.0)
    assert seed_index == SEED_NROW * SEED_NCOL - 1
    assert not seed_series_to_grid_mask([seed_index])[0]  # "< nrow*ncol - 1" drops it
    row, col, inside = grid.cell_of(np.array([x]), np.array([y]))
    assert (row[0], col[0], inside[0]) == (2879, 2879, True)
    # and gridding keeps it: a segment there is counted in that cell
    lon, lat = lonlat_at(SPECS["ease2-south-6.25"], [(x, y)])
    ds = it.grid_segments(table(lat, lon, [10.0], [0.25], "2019-09-01"), grid).compute()
    assert ds.attrs["segments_gridded"] == 1 and ds.attrs["segments_outside_grid"] == 0
    assert ds.x.values.tolist() == [9e6 - 3125.0] and ds.y.values.tolist() == [-9e6 + 3125.0]
    assert int(ds.segment_count.sum()) == 1


def test_seed_never_clipped_to_the_grid():
    grid = it.ease2_grid("south", 6.25)
    # 100 m left of the grid, in row 1000: column -1 ...
    x, y = -9e6 - 100.0, 9e6 - 1000.5 * 6250
    fwd = Affine.from_gdal(SEED_ULX, 6250.0, 0.0, SEED_ULY, 0.0, -6250.0)
    c, r = ~fwd @ (x, y)
    index = np.floor(r) * SEED_NCOL + np.floor(c)  # the seed's index, axes fixed, cells fixed
    # ... wraps round to the last column of the row above, and passes the seed's filter
    assert divmod(int(index), SEED_NCOL) == (999, 2879)
    assert seed_series_to_grid_mask([index])[0]
    # 100 m above the grid: a negative index, which numpy's indexing wraps to the grid's end
    x2, y2 = 1000.0, 9e6 + 100.0
    c2, r2 = ~fwd @ (x2, y2)
    index2 = int(np.floor(r2) * SEED_NCOL + np.floor(c2))
    assert index2 < 0
    assert index2 == -1 * SEED_NCOL + 1440  # row -1, column 1440
    counts = np.zeros(SEED_NROW * SEED_NCOL)
    counts[index2] = 1  # the seed's `grid[index] = counts`: lands in the bottom row
    assert counts.reshape(SEED_NROW, SEED_NCOL)[2879, 1440] == 1
    # the package: both points are outside, and counted as such when gridded
    rows, cols, inside = grid.cell_of(np.array([x, x2]), np.array([y, y2]))
    assert not inside.any() and (rows == -1).all() and (cols == -1).all()
    lon, lat = lonlat_at(SPECS["ease2-south-6.25"], [(x, y), (x2, y2)])
    ds = it.grid_segments(table(np.r_[lat, -70.0], np.r_[lon, 0.0], [10.0] * 3, [0.3] * 3,
                                "2019-09-01"), grid)
    assert int(ds.attrs["segments_outside_grid"]) == 2
    assert int(ds.attrs["segments_gridded"]) == 1
    assert int(ds.segment_count.sum()) == 1


@pytest.mark.parametrize("name", ["ease2-south-6.25", "ease2-north-3.125", "atl20-north", "atl20-south"])
def test_cell_of_exact_edges(name):
    spec, grid = SPECS[name], package_grid(name)
    rows, cols = spec["shape"]
    x0, y0, res = spec["x0"], spec["y0"], spec["res"]
    k = np.array([0, 1, 7, cols // 3, cols - 1])
    j = np.array([0, 1, 5, rows // 3, rows - 1])
    mid_x, mid_y = np.full(5, x0 + 0.5 * res), np.full(5, y0 - 0.5 * res)
    # a point on a cell's left or top edge belongs to that cell (floor) ...
    r, c, inside = grid.cell_of(x0 + k * res, y0 - j * res)
    assert inside.all() and (c == k).all() and (r == j).all()
    # ... a micrometre to the left of (above) it, to the cell before (above)
    r, c, inside = grid.cell_of(x0 + k[1:] * res - 1e-6, mid_y[1:])
    assert inside.all() and (c == k[1:] - 1).all() and (r == 0).all()
    r, c, inside = grid.cell_of(mid_x[1:], y0 - j[1:] * res + 1e-6)
    assert inside.all() and (r == j[1:] - 1).all() and (c == 0).all()
    # the outer edges: left and top are in, right and bottom (the next cell's edges) are out
    xs = np.array([x0, np.nextafter(x0, -np.inf), x0 + cols * res, x0 + cols * res - 1e-6])
    _, c, inside = grid.cell_of(xs, mid_y[:4])
    assert inside.tolist() == [True, False, False, True] and c[[0, 3]].tolist() == [0, cols - 1]
    ys = np.array([y0, np.nextafter(y0, np.inf), y0 - rows * res, y0 - rows * res + 1e-6])
    r, _, inside = grid.cell_of(mid_x[:4], ys)
    assert inside.tolist() == [True, False, False, True] and r[[0, 3]].tolist() == [0, rows - 1]
    r, c, inside = grid.cell_of(np.array([np.nan, 0.0, np.inf, -np.inf]), np.array([0.0, np.nan, 0.0, 0.0]))
    assert not inside.any() and (r == -1).all() and (c == -1).all()


# --------------------------------------------------------------------------------------------
# 2. Projection: the compiled formulas against pyproj and against 40-digit arithmetic
# --------------------------------------------------------------------------------------------

def projection_points(spec: dict, n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = 1.0 if spec["north"] else -1.0
    fixed_lat = [0.0, 45.0, 60.0, 70.0, 79.999, 80.0, 85.0, 89.0, 89.9, 89.99, 89.999, 89.9999, 89.99999,
                 90.0]
    fixed_lon = [0.0, 45.0, -45.0, 90.0, 180.0, -180.0, 135.0, -135.0, 10.0, 359.9999, -179.9999, 179.9999,
                 33.3, 0.0]
    lat = np.concatenate([rng.uniform(30.0, 89.0, n), fixed_lat])
    lon = np.concatenate([rng.uniform(-180.0, 360.0, n), fixed_lon])
    if spec["kind"] == "stere":
        lat[:n] = rng.uniform(40.0, 89.0, n)
        lat[n] = 30.0  # the stereographic grids do not reach the equator
    return lon, s * lat


@pytest.mark.parametrize("name", FOUR_GRIDS)
def test_projection_against_pyproj(name):
    spec, grid = SPECS[name], package_grid(name)
    lon, lat = projection_points(spec, n=2000, seed=1)
    x, y = project(grid, lon, lat)
    px, py = grid.project(lon, lat)
    tx, ty = pyproj.Transformer.from_crs(4326, spec["epsg"], always_xy=True).transform(lon, lat)
    assert np.array_equal(tx, px) and np.array_equal(ty, py)  # Grid.project is pyproj
    d = np.hypot(x - px, y - py)
    far = np.abs(lat) < 80
    assert d[far].max() < 1e-3
    assert d[~far].max() < 0.5


@pytest.mark.parametrize("name", FOUR_GRIDS)
def test_projection_against_40_digit_snyder(name):
    spec, grid = SPECS[name], package_grid(name)
    lon, lat = projection_points(spec, n=60, seed=2)
    x, y = project(grid, lon, lat)
    rx, ry = mp_project(spec, lon, lat)
    assert np.hypot(x - rx, y - ry).max() < 1e-6
    # pyproj agrees with the reference to a millimetre away from the pole
    px, py = grid.project(lon, lat)
    far = np.abs(lat) < 80
    assert np.hypot(px - rx, py - ry)[far].max() < 1e-3


# --------------------------------------------------------------------------------------------
# 3. Statistics against the independent two-pass computation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,period", [("ease2-south-25", "1D"), ("ease2-south-6.25", "1MS"),
                                         ("atl20-south", "1D"), ("ease2-south-12.5", "7D")])
def test_random_segments_match_independent(name, period):
    spec, grid = SPECS[name], package_grid(name)
    df = random_table(20_000, seed=5, days=40 if period != "1D" else 3)
    ds = it.grid_segments(df, grid, period)
    ref, n_invalid, n_outside = independent_stats(df, spec, period)
    assert len(ref) > 100 and ref["n"].max() > 20
    assert_matches(ds, ref, spec)
    assert ds.attrs["segments_invalid"] == n_invalid == 0
    assert ds.attrs["segments_outside_grid"] == n_outside
    assert ds.attrs["segments_gridded"] == ref["n"].sum()


def test_fixture_segments_match_independent(segments):
    spec, grid = SPECS["ease2-south-6.25"], it.ease2_grid("south", 6.25)
    ds = it.grid_segments(segments, grid, "1D")
    ref, n_invalid, n_outside = independent_stats(segments, spec, "1D")
    assert ref["n"].max() > 50  # along-track runs: many segments per cell
    assert_matches(ds, ref, spec)
    assert (n_invalid, n_outside) == (0, 0)


def test_north_fixture_segments_match_independent(tmp_path):
    paths = it.make_fixture_granules(tmp_path, n=1, size="small", seed=4, hemisphere="north",
                                     start="2020-03-01")
    df = it.read_granule(paths[0])
    for name in ("ease2-north-12.5", "atl20-north"):
        ref, _, n_outside = independent_stats(df, SPECS[name], "1D")
        ds = it.grid_segments(df, package_grid(name), "1D")
        assert_matches(ds, ref, SPECS[name])
        assert ds.attrs["segments_outside_grid"] == n_outside


def edge_targets(spec: dict, seed: int, n_cells: int = 12, offset: float = 1e-6):
    """Points a micrometre either side of cell edges and corners, with the cell each is in."""
    rng = np.random.default_rng(seed)
    rows, cols = spec["shape"]
    res, x0, y0 = spec["res"], spec["x0"], spec["y0"]
    targets, expected = [], []
    while len(targets) < 8 * n_cells:
        r, c = int(rng.integers(1, rows - 1)), int(rng.integers(1, cols - 1))
        xl, yt = mp.mpf(x0) + c * mp.mpf(res), mp.mpf(y0) - r * mp.mpf(res)
        if not 1.2e6 < float(mp.sqrt(xl**2 + yt**2)) < 3.8e6:  # sea ice latitudes, |lat| < 80
            continue
        mid_x, mid_y = xl + mp.mpf(res) / 3, yt - mp.mpf(res) / 3
        for dx, dy, cell in [(+offset, None, (r, c)), (-offset, None, (r, c - 1)),
                             (None, -offset, (r, c)), (None, +offset, (r - 1, c)),
                             (+offset, -offset, (r, c)), (-offset, -offset, (r, c - 1)),
                             (+offset, +offset, (r - 1, c)), (-offset, +offset, (r - 1, c - 1))]:
            tx = mid_x if dx is None else xl + dx
            ty = mid_y if dy is None else yt + dy
            targets.append((tx, ty))
            expected.append(cell)
    return targets, np.array(expected)


@pytest.mark.parametrize("name", ["ease2-south-6.25", "atl20-south"])
def test_points_a_micrometre_from_cell_edges(name):
    spec, grid = SPECS[name], package_grid(name)
    targets, expected = edge_targets(spec, seed=8)
    lon, lat = lonlat_at(spec, targets)
    n = len(lon)
    # one UTC day per point, so each point's cell can be read from its own time slice
    days = np.datetime64("2019-01-01", "ns") + np.arange(n).astype("timedelta64[D]")
    rng = np.random.default_rng(9)
    df = table(lat, lon, rng.uniform(5, 100, n), rng.uniform(0, 1, n), days)
    sums = it.segments_to_sums(df, grid, "1D")
    period, row, col = sums.split_key()
    assert len(sums) == n and (np.diff(period) == 1).all()
    np.testing.assert_array_equal(np.c_[row, col], expected)
    ref, _, _ = independent_stats(df, spec, "1D")
    np.testing.assert_array_equal(ref[["row", "col"]].to_numpy(), expected)
    # then several points per cell, all in one day: statistics as the independent computation
    df["time"] = np.datetime64("2019-01-01T12:00", "ns")
    assert_matches(it.grid_segments(df, grid), independent_stats(df, spec, "1D")[0], spec)


def test_antimeridian_and_0_360_longitudes():
    spec, grid = SPECS["ease2-south-6.25"], it.ease2_grid("south", 6.25)
    lat = np.array([-60.0, -65.0, -70.0, -75.0, -78.5])
    # the 180 degree meridian is the line x = 0, a column edge: on it -> column 1440 (floor),
    # whether it is written 180 or -180 (sin(+-pi) * rho is below the rounding of x - x0)
    for lon in (180.0, -180.0, 540.0):
        _, c, inside = grid.cell_of(*project(grid, np.full(5, lon), lat))
        assert inside.all() and (c == 1440).all()
    # x = rho sin(lon) on the south grid: just east of 180 is x < 0, just west x > 0
    x_w, _ = project(grid, np.full(5, 179.9999), lat)
    x_e, _ = project(grid, np.full(5, -179.9999), lat)
    assert (x_w > 0).all() and (x_e < 0).all()
    assert (grid.cell_of(*project(grid, np.full(5, 179.9999), lat))[1] == 1440).all()
    assert (grid.cell_of(*project(grid, np.full(5, -179.9999), lat))[1] == 1439).all()
    assert (grid.cell_of(*project(grid, np.full(5, 180.0001), lat))[1] == 1439).all()
    df = random_table(6000, seed=12, days=2)
    rng = np.random.default_rng(13)
    special = rng.choice([180.0, -180.0, 179.9999, -179.9999, 0.0, 359.9999, -0.0001, 90.0, -90.0], 600)
    df.loc[: len(special) - 1, "longitude"] = special
    ds = it.grid_segments(df, grid, "1D")
    ref, _, _ = independent_stats(df, spec, "1D")
    assert_matches(ds, ref, spec)
    shifted = df.assign(longitude=df["longitude"] % 360.0)  # the same points in 0..360
    assert shifted["longitude"].min() >= 0.0 and shifted["longitude"].max() > 180.0
    ds360 = it.grid_segments(shifted, grid, "1D")
    xr.testing.assert_equal(ds360.segment_count.compute(), ds.segment_count.compute())
    for v in ("mean_segment_length", "freeboard_mean", "freeboard_std"):
        xr.testing.assert_allclose(ds360[v].compute(), ds[v].compute(), rtol=1e-12, atol=1e-12)


def test_near_the_pole():
    spec, grid = SPECS["ease2-south-6.25"], it.ease2_grid("south", 6.25)
    lon = np.array([0.0, 45.0, 90.0, 135.0, 180.0, -135.0, -90.0, -45.0, 30.0, -150.0])
    lat = np.full(len(lon), -89.9999)
    df = table(np.r_[lat, -90.0, -90.0], np.r_[lon, 0.0, 77.0], np.arange(1, 13), np.linspace(0.1, 0.6, 12),
               "2019-09-01T06:00")
    ds = it.grid_segments(df, grid)
    ref, _, _ = independent_stats(df, spec, "1D")
    assert_matches(ds, ref, spec)
    # 11 m from the pole, which is the corner of the four central cells
    central = {(1439, 1439), (1439, 1440), (1440, 1439), (1440, 1440)}
    assert set(zip(ref["row"], ref["col"], strict=True)) == central
    # the pole itself is (x, y) = (0, 0): on the corner, so in row 1440, col 1440
    r, c, inside = grid.cell_of(*project(grid, np.array([0.0, 77.0]), np.array([-90.0, -90.0])))
    assert inside.all() and (r == 1440).all() and (c == 1440).all()


def test_points_outside_the_grid_are_dropped_and_counted():
    # ATL20 South ends at 3,950 km from the pole: 30 S is far outside, 70 S inside
    grid = it.atl20_grid("south")
    df = table([-30.0, -45.0, 10.0, -70.0, -70.0], [0.0, 100.0, 0.0, 0.0, 5.0], [10.0] * 5, [0.2] * 5,
               "2019-09-01")
    ds = it.grid_segments(df, grid)
    assert (ds.attrs["segments_outside_grid"], ds.attrs["segments_gridded"]) == (3, 2)
    ref, _, n_outside = independent_stats(df, SPECS["atl20-south"], "1D")
    assert n_outside == 3
    assert_matches(ds, ref, SPECS["atl20-south"])
    # EASE-Grid 2.0 South: the equator is sqrt(2) x the authalic radius (~9,010 km) from the
    # pole, beyond the 9,000 km edge on the axes but inside the grid's corners
    ease = it.ease2_grid("south", 25)
    df = table([0.0, 0.0, 0.0, 30.0, -70.0], [0.0, 45.0, -135.0, 0.0, 0.0], [10.0] * 5, [0.2] * 5,
               "2019-09-01")
    ds = it.grid_segments(df, ease)
    assert (ds.attrs["segments_outside_grid"], ds.attrs["segments_gridded"]) == (2, 3)
    assert_matches(ds, independent_stats(df, SPECS["ease2-south-25"], "1D")[0], SPECS["ease2-south-25"])


def test_invalid_values_are_dropped_and_counted():
    grid, spec = it.ease2_grid("south", 25), SPECS["ease2-south-25"]
    nan = np.nan
    df = table(
        [-70.0, -70.0, nan, -70.0, -70.0, -70.0, -70.0, -91.0, -70.0, -70.2],
        [10.0, 10.0, 10.0, nan, 10.0, 10.0, 10.0, 10.0, np.inf, 10.0],
        [10.0, 10.0, 10.0, 10.0, nan, 0.0, -5.0, 10.0, 10.0, 20.0],
        [0.3, nan, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5],
        "2019-09-01T03:00")
    ds = it.grid_segments(df, grid)
    assert ds.attrs["segments_invalid"] == 8
    assert ds.attrs["segments_outside_grid"] == 0
    assert ds.attrs["segments_gridded"] == 2
    ref, n_invalid, _ = independent_stats(df, spec)
    assert n_invalid == 8
    assert_matches(ds, ref, spec)


@pytest.mark.parametrize("period", ["1D", "1MS"])
def test_missing_times_are_invalid_not_gridded(period):
    # a NaT time is a missing value like a NaN: counted invalid, never gridded into 1970
    grid = it.ease2_grid("south", 25)
    df = table([-70.0, -70.0], [10.0, 10.0], [10.0, 10.0], [0.3, 0.5],
               np.array(["2019-09-01T10:00", "NaT"], dtype="datetime64[ns]"))
    ds = it.grid_segments(df, grid, period)
    assert ds.attrs["segments_invalid"] == 1
    assert ds.attrs["segments_outside_grid"] == 0
    assert ds.sizes["time"] == 1 and ds.time.values[0] == np.datetime64("2019-09-01", "ns")
    assert float(ds.freeboard_mean.max()) == np.float64(np.float32(0.3))


def test_one_segment_cells_are_exact():
    grid = it.ease2_grid("south", 6.25)
    h = np.array([0.1, 0.3, 1e-7, 3.4e3, 0.333333], dtype=np.float32)
    length = np.array([0.1, 19.3, 150.0, 7.0, 1e-3], dtype=np.float32)
    lat = np.array([-60.0, -65.0, -70.0, -75.0, -80.0])
    ds = it.grid_segments(table(lat, np.zeros(5), length, h, "2019-09-01"), grid).compute()
    x, y = grid.project(np.zeros(5), lat)
    xc, yc = (np.floor(x / 6250) + 0.5) * 6250, (np.floor(y / 6250) + 0.5) * 6250  # cell centres
    cells = ds.isel(time=0).sel(x=xr.DataArray(xc), y=xr.DataArray(yc))
    assert (cells.segment_count.values == 1).all()
    assert (cells.freeboard_std.values == 0.0).all()  # exactly, not ~1e-17 or NaN
    assert (cells.freeboard_mean.values == h.astype(np.float64)).all()
    assert (cells.mean_segment_length.values == length.astype(np.float64)).all()


@pytest.mark.parametrize("last", ["2019-09-01T23:59:59.999", "2019-09-01T23:59:59.999999999"])
def test_day_boundary(last):
    grid, spec = it.ease2_grid("south", 25), SPECS["ease2-south-25"]
    times = np.array([last, "2019-09-02T00:00:00", "2019-09-01T00:00:00"], dtype="datetime64[ns]")
    df = table([-70.0] * 3, [10.0] * 3, [10.0, 20.0, 30.0], [0.1, 0.2, 0.3], times)
    ds = it.grid_segments(df, grid, "1D").compute()
    np.testing.assert_array_equal(ds.time.values, np.array(["2019-09-01", "2019-09-02"], "datetime64[ns]"))
    assert ds.segment_count.sum(["x", "y"]).values.tolist() == [2, 1]
    day2 = ds.freeboard_mean.isel(time=1).max().item()
    assert day2 == np.float64(np.float32(0.2))
    assert_matches(ds, independent_stats(df, spec, "1D")[0], spec)
    # the same with microsecond times (pandas 3 parses strings to datetime64[us])
    df_us = df.assign(time=df["time"].astype("datetime64[us]"))
    xr.testing.assert_identical(it.grid_segments(df_us, grid, "1D").compute(), ds)


def test_month_boundaries():
    grid, spec = it.ease2_grid("south", 25), SPECS["ease2-south-25"]
    times = np.array(["2019-09-30T23:59:59.999999999", "2019-10-01T00:00:00", "2019-12-31T23:59:59.999",
                      "2020-01-01T00:00:00", "2020-02-29T23:59:59.999999999", "2020-03-01T00:00:00",
                      "2019-09-01T00:00:00"], dtype="datetime64[ns]")
    df = table([-70.0] * 7, [10.0] * 7, np.arange(1, 8), np.arange(1, 8) / 10, times)
    ds = it.grid_segments(df, grid, "1MS").compute()
    # the months with data (none in November), each labelled by its first instant
    months = np.array(["2019-09-01", "2019-10-01", "2019-12-01", "2020-01-01", "2020-02-01", "2020-03-01"],
                      dtype="datetime64[ns]")
    np.testing.assert_array_equal(ds.time.values, months)
    np.testing.assert_array_equal(ds.time_bounds.values[:, 0], months)
    ends = ["2019-10-01", "2019-11-01", "2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]
    np.testing.assert_array_equal(ds.time_bounds.values[:, 1], np.array(ends, "datetime64[ns]"))
    assert ds.segment_count.sum(["x", "y"]).values.tolist() == [2, 1, 1, 1, 1, 1]
    assert_matches(ds, independent_stats(df, spec, "1MS")[0], spec)


# --------------------------------------------------------------------------------------------
# 4. Numerics
# --------------------------------------------------------------------------------------------

def exact_weighted_std(length: np.ndarray, h: np.ndarray) -> float:
    """Weighted std of the given (float32) numbers in 40-digit arithmetic."""
    ls = [mp.mpf(float(v)) for v in length]
    hs = [mp.mpf(float(v)) for v in h]
    w = mp.fsum(ls)
    mean = mp.fsum(a * b for a, b in zip(ls, hs, strict=True)) / w
    return float(mp.sqrt(mp.fsum(a * (b - mean) ** 2 for a, b in zip(ls, hs, strict=True)) / w))


def test_one_pass_float32_loses_the_std_the_package_does_not():
    rng = np.random.default_rng(21)
    n = 1000
    h = (0.3 + rng.normal(0.0, 1e-4, n)).astype(np.float32)
    length = rng.uniform(10.0, 100.0, n).astype(np.float32)
    truth = exact_weighted_std(length, h)
    assert 0.8e-4 < truth < 1.2e-4
    # the textbook one-pass formula, accumulated in float32
    w = np.float32(0)
    lh = np.float32(0)
    lh2 = np.float32(0)
    for a, b in zip(length, h, strict=True):
        w += a
        lh += a * b
        lh2 += a * b * b
    mean32 = lh / w
    var32 = lh2 / w - mean32 * mean32
    assert var32.dtype == np.float32
    assert var32 < 0 or abs(math.sqrt(var32) - truth) > 0.5 * truth  # negative, or garbage
    # the package, fed the same float32 columns, in one cell
    grid = it.ease2_grid("south", 25)
    df = table(np.full(n, -70.0), np.full(n, 10.0), length, h, "2019-09-01")
    ds = it.grid_segments(df, grid).compute()
    assert int(ds.segment_count.max()) == n
    std = float(ds.freeboard_std.max())
    assert abs(std - truth) <= 1e-12
    ref, _, _ = independent_stats(df, SPECS["ease2-south-25"])
    assert abs(std - ref["std"].iloc[0]) <= 1e-12


def test_one_pass_float64_goes_negative_in_one_segment_cells():
    # sum(L h^2)/sum(L) - mean^2 for a single segment: should be 0, rounds below it
    negatives = []
    for length in (1.0, 3.0, 7.0, 19.3, 41.7):
        for h in np.linspace(0.01, 1.0, 100):
            var = (length * h * h) / length - ((length * h) / length) ** 2
            if var < 0:
                negatives.append((length, h))
    assert negatives  # sqrt of these is NaN
    length, h = negatives[0]
    ds = it.grid_segments(table([-70.0], [10.0], [length], [h], "2019-09-01"), it.ease2_grid("south", 25))
    assert float(ds.freeboard_std.max()) == 0.0


def test_variance_never_negative_with_large_offsets():
    # a constant value far from zero: the one-pass form cancels catastrophically
    rng = np.random.default_rng(3)
    n = 500
    h = np.full(n, 1234.5678, dtype=np.float32)
    h[::7] += np.float32(0.001)
    length = rng.uniform(4, 200, n).astype(np.float32)
    df = table(np.full(n, -70.0), np.full(n, 10.0), length, h, "2019-09-01")
    ds = it.grid_segments(df, it.ease2_grid("south", 25)).compute()
    assert abs(float(ds.freeboard_std.max()) - exact_weighted_std(length, h)) < 1e-12


def test_float32_fill_comparison_trap():
    fill32 = np.float32(3.4028235e38)
    assert fill32 == np.finfo(np.float32).max
    assert np.float64(fill32) != 3.4028235e38  # after a cast to float64 it is 3.4028234663852886e38
    assert np.float64(fill32) == 3.4028234663852886e38
    assert it.products.FLOAT32_FILL == fill32
    # the filter compares in the right precision: float32 and float64 columns both lose the fill
    for dtype in (np.float32, np.float64):
        df = table([-70.0, -70.0], [0.0, 0.0], [10.0, 10.0], [0.3, 0.3], "2019-09-01")
        df["beam_fb_height"] = np.array([0.3, fill32], dtype=dtype)
        df["height_segment_type"] = np.int8(1)
        kept, report = it.quality_filter(df)
        assert len(kept) == 1 and report.loc[1, "removed"] == 1


# --------------------------------------------------------------------------------------------
# 5. Mergeable sums
# --------------------------------------------------------------------------------------------

STATS = ("segment_count", "mean_segment_length", "freeboard_mean", "freeboard_std")


def assert_same_dataset(a: xr.Dataset, b: xr.Dataset) -> None:
    a, b = a.compute(), b.compute()
    for coord in ("time", "x", "y"):
        np.testing.assert_array_equal(a[coord].values, b[coord].values)
    np.testing.assert_array_equal(a.segment_count.values, b.segment_count.values)
    for v in STATS[1:3]:
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.freeboard_std.values, b.freeboard_std.values, rtol=1e-12, atol=1e-14)
    for k in ("segments_gridded", "segments_invalid", "segments_outside_grid"):
        assert a.attrs[k] == b.attrs[k]


def test_merge_granule_by_granule_equals_all_at_once(granules, segments):
    grid = it.ease2_grid("south", 6.25)
    whole = it.grid_segments(segments, grid, "1D")
    sums = [it.segments_to_sums(g, grid, "1D", source=f"granule{i}") for i, g in enumerate(granules)]
    merged = sums[0].merge(sums[1]).merge(sums[2])
    assert merged.sources == ["granule0", "granule1", "granule2"]
    assert merged.n_segments == len(segments)
    assert_same_dataset(it.to_dataset(merged), whole)
    assert_same_dataset(it.to_dataset(sums[0] + sums[1] + sums[2]), whole)
    assert it.to_dataset(merged).attrs["source_granules"] == "granule0\ngranule1\ngranule2"


def test_merge_random_splits_equals_all_at_once(segments):
    grid = it.ease2_grid("south", 6.25)
    df = segments.copy()
    rng = np.random.default_rng(17)
    df.loc[rng.choice(len(df), 40, replace=False), "beam_fb_height"] = np.nan
    whole = it.grid_segments(df, grid, "1D")
    assert whole.attrs["segments_invalid"] == 40
    # contiguous pieces: cuts fall in the middle of runs of segments in one cell
    cuts = np.sort(rng.choice(np.arange(1, len(df)), 25, replace=False))
    pieces = np.split(np.arange(len(df)), cuts)
    keys_before = it.segments_to_sums(df, grid, "1D")
    cut_inside_runs = 0
    for cut in cuts:
        a = it.segments_to_sums(df.iloc[cut - 1:cut], grid, "1D").key
        b = it.segments_to_sums(df.iloc[cut:cut + 1], grid, "1D").key
        cut_inside_runs += len(a) == len(b) == 1 and a[0] == b[0]
    assert cut_inside_runs >= 20
    merged = PartialSums(grid, keys_before.period, "beam_fb_height")
    for idx in pieces:
        merged = merged.merge(it.segments_to_sums(df.iloc[idx], grid, "1D"))
    assert_same_dataset(it.to_dataset(merged), whole)
    # a random partition (each segment to one of five sets, order kept within a set)
    label = rng.integers(0, 5, len(df))
    parts = [it.segments_to_sums(df[label == k], grid, "1D") for k in range(5)]
    merged = parts[3] + parts[0] + parts[4] + parts[1] + parts[2]
    assert_same_dataset(it.to_dataset(merged), whole)
    # and one segment at a time for a slice of the table
    sub = df.iloc[:300]
    one_by_one = PartialSums(grid, keys_before.period, "beam_fb_height")
    for i in range(len(sub)):
        one_by_one = one_by_one + it.segments_to_sums(sub.iloc[i:i + 1], grid, "1D")
    assert_same_dataset(it.to_dataset(one_by_one), it.grid_segments(sub, grid, "1D"))


def test_merge_is_commutative_and_associative(granules):
    grid = it.ease2_grid("south", 12.5)
    a, b, c = (it.segments_to_sums(g, grid, "1MS") for g in granules)
    for x, y in [((a + b) + c, a + (b + c)), (a + b, b + a), ((c + a) + b, (a + b) + c)]:
        assert_same_dataset(it.to_dataset(x), it.to_dataset(y))
        np.testing.assert_array_equal(x.key, y.key)


def test_merge_of_different_grids_periods_or_values_raises(segments):
    sub = segments.iloc[:500]
    a = it.segments_to_sums(sub, it.ease2_grid("south", 25), "1D")
    for other in (it.segments_to_sums(sub, it.ease2_grid("south", 12.5), "1D"),
                  it.segments_to_sums(sub, it.ease2_grid("north", 25), "1D"),
                  it.segments_to_sums(sub, it.ease2_grid("south", 25), "1MS"),
                  it.segments_to_sums(sub, it.ease2_grid("south", 25), "7D"),
                  it.segments_to_sums(sub.assign(height_segment_height=sub["beam_fb_height"]),
                                      it.ease2_grid("south", 25), "1D", value="height_segment_height")):
        with pytest.raises(ValueError, match="cannot merge"):
            a.merge(other)
        with pytest.raises(ValueError):
            other + a


# --------------------------------------------------------------------------------------------
# 6. Periods
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("period,expected", [("1D", "1D"), ("1MS", "1MS"), ("7D", "7D"), ("daily", "1D"),
                                             ("monthly", "1MS"), ("3MS", "3MS"), ("D", "1D")])
def test_periods_accepted(period, expected):
    grid, spec = it.ease2_grid("south", 25), SPECS["ease2-south-25"]
    df = random_table(3000, seed=30, days=100)
    ds = it.grid_segments(df, grid, period)
    assert ds.attrs["period"] == expected
    ref, _, _ = independent_stats(df, spec, expected)
    # time = the start of each period with data
    np.testing.assert_array_equal(ds.time.values, np.sort(ref["time"].unique()))
    np.testing.assert_array_equal(ds.time_bounds.values[:, 0], ds.time.values)
    if expected.endswith("D"):
        step = np.timedelta64(int(expected[:-1]), "D")
        assert (ds.time_bounds.values[:, 1] - ds.time_bounds.values[:, 0] == step).all()
    assert ds.time.attrs["bounds"] == "time_bounds"
    assert_matches(ds, ref, spec)


@pytest.mark.parametrize("period", ["1H", "0D", "", "0MS", "-1D", "1W", "1M", "month-start", None, 7])
def test_bad_periods_raise(period):
    df = random_table(100, seed=1)
    with pytest.raises(ValueError, match="1D.*1MS"):
        it.grid_segments(df, it.ease2_grid("south", 25), period)


def test_seven_day_periods_are_anchored_at_1970():
    # 7-day bins count from Thursday 1970-01-01, as pandas' floor("7D") does
    df = table([-70.0] * 3, [10.0] * 3, [10.0] * 3, [0.1, 0.2, 0.3],
               np.array(["2019-08-28T23:59:59.999999999", "2019-08-29T00:00", "2019-09-04T23:00"],
                        dtype="datetime64[ns]"))
    ds = it.grid_segments(df, it.ease2_grid("south", 25), "7D").compute()
    np.testing.assert_array_equal(ds.time.values, np.array(["2019-08-22", "2019-08-29"], "datetime64[ns]"))
    assert ds.segment_count.sum(["x", "y"]).values.tolist() == [1, 2]


# --------------------------------------------------------------------------------------------
# 7. Extents and coordinates
# --------------------------------------------------------------------------------------------

def test_extent_none_spans_the_touched_cells(segments):
    spec, grid = SPECS["ease2-south-6.25"], it.ease2_grid("south", 6.25)
    ds = it.grid_segments(segments, grid)
    ref, _, _ = independent_stats(segments, spec)
    r0, r1, c0, c1 = ref["row"].min(), ref["row"].max(), ref["col"].min(), ref["col"].max()
    assert ds.sizes["y"] == r1 - r0 + 1 and ds.sizes["x"] == c1 - c0 + 1
    assert ds.x.values[0] == -9e6 + (c0 + 0.5) * 6250 and ds.x.values[-1] == -9e6 + (c1 + 0.5) * 6250
    assert ds.y.values[0] == 9e6 - (r0 + 0.5) * 6250 and ds.y.values[-1] == 9e6 - (r1 + 0.5) * 6250
    assert (np.diff(ds.x.values) == 6250.0).all() and (np.diff(ds.y.values) == -6250.0).all()
    # the outer rows and columns hold data
    counts = ds.segment_count.sum("time").compute()
    for edge in (counts.isel(x=0), counts.isel(x=-1), counts.isel(y=0), counts.isel(y=-1)):
        assert int(edge.sum()) > 0


def test_extent_full():
    spec, grid = SPECS["ease2-south-25"], it.ease2_grid("south", 25)
    df = random_table(2000, seed=40)
    ds = it.grid_segments(df, grid, extent="full")
    assert (ds.sizes["y"], ds.sizes["x"]) == (720, 720)
    assert ds.x.values[0] == -9e6 + 12_500 and ds.x.values[-1] == 9e6 - 12_500
    assert ds.y.values[0] == 9e6 - 12_500 and ds.y.values[-1] == -9e6 + 12_500
    assert ds.x.values[1] - ds.x.values[0] == 25_000.0
    assert_matches(ds, independent_stats(df, spec)[0], spec)
    atl20 = it.grid_segments(df, it.atl20_grid("south"), extent="full")
    assert (atl20.sizes["y"], atl20.sizes["x"]) == (332, 316)
    assert atl20.x.values[0] == -3_950_000 + 12_500 and atl20.y.values[0] == 4_350_000 - 12_500


def test_extent_tuple_snaps_outwards_and_drops_outside_cells():
    spec, grid = SPECS["ease2-south-25"], it.ease2_grid("south", 25)
    df = random_table(20_000, seed=41)
    extent = (-1_010_000.0, -2_000_000.0, 1_000_001.0, -1_000_000.0)
    ds = it.grid_segments(df, grid, extent=extent)
    c0, c1 = math.floor((extent[0] + 9e6) / 25e3), math.ceil((extent[2] + 9e6) / 25e3)
    r0, r1 = math.floor((9e6 - extent[3]) / 25e3), math.ceil((9e6 - extent[1]) / 25e3)
    assert (c0, c1, r0, r1) == (319, 401, 400, 440)
    assert ds.sizes["x"] == c1 - c0 and ds.sizes["y"] == r1 - r0
    assert ds.x.values[0] == -9e6 + (c0 + 0.5) * 25e3 and ds.y.values[0] == 9e6 - (r0 + 0.5) * 25e3
    assert ds.x.values[0] - 12_500 <= extent[0] and ds.x.values[-1] + 12_500 >= extent[2]
    ref, _, _ = independent_stats(df, spec)
    ref = ref[(ref.col >= c0) & (ref.col < c1) & (ref.row >= r0) & (ref.row < r1)].reset_index(drop=True)
    assert len(ref) > 10
    assert_matches(ds, ref, spec)


@pytest.mark.parametrize("extent", ["half", (1.0, 2.0, 0.0, 3.0), (0.0, 5.0, 1.0, 5.0)])
def test_bad_extent_raises(extent):
    with pytest.raises(ValueError):
        it.grid_segments(random_table(100, seed=1), it.ease2_grid("south", 25), extent=extent)


def test_empty_table_gives_empty_dataset():
    df = random_table(10, seed=2).iloc[:0]
    ds = it.grid_segments(df, it.ease2_grid("south", 25))
    assert ds.sizes["time"] == 0 and ds.attrs["segments_gridded"] == 0


# --------------------------------------------------------------------------------------------
# 8. CF metadata and I/O
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,mapping", [("ease2-south-25", "lambert_azimuthal_equal_area"),
                                          ("ease2-north-25", "lambert_azimuthal_equal_area"),
                                          ("atl20-south", "polar_stereographic"),
                                          ("atl20-north", "polar_stereographic")])
def test_cf_metadata(name, mapping):
    spec, grid = SPECS[name], package_grid(name)
    df = random_table(500, seed=50, lat=(-75.0, -65.0), north=spec["north"])
    ds = it.grid_segments(df, grid)
    assert ds.attrs["segments_gridded"] == 500
    crs = ds["crs"]
    assert crs.attrs["grid_mapping_name"] == mapping
    assert pyproj.CRS.from_cf(crs.attrs).to_epsg() == spec["epsg"]
    if mapping == "polar_stereographic":
        assert crs.attrs["standard_parallel"] == spec["lat_ts"]
        assert crs.attrs["straight_vertical_longitude_from_pole"] == spec["lon0"]
    else:
        assert crs.attrs["latitude_of_projection_origin"] == (90.0 if spec["north"] else -90.0)
    assert ds.attrs["Conventions"] == "CF-1.8"
    for v in STATS:
        a = ds[v].attrs
        assert a["grid_mapping"] == "crs" and a["long_name"] and a["cell_methods"].startswith("time: ")
        assert a["units"] == ("1" if v == "segment_count" else "m")
        assert ds[v].dims == ("time", "y", "x")
    assert ds.x.attrs["standard_name"] == "projection_x_coordinate" and ds.x.attrs["units"] == "m"
    assert ds.y.attrs["standard_name"] == "projection_y_coordinate" and ds.y.attrs["units"] == "m"
    assert ds.time.attrs["bounds"] == "time_bounds" and ds.time_bounds.dims == ("time", "nv")
    assert ds.segment_count.dtype == np.int32
    assert ds.freeboard_mean.dtype == ds.freeboard_std.dtype == np.float64


@pytest.fixture(scope="module")
def small_dataset(segments) -> xr.Dataset:
    return it.grid_segments(segments, it.ease2_grid("south", 12.5), "1D")


def test_netcdf_round_trip(small_dataset, tmp_path):
    path = tmp_path / "grid.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. xarray's warning that time and time_bounds may differ
        small_dataset.to_netcdf(path, engine="netcdf4")
    with xr.open_dataset(path, engine="netcdf4") as back:
        xr.testing.assert_identical(back.compute(), small_dataset.compute())
        assert back.attrs["segments_gridded"] == small_dataset.attrs["segments_gridded"]


def test_zarr_round_trip(small_dataset, tmp_path):
    path = tmp_path / "grid.zarr"
    small_dataset.to_zarr(path, consolidated=False)
    with xr.open_zarr(path, consolidated=False) as back:
        xr.testing.assert_identical(back.compute(), small_dataset.compute())


def test_dataset_is_lazy(small_dataset):
    assert all(small_dataset[v].chunks is not None for v in STATS)
    assert small_dataset.segment_count.data.numblocks[0] == small_dataset.sizes["time"]


# --------------------------------------------------------------------------------------------
# 9. ATL07 naming
# --------------------------------------------------------------------------------------------

def test_atl07_height_names(tmp_path):
    paths = it.make_fixture_granules(tmp_path, n=1, product="ATL07", size="small", seed=6)
    df = it.read_granule(paths[0], product="ATL07")
    assert "height_segment_height" in df and "beam_fb_height" not in df
    spec, grid = SPECS["ease2-south-12.5"], it.ease2_grid("south", 12.5)
    ds = it.grid_segments(df, grid)
    assert {"height_mean", "height_std"} <= set(ds.data_vars)
    assert not {"freeboard_mean", "freeboard_std"} & set(ds.data_vars)
    assert ds.height_mean.attrs["source"] == "height_segment_height"
    assert "height" in ds.height_mean.attrs["long_name"]
    ref, _, _ = independent_stats(df, spec, value="height_segment_height")
    assert_matches(ds, ref, spec, mean="height_mean", std="height_std")
    # a table with both columns grids freeboard unless told otherwise
    both = df.assign(beam_fb_height=df["height_segment_height"] * np.float32(0.5))
    assert "freeboard_mean" in it.grid_segments(both, grid)
    assert "height_mean" in it.grid_segments(both, grid, value="height_segment_height")
    with pytest.raises(KeyError):
        it.grid_segments(df.drop(columns="height_segment_height"), grid)


# --------------------------------------------------------------------------------------------
# 10. The seed's counts, where the seed was right
# --------------------------------------------------------------------------------------------

def test_seed_counts_with_its_defects_fixed(granules):
    gpd = pytest.importorskip("geopandas")
    tracks = granules[0]
    assert 2000 < len(tracks) < 6000
    nrow, ncol = 2880, 2880
    upper_left_x, upper_left_y = -9000000.0, 9000000.0
    width, height = 6250.0, -6250.0  # fixed: 6.25 km cells
    gdf = gpd.GeoDataFrame(tracks, geometry=gpd.points_from_xy(tracks.longitude, tracks.latitude),
                           crs="EPSG:4326").to_crs(6932)

    def get_grid_index(xy):
        fwd = Affine.from_gdal(upper_left_x, width, 0.0, upper_left_y, 0.0, height)
        col, row = ~fwd @ xy  # fixed: (col, row)
        col, row = np.floor(col), np.floor(row)
        if not (0 <= row < nrow and 0 <= col < ncol):  # fixed: clipped to the grid
            return -1
        return row * ncol + col

    gdf["grid_index"] = [get_grid_index((x, y)) for x, y in zip(gdf.geometry.x, gdf.geometry.y, strict=True)]
    counts = gdf[gdf.grid_index >= 0].groupby("grid_index")["beam_fb_height"].count()
    row, col = np.divmod(counts.index.to_numpy().astype(np.int64), ncol)
    ds = it.grid_segments(tracks, it.ease2_grid("south", 6.25), "1MS")
    assert ds.sizes["time"] == 1
    got = ds.segment_count.isel(time=0).sel(x=xr.DataArray(upper_left_x + (col + 0.5) * width),
                                            y=xr.DataArray(upper_left_y + (row + 0.5) * height))
    np.testing.assert_array_equal(got.values, counts.to_numpy())
    assert int(ds.segment_count.sum()) == counts.sum() == len(tracks)
    assert int((ds.segment_count > 0).sum()) == len(counts)


# ----------------------------------------------------------------- follow-ups from review


def test_period_multiples_are_case_insensitive():
    from icesat2_tutorial.periods import parse_period

    assert parse_period("7d").alias == "7D" and parse_period("3ms").alias == "3MS"


def _tiny_table(values, lengths, lats=(-70.0,), lons=(0.0,)):
    n = len(values)
    return pd.DataFrame({
        "time": np.full(n, np.datetime64("2019-09-01T12:00:00", "ns")),
        "latitude": np.resize(np.asarray(lats, dtype=np.float64), n),
        "longitude": np.resize(np.asarray(lons, dtype=np.float64), n),
        "height_segment_length_seg": np.asarray(lengths, dtype=np.float32),
        "beam_fb_height": np.asarray(values, dtype=np.float32),
    })


def test_fill_values_are_invalid_not_gridded():
    fill = np.finfo(np.float32).max
    table = _tiny_table([0.3, fill, 0.5, 0.4], [20.0, 20.0, fill, 20.0])
    ds = it.grid_segments(table, it.ease2_grid("south", 25)).compute()
    assert ds.attrs["segments_invalid"] == 2 and ds.attrs["segments_gridded"] == 2
    assert float(ds["freeboard_mean"].max()) == pytest.approx(0.35, abs=1e-6)


def test_sum_of_partial_sums():
    grid = it.ease2_grid("south", 25)
    a = it.segments_to_sums(_tiny_table([0.1, 0.2], [10.0, 30.0]), grid)
    b = it.segments_to_sums(_tiny_table([0.4], [20.0]), grid)
    total = sum([a, b])
    assert total.n_segments == 3
    assert total.mean[0] == pytest.approx((0.1 * 10 + 0.2 * 30 + 0.4 * 20) / 60, rel=1e-6)


def test_extent_that_cuts_data_is_counted():
    grid = it.ease2_grid("south", 25)
    table = _tiny_table([0.1, 0.2, 0.3], [10.0, 10.0, 10.0], lats=(-70.0, -70.0, -60.0),
                        lons=(0.0, 0.0, 90.0))
    x, y = grid.project(np.array([0.0]), np.array([-70.0]))
    box = (x[0] - 1, y[0] - 1, x[0] + 1, y[0] + 1)  # only the first cell
    ds = it.grid_segments(table, grid, extent=box).compute()
    assert int(ds["segment_count"].sum()) == ds.attrs["segments_gridded"] == 2
    assert ds.attrs["segments_outside_extent"] == 1
