"""Shared fixtures: where the real granules are, and fixture granules made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


def real_granules(pattern: str = "*.h5") -> list[Path]:
    """The real NASA granule subsets in ../shared/realdata (read in place, never copied)."""
    return sorted(REALDATA.glob(pattern))


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not real_granules():
        pytest.skip("../shared/realdata is not present next to this checkout")
    return REALDATA
