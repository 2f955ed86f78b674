"""ICESat-2 times: from ``delta_time`` (GPS seconds) to UTC.

ATL07/ATL10 store each segment's time as ``delta_time``, seconds since the ATLAS Standard
Data Product epoch, and the epoch itself as ``ancillary_data/atlas_sdp_gps_epoch``, in GPS
seconds since the GPS epoch 1980-01-06T00:00:00. GPS time has no leap seconds, UTC does, so

    UTC = 1980-01-06T00:00:00 + atlas_sdp_gps_epoch + delta_time - (GPS - UTC leap seconds)

and GPS - UTC has been 18 s since 2017-01-01, i.e. for every ICESat-2 measurement (launch
2018-09-15). The seed notebook left the 18 s out, so its times were 18 s in the future.
``atlas_sdp_gps_epoch`` is 1198800018 s, which is 2018-01-01T00:00:00 UTC: the 18 s are
already inside it, and that is why ``delta_time`` counts from midnight UTC on 2018-01-01.
"""

from __future__ import annotations

import numpy as np

#: Start of GPS time.
GPS_EPOCH = np.datetime64("1980-01-06T00:00:00", "ns")

#: UTC instants at which GPS - UTC grew by one second (leap seconds since the GPS epoch).
#: From IERS Bulletin C; none has been inserted since 2017-01-01.
LEAP_SECONDS_UTC: tuple[str, ...] = (
    "1981-07-01", "1982-07-01", "1983-07-01", "1985-07-01", "1988-01-01", "1990-01-01",
    "1991-01-01", "1992-07-01", "1993-07-01", "1994-07-01", "1996-01-01", "1997-07-01",
    "1999-01-01", "2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01",
)

_NS = 1_000_000_000
#: GPS seconds beyond which a time does not fit datetime64[ns] (it ends in 2262): 8e9 s
#: after 1980-01-06 is in 2233, 8e9 s before it in 1726.
_MAX_GPS_SECONDS = 8.0e9


def _leap_table_gps_ns() -> np.ndarray:
    """GPS instants (ns since the GPS epoch) at which each leap second takes effect."""
    utc = np.array(LEAP_SECONDS_UTC, dtype="datetime64[ns]")
    since_epoch = (utc - GPS_EPOCH).astype(np.int64)
    # the n-th leap second starts when GPS is n s ahead of UTC
    return since_epoch + np.arange(1, len(utc) + 1, dtype=np.int64) * _NS


_LEAP_GPS_NS = _leap_table_gps_ns()


def gps_utc_offset(gps_seconds: np.ndarray | float) -> np.ndarray:
    """GPS - UTC in whole seconds at the given GPS times.

    Parameters
    ----------
    gps_seconds:
        Seconds since 1980-01-06T00:00:00 on the GPS time scale.

    Returns
    -------
    numpy.ndarray of int64
        Leap seconds between GPS and UTC (18 for every ICESat-2 time).
    """
    gps_ns = np.asarray(np.floor(np.asarray(gps_seconds, dtype=np.float64)) * _NS, dtype=np.int64)
    return np.searchsorted(_LEAP_GPS_NS, gps_ns, side="right").astype(np.int64)


def delta_time_to_utc(delta_time: np.ndarray, atlas_sdp_gps_epoch: float) -> np.ndarray:
    """Convert ICESat-2 ``delta_time`` to UTC ``datetime64[ns]``.

    Parameters
    ----------
    delta_time:
        Seconds since the ATLAS SDP epoch (``gtXx/.../delta_time``), float64.
    atlas_sdp_gps_epoch:
        ``ancillary_data/atlas_sdp_gps_epoch``: GPS seconds since 1980-01-06 (1198800018.0).

    Returns
    -------
    numpy.ndarray of datetime64[ns]
        UTC times (no time zone attached; the values are UTC); NaT where ``delta_time`` or
        the epoch is not finite or the time is outside 1726-2233 (a corrupt value).

    Notes
    -----
    Whole and fractional seconds are converted separately so that no precision is lost:
    ``delta_time`` * 1e9 would exceed float64's 2**53 exact integers (about 16 ns error).

    Examples
    --------
    >>> str(delta_time_to_utc(np.array([0.0]), 1198800018.0)[0])
    '2018-01-01T00:00:00.000000000'
    """
    dt = np.asarray(delta_time, dtype=np.float64)
    epoch = float(np.asarray(atlas_sdp_gps_epoch, dtype=np.float64).ravel()[0])
    # A time that is not finite or lies outside datetime64[ns] (a corrupt value) is NaT, not
    # a date wrapped around by an integer overflow (found by the corruption fuzz in
    # tests/test_reliability_inputs.py: NaN became 1725-09-22, 1e30 became 2018-01-01).
    with np.errstate(invalid="ignore", over="ignore"):
        valid = np.isfinite(dt) & (np.abs(dt + epoch) < _MAX_GPS_SECONDS)
    if not np.isfinite(epoch):
        valid[...] = False
        epoch = 0.0
    all_valid = bool(valid.all())
    if not all_valid:
        dt = np.where(valid, dt, 0.0)
    whole = np.floor(dt)
    frac_ns = np.round((dt - whole) * _NS).astype(np.int64)  # exact: dt - whole < 1
    epoch_whole = np.floor(epoch)
    epoch_frac_ns = np.int64(round((epoch - epoch_whole) * _NS))
    gps_whole = whole.astype(np.int64) + np.int64(epoch_whole)
    if gps_whole.size == 0:
        leap: np.ndarray = np.int64(0)
    else:  # one offset for the whole granule, unless a leap second falls inside it
        lo, hi = gps_utc_offset(gps_whole.min()), gps_utc_offset(gps_whole.max())
        leap = lo if lo == hi else gps_utc_offset(gps_whole)
    ns = (gps_whole - leap) * _NS + frac_ns + epoch_frac_ns
    out = GPS_EPOCH + ns.astype("timedelta64[ns]")
    if not all_valid:
        out = np.where(valid, out, np.datetime64("NaT", "ns"))
    return out[()] if out.ndim == 0 else out
