#!/bin/bash
# Entrypoint of the locally rebuilt influxdb:2.9.1 image, written for this
# project to behave like the official image's entrypoint for what the course
# uses:
#   - any command other than `influxd` (or its flags) runs as given, as root;
#   - `influxd` with DOCKER_INFLUXDB_INIT_MODE=setup and no influxd.bolt yet:
#     boot influxd on a temporary port (INFLUXD_INIT_PORT), run `influx setup`
#     from DOCKER_INFLUXDB_INIT_* (and their *_FILE variants), export the new
#     user/org/bucket IDs, run the executable *.sh scripts in
#     /docker-entrypoint-initdb.d with INFLUX_HOST pointing at that instance,
#     stop it, and point the CLI config at the real port;
#   - influxd itself always runs as the unprivileged user influxdb.
# Not rebuilt: the `upgrade` mode (migrating a 1.x database), which the labs
# never use; asking for it fails with a message.
set -eo pipefail

log() {  # log LEVEL MESSAGE: structured like influxd's own lines
    printf '%s\t%s\t%s\t{"system": "docker"}\n' "$(date --utc +%FT%T.%NZ)" "$1" "$2" >&2
}

CONFIG_VOLUME=/etc/influxdb2
USER_SCRIPT_DIR=/docker-entrypoint-initdb.d

set_config_path() {  # the first config file in the config volume, else the image default
    local path=/etc/defaults/influxdb2/config.yml name
    if [ -n "${INFLUXD_CONFIG_PATH:-}" ]; then
        path=$INFLUXD_CONFIG_PATH
    else
        for name in config.json config.toml config.yaml config.yml; do
            if [ -f "$CONFIG_VOLUME/$name" ]; then path=$CONFIG_VOLUME/$name; break; fi
        done
    fi
    export INFLUXD_CONFIG_PATH=$path
}

config_format() {
    case "${INFLUXD_CONFIG_PATH,,}" in
        *.toml) echo toml ;;
        *.json) echo json ;;
        *) echo yaml ;;
    esac
}

config_get() {  # config_get KEY DEFAULT [influxd args...]: flag, then env, then file, then default
    local key=$1 default=$2 var
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
            --"$key"=*) echo "${1#--"$key"=}"; return ;;
            --"$key") echo "${2:-}"; return ;;
        esac
        shift
    done
    var="INFLUXD_$(echo "$key" | tr 'a-z-' 'A-Z_')"
    if [ -n "${!var+x}" ]; then echo "${!var}"; return; fi
    dasel -i "$(config_format)" "get(\"$key\")" <"$INFLUXD_CONFIG_PATH" 2>/dev/null || echo "$default"
}

create_directories() {  # the data and config volumes belong to influxdb
    local bolt_dir
    bolt_dir=$(dirname "$BOLT_PATH")
    mkdir -p "$bolt_dir" "$ENGINE_PATH"
    chmod 700 "$bolt_dir" "$ENGINE_PATH" || :
    mkdir -p "$CONFIG_VOLUME" || :
    chmod 775 "$CONFIG_VOLUME" || :
    if [ "$(id -u)" = 0 ]; then
        find "$bolt_dir" "$ENGINE_PATH" "$CONFIG_VOLUME" \! -user influxdb -exec chown influxdb '{}' +
    fi
}

read_secret_files() {  # DOCKER_INFLUXDB_INIT_X_FILE wins over DOCKER_INFLUXDB_INIT_X
    local name file
    for name in PASSWORD USERNAME ADMIN_TOKEN; do
        file="DOCKER_INFLUXDB_INIT_${name}_FILE"
        if [ -n "${!file:-}" ]; then
            if [ -e "${!file}" ]; then
                printf -v "DOCKER_INFLUXDB_INIT_$name" '%s' "$(cat "${!file}")"
            else
                echo "$file defined, but file not existing, skipping."
            fi
        fi
    done
}

cleanup_failed_init() {  # a half-initialised database would skip setup on the next start
    log warn "initialization failed: removing the bolt and engine files so a restart tries again"
    [ -n "$BOLT_PATH" ] && [ "$BOLT_PATH" != / ] && rm -rf "$BOLT_PATH"
    [ -n "$ENGINE_PATH" ] && [ "$ENGINE_PATH" != / ] && rm -rf "${ENGINE_PATH:?}/"*
}

