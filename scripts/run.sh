#!/usr/bin/env bash
# `make run`: demo data on the first run, then a private Redis (unless REDIS_URL answers), the SMTP
# capture server, one RQ worker and the web app under gunicorn. Ctrl-C (or SIGTERM) stops everything
# this script started, and nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
FLASK=(.venv/bin/flask --app app)
RUNDIR="$(mktemp -d "${TMPDIR:-/tmp}/recapito-run.XXXXXX")"
PIDS=()
NAMES=()
STOPPING=0

say() { printf '>> %s\n' "$*"; }

stop_one() {
  # stop_one PID SECONDS: TERM, wait up to SECONDS, then KILL (its whole process group: gunicorn's workers too).
  local pid="$1" tries=$(($2 * 10))
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$tries"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  # One child at a time, in order: web, scheduler, worker, capture server, Redis last (the others say
  # goodbye to it). The children run in their own process groups, so a Ctrl-C reaches only this script.
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  trap '' INT TERM
  local name i
  for name in web scheduler worker capture redis; do
    for i in "${!PIDS[@]}"; do
      [ "${NAMES[$i]}" = "$name" ] || continue
      say "Fermo $name"
      stop_one "${PIDS[$i]}" 10
    done
  done
  rm -rf "$RUNDIR"
  say "Fermato tutto."
}
trap stop_all EXIT
trap 'exit 0' INT
trap 'exit 143' TERM

start() {
  # start NAME COMMAND...: run in the background in its own process group (job control on just for the
  # fork: a terminal's Ctrl-C then reaches this script only, which stops the children in order), remember the pid
  local name="$1"; shift
  set -m
  "$@" </dev/null &
  PIDS+=("$!")
  set +m
  NAMES+=("$name")
}

port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {
  # wait_port NAME HOST PORT SECONDS PID
  local deadline=$((SECONDS + $4))
  until (exec 3<>"/dev/tcp/$2/$3") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then say "ERRORE: $1 non risponde su $2:$3"; exit 1; fi
    if ! kill -0 "$5" 2>/dev/null; then say "ERRORE: $1 si è fermato all'avvio"; exit 1; fi
    sleep 0.2
  done
}

if ! port_free "$HOST" "$PORT"; then
  say "ERRORE: la porta $HOST:$PORT è occupata (imposta PORT=... per usarne un'altra)."; exit 1
fi

# 1. Demo data, only when the database has no parties yet.
"${FLASK[@]}" demo-data --if-empty || exit 1

# 2. Redis: the one in REDIS_URL if it answers, otherwise a private one that keeps nothing on disk.
if [ -n "${REDIS_URL:-}" ] && .venv/bin/python -c 'import os, redis; redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=1).ping()' 2>/dev/null; then
  say "Uso Redis di REDIS_URL ($REDIS_URL)"
else
  command -v redis-server >/dev/null || { say "ERRORE: redis-server manca (sudo apt-get install -y redis-server)"; exit 1; }
  REDIS_PORT="$(free_port)"
  start redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$RUNDIR" --daemonize no --loglevel warning
  wait_port redis 127.0.0.1 "$REDIS_PORT" 30 "${PIDS[-1]}"
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  say "Redis privato su 127.0.0.1:$REDIS_PORT"
fi

# 3. The SMTP capture server (the demo accounts send here); 4 and 5 start alongside it.
CAPTURE_PID=""
CAPTURE_HOST="${CAPTURE_SMTP_HOST:-127.0.0.1}"
CAPTURE_PORT="${CAPTURE_SMTP_PORT:-2525}"
if port_free "$CAPTURE_HOST" "$CAPTURE_PORT"; then
  start capture "${FLASK[@]}" capture-server
  CAPTURE_PID="${PIDS[-1]}"
else
  say "ATTENZIONE: $CAPTURE_HOST:$CAPTURE_PORT è già occupata: non avvio il server di cattura (ne gira già uno?)"
fi

# 4. One RQ worker (more can run on other hosts: flask --app app worker), and the scheduler of
#    recurring jobs (watchdog, scheduled preparations, spool folder, PEC/bounce mailboxes): one per installation.
start worker "${FLASK[@]}" worker
start scheduler "${FLASK[@]}" scheduler

# 5. The web app.
start web .venv/bin/gunicorn --bind "$HOST:$PORT" --workers "${WEB_WORKERS:-2}" --threads 4 \
  --graceful-timeout 5 --keep-alive 15 --access-logfile - app:app
wait_port gunicorn "$HOST" "$PORT" 90 "${PIDS[-1]}"
[ -n "${CAPTURE_PID:-}" ] && wait_port "server di cattura" "$CAPTURE_HOST" "$CAPTURE_PORT" 90 "$CAPTURE_PID"

for _ in $(seq 1 50); do
  code=$(.venv/bin/python -c "import urllib.request,sys
try: print(urllib.request.urlopen('http://$HOST:$PORT/healthz', timeout=2).status)
except Exception as e: print(getattr(e, 'code', 0))")
  [ "$code" = 200 ] && break
  sleep 0.2
done

cat <<EOF

  Recapito è in funzione: http://$HOST:$PORT   (salute: http://$HOST:$PORT/healthz → $code)
  Accessi dimostrativi (password «${DEMO_PASSWORD:-demo}»):
    admin        amministratore: utenti, account, posta catturata
    manager      approva gli invii
    operatore    prepara gli invii, cura i contatti
    commerciale  campagne e documenti generici
  Posta catturata: server SMTP $CAPTURE_HOST:$CAPTURE_PORT → http://$HOST:$PORT/admin/captured
  Ctrl-C per fermare tutto.

EOF

# Wait until Ctrl-C, or until one of the children stops by itself (then stop the others).
while true; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      say "ERRORE: ${NAMES[$i]} si è fermato: arresto il resto."
      exit 1
    fi
  done
  sleep 1 &
  wait $! 2>/dev/null || true
done
