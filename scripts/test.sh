#!/usr/bin/env bash
# Every test: unit, integration (real Redis, SMTP, wkhtmltopdf, SQLite) and browser tests;
# then the unit and integration tests again on PostgreSQL when TEST_DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export RECAPITO_ENV=testing
unset DATABASE_URL
echo ">> Test su SQLite"
.venv/bin/pytest "$@"
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo ">> Test su PostgreSQL ($TEST_DATABASE_URL)"
  .venv/bin/pytest -m "not browser" "$@"
else
  echo ">> TEST_DATABASE_URL non impostato: salto la ripetizione su PostgreSQL"
fi
