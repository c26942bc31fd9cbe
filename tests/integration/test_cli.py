"""`influx-labs up/status/env/down` on the native backend, run as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from influxdb_client import InfluxDBClient

from influx_labs.services import InfluxEndpoint
from influx_labs.services.native import STATE_FILE
from influx_labs.services.process import free_port, process_gone
from influx_labs.settings import new_env_text

pytestmark = [pytest.mark.usefixtures("native_binaries"), pytest.mark.timeout(120)]
CLI = str(Path(sys.executable).parent / "influx-labs")


@pytest.fixture
def env_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / ".env"
    ports = {name: free_port() for name in ("influx", "mqtt", "grafana", "cloud", "secondary")}
    text = new_env_text(**{f"{name}_port": port for name, port in ports.items()})
    path.write_text(text)
    monkeypatch.setenv("INFLUX_LABS_ENV_FILE", str(path))
    for key in list(os.environ):  # only the file speaks
        if key.startswith(("INFLUXDB_", "MQTT_", "INFLUX_LABS_BACKEND")):
            monkeypatch.delenv(key)
    yield path
    subprocess.run([CLI, "down", "--volumes"], capture_output=True, timeout=60)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def env_values(env_file: Path) -> dict[str, str]:
    """The settings an .env file holds."""
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)


def test_up_status_env_down_round_trip(env_file):
    values = env_values(env_file)
    up = cli("up", "--backend", "native")
    assert up.returncode == 0, up.stdout + up.stderr
    assert values["INFLUXDB_V2_URL"] in up.stdout
    assert values["INFLUXDB_V2_TOKEN"] in up.stdout

    native = env_file.parent / ".influx-labs/native"
    state = json.loads((native / STATE_FILE).read_text())
    pids = [p["pid"] for p in state["processes"].values()]
    # The state names the admin token and the data holds every token: owner only.
    assert stat.S_IMODE((native / STATE_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(native.stat().st_mode) == 0o700
    assert all(psutil.pid_exists(p) for p in pids)

    status = cli("status")
    assert status.returncode == 0, status.stdout

    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in cli("env").stdout.splitlines()
    )
    assert exports["INFLUXDB_V2_TOKEN"] == values["INFLUXDB_V2_TOKEN"]
    # What a lab does: a client configured from nothing but those variables.
    os.environ.update(exports)
    try:
        with InfluxDBClient.from_env_properties() as client:
            assert client.ping()
            client.write_api().close()
    finally:
        for key in exports:
            os.environ.pop(key, None)

    assert "already running" in cli("up", "--backend", "native").stdout

    down = cli("down")
    assert down.returncode == 0 and "stopped the native stack" in down.stdout
    assert all(process_gone(p) for p in pids)
    assert cli("status").returncode == 1

    # The data directory survives `down`: a second `up` reuses the onboarded server.
    again = cli("up", "--backend", "native")
    assert again.returncode == 0, again.stdout + again.stderr
    assert cli("status").returncode == 0


def test_up_cloud_starts_the_cloud_and_the_secondary_that_down_stops(env_file):
    values = env_values(env_file)
    up = cli("up", "--backend", "native", "--cloud")
    assert up.returncode == 0, up.stdout + up.stderr
    assert values["INFLUXDB_CLOUD_URL"] in up.stdout
    assert values["INFLUXDB_SECONDARY_URL"] in up.stdout
    processes = json.loads((env_file.parent / ".influx-labs/native" / STATE_FILE).read_text())[
        "processes"
    ]
    assert set(processes) == {"influxd", "mosquitto", "influxd-cloud", "influxd-secondary"}
    for name in ("CLOUD", "SECONDARY"):
        region = InfluxEndpoint(
            values[f"INFLUXDB_{name}_URL"], values[f"INFLUXDB_{name}_ORG"],
            values[f"INFLUXDB_{name}_BUCKET"], values[f"INFLUXDB_{name}_TOKEN"],
        )  # fmt: skip
        region.check_token()  # onboarded with the token from .env
    assert "already running" in cli("up", "--backend", "native", "--cloud").stdout
    assert cli("down").returncode == 0
    assert all(process_gone(p["pid"]) for p in processes.values())


def test_up_refuses_a_busy_port_and_names_its_owner(env_file):
    port = int(env_values(env_file)["INFLUXDB_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        up = cli("up", "--backend", "native")
    assert up.returncode == 1
    out = " ".join(up.stdout.split())
    assert f"port {port}" in out and f"pid {os.getpid()}" in out
