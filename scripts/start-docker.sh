#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's engine (docker.io) and
# start dockerd as root when none runs. For CI and for machines like the
# project's build machines, where no Docker Desktop or system service runs.
# With Docker Desktop, or a docker service already running, this does nothing.
#
# Usage: scripts/start-docker.sh     (logs to $INFLUX_LABS_CACHE/dockerd.log)
set -euo pipefail

CACHE=${INFLUX_LABS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/influx-labs}
log() { printf '[start-docker] %s\n' "$*" >&2; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root to run: $*"; exit 1; fi
}

if docker info >/dev/null 2>&1; then
  exit 0
fi
# The engine, Compose v1 (a second Compose implementation the tests validate
# the file with) and debootstrap (the base image where no registry answers).
missing=()
for pkg in docker.io docker-compose debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || { log "install a Docker engine first"; exit 1; }
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
mkdir -p "$CACHE"
answers_within() {  # $1 seconds
  for _ in $(seq "$1"); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
# Two tries: a dockerd whose own containerd never came up (seen once after an engine
# had been stopped uncleanly) is stopped, with that containerd, before the second.
for attempt in 1 2; do
  log "starting dockerd (log: $CACHE/dockerd.log)"
  as_root sh -c "nohup dockerd >'$CACHE/dockerd.log' 2>&1 &"
  if answers_within 60; then
    log "the engine answers: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  log "dockerd did not answer within 60 s (try $attempt); the end of its log:"
  tail -n 20 "$CACHE/dockerd.log" >&2
  for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    [ -f "$pidfile" ] && as_root kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 3
done
exit 1
