#!/usr/bin/env bash
# Sets up everything Karu needs on a Debian 12 + Node 20 machine, as root:
#   1. Debian packages: docker.io, busybox-static, curl, iproute2 (and a C++ toolchain
#      for better-sqlite3, which builds from source because its prebuilt download is
#      unreachable from these machines)
#   2. node_modules, from package-lock.json (`npm ci`)
#   3. a running Docker Engine (dockerd in the background: these machines have no systemd)
#   4. the local images karu/busybox:1 and karu/hello:1 (scripts/images.sh: no registry)
#
# Idempotent: a step whose result is already there is skipped, so a second run takes a
# second or two. Output is one line per step; the chatter of apt and npm goes to
# $KARU_SETUP_LOG (default /tmp/karu-setup.log) and its tail is shown if a step fails.
#
# Environment: DOCKER (Docker CLI, default /usr/bin/docker: a newer client-only docker may
# shadow it in /usr/local/bin), KARU_SETUP_LOG, KARU_DOCKERD_LOG (default
# /var/log/karu-dockerd.log), KARU_DOCKER_WAIT (seconds to wait for dockerd, default 30).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=${DOCKER:-/usr/bin/docker}
LOG=${KARU_SETUP_LOG:-/tmp/karu-setup.log}
DOCKERD_LOG=${KARU_DOCKERD_LOG:-/var/log/karu-dockerd.log}
DOCKER_WAIT=${KARU_DOCKER_WAIT:-30}
DOCKER_SOCK=/var/run/docker.sock
DOCKER_PIDFILE=/var/run/docker.pid
STAMP=$ROOT/node_modules/.karu-setup-stamp

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_MODE=a # needrestart (a docker.io recommend) must never ask

step() { printf 'setup: %-22s %s\n' "$1" "$2"; }

# die MESSAGE [WHAT-TO-DO]: the one way this script fails, always saying what to do.
die() {
  printf '\nsetup: FAILED: %s\n' "$1" >&2
  [[ -n ${2:-} ]] && printf 'setup: what to do: %s\n' "$2" >&2
  exit 1
}

# quietly DESCRIPTION HINT CMD...: runs CMD with its output in $LOG; on failure shows the
# end of that output and dies with HINT.
quietly() {
  local what=$1 hint=$2
  shift 2
  printf '\n### %s: %s\n' "$what" "$*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1 </dev/null; then
    echo "setup: --- last lines of $LOG ---" >&2
    tail -n 30 "$LOG" >&2
    die "$what failed" "$hint"
  fi
}

# One set-up at a time (say the quick start and the tests in two terminals): two would
# race to start dockerd or to rewrite node_modules.
exec 9>/tmp/karu-setup.lock
if ! flock -n 9; then
  step "waiting" "another scripts/setup.sh is running …"
  flock -w 900 9 || die "another scripts/setup.sh held its lock for 15 minutes" "wait for it to finish, or end it"
fi

: >"$LOG" 2>/dev/null || LOG=$(mktemp /tmp/karu-setup.XXXXXX.log)
cd "$ROOT"

# --- 0. Node ------------------------------------------------------------------------
command -v node >/dev/null || die "node is not installed" "install Node.js 20 (>= 20.12), then run this again"
node_version=$(node -p 'process.versions.node')
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=12)?0:1)' ||
  die "Node.js $node_version is too old" "install Node.js 20.12 or newer, then run this again"
command -v npm >/dev/null || die "npm is not installed" "install npm (it comes with Node.js), then run this again"

# --- 1. Debian packages ---------------------------------------------------------------
pkg_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

missing=()
# A client-only docker (e.g. docker-ce-cli) is not enough: we need the engine and its init.
[[ -x /usr/bin/docker && -x $(command -v dockerd || echo /nonexistent) && -x /usr/bin/docker-init ]] || missing+=(docker.io)
# images.sh copies /bin/busybox into a scratch image, so it must be the static build.
pkg_installed busybox-static || missing+=(busybox-static)
command -v curl >/dev/null || missing+=(curl)
command -v ip >/dev/null || missing+=(iproute2)
# better-sqlite3 is compiled by node-gyp during `npm ci`.
command -v python3 >/dev/null || missing+=(python3)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)

