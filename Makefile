# Set-up contract: `make demo` and `make test` do everything on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# Exactly this torch: a local CPU wheel on the dev machines; other specs pull a multi-GB CUDA build.
TORCH  := torch==2.13.0
APT_PKGS := dataset-fashion-mnist wordnet-base

.PHONY: demo test test-slow docs lint system-deps install clean

demo: install
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/glai demo

test: install
	$(VENV)/bin/ruff check src tests scripts examples
	$(VENV)/bin/mypy
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q

# The documentation site, warnings as errors (tests/test_docs.py builds it too, in `make test`).
docs: install
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "wrote docs/_build/html/index.html"

test-slow: install
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -m slow

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) uninstall -y -q glai 2>/dev/null || true  # this project's distribution name before 0.2.0
	$(PIP) install -q -e '.[bench,test,docs]'
	touch $(STAMP)

# Offline datasets from Debian (Fashion-MNIST IDX files, WordNet 3.0 database).
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) .cache build dist src/*.egg-info docs/_build
