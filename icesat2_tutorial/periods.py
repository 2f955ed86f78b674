"""Time periods for gridding: UTC days and calendar months, as integer bin numbers.

Each segment gets the number of the period its UTC time falls in, counted from
1970-01-01: for ``"1D"`` the day number, for ``"1MS"`` the month number (months since
January 1970). Integers, computed from the ``datetime64[ns]`` value itself, put a segment
at 23:59:59.999999999 UTC in its own day, never the next one; the period's label is its
start (pandas' convention for ``"D"`` and ``"MS"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_NS_PER_DAY = 86_400 * 1_000_000_000
_ALIASES = {"daily": "1D", "day": "1D", "d": "1D", "monthly": "1MS", "month": "1MS", "ms": "1MS"}
_PATTERN = re.compile(r"^(\d*)(D|MS)$")
#: Longest periods: about 270 years, still inside datetime64[ns] (1677-2262).
_MAX_N = {"D": 100_000, "MS": 3_300}


@dataclass(frozen=True)
class Period:
    """A period length: ``n`` days (``unit="D"``) or ``n`` calendar months (``unit="MS"``)."""

    n: int
    unit: str

    @property
    def alias(self) -> str:
        """The pandas-style alias, e.g. ``"1D"`` or ``"1MS"``."""
        return f"{self.n}{self.unit}"

    def index(self, times: np.ndarray) -> np.ndarray:
        """Period number of each UTC time (int64; floor division, so never rounded up)."""
        t = np.asarray(times)
        if t.dtype.kind != "M":
            raise TypeError(f"times must be datetime64, not {t.dtype}")
        if self.unit == "D":
            ns = t.astype("datetime64[ns]").astype(np.int64)
            return np.floor_divide(ns, _NS_PER_DAY * self.n)
        months = t.astype("datetime64[M]").astype(np.int64)  # numpy floors to the month
        return np.floor_divide(months, self.n)

    def start(self, index: np.ndarray | int) -> np.ndarray:
        """UTC start (``datetime64[ns]``) of period numbers."""
        idx = np.asarray(index, dtype=np.int64) * self.n
        if self.unit == "D":
            return (np.datetime64("1970-01-01", "D") + idx.astype("timedelta64[D]")).astype("datetime64[ns]")
        return (np.datetime64("1970-01", "M") + idx.astype("timedelta64[M]")).astype("datetime64[ns]")

    def end(self, index: np.ndarray | int) -> np.ndarray:
        """UTC end (exclusive) of period numbers: the start of the next one."""
        return self.start(np.asarray(index, dtype=np.int64) + 1)


def parse_period(period: str | Period) -> Period:
    """``"1D"`` (UTC days), ``"1MS"`` (calendar months), or multiples such as ``"7D"``.

    Also accepts ``"daily"`` and ``"monthly"``.

    Raises
    ------
    ValueError
        For anything else, saying what is accepted.
    """
    if isinstance(period, Period):
        return period
    text = _ALIASES.get(str(period).strip().lower(), str(period).strip().upper())
    m = _PATTERN.match(text)
    if not m or (m.group(1) and int(m.group(1)) < 1):
        raise ValueError(
            f"unknown period {period!r}: use '1D' (UTC days), '1MS' (calendar months), "
            "or a multiple such as '7D' or '3MS'"
        )
    n, unit = int(m.group(1) or 1), m.group(2)
    if n > _MAX_N[unit]:  # would overflow datetime64[ns] arithmetic later, deep in numpy
        raise ValueError(f"period {period!r} is longer than {_MAX_N[unit]:,}{unit} (about 270 years)")
    return Period(n, unit)


def check_frequency(freq: str) -> str:
    """A pandas frequency for resampling (``"1MS"``, ``"QS-DEC"``, ``"1YS"`` ...), checked.

    Raises
    ------
    ValueError
        For a frequency pandas does not know or one that is not positive, naming it (pandas'
        own message, or a ZeroDivisionError for ``"0D"``, came from deep inside xarray).
    """
    import pandas as pd

    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError):
        offset = None
    if offset is None or offset.n < 1:
        raise ValueError(f"unknown frequency {freq!r}: use a positive pandas frequency such as "
                         "'1MS' (calendar months), 'QS-DEC' (seasons) or '1YS' (years)")
    return freq
