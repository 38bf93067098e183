# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch is installed first so that the range in pyproject.toml is already met
# and no CUDA packages are pulled in.
TORCH := torch==2.13.0
# The leaderboard's browser test drives Debian's chromium package (no browser is downloaded);
# its store tests start a throwaway server of Debian's postgresql package.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# mkdocs-material prints a notice about MkDocs 2 on every build unless told not to.
MKDOCS := DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs

.PHONY: demo test install install-dev docs docs-serve clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

install: $(PY)
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e .

install-dev: $(PY)
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[dev,docs,mujoco,ray]"
	test -x /usr/bin/chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; }
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql; }

demo: install
	$(PY) -m nmn_bench.demo

test: install-dev
	$(PY) -m pytest -n 2 --dist loadfile

# The site in site/ (tests/test_docs.py builds it strictly as part of `make test`).
docs: install-dev
	$(MKDOCS) build --strict

docs-serve: install-dev
	$(MKDOCS) serve

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache demo_out site
