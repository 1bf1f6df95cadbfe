#!/usr/bin/env bash
# One command for the benchmarks: bash bench/run.sh [--quick] [--only name] [--profile]
# Puts Node 24 on PATH (scripts/ensure-node.sh), the npm dependencies in place
# (scripts/ensure-deps.sh), Studio built (scripts/ensure-studio.sh) and runs bench/run.ts;
# installs nothing else.
set -euo pipefail
ROOMSERVICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOMSERVICE_ROOT
source "$ROOMSERVICE_ROOT/scripts/ensure-node.sh"
source "$ROOMSERVICE_ROOT/scripts/ensure-deps.sh"
# The studio figure loads the built app.
source "$ROOMSERVICE_ROOT/scripts/ensure-studio.sh"
cd "$ROOMSERVICE_ROOT"
exec node bench/run.ts "$@"
