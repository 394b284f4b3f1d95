#!/usr/bin/env bash
# RSS of `karu dev` idle with 0 and with N (default 100) allocations.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/footprint.ts "$@"
