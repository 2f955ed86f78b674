"""icesat2_tutorial: from ICESat-2 ATL10 granules to gridded sea ice freeboard.

The functions a tutorial reader calls, re-exported flat (as earthaccess does):

* :func:`read_granule` reads the strong beams of one granule (local, S3, HTTPS);
* :func:`make_fixture_granules` writes synthetic granules with the real layout, so every
  notebook runs offline; :func:`fixture_search_results` gives earthaccess-style search
  results for them;
* :func:`delta_time_to_utc` converts ICESat-2 times;
* :func:`ease2_grid`, :func:`atl20_grid` define grids; :func:`quality_filter` applies the
  documented quality rules; :func:`grid_segments` grids segments drop-in-the-bucket into
  length-weighted statistics, through mergeable :class:`PartialSums`.
"""

from .access import Location, locate
from .bucket import PartialSums
from .exceptions import (
    AccessError,
    GranuleError,
    GranuleNotFoundError,
    GranuleTimeoutError,
    IceSat2TutorialError,
    NotHDF5Error,
    OrientationError,
    WrongProductError,
)
from .filters import quality_filter
from .fixtures import fixture_search_results, make_fixture_granules
from .gridding import grid_segments, segments_to_sums, to_dataset
from .grids import Grid, atl20_grid, ease2_grid, get_grid
from .products import ATL07, ATL10, PRODUCTS, get_product, strong_beams
from .reader import read_granule, summarize_beams
from .regions import regional_series
from .times import delta_time_to_utc
from .timeseries import aggregate_periods, build_timeseries

__version__ = "0.1.0"

__all__ = [
    "ATL07",
    "ATL10",
    "PRODUCTS",
    "AccessError",
    "GranuleError",
    "GranuleNotFoundError",
    "GranuleTimeoutError",
    "Grid",
    "IceSat2TutorialError",
    "Location",
    "NotHDF5Error",
    "OrientationError",
    "PartialSums",
    "WrongProductError",
    "aggregate_periods",
    "atl20_grid",
    "build_timeseries",
    "delta_time_to_utc",
    "ease2_grid",
    "fixture_search_results",
    "get_grid",
    "get_product",
    "grid_segments",
    "locate",
    "quality_filter",
    "make_fixture_granules",
    "read_granule",
    "regional_series",
    "segments_to_sums",
    "strong_beams",
    "summarize_beams",
    "to_dataset",
    "__version__",
]
