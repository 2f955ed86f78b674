"""Where a granule lives and how h5coro reaches it: a local file, S3 or HTTPS.

NASA's Earthdata Cloud keeps ICESat-2 granules in S3 buckets in AWS region us-west-2.

* On a machine in us-west-2 (a cloud JupyterHub), read straight from S3 with temporary
  credentials that Earthdata Login hands out for one hour (``earthaccess.get_s3_credentials``).
* Anywhere else, S3 refuses direct reads; read over HTTPS with an Earthdata Login bearer token.
* Offline (this tutorial's CI, a laptop on a plane), read local files: fixture granules that
  :mod:`icesat2_tutorial.fixtures` generates, or granules downloaded earlier.

:func:`locate` turns what the user has (a path, an ``s3://`` or ``https://`` URL, or an
``earthaccess`` search result) into a :class:`Location`: the h5coro driver, the resource
string that driver wants, and the credentials it needs. Credentials stay inside the
``Location`` and never appear in its ``repr`` or in error messages.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from h5coro import filedriver, s3driver, webdriver

from .exceptions import AccessError, GranuleNotFoundError, NotHDF5Error

Access = Literal["auto", "local", "s3", "https"]

#: earthaccess granule key under which fixture search results carry their local file.
FIXTURE_PATH_KEY = "icesat2_tutorial_fixture_path"

#: Refresh S3 credentials this long before they expire (they last one hour).
CREDENTIAL_MARGIN_S = 300.0


@dataclass(frozen=True)
class Location:
    """How to reach one granule.

    Attributes
    ----------
    name:
        What messages show: the path, the URL or the granule name.
    kind:
        ``"local"``, ``"s3"`` or ``"https"``.
    resource:
        What the h5coro driver takes: a path, ``bucket/key`` (no ``s3://``) or a URL.
    driver:
        The h5coro driver class.
    credentials:
        For S3 a credentials dict, for HTTPS a bearer token, locally ``None``. Hidden
        from ``repr`` so that it never lands in a log or a notebook output.
    """

    name: str
    kind: str
    resource: str
    driver: type
    credentials: Any = field(default=None, repr=False, compare=False)


def _in_us_west_2() -> bool:
    """Whether this machine runs in AWS us-west-2 (asks the EC2 instance metadata service).

    Returns False at once where there is no metadata service (laptops, CI, non-AWS hubs).
    Uses the same IMDSv2 calls as earthaccess, with a one-second limit.
    """
    import requests

    try:
        token = requests.put(
            "http://169.254.169.254/latest/api/token",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
            timeout=1,
        ).text
        region = requests.get(
            "http://169.254.169.254/latest/meta-data/placement/region",
            headers={"X-aws-ec2-metadata-token": token},
            timeout=1,
        )
    except Exception:
        return False
    return region.status_code == 200 and region.text.strip() == "us-west-2"


_region_lock = threading.Lock()
_region_cache: dict[str, bool] = {}


def in_us_west_2() -> bool:
    """Cached :func:`_in_us_west_2`; set ``ICESAT2_TUTORIAL_IN_REGION=1`` (or 0) to override.

    The override exists because the metadata check gives false "not in region" answers
    on some hubs that do run in us-west-2 (containers without access to the metadata service).
    """
    forced = os.environ.get("ICESAT2_TUTORIAL_IN_REGION")
    if forced is not None:
        return forced.strip().lower() in ("1", "true", "yes")
    with _region_lock:
        if "v" not in _region_cache:
            _region_cache["v"] = _in_us_west_2()
        return _region_cache["v"]


class _S3CredentialCache:
    """Earthdata S3 credentials per endpoint, refreshed before they expire (one hour)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    def get(self, endpoint: str | None) -> dict[str, str]:
        key = endpoint or "NSIDC"
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] - time.time() > CREDENTIAL_MARGIN_S:
                return hit[1]
        creds = _fetch_s3_credentials(endpoint)
        expires = _expiry_epoch(creds.get("expiration"))
        with self._lock:
            self._cache[key] = (expires, creds)
        return creds


def _expiry_epoch(expiration: str | None) -> float:
    """Parse earthaccess' ``expiration`` ("2026-11-25 13:24:00+00:00"); one hour if absent."""
    if not expiration:
        return time.time() + 3600.0
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(expiration).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 3600.0


def _fetch_s3_credentials(endpoint: str | None) -> dict[str, str]:
    """Ask Earthdata Login (through earthaccess) for temporary S3 credentials."""
    import earthaccess

    auth = earthaccess.__auth__
    if not getattr(auth, "authenticated", False):
        _login_quietly()
        auth = earthaccess.__auth__
    if not getattr(auth, "authenticated", False):
        raise AccessError(
            "s3",
            "reading from NASA's S3 needs Earthdata Login: run earthaccess.login() first "
            "(or pass credentials=...)",
        )
    if endpoint:
        creds = auth.get_s3_credentials(endpoint=endpoint)
    else:
        creds = auth.get_s3_credentials(daac="NSIDC")
    if not creds:
        raise AccessError("s3", "Earthdata Login returned no S3 credentials")
    return creds


s3_credentials = _S3CredentialCache()


def _login_quietly() -> None:
    """Log in to Earthdata from the environment or ~/.netrc, if either has credentials.

    This is how a Dask worker gets S3 credentials of its own: the task graph carries no
    credentials, and each worker logs in with what its environment provides (a
    LocalCluster inherits the notebook's environment; on Coiled, pass them as secrets).
    """
    import earthaccess

    if os.environ.get("EARTHDATA_TOKEN") or (
        os.environ.get("EARTHDATA_USERNAME") and os.environ.get("EARTHDATA_PASSWORD")
    ):
        strategy = "environment"
    elif (Path.home() / ".netrc").exists():
        strategy = "netrc"
    else:
        return
    try:
        earthaccess.login(strategy=strategy)
    except Exception:  # no network, wrong password: reported by the caller as AccessError
        pass


