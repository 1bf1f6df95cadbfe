#!/usr/bin/env bash
# Source after ensure-node.sh: installs npm dependencies when package-lock.json is newer
# than the last install (or nothing is installed yet).
# (sourced: no `set -e` here, it would leak into the caller's shell)
ROOMSERVICE_ROOT="${ROOMSERVICE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
_rs_stamp="$ROOMSERVICE_ROOT/node_modules/.roomservice-installed"
if [ ! -f "$_rs_stamp" ] || [ "$ROOMSERVICE_ROOT/package-lock.json" -nt "$_rs_stamp" ]; then
  echo "roomservice: installing npm dependencies..." >&2
  if (cd "$ROOMSERVICE_ROOT" && npm ci --silent --no-audit --no-fund >&2); then
    touch "$_rs_stamp"
  else
    echo "roomservice: npm ci failed" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
