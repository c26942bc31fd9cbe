#!/bin/sh
# Give Grafana its own READ-ONLY token, so the dashboards never run with the
# admin token from .env.
#
# The influxdb image runs every executable *.sh in /docker-entrypoint-initdb.d
# once, right after `influx setup` on a fresh data volume. At that point the
# entrypoint has exported INFLUX_HOST (a temporary port) and the CLI config
# written by setup holds the admin token, so plain `influx` commands work.
#
# Safe to run again by hand (e.g. after removing only the token volume):
#     docker compose exec influxdb /docker-entrypoint-initdb.d/10-grafana-reader.sh
# A token file that still works against this database is kept as it is.
set -eu

: "${DOCKER_INFLUXDB_INIT_ORG:?DOCKER_INFLUXDB_INIT_ORG must be set}"

# GRAFANA_TOKEN_DIR lets the project's tests run this script against a local server.
token_dir="${GRAFANA_TOKEN_DIR:-/var/lib/influxdb2-shared}"
token_file="$token_dir/grafana-token"

# Prefer the admin token from the environment when there is one; otherwise
# the active CLI config supplies it.
if [ -n "${DOCKER_INFLUXDB_INIT_ADMIN_TOKEN:-}" ]; then
    INFLUX_TOKEN="$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"
    export INFLUX_TOKEN
fi
INFLUX_ORG="$DOCKER_INFLUXDB_INIT_ORG"
export INFLUX_ORG

# A file left over from an earlier database (the data volume was removed but
# not this one) holds a token that no longer exists: only keep a working one.
if [ -s "$token_file" ] &&
    influx bucket list "--token=$(cat "$token_file")" --hide-headers >/dev/null 2>&1; then
    echo "grafana-reader: existing token in $token_file still works, keeping it"
    exit 0
fi

# InfluxDB 2.9 stores tokens hashed: the plaintext is only returned here, at
# creation, so it has to be captured now. No jq in the image, hence sed.
created="$(influx auth create \
    "--org=$DOCKER_INFLUXDB_INIT_ORG" \
    --read-buckets \
    --description grafana-reader \
    --json)"
token="$(printf '%s\n' "$created" |
    sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)"

if [ -z "$token" ]; then
    echo "grafana-reader: could not read a token from 'influx auth create' output" >&2
    exit 1
fi

# Write to a temporary file and rename it, so Grafana never sees half a token.
# World-readable on purpose: Grafana runs as another uid, and the volume is
# mounted only in this container and (read-only) in Grafana's.
mkdir -p "$token_dir"
tmp="$token_file.tmp.$$"
( umask 022 && printf '%s\n' "$token" >"$tmp" )
mv -f "$tmp" "$token_file"
echo "grafana-reader: wrote a read-only token to $token_file"
