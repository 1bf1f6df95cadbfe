#!/usr/bin/env bash
# Source this file: it puts a Node.js >= 24 on PATH.
# Why: the machines ship Node 20 (end of life). When the system's node is older than 24 we
# install the npm registry's `node` package (which carries the official binary) into
# .tools/node24 inside the repo, once, and use that.
# (sourced: no `set -e` here, it would leak into the caller's shell)
ROOMSERVICE_ROOT="${ROOMSERVICE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
_rs_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
_rs_local="$ROOMSERVICE_ROOT/.tools/node24/node_modules/node/bin"
if [ -x "$_rs_local/node" ]; then
  export PATH="$_rs_local:$PATH"
elif command -v node >/dev/null && [ "$(_rs_node_major node)" -ge 24 ]; then
  :
else
  if ! command -v npm >/dev/null; then
    echo "roomservice: need npm (any version) to fetch Node.js 24; install nodejs/npm first" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "roomservice: installing Node.js 24 from the npm registry into .tools/node24 (one time)..." >&2
  mkdir -p "$ROOMSERVICE_ROOT/.tools/node24"
  npm install --silent --no-save --no-package-lock --prefix "$ROOMSERVICE_ROOT/.tools/node24" node@24 >&2
  if [ ! -x "$_rs_local/node" ] || [ "$(_rs_node_major "$_rs_local/node")" -lt 24 ]; then
    echo "roomservice: failed to install Node.js 24 into $_rs_local" >&2
    return 1 2>/dev/null || exit 1
  fi
  export PATH="$_rs_local:$PATH"
fi
