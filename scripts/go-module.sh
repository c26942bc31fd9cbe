# Building Go programs from their module sources, for the build scripts (sourced, not run).
# The caller sets CACHE (where the writable copies go) and `set -euo pipefail`.

module_dir() {  # module_dir MODULE@VERSION: download it, print its (read-only) directory
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_go_module() {  # build_go_module MODULE@VERSION PACKAGE OUT [LDFLAGS] [TAGS]
  # A pure-Go program, built in a writable copy of its module as the main module:
  # `go install module@version` refuses a go.mod with replace or exclude lines.
  # Returns 1 when the proxy does not serve the module; a failed build ends the script.
  local dir src
  dir=$(module_dir "$1") || true
  [ -d "$dir" ] || return 1
  mkdir -p "$CACHE/build"
  src=$(mktemp -d "$CACHE/build/go-module.XXXXXX")
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  if ! (cd "$src" && CGO_ENABLED=0 go build -trimpath -tags "${5:-}" -ldflags "-s -w ${4:-}" -o "$3.tmp" "./$2"); then
    printf 'building %s of %s failed\n' "$2" "$1" >&2
    exit 1
  fi
  mv "$3.tmp" "$3"
  rm -rf "$src"
}

influxd_ldflags() {  # influxd_ldflags VERSION: the release metadata official builds carry
  # `influxd version`, /health and X-Influxdb-Version say v2.9.1, with the tag's short
  # commit (the module proxy records it); clients check that `v` prefix.
  local commit
  commit=$(go mod download -json "github.com/influxdata/influxdb/v2@v$1" |
    sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]\{7\}\).*/\1/p')
  echo "-s -w -X main.version=v$1 -X main.commit=${commit:-unknown}"
}
