#!/usr/bin/env bash
# Scheduler at scale: a plain-HTTP `karu server` and `karu sim` as separate processes,
# then J jobs × T tasks. Usage: bench/sched-scale.sh [nodes] [jobs] [tasks]  (default 1000 10 1000; C1M: 5000 100,1000 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/sched-scale.ts "$@"
