#!/usr/bin/env bash
# Idempotent set-up: system packages, virtualenv, Python packages, database schema.
# Used by `make setup` (and so by `make run` and `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# System packages the app and its tests use.
SYSTEM_PACKAGES=(wkhtmltopdf redis-server chromium chromium-driver fonts-dejavu-core python3-venv dovecot-imapd)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# python3-venv is only needed when the interpreter has no working venv module.
if "$PYTHON" -c "import venv, ensurepip" 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=(${missing[@]+"${missing[@]}"})
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo ">> Installo i pacchetti di sistema mancanti: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "!! Mancano pacchetti di sistema: ${missing[*]}"
    echo "!! Installali con: sudo apt-get install -y ${missing[*]}"
  fi
fi

# Virtualenv and Python packages: runtime (requirements.txt) and development/test tools
# (requirements-dev.txt, which includes the first); reinstalled only when either file changes.
if [ ! -x .venv/bin/python ]; then
  echo ">> Creo il virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo ">> Installo i pacchetti Python"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# Database schema (only migrations create it) and reference data.
mkdir -p instance
.venv/bin/flask --app app db upgrade >/dev/null
.venv/bin/flask --app app seed >/dev/null
echo ">> Set-up completato"
