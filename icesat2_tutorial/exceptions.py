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

    #: Whether trying again may succeed (a network failure), as opposed to a problem with
    #: the granule or the credentials that another attempt cannot fix.
    retryable: bool = False

    def __init__(self, source: str, problem: str, *, retryable: bool | None = None) -> None:
        self.source = str(source)
        self.problem = problem
        if retryable is not None:
            self.retryable = retryable
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self):  # keep source/problem/retryable across pickling (Dask workers)
        return (_rebuild, (type(self), self.source, self.problem, self.retryable))


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


def _rebuild(cls: type, source: str, problem: str, retryable: bool) -> GranuleError:
    return cls(source, problem, retryable=retryable)
