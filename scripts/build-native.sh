#!/usr/bin/env bash
# Build influxd, the influx CLI, Toxiproxy and Telegraf from their Go module sources.
#
# Why a script: InfluxDB 2.x publishes no Go-installable binary (its go.mod has
# `replace` directives, so `go install ...@version` refuses), and its Flux
# engine is a Rust library (libflux) built through a pkg-config wrapper. The
# binaries land in a cache keyed by version, outside the repository, so a
# second run returns at once.
#
# Usage: scripts/build-native.sh            # build what is missing, print the bin dir
#        scripts/build-native.sh toxiproxy  # only the parts named (influxd influx toxiproxy telegraf)
# Env:   INFLUXD_VERSION (2.9.1), INFLUX_CLI_VERSION (see below), TOXIPROXY_VERSION, TELEGRAF_VERSION,
#        INFLUX_LABS_CACHE (default ~/.cache/influx-labs)
set -euo pipefail

INFLUXD_VERSION=${INFLUXD_VERSION:-2.9.1}
# The influx-cli commit that influxdb v2.9.1's own go.mod pins (it embeds parts of
# the CLI). Building that exact commit keeps server and CLI in step, and works
# where a Go proxy serves the module by hash but not its release list.
INFLUX_CLI_VERSION=${INFLUX_CLI_VERSION:-v2.7.1-0.20250130214939-76d1c4d9b777}
# The grader's TCP fault injector (resets, timeouts, latency between a client and influxd).
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-2.5.0}
# The peer the iot_pipeline bridge is benchmarked against (benchmarks/bench_bridge.py).
TELEGRAF_VERSION=${TELEGRAF_VERSION:-1.37.2}
CACHE=${INFLUX_LABS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/influx-labs}
BIN="$CACHE/bin"
INFLUXD="$BIN/influxd-$INFLUXD_VERSION"
INFLUX="$BIN/influx-${INFLUX_CLI_VERSION#v}"
TOXIPROXY="$BIN/toxiproxy-server-$TOXIPROXY_VERSION"
TOXIPROXY_CLI="$BIN/toxiproxy-cli-$TOXIPROXY_VERSION"
TELEGRAF="$BIN/telegraf-$TELEGRAF_VERSION"

# Use the Go that is installed; never let go.mod's toolchain line download another.
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# shellcheck source=scripts/go-module.sh
. "$(dirname "$0")/go-module.sh"
log() { printf '[build-native] %s\n' "$*" >&2; }
need() {
  command -v "$1" >/dev/null 2>&1 || { log "missing '$1': $2"; exit 3; }
}

mkdir -p "$BIN"

build_influxd() {
  need go "install Go >= 1.25 (https://go.dev/doc/install)"
  local ldflags says
  ldflags=$(influxd_ldflags "$INFLUXD_VERSION")
  # A cached build counts only if it says what this script would build in.
  says="InfluxDB v$INFLUXD_VERSION (git: ${ldflags##*main.commit=})"
  if [ -x "$INFLUXD" ] && "$INFLUXD" version 2>/dev/null | grep -qF "$says"; then
    log "influxd $INFLUXD_VERSION cached: $INFLUXD"
    return
  fi
  need cargo "install Rust with rustup (stable toolchain)"
  need pkg-config "install it: apt-get install pkg-config"
  need cc "install a C compiler: apt-get install build-essential"

  local mod src work started
  started=$(date +%s)
  log "downloading github.com/influxdata/influxdb/v2@v$INFLUXD_VERSION"
  mod=$(module_dir "github.com/influxdata/influxdb/v2@v$INFLUXD_VERSION")
  [ -d "$mod" ] || { log "go mod download gave no module directory"; exit 1; }

  # The module cache is read-only; build in a writable copy.
  work="$CACHE/build/influxdb-$INFLUXD_VERSION"
  src="$work/src"
  rm -rf "$src"
  mkdir -p "$work"
  cp -r "$mod" "$src"
  chmod -R u+w "$src"
  cd "$src"

  log "building the pkg-config wrapper pinned by go.mod"
  go build -o "$work/pkg-config" github.com/influxdata/pkg-config

  # flux pins an old Rust channel in rust-toolchain.toml and denies warnings;
  # build with the installed stable toolchain and report lints as warnings.
  export PKG_CONFIG="$work/pkg-config"
  export RUSTUP_TOOLCHAIN="${RUSTUP_TOOLCHAIN:-stable}"
  export RUSTFLAGS="${RUSTFLAGS:-} --cap-lints=warn"
  export CGO_ENABLED=1

  log "building influxd (libflux in Rust, then Go): this takes 20-40 minutes cold"
  go build \
    -tags sqlite_foreign_keys,sqlite_json \
    -ldflags "$ldflags" \
    -o "$INFLUXD.tmp" ./cmd/influxd
  mv "$INFLUXD.tmp" "$INFLUXD"
  cd /
  rm -rf "$src"
  log "influxd built in $(( $(date +%s) - started ))s: $INFLUXD"
}

