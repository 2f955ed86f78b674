"""What the package knows about the ATL10 and ATL07 products, kept as data in one place.

Everything here comes from the ATL10 v006 and ATL07 user guides and from inspecting real
granules (see ``../shared/realdata`` in the development notes): variable paths inside a
beam group, their HDF5 dtypes, units and fill values, which beams are strong for each
spacecraft orientation, and a dataset that only a granule of that product carries.

The reader (:mod:`icesat2_tutorial.reader`) and the fixture writer
(:mod:`icesat2_tutorial.fixtures`) both read these tables, so a fixture granule has the same
layout the reader expects from NASA, and neither hard-codes a path of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The fill value of every float32 variable in ATL07/ATL10 (``_FillValue`` = float32 max).
#: h5coro cannot read attributes of NSIDC subsetter output, so the reader uses this rule
#: instead of the attribute. Compare it in float32: after a cast to float64 it is
#: 3.4028234663852886e+38, not the decimal 3.4028235e38.
FLOAT32_FILL: np.float32 = np.finfo(np.float32).max

#: The fill value of float64 variables that have one (float64 max).
FLOAT64_FILL: np.float64 = np.finfo(np.float64).max

#: All six ground-track beams, in the order the products store them.
BEAMS: tuple[str, ...] = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")

#: ``orbit_info/sc_orient`` value -> the strong beams. 0 = backward (the left beams are
#: strong), 1 = forward (the right beams are strong). 2 = transition: no beam is known to be
#: strong, so the reader refuses it unless asked to return an empty result.
STRONG_BEAMS: dict[int, tuple[str, ...]] = {
    0: ("gt1l", "gt2l", "gt3l"),
    1: ("gt1r", "gt2r", "gt3r"),
}
SC_ORIENT_NAMES: dict[int, str] = {0: "backward", 1: "forward", 2: "transition"}

#: NSIDC's Earthdata Cloud bucket (AWS us-west-2) that holds ATL07/ATL10 granules.
NSIDC_S3_BUCKET = "nsidc-cumulus-prod-protected"

#: Granule-level datasets the reader needs (paths from the file root).
SC_ORIENT_PATH = "orbit_info/sc_orient"
GPS_EPOCH_PATH = "ancillary_data/atlas_sdp_gps_epoch"

#: ``height_segment_type`` codes (ATL07/ATL10 user guides).
SURFACE_TYPES: dict[int, str] = {
    0: "cloud covered",
    1: "snow-covered ice",
    2: "specular lead (low reflectance, smooth)",
    3: "specular lead (low reflectance, rough)",
    4: "specular lead (high reflectance, smooth)",
    5: "specular lead (high reflectance, rough)",
    6: "dark lead (smooth, wide)",
    7: "dark lead (smooth, narrow)",
    8: "dark lead (rough, wide)",
    9: "dark lead (rough, narrow)",
}
ICE_TYPES: tuple[int, ...] = (1,)
SPECULAR_LEAD_TYPES: tuple[int, ...] = (2, 3, 4, 5)
DARK_LEAD_TYPES: tuple[int, ...] = (6, 7, 8, 9)


@dataclass(frozen=True)
class Variable:
    """One per-segment variable of a product.

    Attributes
    ----------
    column:
        Column name in the table that :func:`~icesat2_tutorial.read_granule` returns
        (the name the user guide uses).
    path:
        Path relative to the beam's segment group (e.g. ``heights/height_segment_type``).
    dtype:
        numpy dtype of the HDF5 dataset.
    units:
        ``units`` attribute as NASA writes it.
    long_name:
        ``long_name`` attribute as NASA writes it.
    fill:
        ``_FillValue`` the product declares, or ``None`` when the dataset has none.
    drop_fill:
        Whether a segment whose value here is fill is dropped by the reader (the
        measured value and the segment length: a segment without either cannot be gridded).
    """

    column: str
    path: str
    dtype: str
    units: str
    long_name: str
    fill: float | None = None
    drop_fill: bool = False


@dataclass(frozen=True)
class Product:
    """The layout of one product, as far as this tutorial reads it.

    Attributes
    ----------
    short_name:
        CMR short name (``"ATL10"``).
    segment_group:
        Group under each beam that holds the per-segment variables.
    value:
        Column of the measured height that gets gridded (freeboard for ATL10, sea surface
        height for ATL07), in metres.
    variables:
        The per-segment variables the reader returns, in column order.
    signature:
        A dataset (path from the root) that only granules of this product carry; it tells
        an ATL10 granule from an ATL07, ATL06 or ATL03 one without reading attributes.
    doi:
        The data set DOI of the release the layout describes.
    """

    short_name: str
    version: str
    segment_group: str
    value: str
    variables: tuple[Variable, ...]
    signature: str
    doi: str

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names of the reader's table, without ``time`` and ``beam``."""
        return tuple(v.column for v in self.variables)

    def variable(self, column: str) -> Variable:
        """The :class:`Variable` with this column name."""
        for v in self.variables:
            if v.column == column:
                return v
        raise KeyError(f"{self.short_name} has no variable {column!r}")

    def beam_path(self, beam: str, variable: Variable) -> str:
        """Full path of ``variable`` in ``beam`` (e.g. ``gt1l/freeboard_segment/latitude``)."""
        return f"{beam}/{self.segment_group}/{variable.path}"


