#!/usr/bin/env bash
# Make the images docker-compose.yml pins, and the `docker compose` plugin,
# available to the local Docker engine.
#
# Where a registry answers, the published images are pulled as usual. Where
# none does, they are rebuilt here from the official images' recipes
# (deploy/images/*): a Debian bookworm base made with debootstrap and
# `docker import`, influxd, the influx CLI and Toxiproxy from scripts/build-native.sh,
# dasel and Compose v2 built from their Go modules. Every result is cached
# outside the repository, keyed by the recipe and the versions in it, so a
# second run on a machine takes seconds.
#
# Usage: scripts/build-images.sh          pull or build what is missing
# Env:   INFLUX_LABS_BUILD_IMAGES=1       never pull: always use the rebuilt images
#        INFLUX_LABS_CACHE                (default ~/.cache/influx-labs)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${INFLUX_LABS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/influx-labs}
BIN="$CACHE/bin"
IMAGES="$CACHE/images"
DASEL_VERSION=v3.11.2
COMPOSE_VERSION=v2.40.3
BASE_IMAGE=debian:bookworm-slim

export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
# The engine may be older than the client and no buildx plugin is installed:
# the classic builder works with both.
export DOCKER_BUILDKIT=0

# shellcheck source=scripts/go-module.sh
. scripts/go-module.sh
log() { printf '[build-images] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
pinned() {  # pinned NAME: a constant from influx_labs/versions.py
  sed -n "s/^$1 = \"\(.*\)\"$/\1/p" influx_labs/versions.py
}

INFLUXDB_VERSION=$(pinned INFLUXDB_VERSION)
INFLUX_CLI_VERSION=$(pinned INFLUX_CLI_VERSION)
MOSQUITTO_IMAGE=$(pinned MOSQUITTO_IMAGE)
TOXIPROXY_VERSION=$(pinned TOXIPROXY_VERSION)
TOXIPROXY_IMAGE="ghcr.io/shopify/toxiproxy:$TOXIPROXY_VERSION"
INFLUXDB_IMAGE="influxdb:$INFLUXDB_VERSION"

docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd, or check DOCKER_HOST)"
mkdir -p "$BIN" "$IMAGES"

go_binary() {  # go_binary MODULE VERSION PACKAGE NAME [LDFLAGS]: build once, print the path
  local module=$1 version=$2 package=$3 name=$4 ldflags=${5:-} out
  out="$BIN/$name-$version"
  if [ ! -x "$out" ]; then
    command -v go >/dev/null 2>&1 || die "building $name needs Go >= 1.25"
    log "building $name $version from $module"
    build_go_module "$module@$version" "$package" "$out" "$ldflags" ||
      die "the Go module proxy did not serve $module@$version"
  fi
  echo "$out"
}

