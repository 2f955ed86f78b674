# Two commands a new user needs (see README.md):
#   make book   build the website into _build/html, executing every notebook (the main job)
#   make test   run the test-suite: unit tests, every notebook (nbval), the site in Chromium
# Both create a local virtual environment in .venv on first use.
#   make demo   generate fixture granules and read them, printing a per-beam summary

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= _build/fixtures

.PHONY: book demo test venv clean browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/icesat2-tutorial demo --out $(OUT)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "open _build/html/index.html"

# Debian's headless Chromium for the browser test; installed only where we may (root).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: no Chromium; the browser test will be skipped (apt-get install chromium chromium-driver)"; fi

test: $(STAMP) browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) _build .pytest_cache
