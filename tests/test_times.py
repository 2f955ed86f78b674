"""GPS -> UTC conversion, against Python's datetime and known instants."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from icesat2_tutorial.times import LEAP_SECONDS_UTC, delta_time_to_utc, gps_utc_offset

EPOCH = 1198800018.0  # ancillary_data/atlas_sdp_gps_epoch of every ICESat-2 granule


def test_sdp_epoch_is_midnight_utc_2018():
    # delta_time counts from 2018-01-01T00:00:00 UTC: the 18 leap seconds are in the epoch
    assert delta_time_to_utc(np.array([0.0]), EPOCH)[0] == np.datetime64("2018-01-01T00:00:00")


def test_seed_conversion_was_18_s_ahead():
    dt = np.array([55123456.789])
    seed = pd.Timestamp("1980-01-06") + pd.to_timedelta(dt + EPOCH, unit="s")  # the seed's way
    ours = delta_time_to_utc(dt, EPOCH)
    # (the seed's float sum also loses tens of nanoseconds, hence the tolerance)
    assert abs((seed[0] - pd.Timestamp(ours[0])) - pd.Timedelta(seconds=18)) < pd.Timedelta("1us")


@pytest.mark.parametrize("dt", [0.0, 0.5, 1.0e-9, 61_234_567.123456789, 2.9e8 + 0.999999999])
def test_against_python_datetime(dt):
    expected = datetime(1980, 1, 6) + timedelta(seconds=EPOCH + dt - 18)
    got = pd.Timestamp(delta_time_to_utc(np.array([dt]), EPOCH)[0])
    assert abs(got - pd.Timestamp(expected)) <= pd.Timedelta("1us")


def test_keeps_nanoseconds():
    # a naive dt * 1e9 in float64 would be off by up to ~16 ns at this magnitude
    dt = np.array([126392339.123456789])
    got = delta_time_to_utc(dt, EPOCH)[0]
    ns = (got - np.datetime64("2018-01-01T00:00:00", "ns")).astype(np.int64)
    whole, frac = divmod(dt[0], 1.0)
    assert ns == int(whole) * 1_000_000_000 + round(frac * 1e9)


def test_leap_second_table():
    assert len(LEAP_SECONDS_UTC) == 18
    # GPS - UTC was 0 at the GPS epoch, 18 since 2017
    assert gps_utc_offset(0.0) == 0
    gps_2017 = (np.datetime64("2017-01-01T00:00:00") - np.datetime64("1980-01-06")) \
        .astype("timedelta64[s]").astype(float) + 18
    assert gps_utc_offset(gps_2017) == 18
    assert gps_utc_offset(gps_2017 - 1.0) == 17
    assert gps_utc_offset(EPOCH) == 18
