"""The rendered website, in a real browser: every page opens, no broken image or link, no
console error. Screenshots of every page are saved under _build/screenshots for review.

The book is built once per session (the `site` fixture in conftest.py, executing every notebook) unless
``_build/html`` is newer than every source; headless Chromium comes from Debian's package
(``make test`` installs it where it can; otherwise these tests are skipped with the reason).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# the `site` fixture (the book, built once per session) is in conftest.py


def _pages(site: Path) -> list[Path]:
    pages = sorted(p for p in site.rglob("*.html")
                   if not {"_static", "_sources", "_images"} & set(p.relative_to(site).parts)
                   and p.name not in ("search.html", "genindex.html", "py-modindex.html"))
    assert len(pages) >= 9, pages
    return pages


#: A credential's name followed by something that looks like its value.
SECRET = re.compile(r"(aws_secret_access_key|secretAccessKey|sessionToken|EARTHDATA_PASSWORD|"
                    r"Bearer)\W{1,4}[A-Za-z0-9/+=._-]{16,}")
#: An absolute local path to a data or code file (URLs are excluded by the look-behind).
LOCAL_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/){2,}[\w.-]+\.(?:h5|nc|py|zarr|parquet|ipynb|csv)\b")


def test_every_page_has_no_absolute_path_or_secret(site):
    for page in _pages(site):
        text = page.read_text(errors="ignore")
        assert str(ROOT) not in text, f"{page.name} shows the checkout's absolute path"
        assert not SECRET.search(text), f"{page.name}: {SECRET.search(text).group(0)[:40]}"
        assert not LOCAL_PATH.search(text), f"{page.name}: {LOCAL_PATH.search(text).group(0)}"


def test_fixture_warning_on_every_notebook_page(site):
    for page in site.glob("notebooks/*.html"):
        assert "Fixture data" in page.read_text(), page.name


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium "
                    "chromium-driver; `make test` does it when run as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1600",
                 "--allow-file-access-from-files"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _local_target(page: Path, href: str) -> Path | None:
    """The file a local link points to, or None for external links and anchors."""
    url = urlparse(href)
    if url.scheme in ("http", "https", "mailto", "javascript", "data") or href.startswith("#"):
        return None
    if url.scheme == "file":
        return Path(unquote(url.path))
    return (page.parent / unquote(url.path)).resolve()


def test_pages_in_a_real_browser(site, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in _pages(site):
        browser.get(page.as_uri())
        browser.execute_script("return document.readyState")
        name = page.relative_to(site).as_posix().replace("/", "__").removesuffix(".html")
        browser.save_screenshot(str(SHOTS / f"{name}.png"))
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.getAttribute('src'))")
        problems += [f"{page.name}: broken image {src}" for src in broken]
        hrefs = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for href in hrefs:
            target = _local_target(page, href)
            if target is not None and not target.exists():
                problems.append(f"{page.name}: broken link {href}")
        for entry in browser.get_log("browser"):
            if entry["level"] == "SEVERE":
                problems.append(f"{page.name}: console error {entry['message'][:300]}")
    assert problems == []
    assert len(list(SHOTS.glob("*.png"))) >= 9
