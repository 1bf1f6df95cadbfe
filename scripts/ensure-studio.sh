#!/usr/bin/env bash
# Source after ensure-deps.sh: builds Studio (packages/studio/dist) when it is missing or any
# of its sources is newer than the last build, so `serve` and the tests always serve the
# current app. (sourced: no `set -e` here, it would leak into the caller's shell)
ROOMSERVICE_ROOT="${ROOMSERVICE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
_rs_studio="$ROOMSERVICE_ROOT/packages/studio"
_rs_built="$_rs_studio/dist/index.html"
if [ ! -f "$_rs_built" ] || [ -n "$(find "$_rs_studio/src" "$_rs_studio/index.html" "$_rs_studio/vite.config.ts" "$_rs_studio/package.json" "$ROOMSERVICE_ROOT/package-lock.json" -newer "$_rs_built" -print -quit 2>/dev/null)" ]; then
  echo "roomservice: building Studio..." >&2
  if ! (cd "$_rs_studio" && npx vite build --logLevel warn >&2); then
    echo "roomservice: building Studio failed (packages/studio)" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
