# Two commands matter: `make run` and `make test`. Each sets up .venv from its lock first.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
# Where mails' links point (HIPFIX_PUBLIC_BASE_URL); behind a proxy, its public address.
PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` needs only the runtime lock; `make test` the dev lock (a superset at
# the same versions), which marks the runtime set up too. scripts/setup_venv.sh says how.
RUNTIME := $(VENV)/.runtime-installed
STAMP := $(VENV)/.dev-installed
SETUP := PYTHON=$(PYTHON) VENV=$(VENV) sh scripts/setup_venv.sh
# Generated clients' tools (openapi-typescript, typescript), pinned in clients/package-lock.json.
NODE_TOOLS := clients/node_modules/.installed

.PHONY: run test fuzz audit lint format migrate openapi clients lock clean

$(RUNTIME): requirements.lock pyproject.toml
	@$(SETUP) runtime
	@touch $@

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@$(SETUP) dev
	@touch $@ $(RUNTIME)

# Runtime packages only, and HipFix from this folder (`python -m app.cli`): no build step.
run: $(RUNTIME)
	@$(BIN)/python -m app.cli migrate
	@HIPFIX_PUBLIC_BASE_URL=$${HIPFIX_PUBLIC_BASE_URL:-$(PUBLIC_BASE_URL)} $(BIN)/python -m app.cli serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

migrate: $(STAMP)
	$(BIN)/hipfix migrate

# The whole suite, as CI (.ci/run) runs it: ruff, mypy, pytest (with the generated clients'
# walkthrough and type-check: tests/e2e/test_clients.py), the contract fuzz, the audit.
test: $(STAMP) node-tools browser
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

# Clients generated from the committed contract: a Python package (openapi-python-client, in
# the dev lock; clients/python/config.yaml names it only) with a pyproject.toml listing its
# dependencies and clients/python/USAGE.md beside it, and TypeScript types (openapi-typescript),
# checked by `tsc --strict`. Into clients/out/ (not committed); `make test` does the same in a
# temporary folder and drives the Python client, and USAGE.md's example, against a served
# instance.
clients: $(STAMP) $(NODE_TOOLS)
	rm -rf clients/out
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate \
		--path openapi/openapi.json --meta uv --config clients/python/config.yaml \
		--output-path clients/out/python
	cp clients/python/USAGE.md clients/out/python/USAGE.md
	clients/node_modules/.bin/openapi-typescript openapi/openapi.json \
		--output clients/out/typescript/hipfix.d.ts
	clients/node_modules/.bin/tsc --strict --noEmit clients/out/typescript/hipfix.d.ts

$(NODE_TOOLS): clients/package.json clients/package-lock.json
	cd clients && npm ci --silent --no-audit --no-fund
	@touch $@

# For `make test`: without npm (or the registry) the TypeScript check is skipped, saying why.
.PHONY: node-tools browser
# Chromium for the report's browser test, installed here once (never from inside a test).
browser:
	@sh scripts/browser.sh

node-tools:
	@$(MAKE) --no-print-directory $(NODE_TOOLS) || echo "clients: npm could not install clients/ (the TypeScript check will say it was skipped)"

# Re-pin every dependency (needs the registry) and commit both files. The runtime lock is
# what the Docker image installs; the dev lock adds the tools at the same versions.
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --no-header --quiet
lock: $(STAMP)
	echo "setuptools>=80" | $(BIN)/uv pip compile pyproject.toml - $(LOCK_FLAGS) -o requirements.lock
	echo "setuptools>=80" | $(BIN)/uv pip compile pyproject.toml - --extra dev \
		--constraint requirements.lock $(LOCK_FLAGS) -o requirements-dev.lock

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache clients/node_modules clients/out

# Benchmarks (see bench/README.md), e.g. make bench BENCH_ARGS="--db postgres --workers 2"
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
