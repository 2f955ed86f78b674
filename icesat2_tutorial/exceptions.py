"""The package's own exceptions, so a caller can catch ours and nothing else.

Every error about a granule names the granule (``source``) and says what is wrong with it
in words a learner can act on, instead of surfacing a traceback from deep inside h5coro,
boto3 or requests.
"""

from __future__ import annotations


class IceSat2TutorialError(Exception):
    """Base class of every error this package raises on purpose."""


class GranuleError(IceSat2TutorialError):
    """A granule could not be read.

    Attributes
    ----------
    source:
        The granule as the caller named it (path, URL or granule name), never a credential.
    problem:
        What went wrong, in a sentence.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class GranuleNotFoundError(GranuleError, FileNotFoundError):
    """The granule does not exist (no such file, S3 key or URL)."""


class NotHDF5Error(GranuleError):
    """The file is not an HDF5 file, or is truncated or corrupt so that it cannot be parsed."""


class WrongProductError(GranuleError):
    """The file is HDF5 but not a granule of the product that was asked for."""


class OrientationError(GranuleError):
    """The spacecraft was in transition (``sc_orient`` = 2): the strong beams are unknown."""


class AccessError(GranuleError):
    """The granule could not be reached: credentials missing or refused, network failure."""


class GranuleTimeoutError(GranuleError, TimeoutError):
    """Reading the granule took longer than the time allowed."""
