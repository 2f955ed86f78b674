"""An independent reference reader built on h5py, for checking icesat2_tutorial's reader.

It shares no code with the package: fill values come from each dataset's own
``_FillValue`` attribute (h5py can read them where h5coro cannot), strong beams from the
user guide's rule written out again here, and UTC times from Python's ``datetime``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import h5py
import numpy as np
import pandas as pd

PATHS = {
    "ATL10": ("freeboard_segment", {
        "delta_time": "delta_time", "latitude": "latitude", "longitude": "longitude",
        "seg_dist_x": "seg_dist_x",
        "height_segment_length_seg": "heights/height_segment_length_seg",
        "beam_fb_height": "beam_fb_height",
        "height_segment_type": "heights/height_segment_type",
        "beam_fb_quality_flag": "beam_fb_quality_flag",
    }, ("beam_fb_height", "height_segment_length_seg")),
    "ATL07": ("sea_ice_segments", {
        "delta_time": "delta_time", "latitude": "latitude", "longitude": "longitude",
        "seg_dist_x": "seg_dist_x",
        "height_segment_length_seg": "heights/height_segment_length_seg",
        "height_segment_height": "heights/height_segment_height",
        "height_segment_type": "heights/height_segment_type",
    }, ("height_segment_height", "height_segment_length_seg")),
}


def utc(delta_time: float, epoch: float) -> datetime:
    """UTC from delta_time with Python datetime: GPS epoch + seconds - 18 leap seconds."""
    return datetime(1980, 1, 6) + timedelta(seconds=float(epoch) + float(delta_time) - 18.0)


def reference_read(path: str, product: str = "ATL10") -> dict[str, pd.DataFrame]:
    """Per strong beam, the segments h5py sees, with fill rows dropped by ``_FillValue``."""
    group, variables, fill_checked = PATHS[product]
    out: dict[str, pd.DataFrame] = {}
    with h5py.File(path, "r") as f:
        orient = int(f["orbit_info/sc_orient"][0])
        epoch = float(f["ancillary_data/atlas_sdp_gps_epoch"][0])
        beams = {0: ["gt1l", "gt2l", "gt3l"], 1: ["gt1r", "gt2r", "gt3r"]}[orient]
        for beam in beams:
            if f"{beam}/{group}" not in f:
                continue
            g = f[f"{beam}/{group}"]
            cols = {c: g[p][...] for c, p in variables.items()}
            keep = np.ones(len(cols["delta_time"]), dtype=bool)
            for c in fill_checked:
                fill = g[variables[c]].attrs.get("_FillValue")
                if fill is None:
                    # ATL07 declares no _FillValue on segment lengths; float32 max is still
                    # the products' fill convention, and no segment is 3.4e38 m long
                    fill = np.finfo(np.float32).max
                keep &= cols[c] != np.asarray(fill).ravel()[0]
            df = pd.DataFrame({c: v[keep] for c, v in cols.items()})
            df["epoch"] = epoch
            out[beam] = df
    return out
