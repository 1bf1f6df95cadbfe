#!/usr/bin/env bash
# The whole test suite: `bin/roomservice test` and .ci/run both end up here.
set -euo pipefail
ROOMSERVICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOMSERVICE_ROOT
source "$ROOMSERVICE_ROOT/scripts/ensure-node.sh"
source "$ROOMSERVICE_ROOT/scripts/ensure-deps.sh"
source "$ROOMSERVICE_ROOT/scripts/ensure-system.sh"
cd "$ROOMSERVICE_ROOT"
echo "== typecheck"
npx tsc -p tsconfig.json
# Studio is TSX for the browser: its own tsconfig (the root one covers the Node .ts only).
npx tsc -p packages/studio/tsconfig.json
echo "== build Studio"
source "$ROOMSERVICE_ROOT/scripts/ensure-studio.sh"
echo "== tests"
shopt -s nullglob globstar
files=(packages/*/test/**/*.test.ts)
# --test-force-exit: a handle leaked by a test file must not hang the whole run (the tests
# that care about leaks check containers, namespaces and files explicitly); `timeout` is the
# last guard so CI fails in minutes, not at its 90-minute limit.
exec timeout --signal=TERM --kill-after=30s 40m \
  node --test --test-force-exit --test-concurrency="${ROOMSERVICE_TEST_CONCURRENCY:-2}" --test-timeout=300000 "${files[@]}"
