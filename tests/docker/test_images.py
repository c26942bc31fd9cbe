"""The rebuilt images behave like the published ones where the course relies on them.

Run against whatever image the engine has under the pinned tag: the rebuilt
one on machines without a registry, the published one elsewhere. Either way
the behaviour asserted here is the official image's documented behaviour.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from influx_labs.versions import INFLUXDB_IMAGE, INFLUXDB_VERSION, MOSQUITTO_IMAGE

pytestmark = [pytest.mark.usefixtures("docker_engine"), pytest.mark.timeout(180)]

SETUP = {
    "DOCKER_INFLUXDB_INIT_MODE": "setup",
    "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
    "DOCKER_INFLUXDB_INIT_ORG": "o",
    "DOCKER_INFLUXDB_INIT_BUCKET": "b",
}


@pytest.fixture
def run() -> Iterator[Callable[..., Any]]:
    """run(image, **options): a detached container, removed with its volumes afterwards."""
    client = docker.from_env()
    started = []

    def start(image: str, **options: Any):
        started.append(client.containers.run(image, detach=True, **options))
        return started[-1]

    yield start
    for container in started:
        container.remove(force=True, v=True)
    client.close()


def finished(container, timeout: float = 60) -> tuple[int, str]:
    code = container.wait(timeout=timeout)["StatusCode"]
    return code, container.logs().decode(errors="replace")


def test_other_commands_run_as_given(run) -> None:
    code, out = finished(run(INFLUXDB_IMAGE, command=["influxd", "version"]))
    # The release metadata official builds carry: v-prefixed version, the tag's short commit.
    assert code == 0 and re.search(rf"InfluxDB v{INFLUXDB_VERSION} \(git: [0-9a-f]{{7}}\)", out)
    code, out = finished(run(MOSQUITTO_IMAGE, command=["mosquitto_sub", "--help"]))
    assert "mosquitto_sub version" in out


def test_setup_reads_secret_files_and_influxd_runs_unprivileged(run, tmp_path: Path) -> None:
    token, password = secrets.token_hex(16), secrets.token_hex(8)
    (tmp_path / "token").write_text(token)
    (tmp_path / "password").write_text(password)
    container = run(
        INFLUXDB_IMAGE,
        environment={
            **SETUP,
            "DOCKER_INFLUXDB_INIT_PASSWORD_FILE": "/run/secrets/password",
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE": "/run/secrets/token",
        },
        volumes={str(tmp_path): {"bind": "/run/secrets", "mode": "ro"}},
        ports={"8086/tcp": ("127.0.0.1", None)},
    )
    container.reload()
    port = container.ports["8086/tcp"][0]["HostPort"]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    buckets = requests.get(
        f"{url}/api/v2/buckets",
        params={"name": "b"},
        headers={"Authorization": f"Token {token}"},
        timeout=5,
    )
    assert buckets.status_code == 200 and buckets.json()["buckets"][0]["name"] == "b"
    # The official image's user influxdb is uid 1000 (the engine runs ps on the host).
    processes = container.top(ps_args="-o pid,uid,comm")["Processes"]
    assert [row[1:] for row in processes] == [["1000", "influxd"]]


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({**SETUP, "DOCKER_INFLUXDB_INIT_PASSWORD": ""}, "DOCKER_INFLUXDB_INIT_PASSWORD"),
        ({**SETUP, "DOCKER_INFLUXDB_INIT_MODE": "upgrade"}, "upgrade"),
        ({**SETUP, "DOCKER_INFLUXDB_INIT_MODE": "bogus"}, "must be 'setup'"),
    ],
)
def test_a_setup_that_cannot_work_stops_with_a_message(run, environment, message) -> None:
    code, out = finished(run(INFLUXDB_IMAGE, environment=environment))
    assert code != 0
    assert message in out
