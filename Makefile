# Two commands matter: `make run` and `make test`. Both build .venv from the lock first.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz audit lint format migrate openapi lock clean

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "HipFix needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	@touch $@

run: $(STAMP)
	$(BIN)/hipfix migrate
	$(BIN)/hipfix serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

migrate: $(STAMP)
	$(BIN)/hipfix migrate

# The whole suite, as CI (.ci/run) runs it: ruff, mypy, pytest, the contract fuzz, the audit.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)
	$(FUZZ)
	$(AUDIT)

# Contract fuzzing: schemathesis, all checks, against a served temporary database (about a
# minute). A fixed seed and no saved examples, so every machine runs the same cases;
# `make fuzz FUZZ_SEED=$$RANDOM` explores others. FUZZ_EXAMPLES=N per operation (default
# 100); FUZZ_ARGS passes more options to schemathesis.
FUZZ_SEED ?= 1
FUZZ = $(BIN)/python scripts/fuzz.py --seed $(FUZZ_SEED) --generation-database none $(FUZZ_ARGS)
fuzz: $(STAMP)
	$(FUZZ)

# pip-audit on the dev lock: fails on a known vulnerability; when no vulnerability service
# answers it says "could not audit" and passes (scripts/audit.py says why).
AUDIT = $(BIN)/python scripts/audit.py requirements-dev.lock
audit: $(STAMP)
	$(AUDIT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(STAMP)
	$(BIN)/hipfix export-openapi --output openapi/openapi.json

# Re-pin every dependency (needs the registry) and commit both files. The runtime lock is
# what the Docker image installs; the dev lock adds the tools at the same versions.
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --no-header --quiet
lock: $(STAMP)
	echo "setuptools>=80" | $(BIN)/uv pip compile pyproject.toml - $(LOCK_FLAGS) -o requirements.lock
	echo "setuptools>=80" | $(BIN)/uv pip compile pyproject.toml - --extra dev \
		--constraint requirements.lock $(LOCK_FLAGS) -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Benchmarks (see bench/README.md), e.g. make bench BENCH_ARGS="--db postgres --workers 2"
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
