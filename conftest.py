"""pytest configuration for the whole repository (tests/ and the notebooks run by nbval).

The notebooks' checked outputs are those of fixture granules, so the test-suite always runs
them offline, even on a hub where an Earthdata Login is configured.
"""

import os
from pathlib import Path

import pytest

os.environ["ICESAT2_TUTORIAL_OFFLINE"] = "1"

#: Substitutions nbval makes before it compares a checked output (see the file for why).
NBVAL_SANITIZE = Path(__file__).parent / "notebooks" / "nbval_sanitize.cfg"


def pytest_configure(config: pytest.Config) -> None:
    # set here, not in addopts, so that the path holds from whatever directory pytest runs in
    # (and only where nbval is installed, and the command line did not name another file)
    if hasattr(config.option, "nbval_sanitize_with") and config.option.nbval_sanitize_with is None:
        config.option.nbval_sanitize_with = str(NBVAL_SANITIZE)
