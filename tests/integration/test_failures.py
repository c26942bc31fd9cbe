"""Bad situations give a clear error quickly, never a hang (live servers)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from influx_labs.services import (
    AuthError,
    BinaryNotFound,
    ExternalStack,
    NativeStack,
    PortInUse,
    ServiceDown,
    ServiceStartError,
)
from influx_labs.services.native import sweep_stale_workdirs
from influx_labs.services.process import process_gone
from influx_labs.settings import Settings

pytestmark = pytest.mark.timeout(90)


def _wait_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(process_gone(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.usefixtures("native_binaries")
def test_port_in_use_names_the_port_and_its_owner():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(PortInUse) as err:
            NativeStack(influx_port=port).start()
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert str(port) in message and f"pid {os.getpid()}" in message
    assert "INFLUXDB_PORT" in message


def test_missing_influxd_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("INFLUXD_BIN", str(tmp_path / "nope"))
    monkeypatch.setenv("INFLUX_LABS_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BinaryNotFound, match=r"build-native\.sh"):
        NativeStack().start()


def test_wrong_token_is_rejected_with_a_clear_message(influx, mqtt_broker):
    settings = Settings(
        INFLUXDB_V2_URL=influx.url,
        INFLUXDB_V2_ORG=influx.org,
        INFLUXDB_V2_TOKEN="not-the-token",
        MQTT_HOST=mqtt_broker.host,
        MQTT_PORT=mqtt_broker.port,
    )
    with pytest.raises(AuthError, match=r"rejected the token \(401\)"):
        ExternalStack(settings).start()
    with InfluxDBClient(url=influx.url, token="not-the-token", org=influx.org) as client:
        with pytest.raises(ApiException) as err:
            client.query_api().query("buckets()")
        assert err.value.status == 401


def test_external_backend_reaches_the_running_servers(influx, mqtt_broker):
    settings = Settings(
        INFLUXDB_V2_URL=influx.url,
        INFLUXDB_V2_ORG=influx.org,
        INFLUXDB_V2_TOKEN=influx.token,
        MQTT_HOST=mqtt_broker.host,
        MQTT_PORT=mqtt_broker.port,
    )
    with ExternalStack(settings) as stack:
        assert stack.endpoints.influx.url == influx.url
        stack.check()


@pytest.mark.usefixtures("native_binaries")
def test_a_server_that_dies_mid_test_is_reported_not_waited_for():
    with NativeStack() as stack:
        influx = stack.endpoints.influx
        stack.influxd.popen.send_signal(signal.SIGKILL)
        stack.influxd.popen.wait(5)
        with pytest.raises(ServiceDown, match=r"influxd \(pid \d+\) has exited with status -9"):
            stack.check()
        started = time.monotonic()
        client = InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=2000)
        # urllib3 raises its own connection errors, not the client's ApiException.
        with client, pytest.raises(Exception) as err:
            client.write_api(write_options=SYNCHRONOUS).write(influx.bucket, record="m v=1")
        assert "Connection refused" in str(err.value) or "Max retries" in str(err.value)
        assert time.monotonic() - started < 10


@pytest.mark.usefixtures("native_binaries")
def test_a_server_that_fails_to_start_shows_its_log(tmp_path):
    # A directory where the bolt file should be: influxd cannot open its metadata store.
    (tmp_path / "influxdb" / "influxd.bolt").mkdir(parents=True)
    with pytest.raises(ServiceStartError) as err:
        NativeStack(workdir=tmp_path, startup_timeout=20).start()
    message = str(err.value)
    assert "influxd exited with status" in message
    assert "bolt" in message  # the tail of influxd's own log says what went wrong


@pytest.mark.usefixtures("native_binaries")
def test_no_orphans_when_the_caller_is_killed():
    script = textwrap.dedent(
        """
        import json, os, signal, sys
        from influx_labs.services import NativeStack
        stack = NativeStack()
        stack.start()
        print(json.dumps([[stack.influxd.pid, stack.mosquitto.pid], str(stack.workdir)]),
              flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup code gets to run
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids, workdir = json.loads(proc.stdout.strip().splitlines()[-1])
    assert _wait_gone(pids, 10), f"server processes outlived their parent: {pids}"
    # Only files are left behind; the next stack to start removes them.
    assert Path(workdir).exists()
    assert Path(workdir) in sweep_stale_workdirs()
    assert not Path(workdir).exists()
