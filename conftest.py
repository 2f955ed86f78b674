"""pytest configuration for the whole repository (tests/ and the notebooks run by nbval).

The notebooks' checked outputs are those of fixture granules, so the test-suite always runs
them offline, even on a hub where an Earthdata Login is configured.
"""

import os

os.environ["ICESAT2_TUTORIAL_OFFLINE"] = "1"
