"""Two small fixes to the built site, found by the browser test (tests/test_book.py).

* Under jupyter-book 1.x every page carries sphinx-thebe's inline settings script
  (``const THEBE_JS_URL = ...``) and sphinx-togglebutton's twice, so the browser logged
  "Identifier 'THEBE_JS_URL' has already been declared". After the build, each page keeps
  the first copy of any inline script that appears twice.
* pydata-sphinx-theme logs "Got invalid theme mode" on a first visit unless a default
  mode is set; the site starts in light mode.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_INLINE_SCRIPT = re.compile(r"^\s*<script>[^<]*</script>\s*$")


def _drop_repeated_inline_scripts(html: str) -> str:
    seen: set[str] = set()
    lines = []
    for line in html.splitlines(keepends=True):
        if _INLINE_SCRIPT.match(line):
            key = line.strip()
            if key in seen:
                continue
            seen.add(key)
        lines.append(line)
    return "".join(lines)


def _fix_pages(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = _drop_repeated_inline_scripts(text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _default_mode(app: Any, config: Any) -> None:
    config.html_context = dict(config.html_context or {})
    config.html_context.setdefault("default_mode", "light")


def setup(app: Any) -> dict:
    app.connect("config-inited", _default_mode)
    app.connect("build-finished", _fix_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
