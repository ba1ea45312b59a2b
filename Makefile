# colrec: `make demo` sets everything up and runs the main job; `make test` sets up and runs the tests.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench-ingest clean-venv

setup:
	@bash scripts/setup.sh

# The main job on the embedded Postgres. Data: DATA=path, or COLREC_DEMO_DATA, or a download.
demo: setup
	$(BIN)/colrec-jobs demo $(if $(DATA),--data $(DATA))

# The rules are kept by tools: ruff (style, RUF), import-linter (the layers, pyproject's contracts),
# mypy (types), then the tests with coverage (its floor: pyproject's fail_under).
test: lint
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered

lint: setup
	$(BIN)/ruff check colrec colrec_store jobs migrations tests benchmarks
	$(BIN)/ruff format --check colrec colrec_store jobs migrations tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

bench-ingest: setup
	$(BIN)/python benchmarks/ingest_copy_vs_orm.py $(if $(DATA),--data $(DATA))

clean-venv:
	rm -rf $(VENV)
