#!/usr/bin/env bash
# Cold restart with many allocations in the store: time until the restarted server
# schedules again. Usage: bench/cold-restart.sh [nodes] [jobs] [tasks]  (default 5000 1000 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/cold-restart.ts "$@"
