#!/bin/sh
# As in the official image: when started as root, give /mosquitto (mounted
# volumes included) to the mosquitto user, which the broker switches to.
set -e
if [ "$(id -u)" = 0 ] && [ -d /mosquitto ]; then
    chown -R mosquitto:mosquitto /mosquitto 2>/dev/null || true
fi
# Debian's Mosquitto block-buffers a stdout log when stdout is not a terminal,
# so `docker logs` (and every tool that waits for "mosquitto version ...
# running") would see nothing for minutes. Line-buffer the broker's stdout.
case "$1" in
    mosquitto | */mosquitto) exec stdbuf -oL "$@" ;;
esac
exec "$@"