init_influxd() {
    local missing=0 var final_bind scheme=http pid
    if [ "$DOCKER_INFLUXDB_INIT_MODE" = upgrade ]; then
        log error "DOCKER_INFLUXDB_INIT_MODE=upgrade is not part of this rebuilt image; use the published influxdb image"
        exit 1
    elif [ "$DOCKER_INFLUXDB_INIT_MODE" != setup ]; then
        log error "DOCKER_INFLUXDB_INIT_MODE must be 'setup' (got '$DOCKER_INFLUXDB_INIT_MODE')"
        exit 1
    fi
    for var in DOCKER_INFLUXDB_INIT_USERNAME DOCKER_INFLUXDB_INIT_PASSWORD \
        DOCKER_INFLUXDB_INIT_ORG DOCKER_INFLUXDB_INIT_BUCKET; do
        if [ -z "${!var:-}" ]; then
            log error "missing parameter $var, cannot init InfluxDB"
            missing=1
        fi
    done
    [ "$missing" = 0 ] || exit 1
    trap cleanup_failed_init EXIT

    final_bind=$(config_get http-bind-address :8086 "$@")
    if [ -n "$(config_get tls-cert '' "$@")" ] && [ -n "$(config_get tls-key '' "$@")" ]; then
        scheme=https
    fi
    # Setup runs on a port nobody outside uses yet, without TLS: clients that
    # reach the real port find a database that is fully initialised.
    dasel -i "$(config_format)" -o json \
        "merge(\$this, {\"http-bind-address\": \":$INFLUXD_INIT_PORT\", \"tls-cert\": \"\", \"tls-key\": \"\"})" \
        <"$INFLUXD_CONFIG_PATH" >/tmp/config.json
    log info "booting influxd server in the background"
    INFLUXD_CONFIG_PATH=/tmp/config.json INFLUXD_HTTP_BIND_ADDRESS=":$INFLUXD_INIT_PORT" \
        INFLUXD_TLS_CERT='' INFLUXD_TLS_KEY='' influxd &
    pid=$!
    trap 'kill -TERM $pid; wait $pid' TERM
    trap 'kill -INT $pid; wait $pid' INT
    export INFLUX_HOST="http://localhost:$INFLUXD_INIT_PORT"

    local attempt=0
    until influx ping >/dev/null 2>&1; do
        attempt=$((attempt + 1))
        if ! kill -0 "$pid" 2>/dev/null; then log error "influxd crashed during startup"; exit 1; fi
        if [ "$attempt" -ge "$INFLUXD_INIT_PING_ATTEMPTS" ]; then log error "influxd took too long to start up"; exit 1; fi
        sleep 1
    done

    # --flag=value, never --flag value: a generated password or token may start with
    # "-", and the CLI would read it as the next flag.
    local -a setup_args=(--force
        "--username=$DOCKER_INFLUXDB_INIT_USERNAME" "--password=$DOCKER_INFLUXDB_INIT_PASSWORD"
        "--org=$DOCKER_INFLUXDB_INIT_ORG" "--bucket=$DOCKER_INFLUXDB_INIT_BUCKET"
        "--name=$DOCKER_INFLUXDB_INIT_CLI_CONFIG_NAME")
    [ -n "${DOCKER_INFLUXDB_INIT_RETENTION:-}" ] && setup_args+=("--retention=$DOCKER_INFLUXDB_INIT_RETENTION")
    [ -n "${DOCKER_INFLUXDB_INIT_ADMIN_TOKEN:-}" ] && setup_args+=("--token=$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")
    influx setup "${setup_args[@]}"

    DOCKER_INFLUXDB_INIT_USER_ID=$(influx user list "--name=$DOCKER_INFLUXDB_INIT_USERNAME" --hide-headers | cut -f 1)
    DOCKER_INFLUXDB_INIT_ORG_ID=$(influx org list "--name=$DOCKER_INFLUXDB_INIT_ORG" --hide-headers | cut -f 1)
    DOCKER_INFLUXDB_INIT_BUCKET_ID=$(influx bucket list "--name=$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f 1)
    export DOCKER_INFLUXDB_INIT_USER_ID DOCKER_INFLUXDB_INIT_ORG_ID DOCKER_INFLUXDB_INIT_BUCKET_ID

    if [ -d "$USER_SCRIPT_DIR" ]; then
        log info "executing the scripts in $USER_SCRIPT_DIR"
        run-parts --regex '.*sh$' --report --exit-on-error "$USER_SCRIPT_DIR"
    fi

    log info "initialization complete, shutting down background influxd"
    kill -TERM "$pid"
    wait "$pid" || true
    trap - EXIT INT TERM
    sed -i "s#http://localhost:$INFLUXD_INIT_PORT#$scheme://localhost:${final_bind##*:}#g" "$INFLUX_CONFIGS_PATH"
}

main() {
    set_config_path
    # `influxd`, `influxd run`, `run` or bare flags start the server; anything else runs as given.
    if [ "${1:-}" = influxd ] && { [ $# = 1 ] || [ "$2" = run ] || [ "${2:0:1}" = - ]; }; then
        shift
    elif ! { [ $# = 0 ] || [ "$1" = run ] || [ "${1:0:1}" = - ]; }; then
        exec "$@"
    fi
    [ "${1:-}" = run ] && shift

    BOLT_PATH=$(config_get bolt-path /var/lib/influxdb2/influxd.bolt "$@")
    ENGINE_PATH=$(config_get engine-path /var/lib/influxdb2/engine "$@")
    export BOLT_PATH ENGINE_PATH
    create_directories

    if [ -f "$BOLT_PATH" ]; then
        log info "found existing boltdb file, skipping setup"
    elif [ -z "${DOCKER_INFLUXDB_INIT_MODE:-}" ]; then
        log warn "no boltdb file and DOCKER_INFLUXDB_INIT_MODE not set, skipping setup"
    else
        read_secret_files
        init_influxd "$@"
        create_directories
    fi

    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=influxdb --regid=influxdb --init-groups "$BASH_SOURCE" "$@"
    fi
    exec influxd "$@"
}

main "$@"
