#!/usr/bin/env bash
# Placement quality: % of cluster capacity allocated with sampling vs a full scan, and placements/s.
# Usage: bench/placement-quality.sh [nodes] [seeds]   (default 200 5)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx bench/placement-quality.ts "$@"
