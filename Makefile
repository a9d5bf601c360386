# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both build .venv on first use, installing the CPU build of torch==2.13.0 before anything else
# so that no CUDA build is pulled in.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TORCH_PIN ?= torch==2.13.0

.PHONY: demo demo-cluster test lint clean-venv

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e ".[dev]" $(TORCH_PIN)
	touch $(STAMP)

# ends by printing the path of the solved bag's report (results/demo/solved/report.html)
demo: $(STAMP)
	$(VENV)/bin/unshuffle fragments demo --out results/demo --overwrite

# the clustering half: TEMI on scikit-learn's bundled digits with the offline backbone (a few minutes on 2 cores)
demo-cluster: $(STAMP)
	$(VENV)/bin/unshuffle cluster demo --out results/cluster-demo --no-progress

# the browser test needs Debian's chromium: installed here when missing and we are root; elsewhere the test
# skips with its reason (under CI=true it fails instead)
test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "make: chromium is not installed (needs root: apt-get install chromium); the browser test will skip"
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean-venv:
	rm -rf $(VENV)
