#!/usr/bin/env bash
# Heartbeats at scale: `karu server --no-tls` + `karu sim --nodes N` for a duration, then
# false down/disconnected marks, server CPU and RSS. Usage: bench/heartbeats.sh [nodes] [duration]
# (default 5000 10m; a short check: bench/heartbeats.sh 1000 60s)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/heartbeats.ts "$@"
