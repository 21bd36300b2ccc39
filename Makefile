# Two commands are the whole set-up: `make run` and `make test`.
# Both install from the hash-locked requirements*.lock (see README, "Dependencies").
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# stamps: the dev set (runtime + test and lint tools), and the runtime set only
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# One place for the lock's options: both files are universal (any OS, Python 3.11+),
# and the dev lock is constrained by the runtime one, so the two never disagree.
COMPILE := $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --extra postgres --extra redis
# pytest-xdist workers for `make test`: 0 runs serially (the default, and CI's: on 2 cores the
# process tests that run on a clock scaled against the wall starve under parallel load;
# docs/benchmarks.md, "Test suite"); TEST_WORKERS=3 runs in about 17 minutes instead of 32
TEST_WORKERS ?= 0

.PHONY: run test lint lock bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# A changed lock (or pyproject.toml) reinstalls. `pip check` fails when pyproject.toml
# asks for something the lock does not have: run `make lock`.
$(RUN_STAMP): $(LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check || { echo "pyproject.toml and the lock disagree: run make lock"; exit 1; }
	touch $(RUN_STAMP)

$(STAMP): $(DEV_LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check || { echo "pyproject.toml and the lock disagree: run make lock"; exit 1; }
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(PY) -m bot

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy bot flows scheduler store care sandbox

test: lint
	$(PY) -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS))

# Regenerate both locks after changing dependencies in pyproject.toml. Pins already in
# the locks are kept unless the change needs others; `UV_OFFLINE=1 make lock` resolves
# from uv's cache alone; `make lock UPGRADE=--upgrade` moves everything to the newest.
lock: | $(PY)
	test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet uv
	$(COMPILE) $(UPGRADE) --quiet -o $(LOCK)
	$(COMPILE) $(UPGRADE) --quiet --extra dev -c $(LOCK) -o $(DEV_LOCK)

bench: $(STAMP)
	$(PY) bench/dispatch.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