ensure_compose() {  # the `docker compose` CLI plugin (Compose v2), which the README uses
  docker compose version >/dev/null 2>&1 && return
  local plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins" compose
  compose=$(go_binary github.com/docker/compose/v2 "$COMPOSE_VERSION" cmd docker-compose \
    "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION")
  mkdir -p "$plugin_dir"
  ln -sf "$compose" "$plugin_dir/docker-compose"
  log "installed the docker compose plugin $COMPOSE_VERSION in $plugin_dir"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
recipe_label() { docker image inspect -f '{{index .Config.Labels "influx-labs.recipe"}}' "$1" 2>/dev/null; }

ensure_base() {  # debian:bookworm-slim: pulled, or made with debootstrap
  have_image "$BASE_IMAGE" && return
  if [ "${INFLUX_LABS_BUILD_IMAGES:-0}" != 1 ] && docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    return
  fi
  local tarball="$IMAGES/debian-bookworm-base.tar" root mirror
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || die "no registry answers and debootstrap is missing: apt-get install debootstrap"
    mirror=$(sed -n 's/^URIs: \(http[^ ]*\/debian\)$/\1/p;s/^deb \(http[^ ]*\/debian\) bookworm main.*/\1/p' \
      /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1) || true
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "making a Debian bookworm base with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
      die "debootstrap failed; its log: $root.log"
    # The same apt sources as Debian's official images, so `apt-get` in a
    # recipe gets security updates too.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
    docker save -o "$tarball.tmp" "$BASE_IMAGE" && mv "$tarball.tmp" "$tarball"
    rm -rf "$root" "$root.log"
  else
    docker load -q -i "$tarball" >/dev/null
  fi
}

ensure_image() {  # ensure_image TAG RECIPE_DIR KEY [prepare-function]
  local tag=$1 recipe=$2 key=$3 prepare=${4:-} tarball context
  tarball="$IMAGES/${tag//[:\/]/_}-$key.tar"
  if have_image "$tag"; then
    # Keep a published image, or one rebuilt from the current recipe.
    case "$(recipe_label "$tag")" in "" | "$key") return ;; esac
    log "$tag was built from an older recipe: rebuilding it"
  elif [ "${INFLUX_LABS_BUILD_IMAGES:-0}" != 1 ] && docker pull -q "$tag" >/dev/null 2>&1; then
    log "pulled $tag"
    return
  fi
  if [ -s "$tarball" ]; then
    docker load -q -i "$tarball" >/dev/null
    log "$tag loaded from the cache"
    return
  fi
  ensure_base
  context=$(mktemp -d "$CACHE/context.XXXXXX")
  cp -r "$recipe/." "$context"
  [ -z "$prepare" ] || "$prepare" "$context"
  log "building $tag from $recipe"
  if ! docker build --label "influx-labs.recipe=$key" \
    --build-arg "INFLUXDB_VERSION=$INFLUXDB_VERSION" --build-arg "INFLUX_CLI_VERSION=$INFLUX_CLI_VERSION" \
    -t "$tag" "$context" >"$context.log" 2>&1; then
    cat "$context.log" >&2
    die "building $tag failed (its output is above)"
  fi
  rm -f "$context.log"
  rm -rf "$context"
  rm -f "$IMAGES/${tag//[:\/]/_}-"*.tar
  docker save -o "$tarball.tmp" "$tag" && mv "$tarball.tmp" "$tarball"
  log "built $tag"
}

influxdb_binaries() {  # the influxdb recipe's bin/: influxd, influx and dasel
  local native
  native=$(scripts/build-native.sh)
  mkdir -p "$1/bin"
  cp -L "$native/influxd" "$native/influx" "$1/bin/"
  cp "$(go_binary github.com/tomwright/dasel/v3 "$DASEL_VERSION" cmd/dasel dasel)" "$1/bin/dasel"
}

toxiproxy_binaries() {  # the toxiproxy recipe's two static binaries, named as upstream's
  local native
  native=$(scripts/build-native.sh toxiproxy)
  [ -x "$native/toxiproxy-server-$TOXIPROXY_VERSION" ] || die "toxiproxy could not be built"
  cp "$native/toxiproxy-server-$TOXIPROXY_VERSION" "$1/toxiproxy-server-linux-$(go env GOARCH)"
  cp "$native/toxiproxy-cli-$TOXIPROXY_VERSION" "$1/toxiproxy-cli-linux-$(go env GOARCH)"
}

recipe_key() {  # recipe_key DIR [VERSIONS...]: what a rebuilt image depends on
  { find "$1" -type f -print0 | sort -z | xargs -0 sha256sum | sed 's/ .*\// /'; echo "${*:2}"; } |
    sha256sum | cut -c1-12
}

ensure_compose
ensure_image "$INFLUXDB_IMAGE" deploy/images/influxdb \
  "$(recipe_key deploy/images/influxdb "$(influxd_ldflags "$INFLUXDB_VERSION")" \
    "$INFLUX_CLI_VERSION" "$DASEL_VERSION")" \
  influxdb_binaries
ensure_image "$MOSQUITTO_IMAGE" deploy/images/mosquitto "$(recipe_key deploy/images/mosquitto)"
ensure_image "$TOXIPROXY_IMAGE" deploy/images/toxiproxy \
  "$(recipe_key deploy/images/toxiproxy "$TOXIPROXY_VERSION")" toxiproxy_binaries
log "ready: $INFLUXDB_IMAGE, $MOSQUITTO_IMAGE, $TOXIPROXY_IMAGE, $(docker compose version --short 2>/dev/null || echo 'no compose')"
