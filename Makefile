# Two entry points, both working on a fresh machine with Python 3.11+:
#   make demo   run courrier's demo on the embedded defaults (offline sandbox, SQLite)
#   make test   lint, type-check and run the whole test suite
# Both install the exact versions of requirements/dev.txt (the lock, with hashes).
#   make lock         move the lock to the newest versions pyproject.toml allows
#   make test-latest  run the suite against those newest versions, without touching the lock
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements/dev.txt
LATEST ?= .venv-latest
#: courrier-sandbox and courrier-policy are built here for the lock to resolve their
#: dependencies: no index has them. The lock leaves the three local distributions out.
LOCAL_WHEELS := build/local-wheels
COMPILE := pip-compile --quiet --extra dev --generate-hashes --strip-extras \
	--unsafe-package courrier --unsafe-package courrier-sandbox --unsafe-package courrier-policy \
	--find-links $(LOCAL_WHEELS) --no-emit-index-url --no-emit-find-links \
	--output-file $(LOCK) pyproject.toml requirements/build.in

.PHONY: demo test lint typecheck pytest docs browser bench clean lock relock local-wheels test-latest

#: The three distributions of this repository, installed editable over the lock: courrier,
#: courrier-sandbox (sandbox/) and courrier-policy (policy/), which neither PyPI nor the lock has.
LOCAL := -e ./policy -e ./sandbox -e .

$(STAMP): pyproject.toml sandbox/pyproject.toml policy/pyproject.toml $(LOCK)
	$(PYTHON) -c 'import sys; sys.exit("courrier needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation $(LOCAL)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/courrier demo

test: lint typecheck docs pytest

lint: $(STAMP)
	$(PY) -m ruff check src sandbox policy tests bench docs/hooks
	$(PY) -m ruff format --check src sandbox policy tests bench docs/hooks

typecheck: $(STAMP)
	$(PY) -m mypy

# The documentation site, strictly: a broken link or reference fails. NO_MKDOCS_2_WARNING
# silences a banner of Material's about MkDocs 2, which says nothing about this site.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site

pytest: $(STAMP) browser
	$(PY) -m pytest

# The dashboard's browser tests drive Debian's Chromium (no browser download): install it
# when missing, as root through apt; otherwise say how (the tests then skip, or fail when
# COURRIER_REQUIRE_BROWSER=1).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium for the browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: apt-get install chromium (browser tests will skip)"; \
	  fi; }

bench: $(STAMP)
	$(PY) bench/cli.py
	$(PY) bench/sandbox_sqs.py
	$(PY) bench/feedback.py
	$(PY) bench/worker.py
	$(PY) bench/worker.py --postgres
	$(PY) bench/worker.py --soak
	$(PY) bench/pacing.py
	$(PY) bench/outbox_kill.py
	$(PY) bench/send.py
	$(PY) bench/scale.py
	$(PY) bench/bulk.py
	$(PY) bench/campaign.py

# The lock moves only on purpose: commit requirements/dev.txt once make test passes with it.
lock: local-wheels
	$(VENV)/bin/$(COMPILE) --upgrade

# The lock after a change of pyproject.toml (a new dependency): the pins it has stay.
relock: local-wheels
	$(VENV)/bin/$(COMPILE)

local-wheels: $(STAMP)
	rm -rf $(LOCAL_WHEELS)
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w $(LOCAL_WHEELS) ./policy ./sandbox

# The newest releases pyproject.toml allows, in a separate environment: drift shows up here
# first, and the lock moves (make lock) once it passes.
test-latest: browser
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade -e ./policy -e ./sandbox -e '.[dev]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m mypy
	$(LATEST)/bin/python -m pytest

clean:
	rm -rf $(VENV) $(LATEST) site build .pytest_cache .mypy_cache .ruff_cache
