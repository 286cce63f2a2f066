# The two set-up commands: `make run` (the whole function set locally) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install bench fuzz reliability clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/paymesh up --demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q --durations=15

# Schema-driven fuzzing at length (tests/fuzz; `make test` runs a bounded, repeatable slice): fresh examples,
# SQLite and PostgreSQL; prints how many requests were sent and what was found. FUZZ_EXAMPLES per type.
FUZZ_EXAMPLES ?= 2000
fuzz: install
	PAYMESH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PAYMESH_FUZZ_RANDOM=1 PAYMESH_FUZZ_BACKENDS=sqlite,postgres \
		$(BIN)/pytest -q -p no:cacheprovider tests/fuzz

# The reliability suite at full size (make test runs smaller crash and duplicate runs to stay under 10 minutes).
reliability: install
	PAYMESH_RELIABILITY_CRASH_PAYMENTS=5000 PAYMESH_RELIABILITY_PAYMENTS=2000 PAYMESH_REQUIRE_POSTGRES=1 \
		$(BIN)/pytest -q -p no:cacheprovider tests/reliability

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .paymesh .pytest_cache .mypy_cache .ruff_cache
