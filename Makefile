# Set-up contract: `make demo` and `make test` do everything on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# Exactly this torch: a local CPU wheel on the dev machines; other specs pull a multi-GB CUDA build.
TORCH  := torch==2.13.0
APT_PKGS := dataset-fashion-mnist wordnet-base

.PHONY: demo test test-slow test-cpu-kernels test-min-versions docs lint system-deps install clean

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

# The suite once per ATEN_CPU_CAPABILITY this CPU supports (default, avx2, and avx512 where the
# CPU has it): torch's kernels of each capability, and MKL's of each batch shape, sum in their
# own order, and no test may depend on which (issue 13). About three `make test` runs, so CI
# (.ci/run) runs it after `make test`; `make test-cpu-kernels CPU_CAPS=avx2` runs one.
CPU_CAPS ?= $(shell env -u ATEN_CPU_CAPABILITY $(PY) -c "import torch; \
	caps = ['default', 'avx2', 'avx512']; best = torch.backends.cpu.get_cpu_capability().lower(); \
	print(*caps[: caps.index(best) + 1] if best in caps else ['default'])")

test-cpu-kernels: install
	@set -e; for cap in $(CPU_CAPS); do \
		echo "== ATEN_CPU_CAPABILITY=$$cap"; \
		ATEN_CPU_CAPABILITY=$$cap OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q; \
	done

# The library's tests at the oldest release of each dependency pyproject.toml allows
# (scripts/min_requirements.py pins every `>=`), in a venv of their own. torch stays $(TORCH):
# its older releases are multi-GB CUDA wheels on PyPI. tests/glai_bench need the bench extra
# (not part of the library's floors) and are left out. Result: README, "Tested versions".
MIN_VENV := .venv-min

test-min-versions:
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install -q $(TORCH) $$($(PYTHON) scripts/min_requirements.py --except torch) 'pytest>=7'
	$(MIN_VENV)/bin/pip install -q --no-deps -e .
	$(MIN_VENV)/bin/pip check
	$(MIN_VENV)/bin/pip list 2>/dev/null | grep -iE '^(torch|numpy|scipy|scikit-learn|tqdm|safetensors) '
	OMP_WAIT_POLICY=PASSIVE $(MIN_VENV)/bin/python -m pytest -q --ignore=tests/glai_bench

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
	rm -rf $(VENV) $(MIN_VENV) .cache build dist src/*.egg-info docs/_build
