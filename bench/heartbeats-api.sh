#!/usr/bin/env bash
# What one heartbeat costs the server (fast path vs the general Hono route), no simulator:
# N nodes registered, their beats sent at a fixed rate from this process over keep-alive.
# Usage: bench/heartbeats-api.sh [nodes] [beats/s] [seconds per round] [rounds] (default 2000 2000 10 2)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/heartbeats-api.ts "$@"
