# Recapito — the two commands: `make run` and `make test`.
.PHONY: setup run test test-sqlite test-postgres bench worker clean

VENV := .venv
FLASK := $(VENV)/bin/flask --app app
PYTEST := $(VENV)/bin/pytest

setup:
	@scripts/setup.sh

run: setup
	@scripts/run.sh

test: setup
	@scripts/test.sh

bench: setup
	@for f in benchmarks/*.py; do echo "== $$f"; $(VENV)/bin/python $$f || exit 1; done

worker: setup
	$(FLASK) worker

clean:
	rm -rf $(VENV) .pytest_cache