build_influx_cli() {
  if [ -x "$INFLUX" ]; then
    log "influx CLI $INFLUX_CLI_VERSION cached: $INFLUX"
    return
  fi
  need go "install Go >= 1.25 (https://go.dev/doc/install)"
  log "building the influx CLI $INFLUX_CLI_VERSION"
  if ! build_go_module "github.com/influxdata/influx-cli/v2@$INFLUX_CLI_VERSION" cmd/influx \
    "$INFLUX" "-X main.version=${INFLUX_CLI_VERSION#v}"; then
    # A convenience for students; the labs and tests need only influxd.
    log "could not download the influx CLI module; continuing without it"
  fi
}

build_toxiproxy() {
  if [ -x "$TOXIPROXY" ]; then
    log "toxiproxy $TOXIPROXY_VERSION cached: $TOXIPROXY"
    return
  fi
  need go "install Go >= 1.25 (https://go.dev/doc/install)"
  log "building toxiproxy $TOXIPROXY_VERSION"
  local module="github.com/Shopify/toxiproxy/v2@v$TOXIPROXY_VERSION"
  local version="-X github.com/Shopify/toxiproxy/v2.Version=$TOXIPROXY_VERSION"
  # The CLI first: the server's binary is what marks the part as built.
  if ! build_go_module "$module" cmd/cli "$TOXIPROXY_CLI" "$version" ||
    ! build_go_module "$module" cmd/server "$TOXIPROXY" "$version"; then
    # Only the grader's network-fault checks need it; they report it missing.
    log "could not download the toxiproxy module; continuing without it"
  fi
}

build_telegraf() {
  if [ -x "$TELEGRAF" ]; then
    log "telegraf $TELEGRAF_VERSION cached: $TELEGRAF"
    return
  fi
  need go "install Go >= 1.25 (https://go.dev/doc/install)"
  # Telegraf's `custom` build tag compiles in only the plugins named: a small binary
  # and a few minutes' build instead of hundreds of plugins' dependencies.
  log "building telegraf $TELEGRAF_VERSION (mqtt_consumer input, influxdb_v2 output)"
  if ! build_go_module "github.com/influxdata/telegraf@v$TELEGRAF_VERSION" cmd/telegraf "$TELEGRAF" \
    "-X github.com/influxdata/telegraf/internal.Version=$TELEGRAF_VERSION" \
    "custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2"; then
    # Only the bridge benchmark and its test need it; they report it missing.
    log "could not download the telegraf module; continuing without it"
  fi
}

# Everything by default; or only the parts named: influxd, influx, toxiproxy, telegraf.
for part in "${@:-influxd influx toxiproxy telegraf}"; do
  for one in $part; do
    case "$one" in
      influxd) build_influxd ;;
      influx) build_influx_cli ;;
      toxiproxy) build_toxiproxy ;;
      telegraf) build_telegraf ;;
      *) log "unknown part '$one' (influxd, influx, toxiproxy, telegraf)"; exit 2 ;;
    esac
  done
done
# Stable names for tools that look for `influxd` and `influx` on PATH.
if [ -x "$INFLUXD" ]; then ln -sf "$(basename "$INFLUXD")" "$BIN/influxd"; fi
if [ -x "$INFLUX" ]; then ln -sf "$(basename "$INFLUX")" "$BIN/influx"; fi
if [ -x "$TOXIPROXY" ]; then ln -sf "$(basename "$TOXIPROXY")" "$BIN/toxiproxy-server"; fi
if [ -x "$TELEGRAF" ]; then ln -sf "$(basename "$TELEGRAF")" "$BIN/telegraf"; fi
echo "$BIN"
