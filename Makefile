# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.llmlab-installed

.PHONY: install browser demo test lint bench mutation container-test clean

install: $(STAMP)

# Re-install only when the dependency list or the pins change; the package itself is editable.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[all,dev]'
	@touch $(STAMP)

demo: install
	$(VENV)/bin/llmlab roadmap --quick

test: install browser
	$(PY) -m pytest -q

# The UI and report tests drive a real headless Chromium (Debian's package; Playwright cannot
# download its own browser offline). Best effort: without root or apt they skip with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) \
	  || echo "chromium could not be installed: the browser tests will skip"; }

lint: install
	$(VENV)/bin/ruff check src tests benchmarks mutation deploy

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Deliberate one-line bugs in the core algorithms (mutation/mutants.py), each run against its own tests in a
# copy of src/; about half an hour on two cores, so not part of `make test`. Report: runs/mutation/<date-time>/.
mutation: install
	nice $(PY) mutation/run.py $(ARGS)

# Build the CPU serving image with buildah (no Docker engine or registry needed: a local Debian base stands in
# for python:3.12-slim), run it as its non-root user, probe it, stop it with SIGTERM. Root and buildah needed;
# about a quarter of an hour on two cores the first time. docs/serve.md, "Run it in a container".
container-test: install
	$(PY) deploy/container_test.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
