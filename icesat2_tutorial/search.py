"""Finding granules: earthaccess searches by region and season, or fixtures offline.

``earthaccess.search_data`` asks NASA's CMR for granules of a collection (``short_name``,
``version``) that intersect a bounding box and a time range. On a machine without an
Earthdata Login (this tutorial's CI) the same calls cannot run, so :func:`find_granules`
falls back to fixture granules and their earthaccess-style search results: the rest of
the code is the same either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .exceptions import AccessError
from .regions import get_region

#: Bounding boxes (west, south, east, north; degrees) for searching named regions. A box
#: with west > east crosses the antimeridian, which CMR accepts.
SEARCH_BOXES: dict[str, tuple[float, float, float, float]] = {
    "antarctic": (-180.0, -90.0, 180.0, -50.0),
    "arctic": (-180.0, 50.0, 180.0, 90.0),
}


def search_box(region: str) -> tuple[float, float, float, float]:
    """The search bounding box of a named region (its sector, or the whole polar cap)."""
    reg = get_region(region)
    if reg.name in SEARCH_BOXES:
        return SEARCH_BOXES[reg.name]
    return (reg.lon_min, max(reg.lat_min, -90.0), reg.lon_max, min(reg.lat_max, 90.0))


def have_earthdata_login() -> bool:
    """Whether Earthdata Login credentials are available (environment or ~/.netrc).

    ``ICESAT2_TUTORIAL_OFFLINE=1`` makes it False whatever is configured, so that the
    notebooks run on fixtures (the test-suite sets it: its checked outputs are fixtures').
    """
    env = os.environ
    if env.get("ICESAT2_TUTORIAL_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return False
    if env.get("EARTHDATA_TOKEN") or (env.get("EARTHDATA_USERNAME") and env.get("EARTHDATA_PASSWORD")):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.exists() and "urs.earthdata.nasa.gov" in netrc.read_text(errors="ignore")


def season_ranges(years: Iterable[int], months: Sequence[int]) -> list[tuple[str, str]]:
    """``[(start, end), ...]`` date ranges (inclusive days) for the given months of each year.

    Raises
    ------
    ValueError
        For a month outside 1-12 or a year before ICESat-2 (2018).
    """
    import calendar

    out = []
    for year in years:
        if int(year) < 2018:
            raise ValueError(f"ICESat-2 data start in October 2018, not in {year}")
        for month in months:
            if not 1 <= int(month) <= 12:
                raise ValueError(f"months are 1-12, not {month}")
            last = calendar.monthrange(int(year), int(month))[1]
            out.append((f"{year}-{month:02d}-01", f"{year}-{month:02d}-{last:02d}"))
    return out


def normalize_box(bounding_box: Sequence[float]) -> tuple[float, float, float, float]:
    """A (west, south, east, north) box in degrees, longitudes converted to -180..180.

    Longitudes may be given in 0..360 (as many ocean and climate products use): a longitude
    above 180 becomes ``lon - 360``, so ``(160, -78, 230, -70)`` (160 E to 130 W) becomes
    ``(160, -78, -130, -70)``, a box across the antimeridian (west > east), which CMR
    accepts. A box 360 degrees wide becomes ``(-180, south, 180, north)``.

    Raises
    ------
    ValueError
        For a box that is not four numbers, latitudes outside -90..90 or not south < north,
        or longitudes outside -180..360.
    """
    try:
        west, south, east, north = (float(v) for v in bounding_box)
    except (TypeError, ValueError):
        raise ValueError(f"bounding box {bounding_box!r}: give (west, south, east, north) "
                         "in degrees") from None
    if not (-90 <= south < north <= 90):
        raise ValueError(f"bounding box {bounding_box!r}: need -90 <= south < north <= 90")
    if not (-180 <= west <= 360 and -180 <= east <= 360):
        raise ValueError(f"bounding box {bounding_box!r}: longitudes must be in -180..180 "
                         "(or 0..360)")
    if east - west >= 360:
        return (-180.0, south, 180.0, north)
    west, east = (v - 360.0 if v > 180 else v for v in (west, east))
    return (west, south, east, north)


def _check_temporal(temporal: Sequence[Any]) -> None:
    """ValueError for a (start, end) whose dates do not parse or are reversed.

    Compared as dates, not as strings ("2019-9-5" < "2019-10-01" is False as strings). The
    values go to earthaccess as given: it reads a date-only end as the end of that day.
    """
    import pandas as pd

    try:
        start, end = (pd.Timestamp(t) for t in temporal)
    except (TypeError, ValueError):
        raise ValueError(f"temporal range {temporal!r}: give (start, end) dates such as "
                         "('2019-09-01', '2019-09-30')") from None
    if start > end:
        raise ValueError(f"temporal range {temporal!r} is reversed: the start is after the end")


def search_granules(
    bounding_box: tuple[float, float, float, float],
    temporal: tuple[str, str],
    short_name: str = "ATL10",
    version: str = "006",
) -> list[Any]:
    """``earthaccess.search_data`` for one box and time range, cloud-hosted granules only.

    ``bounding_box`` is (west, south, east, north) in degrees; longitudes in 0..360 are
    converted (:func:`~icesat2_tutorial.search.normalize_box`). ``temporal`` is (start, end),
    dates or date strings.

    Raises
    ------
    ValueError
        For a box or a time range that makes no sense (reversed, unparseable), before any
        request is made.
    AccessError
        When CMR cannot be reached or refuses the query.
    """
    import earthaccess

    west, south, east, north = normalize_box(bounding_box)
    _check_temporal(temporal)
    try:
        return list(earthaccess.search_data(
            short_name=short_name, version=version, cloud_hosted=True,
            bounding_box=(west, south, east, north), temporal=tuple(temporal),
        ))
    except Exception as exc:
        raise AccessError("CMR", f"granule search failed ({type(exc).__name__}: {exc})") from None


def fixture_granules_for(
    out_dir: str | os.PathLike[str],
    ranges: Sequence[tuple[str, str]],
    per_range: int,
    *,
    product: str = "ATL10",
    hemisphere: str = "south",
    size: str | int = "small",
    seed: int = 0,
) -> list[Any]:
    """Fixture granules (and their earthaccess-style results) standing in for a search.

    ``per_range`` granules on successive orbits from the start of each range.
    """
    from .fixtures import fixture_search_results, make_fixture_granules

    paths = []
    for i, (start, _end) in enumerate(ranges):
        paths += make_fixture_granules(Path(out_dir) / start[:7], n=per_range, product=product,
                                       size=size, seed=seed + i, start=start,
                                       hemisphere=hemisphere)
    return fixture_search_results(paths)
