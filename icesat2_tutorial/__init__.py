"""icesat2_tutorial: from ICESat-2 ATL10 granules to gridded sea ice freeboard.

The functions a tutorial reader calls, re-exported flat (as earthaccess does):

* :func:`read_granule` reads the strong beams of one granule (local, S3, HTTPS);
* :func:`make_fixture_granules` writes synthetic granules with the real layout, so every
  notebook runs offline; :func:`fixture_search_results` gives earthaccess-style search
  results for them;
* :func:`delta_time_to_utc` converts ICESat-2 times.
"""

from .access import Location, locate
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
from .fixtures import fixture_search_results, make_fixture_granules
from .products import ATL07, ATL10, PRODUCTS, get_product, strong_beams
from .reader import read_granule, summarize_beams
from .times import delta_time_to_utc

__version__ = "0.1.0"

__all__ = [
    "ATL07",
    "ATL10",
    "PRODUCTS",
    "AccessError",
    "GranuleError",
    "GranuleNotFoundError",
    "GranuleTimeoutError",
    "IceSat2TutorialError",
    "Location",
    "NotHDF5Error",
    "OrientationError",
    "WrongProductError",
    "delta_time_to_utc",
    "fixture_search_results",
    "get_product",
    "locate",
    "make_fixture_granules",
    "read_granule",
    "strong_beams",
    "summarize_beams",
    "__version__",
]
