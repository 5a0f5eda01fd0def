#!/usr/bin/env bash
# The checks `make lint` runs and `make test` runs before the tests: ruff (lint), ruff format (only
# checks, changes nothing) and mypy (settings in pyproject.toml). Stops at the first that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
echo ">> ruff check"
.venv/bin/ruff check .
echo ">> ruff format --check"
.venv/bin/ruff format --check .
echo ">> mypy"
.venv/bin/mypy
