#!/usr/bin/env bash
# Failover in the multi-host lab (test/lab): 3 hosts, 12 replicas, kill the host running 4:
# time to detect, time until all 12 run again, duplicates after it returns; Karu vs Swarm.
# Needs root (network namespaces, a dockerd per host). Usage: bench/failover.sh [--no-swarm] [--repeat N]
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/failover.ts "$@"
