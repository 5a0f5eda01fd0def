# Recapito — the two commands: `make run` and `make test` (plus `make lint`, the checks alone).
.PHONY: setup run lint test bench worker clean

VENV := .venv
FLASK := $(VENV)/bin/flask --app app
PYTEST := $(VENV)/bin/pytest

setup:
	@scripts/setup.sh

# In a terminal the script runs as its own foreground job (bash -m): Ctrl-C reaches it (and it stops its
# children in order) but not make, which would otherwise die of the SIGINT too and exit 130.
run: setup
	@if [ -t 0 ]; then bash -mc 'scripts/run.sh; exit $$?'; else scripts/run.sh; fi

# ruff check, ruff format --check, mypy (settings in pyproject.toml)
lint: setup
	@scripts/lint.sh

# the checks, then the tests in parallel (SQLite, then PostgreSQL when TEST_DATABASE_URL is set)
test: setup
	@scripts/test.sh

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(VENV)/bin/python $$f || exit 1; done

worker: setup
	$(FLASK) worker

clean:
	rm -rf $(VENV) .pytest_cache
