#!/usr/bin/env bash
# The checks (scripts/lint.sh: ruff, ruff format --check, mypy), then every test: unit, integration (real
# Redis, SMTP, wkhtmltopdf, SQLite) and browser tests; then the unit and integration tests again on
# PostgreSQL when TEST_DATABASE_URL is set.
#
# Tests run in parallel (pytest-xdist, TEST_WORKERS processes, default: the number of CPUs, at least 2;
# each has its own database, Redis, ports and temporary folders); the ones marked `serial` run afterwards,
# one at a time. Arguments go to pytest (e.g. `scripts/test.sh tests/unit -x`).
# CHECKS=0 skips the checks; TEST_WORKERS=0 runs everything in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
export RECAPITO_ENV=testing
unset DATABASE_URL

if [ "${CHECKS:-1}" != "0" ]; then
  scripts/lint.sh
fi

# Temporary files (test databases, spool and capture folders, Redis) in memory when /dev/shm is there:
# SQLite's syncs cost nothing, and the tests do not queue behind the disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  TMPDIR=$(mktemp -d /dev/shm/recapito-test.XXXXXX)
  chmod 755 "$TMPDIR"  # the private dovecot runs its mail processes as another user: they must reach its folder
  export TMPDIR
  trap 'rm -rf "$TMPDIR"' EXIT
fi

workers="${TEST_WORKERS:-$(nproc 2>/dev/null || echo 2)}"
[ "$workers" = "0" ] || [ "$workers" -ge 2 ] || workers=2

# run_pass MARKERS ARGS... (MARKERS may be empty): the parallel pass, then the serial one. Exit code 5 (nothing
# collected: e.g. no serial test among the chosen files) is not a failure.
pytest_ok() {
  local status=0
  .venv/bin/pytest "$@" || status=$?
  [ "$status" = "5" ] && status=0
  return "$status"
}
run_pass() {
  local only="$1"
  shift
  if [ "$workers" = "0" ]; then
    if [ -n "$only" ]; then pytest_ok -m "$only" "$@"; else pytest_ok "$@"; fi
    return
  fi
  local parallel="not serial" serial="serial"
  if [ -n "$only" ]; then parallel="($only) and not serial"; serial="($only) and serial"; fi
  pytest_ok -n "$workers" -m "$parallel" "$@"
  pytest_ok -m "$serial" "$@"
}

echo ">> Test su SQLite"
# Without TEST_DATABASE_URL, or the «SQLite» pass would run on PostgreSQL too (tests/conftest.py picks
# PostgreSQL whenever the variable is set): CI sets it, so SQLite went untested there.
(unset TEST_DATABASE_URL; run_pass "" "$@")
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  echo ">> Test su PostgreSQL ($TEST_DATABASE_URL)"
  run_pass "not browser" "$@"
else
  echo ">> TEST_DATABASE_URL non impostato: salto la ripetizione su PostgreSQL"
fi
