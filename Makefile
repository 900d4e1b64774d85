# Set-up contract: `make demo` and `make test` do everything on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# Exactly this torch: a local CPU wheel on the dev machines; other specs pull a multi-GB CUDA build.
TORCH  := torch==2.13.0
APT_PKGS := dataset-fashion-mnist wordnet-base

.PHONY: demo test test-slow lint system-deps install clean

demo: install
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/glai demo

test: install
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/mypy
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q

test-slow: install
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -m slow

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[bench,test]'
	touch $(STAMP)

# Offline datasets from Debian (Fashion-MNIST IDX files, WordNet 3.0 database).
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; \
	fi

clean:
	rm -rf $(VENV) .cache build dist src/*.egg-info