def earthdata_token() -> str | None:
    """The Earthdata Login bearer token: from earthaccess if logged in, else ``EARTHDATA_TOKEN``."""
    try:
        import earthaccess

        auth = earthaccess.__auth__
        if getattr(auth, "authenticated", False) and auth.token:
            return auth.token["access_token"]
    except Exception:  # earthaccess missing or half-initialised: fall back to the env var
        pass
    return os.environ.get("EARTHDATA_TOKEN") or None


def _is_granule(source: Any) -> bool:
    """Duck-typed test for an earthaccess ``DataGranule`` (a dict with ``data_links``)."""
    return hasattr(source, "data_links") and isinstance(source, dict)


def granule_name(source: Any) -> str:
    """A short, credential-free name for messages: file name, URL or ``GranuleUR``."""
    if _is_granule(source):
        try:
            return str(source["umm"]["GranuleUR"])
        except (KeyError, TypeError):
            return "<earthaccess granule>"
    return os.fspath(source) if isinstance(source, os.PathLike) else str(source)


def locate(
    source: Any,
    *,
    access: Access = "auto",
    credentials: dict[str, str] | None = None,
    token: str | None = None,
) -> Location:
    """Decide how to reach a granule.

    Parameters
    ----------
    source:
        A local path (``str`` or ``pathlib.Path``, or a ``file://`` URL), an ``s3://bucket/key``
        URL, an ``http(s)://`` URL, or an ``earthaccess.DataGranule`` from a search.
    access:
        For earthaccess granules: ``"auto"`` (S3 in us-west-2, HTTPS elsewhere, the local
        file for fixture granules), or force ``"s3"``, ``"https"`` or ``"local"``.
    credentials:
        S3 credentials (earthaccess' ``accessKeyId``/``secretAccessKey``/``sessionToken``
        or boto3's ``aws_*`` names). Default: from ``earthaccess.login()``; for an ``s3://``
        URL without a login, boto3's own chain (environment, instance role).
    token:
        Earthdata Login bearer token for HTTPS. Default: :func:`earthdata_token`.

    Returns
    -------
    Location

    Raises
    ------
    GranuleNotFoundError
        A local path that does not exist.
    NotHDF5Error
        A local path that is a directory.
    AccessError
        No usable link or credentials.
    """
    if access not in ("auto", "local", "s3", "https"):
        raise ValueError(f"access must be 'auto', 'local', 's3' or 'https', not {access!r}")

    if _is_granule(source):
        return _locate_granule(source, access, credentials, token)

    text = os.fspath(source) if isinstance(source, os.PathLike) else source
    if not isinstance(text, str):
        raise TypeError(
            f"cannot read a granule from a {type(source).__name__}: give a path, "
            "an s3:// or https:// URL, or an earthaccess granule"
        )
    if text.startswith("s3://"):
        bucket_key = text[len("s3://"):]
        if "/" not in bucket_key.strip("/"):
            raise AccessError(text, "an S3 URL needs a bucket and a key: s3://bucket/key")
        if credentials is None:
            credentials = _default_s3_credentials(None)
        return Location(text, "s3", bucket_key, s3driver.S3Driver, credentials)
    if text.startswith(("https://", "http://")):
        return Location(text, "https", text, webdriver.HTTPDriver, token or earthdata_token())
    if text.startswith("file://"):
        text = text[len("file://"):]
    return _locate_local(text)


def _locate_local(path: str, name: str | None = None) -> Location:
    """A local file; ``name`` (default: the path as given) is what messages show."""
    p = Path(path)
    name = name or path
    if not p.exists():
        raise GranuleNotFoundError(name, "no such file")
    if p.is_dir():
        raise NotHDF5Error(name, "is a directory, not an HDF5 granule")
    return Location(name, "local", str(p), filedriver.FileDriver, None)


def _default_s3_credentials(endpoint: str | None) -> dict[str, str]:
    """earthaccess credentials when logged in; otherwise ``{}`` so boto3 uses its own chain."""
    try:
        import earthaccess

        if getattr(earthaccess.__auth__, "authenticated", False):
            return s3_credentials.get(endpoint)
    except AccessError:
        raise
    except Exception:
        pass
    return {}


def _locate_granule(
    granule: Any, access: Access, credentials: dict[str, str] | None, token: str | None
) -> Location:
    name = granule_name(granule)
    local = granule.get(FIXTURE_PATH_KEY)
    if access == "local" or (access == "auto" and local):
        if not local:
            raise AccessError(name, "this granule has no local copy; use access='s3' or 'https'")
        # messages show the granule's name, not where this machine keeps the file
        return _locate_local(local, name)

    use_s3 = access == "s3" or (access == "auto" and in_us_west_2())
    if use_s3:
        links = [u for u in granule.data_links(access="direct", in_region=True) if u.startswith("s3://")]
        if not links:
            raise AccessError(name, "the granule's metadata lists no s3:// link")
        if credentials is None:
            endpoint = granule.get_s3_credentials_endpoint() if hasattr(
                granule, "get_s3_credentials_endpoint") else None
            credentials = s3_credentials.get(endpoint)
        return Location(name, "s3", links[0][len("s3://"):], s3driver.S3Driver, credentials)

    links = [u for u in granule.data_links(access="external") if u.startswith("http")]
    if not links:
        raise AccessError(name, "the granule's metadata lists no https:// link")
    return Location(name, "https", links[0], webdriver.HTTPDriver, token or earthdata_token())
