#!/usr/bin/env bash
# Source this: makes sure the system tools the tests use are present and running —
# Docker Engine (Debian's docker.io, dockerd started in the background), gcc (the envexec
# launcher), docker-compose (a benchmark baseline), bubblewrap and iproute2 for the sandbox
# runtime, podman and catatonit (Pods of the kubernetes runtime), Chromium for browser tests,
# tmux, espeak-ng and sox, PostgreSQL's server binaries for the store tests.
# Installs only when running as root with apt-get; otherwise it says what is missing.
# (sourced: no `set -e` here, it would leak into the caller's shell)
_rs_missing=()
command -v dockerd >/dev/null || _rs_missing+=(docker.io)
command -v bwrap >/dev/null || _rs_missing+=(bubblewrap)
command -v ip >/dev/null || _rs_missing+=(iproute2)
command -v nsenter >/dev/null || _rs_missing+=(util-linux)
# The Docker runtime compiles its static envexec launcher (session values and secret env,
# held containers); the room-start benchmark compares against `docker-compose up`.
command -v cc >/dev/null || _rs_missing+=(gcc libc6-dev)
command -v docker-compose >/dev/null || _rs_missing+=(docker-compose)
# Browser tests (Studio, the React chat client) drive Debian's Chromium with playwright-core;
# the CLI's live commands are tried in tmux; the voice example uses espeak-ng and sox.
command -v chromium >/dev/null || _rs_missing+=(chromium)
command -v tmux >/dev/null || _rs_missing+=(tmux)
command -v espeak-ng >/dev/null || _rs_missing+=(espeak-ng)
command -v sox >/dev/null || _rs_missing+=(sox)
# The voice example: debootstrap builds its Debian base image; PocketSphinx judges its audio.
command -v debootstrap >/dev/null || _rs_missing+=(debootstrap)
command -v pocketsphinx_continuous >/dev/null || _rs_missing+=(pocketsphinx)
[ -d /usr/share/pocketsphinx/model/en-us ] || _rs_missing+=(pocketsphinx-en-us)
# The control-plane store's PostgreSQL tests start their own throwaway server from Debian's
# binaries (/usr/lib/postgresql/<version>/bin; packages/server/test/pg-server.ts).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || _rs_missing+=(postgresql)
command -v setpriv >/dev/null || _rs_missing+=(util-linux)
# The kubernetes runtime's Pod manifests run on podman (`podman kube play`) in the runtime
# conformance suite; its Pod infra container is built from catatonit (no registry needed).
command -v podman >/dev/null || _rs_missing+=(podman)
command -v catatonit >/dev/null || _rs_missing+=(catatonit)
if [ ${#_rs_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "roomservice: installing ${_rs_missing[*]} (apt-get)..." >&2
    apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${_rs_missing[@]}" >&2
  else
    echo "roomservice: missing ${_rs_missing[*]}; install them (e.g. sudo apt-get install ${_rs_missing[*]})" >&2
  fi
fi
if command -v docker >/dev/null && ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v dockerd >/dev/null; then
    echo "roomservice: starting dockerd..." >&2
    mkdir -p /var/log
    (setsid dockerd >/var/log/roomservice-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "roomservice: dockerd did not start; see /var/log/roomservice-dockerd.log" >&2; tail -20 /var/log/roomservice-dockerd.log >&2 || true; }
  fi
fi
