#!/usr/bin/env bash
# HTTP through Karu's ingress vs nginx vs direct, and service-to-service through the VIP
# proxy vs direct: wrk throughput and p50/p99 latency, loopback only, one run.
# Karu's ingress runs as the agent runs it by default (worker processes, one per core up
# to 4) and in one process; nginx with worker_processes auto and with 1.
# Usage: bench/ingress.sh   (env: BENCH_DURATION=10 BENCH_CONNECTIONS=50 BENCH_REPEATS=3
#        BENCH_BACKEND=container|node INGRESS_WORKERS=cores NGINX_WORKERS=auto)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
if ((${#need[@]})); then
  echo "ingress.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null; }
fi
exec node --import tsx bench/ingress.ts "$@"
