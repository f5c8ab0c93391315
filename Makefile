# KeystoneDB for Python. `make serve` and `make test` work on a fresh machine
# with Python 3.11 and make: they create .venv and install the project first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= ./data/keystone.db
HOST   ?= 127.0.0.1
PORT   ?= 50051
DYNAMODB_PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: all install serve test test-dynamodb lint typecheck bench bench-quick proto clean oracle fuzz

all: test

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	@mkdir -p $(dir $(DB))
	$(BIN)/python -m keystone_net serve --db-path $(DB) --host $(HOST) --port $(PORT) \
		--dynamodb-port $(DYNAMODB_PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The whole behaviour suite on the DynamoDB-backed Store too (moto's server, or
# KEYSTONE_DYNAMODB_TEST_ENDPOINT=http://host:port); `make test` runs a subset of it.
test-dynamodb: $(STAMP)
	KEYSTONE_TEST_DYNAMODB=all $(BIN)/python -m pytest -q -k "dynamodb or endpoint" $(PYTEST_ARGS)

# The differential run against moto, long: many seeds, many operations each.
ORACLE_SEEDS ?= 40
ORACLE_OPS   ?= 1000
oracle: $(STAMP)
	KEYSTONE_ORACLE_SEEDS=$(ORACLE_SEEDS) KEYSTONE_ORACLE_OPS=$(ORACLE_OPS) \
		$(BIN)/python -m pytest -q tests/test_oracle.py $(PYTEST_ARGS)

# The "no crash" fuzz tests, long (make test runs them bounded).
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	KEYSTONE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(BIN)/python -m pytest -q -o timeout=0 tests/test_fuzz.py tests/test_fuzz_inputs.py tests/test_dynamodb_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check keystone keystone_net tests benches
	$(BIN)/ruff format --check keystone keystone_net tests benches
	$(BIN)/mypy keystone keystone_net

typecheck: lint

bench: $(STAMP)
	@for b in benches/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in benches/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

proto: $(STAMP)
	rm -rf keystone_net/_proto && mkdir -p keystone_net/_proto
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m grpc_tools.protoc -I protos \
		--python_betterproto2_out=keystone_net/_proto \
		--python_betterproto2_opt=client_generation=async \
		--python_betterproto2_opt=server_generation=async \
		--descriptor_set_out=keystone_net/_proto/keystone.binpb \
		protos/keystone.proto

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
