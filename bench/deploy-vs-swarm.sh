#!/usr/bin/env bash
# Submit → all running for N replicas: engine ceiling vs Docker Swarm vs Karu, same engine.
# Usage: bench/deploy-vs-swarm.sh [N ...]   (default 10 50 100)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/deploy-vs-swarm.ts "$@"
