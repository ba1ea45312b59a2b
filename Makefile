# colrec: `make demo` sets everything up and runs the main job; `make test` sets up and runs the tests.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench-ingest clean-venv

setup:
	@bash scripts/setup.sh

# The main job on the embedded Postgres. Data: DATA=path, or COLREC_DEMO_DATA, or a download.
demo: setup
	$(BIN)/colrec-jobs demo $(if $(DATA),--data $(DATA))

test: setup
	$(BIN)/ruff check colrec colrec_store jobs migrations tests benchmarks
	$(BIN)/ruff format --check colrec colrec_store jobs migrations tests benchmarks
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check colrec colrec_store jobs migrations tests benchmarks
	$(BIN)/ruff format --check colrec colrec_store jobs migrations tests benchmarks

bench-ingest: setup
	$(BIN)/python benchmarks/ingest_copy_vs_orm.py $(if $(DATA),--data $(DATA))

clean-venv:
	rm -rf $(VENV)
