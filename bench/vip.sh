#!/usr/bin/env bash
# Service-to-service through the VIP proxy (the agent's VipProxy) vs direct: wrk throughput
# and p50/p99, with kept-alive connections and with a new connection per request; loopback.
# Usage: bench/vip.sh   (env: BENCH_DURATION=10 BENCH_CONNECTIONS=50 BENCH_REPEATS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "vip.sh: installing wrk" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }
fi
exec node --import tsx bench/vip.ts "$@"