_F = float(FLOAT32_FILL)

ATL10 = Product(
    short_name="ATL10",
    version="006",
    segment_group="freeboard_segment",
    value="beam_fb_height",
    variables=(
        Variable("delta_time", "delta_time", "float64", "seconds since 2018-01-01",
                 "Elapsed GPS seconds"),
        Variable("latitude", "latitude", "float64", "degrees_north", "Latitude"),
        Variable("longitude", "longitude", "float64", "degrees_east", "Longitude"),
        Variable("seg_dist_x", "seg_dist_x", "float64", "meters", "Along track distance"),
        Variable("height_segment_length_seg", "heights/height_segment_length_seg", "float32",
                 "meters", "length of segment", fill=_F, drop_fill=True),
        Variable("beam_fb_height", "beam_fb_height", "float32", "meters",
                 "Freeboard height relative to beam_refsurf_height", fill=_F, drop_fill=True),
        Variable("height_segment_type", "heights/height_segment_type", "int8", "1",
                 "Segment surface type"),
        Variable("beam_fb_quality_flag", "beam_fb_quality_flag", "int8", "1",
                 "Flag describing the quality of the freeboard estimate"),
    ),
    signature="ancillary_data/freeboard_estimation/min_segs_count",
    doi="10.5067/ATLAS/ATL10.006",
)

ATL07 = Product(
    short_name="ATL07",
    version="006",
    segment_group="sea_ice_segments",
    value="height_segment_height",
    variables=(
        Variable("delta_time", "delta_time", "float64", "seconds since 2018-01-01",
                 "Elapsed GPS seconds"),
        Variable("latitude", "latitude", "float64", "degrees_north", "Latitude"),
        Variable("longitude", "longitude", "float64", "degrees_east", "Longitude"),
        Variable("seg_dist_x", "seg_dist_x", "float64", "meters", "Along track distance"),
        # ATL07 declares no _FillValue on the segment length; the float32-max rule still
        # applies to it so a corrupt length can never be gridded.
        Variable("height_segment_length_seg", "heights/height_segment_length_seg", "float32",
                 "meters", "length of segment", fill=None, drop_fill=True),
        Variable("height_segment_height", "heights/height_segment_height", "float32",
                 "meters", "height of segment surface", fill=_F, drop_fill=True),
        Variable("height_segment_type", "heights/height_segment_type", "int8", "1",
                 "Segment surface type"),
    ),
    signature="ancillary_data/sea_ice/min_segs_count",
    doi="10.5067/ATLAS/ATL07.006",
)

#: Products the package reads, by CMR short name.
PRODUCTS: dict[str, Product] = {"ATL10": ATL10, "ATL07": ATL07}

def get_product(name: str) -> Product:
    """Return the :class:`Product` for a short name such as ``"ATL10"`` (case-insensitive).

    Raises
    ------
    ValueError
        For a product the package does not read.
    """
    key = str(name).upper()
    if key not in PRODUCTS:
        raise ValueError(
            f"unknown product {name!r}: icesat2_tutorial reads {', '.join(PRODUCTS)}"
        )
    return PRODUCTS[key]


def strong_beams(sc_orient: int) -> tuple[str, ...]:
    """The strong beams for a spacecraft orientation (``orbit_info/sc_orient``).

    Parameters
    ----------
    sc_orient:
        0 (backward), 1 (forward) or 2 (transition).

    Returns
    -------
    tuple of str
        ``("gt1l", "gt2l", "gt3l")`` for 0, ``("gt1r", "gt2r", "gt3r")`` for 1.

    Raises
    ------
    KeyError
        For 2 (transition) or any other value: which beams are strong is not known.
    """
    try:
        return STRONG_BEAMS[int(sc_orient)]
    except KeyError:
        name = SC_ORIENT_NAMES.get(int(sc_orient), "unknown")
        raise KeyError(
            f"sc_orient={int(sc_orient)} ({name}): the strong beams are not defined"
        ) from None


def weak_beams(sc_orient: int) -> tuple[str, ...]:
    """The weak beams for a spacecraft orientation (the complement of :func:`strong_beams`)."""
    strong = strong_beams(sc_orient)
    return tuple(b for b in BEAMS if b not in strong)
