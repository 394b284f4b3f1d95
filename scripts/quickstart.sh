#!/usr/bin/env bash
# Sets the machine up (scripts/setup.sh) and brings up a single-node Karu cluster running
# examples/hello.yaml: `karu dev` runs the server and an agent in one process, deploys the
# file and prints where the app answers. Stopping it stops the app's containers too
# (`--stop-on-exit`): a quick start leaves nothing running behind it.
#
#   bash scripts/quickstart.sh               foreground: logs on the terminal, Ctrl-C stops
#   bash scripts/quickstart.sh --background  in the background (pid and log under the data
#                                            dir); prints the addresses, then returns
#   bash scripts/quickstart.sh stop          stops the background one
#   bash scripts/quickstart.sh status        says whether the background one runs
#
# Environment: KARU_DATA_DIR (default .karu), KARU_JOB (default examples/hello.yaml),
# KARU_LISTEN (the API's host:port, default 127.0.0.1:4646, where the CLI looks for it),
# KARU_START_WAIT (seconds --background waits for the app, default 120).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DATA_DIR=${KARU_DATA_DIR:-.karu}
JOB=${KARU_JOB:-examples/hello.yaml}
START_WAIT=${KARU_START_WAIT:-120}
PIDFILE=$DATA_DIR/dev.pid
DEVLOG=$DATA_DIR/dev.log
KARU=(node "$ROOT/bin/karu.js")
DEV_ARGS=(dev --data-dir "$DATA_DIR" --deploy "$JOB" --stop-on-exit)
[[ -z ${KARU_LISTEN:-} ]] || DEV_ARGS+=(--listen "$KARU_LISTEN")

say() { echo "quickstart: $*"; }
die() {
  printf 'quickstart: FAILED: %s\n' "$1" >&2
  [[ -n ${2:-} ]] && printf 'quickstart: what to do: %s\n' "$2" >&2
  exit 1
}

# Prints the pid of the background `karu dev` if it is alive, else nothing.
running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  # A reused pid belongs to some other program: only ours has karu.js on its command line.
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'karu\.js'; then
    echo "$pid"
  fi
}

# The lines of the background log that carry an address, in the CLI's own words.
addresses() { grep -E 'https?://' "$DEVLOG" 2>/dev/null || true; }

preflight() {
  [[ -f bin/karu.js ]] || die "bin/karu.js is missing" "check out a complete copy of the repository"
  [[ -f $JOB ]] || die "job file $JOB is missing" "set KARU_JOB to a job file, or restore examples/hello.yaml"
  local pid
  pid=$(running_pid)
  [[ -z $pid ]] || die "a background karu dev already runs (pid $pid)" \
    "use it (addresses: bash scripts/quickstart.sh status), or stop it: bash scripts/quickstart.sh stop"
}

start_foreground() {
  bash "$ROOT/scripts/setup.sh"
  preflight
  mkdir -p "$DATA_DIR"
  say "starting karu dev with $JOB (data in $DATA_DIR/); Ctrl-C stops it and the app"
  exec "${KARU[@]}" "${DEV_ARGS[@]}"
}

start_background() {
  bash "$ROOT/scripts/setup.sh"
  preflight
  mkdir -p "$DATA_DIR"
  : >"$DEVLOG"
  # Own session and no inherited descriptors but the log, so it outlives this shell and
  # holds no caller's pipe open.
  setsid "${KARU[@]}" "${DEV_ARGS[@]}" </dev/null >>"$DEVLOG" 2>&1 &
  local pid=$! i
  echo "$pid" >"$PIDFILE"
  say "started karu dev in the background (pid $pid, log $DEVLOG); waiting for $JOB to answer …"
  # karu dev prints its own URL, deploys (watching the rollout), prints the app's
  # addresses, then a line starting "Ready.".
  for ((i = 0; i < START_WAIT * 2; i++)); do
    grep -q '^Ready\.' "$DEVLOG" && break
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      echo "quickstart: --- last lines of $DEVLOG ---" >&2
      tail -n 30 "$DEVLOG" >&2 || true
      die "karu dev exited during start-up" "read $DEVLOG, fix what it reports, and run this again"
    fi
    sleep 0.5
  done
  if ! grep -q '^Ready\.' "$DEVLOG"; then
    addresses
    die "karu dev was not ready within ${START_WAIT}s (it still runs, pid $pid)" \
      "read $DEVLOG; stop it with: bash scripts/quickstart.sh stop"
  fi
  addresses
  say "running in the background; logs: tail -f $DEVLOG; stop: bash scripts/quickstart.sh stop"
}

stop_background() {
  local pid i
  pid=$(running_pid)
  if [[ -z $pid ]]; then
    rm -f "$PIDFILE"
    say "no background karu dev is running"
    return 0
  fi
  kill -TERM "$pid"
  # karu dev stops the app's containers on the way out (--stop-on-exit): allow it a minute.
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    say "karu dev (pid $pid) did not stop within 75 s and was killed; its containers may still run (docker ps)"
  else
    say "stopped karu dev (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

status_background() {
  local pid
  pid=$(running_pid)
  if [[ -z $pid ]]; then
    say "no background karu dev is running"
    return 3
  fi
  say "karu dev runs in the background (pid $pid, log $DEVLOG)"
  addresses
}

case "${1:-}" in
  '') start_foreground ;;
  --background | -b | start) start_background ;;
  stop) stop_background ;;
  status) status_background ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown argument '$1'" "use no argument, --background, stop, status or --help" ;;
esac
