"""Quality filtering of segments before gridding: a separate, documented, counted step.

:func:`~icesat2_tutorial.grid_segments` filters nothing but NaN and points off the grid, so
that what is gridded is always the reader's choice. :func:`quality_filter` applies the
choices this tutorial recommends, one rule at a time, and reports how many segments each
rule removed, so the reader sees what the choice cost.

Default rules, and why:

* **fill**: value or length equal to the float32 fill (3.4028235e38) or NaN. The reader
  already drops these; the rule is here for tables from elsewhere.
* **segment length** within 4-200 m (Petty et al.'s gridding, ``grid_is2.py``): very short
  segments are noisy, very long ones come from few photons spread over low-return surfaces.
* **quality flag** ``beam_fb_quality_flag`` in 1-4: the product defines -1 = invalid and
  1 (best) to 5 (poor); -1 and 5 are dropped. ATL07 has no such flag; the rule is skipped.
* **surface type** ``height_segment_type``: ``"all"`` (1-9: sea ice and every kind of lead;
  what ATL20's mean freeboard averages), ``"ice"`` (1 only), ``"leads"`` (2-9), or an
  explicit tuple of codes. 0 (cloud covered) and -1 are never kept by the named choices.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .products import DARK_LEAD_TYPES, FLOAT32_FILL, ICE_TYPES, SPECULAR_LEAD_TYPES

LEAD_TYPES = SPECULAR_LEAD_TYPES + DARK_LEAD_TYPES
SURFACE_CHOICES: dict[str, tuple[int, ...]] = {
    "all": ICE_TYPES + LEAD_TYPES,
    "ice": ICE_TYPES,
    "leads": LEAD_TYPES,
}
DEFAULT_LENGTH_BOUNDS_M = (4.0, 200.0)
DEFAULT_QUALITY_FLAGS = (1, 2, 3, 4)


def quality_filter(
    segments: pd.DataFrame,
    *,
    length_bounds: tuple[float, float] | None = DEFAULT_LENGTH_BOUNDS_M,
    quality_flags: Iterable[int] | None = DEFAULT_QUALITY_FLAGS,
    surface: str | Iterable[int] | None = "all",
    value: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the quality rules in order and report what each removed.

    Parameters
    ----------
    segments:
        Segment table (from :func:`~icesat2_tutorial.read_granule`).
    length_bounds:
        Keep ``low <= height_segment_length_seg <= high`` (m); ``None`` skips the rule.
    quality_flags:
        ``beam_fb_quality_flag`` values to keep; ``None`` skips the rule.
    surface:
        ``"all"``, ``"ice"``, ``"leads"``, a tuple of ``height_segment_type`` codes, or
        ``None`` to keep every type.
    value:
        The measured column (default ``beam_fb_height``, else ``height_segment_height``).

    Returns
    -------
    (filtered, report)
        The kept segments (a copy, original index reset) and a table with one row per rule:
        ``rule``, ``removed``, ``remaining``.

    Raises
    ------
    ValueError
        For bounds that are not ``low < high`` or an unknown surface choice.
    """
    if value is None:
        value = "beam_fb_height" if "beam_fb_height" in segments else "height_segment_height"
    keep = np.ones(len(segments), dtype=bool)
    rows: list[dict[str, object]] = [{"rule": "input", "removed": 0, "remaining": len(segments)}]

    def apply(rule: str, ok: np.ndarray) -> None:
        nonlocal keep
        before = int(keep.sum())
        keep &= ok
        rows.append({"rule": rule, "removed": before - int(keep.sum()), "remaining": int(keep.sum())})

    h = segments[value].to_numpy()
    length = segments["height_segment_length_seg"].to_numpy()
    apply("fill or NaN",
          np.isfinite(h) & np.isfinite(length) & (h < FLOAT32_FILL) & (length < FLOAT32_FILL))

    if length_bounds is not None:
        low, high = (float(b) for b in length_bounds)
        if not low < high:
            raise ValueError(f"length_bounds must be (low, high) with low < high, not {length_bounds!r}")
        apply(f"segment length {low:g}-{high:g} m", (length >= low) & (length <= high))

    if quality_flags is not None and "beam_fb_quality_flag" in segments:
        flags = tuple(int(f) for f in quality_flags)
        apply(f"quality flag in {flags}", np.isin(segments["beam_fb_quality_flag"].to_numpy(), flags))

    if surface is not None:
        if isinstance(surface, str):
            if surface not in SURFACE_CHOICES:
                raise ValueError(f"surface must be one of {', '.join(SURFACE_CHOICES)} or a "
                                 f"tuple of height_segment_type codes, not {surface!r}")
            types, label = SURFACE_CHOICES[surface], surface
        else:
            types = tuple(int(t) for t in surface)
            label = str(types)
        apply(f"surface type {label}", np.isin(segments["height_segment_type"].to_numpy(), types))

    filtered = segments.loc[keep].reset_index(drop=True)
    filtered.attrs = dict(segments.attrs)
    return filtered, pd.DataFrame(rows)
