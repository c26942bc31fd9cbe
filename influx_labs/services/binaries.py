"""Finding the server binaries for the native backend.

``influxd`` is built from source by ``scripts/build-native.sh`` into a cache
keyed by version; ``mosquitto`` comes from the distribution's package, which
installs it in ``/usr/sbin`` (not on a normal user's PATH).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..versions import INFLUXDB_VERSION, TELEGRAF_VERSION, TOXIPROXY_VERSION
from .base import BinaryNotFound


def cache_dir() -> Path:
    """Where built binaries live: ``$INFLUX_LABS_CACHE`` or ``~/.cache/influx-labs``."""
    if env := os.environ.get("INFLUX_LABS_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "influx-labs"


def _first(*paths: Path | str | None) -> Path | None:
    """The first of ``paths`` that is an executable file."""
    for path in paths:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return Path(path)
    return None


def _built(name: str, version: str, env: str, build: str) -> Path:
    """``$env``, then the versioned build cache (``name-version``), then ``name`` on PATH;
    ``build`` says how to get it."""
    if found := _first(
        os.environ.get(env), cache_dir() / "bin" / f"{name}-{version}", shutil.which(name)
    ):
        return found
    raise BinaryNotFound(
        f"{name} {version} was not found (looked at ${env}, {cache_dir() / 'bin'}, PATH). " + build
    )


def find_influxd() -> Path:
    return _built(
        "influxd",
        INFLUXDB_VERSION,
        "INFLUXD_BIN",
        "Build it with `scripts/build-native.sh` (needs Go and Rust; 20-40 minutes once), "
        "or use Docker: `./course up`.",
    )


def find_mosquitto() -> Path:
    """``$MOSQUITTO_BIN``, then PATH, then the Debian/Ubuntu package location."""
    if found := _first(
        os.environ.get("MOSQUITTO_BIN"),
        shutil.which("mosquitto"),
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ):
        return found
    raise BinaryNotFound(
        "mosquitto was not found (looked at $MOSQUITTO_BIN, PATH, /usr/sbin). "
        "Install it with `sudo apt-get install mosquitto` (or your system's package), "
        "or use Docker: `./course up`."
    )


def find_toxiproxy() -> Path:
    return _built(
        "toxiproxy-server",
        TOXIPROXY_VERSION,
        "TOXIPROXY_BIN",
        "Build it with `scripts/build-native.sh toxiproxy` (needs Go).",
    )


def find_telegraf() -> Path:
    return _built(
        "telegraf",
        TELEGRAF_VERSION,
        "TELEGRAF_BIN",
        "Build it with `scripts/build-native.sh telegraf` (needs Go).",
    )


def native_available() -> bool:
    """Whether both native binaries can be found."""
    try:
        find_influxd()
        find_mosquitto()
    except BinaryNotFound:
        return False
    return True