if ((${#missing[@]} == 0)); then
  step "packages" "ok (docker.io busybox-static curl iproute2 already installed)"
else
  ((EUID == 0)) || die "missing packages: ${missing[*]}" "run as root, or: sudo apt-get install -y ${missing[*]}"
  step "packages" "installing ${missing[*]} …"
  quietly "apt-get update" "check that Debian's apt repositories are reachable" apt-get update
  quietly "apt-get install" "run 'apt-get install -y ${missing[*]}' by hand to see why" \
    apt-get install -y "${missing[@]}"
  step "packages" "installed ${missing[*]}"
fi

# --- 2. node_modules ---------------------------------------------------------------
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)

# True when every package the lockfile names is in node_modules at its locked version
# and better-sqlite3's native addon is built: a tree installed by hand (no stamp yet)
# is then adopted instead of being wiped and rebuilt.
modules_match_lock() {
  [[ -f node_modules/better-sqlite3/build/Release/better_sqlite3.node ]] || return 1
  node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    for (const [path, meta] of Object.entries(lock.packages ?? {})) {
      if (!path.startsWith("node_modules/") || meta.optional || meta.link) continue;
      let version = null;
      try { version = JSON.parse(fs.readFileSync(path + "/package.json", "utf8")).version; } catch {}
      if (version !== meta.version) process.exit(1);
    }'
}

if [[ -f $STAMP && $(cat "$STAMP") == "$lock_hash" ]]; then
  step "node_modules" "ok (matches package-lock.json)"
elif [[ -d node_modules ]] && modules_match_lock; then
  echo "$lock_hash" >"$STAMP"
  step "node_modules" "ok (matches package-lock.json; stamp written)"
else
  step "node_modules" "npm ci … (better-sqlite3 builds from source: about a minute)"
  quietly "npm ci" "check that registry.npmjs.org is reachable and python3/make/g++ work; see $LOG" \
    npm ci --no-audit --no-fund
  modules_match_lock || die "node_modules still does not match package-lock.json after npm ci" "see $LOG"
  echo "$lock_hash" >"$STAMP"
  step "node_modules" "installed"
fi

# The one-file bundle bin/karu.js prefers (less memory, faster start); 1 s.
quietly "npm run build" "see $LOG" npm run build
step "bundle" "dist/karu.mjs built"

# --- 3. Docker Engine ---------------------------------------------------------------
docker_answers() { timeout 10 "$DOCKER" info >/dev/null 2>&1; }

# Waits up to $DOCKER_WAIT s for the engine; fails early if the dockerd with pid $1 dies.
wait_for_docker() {
  local pid=$1 i
  for ((i = 0; i < DOCKER_WAIT * 2; i++)); do
    docker_answers && return 0
    [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
    sleep 0.5
  done
  return 1
}

is_dockerd() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == dockerd ]]; }

if docker_answers; then
  step "docker" "ok (engine answers at $DOCKER_SOCK)"
else
  ((EUID == 0)) || die "the Docker Engine does not answer at $DOCKER_SOCK" "run this script as root so it can start dockerd"
  old_pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)
  if [[ $old_pid =~ ^[0-9]+$ ]] && is_dockerd "$old_pid"; then
    # A dockerd is there but not answering yet: most likely still starting.
    step "docker" "dockerd (pid $old_pid) is running but not answering; waiting up to ${DOCKER_WAIT}s …"
    wait_for_docker "$old_pid" ||
      die "dockerd (pid $old_pid) does not answer at $DOCKER_SOCK" \
        "look at its log (e.g. $DOCKERD_LOG), then 'kill $old_pid' and run this script again"
  else
    # A pid file or socket left by a dockerd that is gone would stop a new one or fool us.
    [[ -e $DOCKER_PIDFILE ]] && rm -f "$DOCKER_PIDFILE"
    [[ -S $DOCKER_SOCK ]] && rm -f "$DOCKER_SOCK"
    step "docker" "starting dockerd (log: $DOCKERD_LOG) …"
    # The daemon outlives this script, so it gets its own session and none of our file
    # descriptors: a CI log reader waiting for EOF on an inherited pipe would hang forever.
    (
      for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        ((fd > 2)) && eval "exec $fd>&-"
      done
      exec setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1
    ) &
    new_pid=$! # setsid execs in place (we have no job control), so this is dockerd's pid
    disown "$new_pid" 2>/dev/null || true
    if ! wait_for_docker "$new_pid"; then
      echo "setup: --- last lines of $DOCKERD_LOG ---" >&2
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not answer within ${DOCKER_WAIT}s" "read $DOCKERD_LOG; fix what it reports, then run this script again"
    fi
  fi
  step "docker" "ok (dockerd $("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null || echo '?') running)"
fi

# --- 4. Images --------------------------------------------------------------------
quietly "images.sh" "run 'bash scripts/images.sh --force' by hand to see why" \
  env DOCKER="$DOCKER" bash "$ROOT/scripts/images.sh"
step "images" "ok (karu/busybox:1, karu/hello:1)"

step "done" "Karu is ready (node $node_version)"
