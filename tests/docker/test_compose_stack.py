"""`influx-labs up` on docker-compose.yml, for real: a user's `./course up` where Docker runs.

One Compose project per module (its own name, ports and .env), brought up by
the CLI as a user runs it, inspected, and taken down with `down --volumes`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from influx_labs.services.process import free_port
from influx_labs.settings import REPO_ROOT, new_env_text
from tests.integration.test_cli import env_values

from .conftest import docker_objects

CLI = str(Path(sys.executable).parent / "influx-labs")
pytestmark = [pytest.mark.usefixtures("docker_engine"), pytest.mark.timeout(300)]


class Project:
    """A Compose project of the course's file, driven through the influx-labs CLI."""

    def __init__(self, env_file: Path) -> None:
        self.name = f"influx-labs-test-{uuid.uuid4().hex[:8]}"
        self.env_file = env_file
        self.values = env_values(env_file)
        self.up_output = ""  # what `influx-labs up` printed
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("INFLUX", "MQTT_"))},
            "INFLUX_LABS_ENV_FILE": str(env_file),
            "COMPOSE_PROJECT_NAME": self.name,
            "COLUMNS": "200",
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args], capture_output=True, text=True, timeout=240, env=self.env
        )

    def compose(self, *args: str) -> str:
        command = ["docker", "compose", "--env-file", str(self.env_file), *args]
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=self.env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def containers(self) -> list[dict]:
        """`docker compose ps` as records (Compose prints one JSON object per line)."""
        out = self.compose("--profile", "grafana", "ps", "--all", "--format", "json").strip()
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    ports = (
        "influx_port",
        "mqtt_port",
        "grafana_port",
        "toxiproxy_port",
        "toxiproxy_influxdb_port",
    )
    env_file.write_text(new_env_text(**{name: free_port() for name in ports}))
    stack = Project(env_file)
    before = docker_objects(f"com.docker.compose.project={stack.name}")
    up = stack.cli("up", "--backend", "docker")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        stack.up_output = up.stdout
        yield stack
    finally:
        down = stack.cli("down", "--volumes")
        assert down.returncode == 0, down.stdout + down.stderr
        after = docker_objects(f"com.docker.compose.project={stack.name}")
        assert after == before, "down --volumes left something behind"


def test_every_service_is_up_and_healthy(project: Project) -> None:
    states = {c["Service"]: (c["State"], c["Health"]) for c in project.containers()}
    assert {"influxdb", "mosquitto"} <= set(states)
    if "grafana" not in states:
        # Only where its image cannot be had; up says so instead of failing.
        assert "without Grafana" in project.up_output
    assert all(state == ("running", "healthy") for state in states.values()), states


def test_ports_are_published_on_loopback_only(project: Project) -> None:
    for container in project.containers():
        out = subprocess.run(
            ["docker", "inspect", container["ID"]], capture_output=True, text=True, check=True
        ).stdout
        bindings = json.loads(out)[0]["HostConfig"]["PortBindings"]
        assert bindings, container["Service"]
        for port, hosts in bindings.items():
            assert [h["HostIp"] for h in hosts] == ["127.0.0.1"], (container["Service"], port)


def test_status_sees_the_stack(project: Project) -> None:
    status = project.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(" ok ") == 3, status.stdout
    assert project.values["INFLUXDB_V2_URL"] in status.stdout


def test_init_script_gave_grafana_a_read_only_token(project: Project) -> None:
    token_file = "/var/lib/influxdb2-shared/grafana-token"
    token = project.compose("exec", "-T", "influxdb", "cat", token_file).strip()
    url, org = project.values["INFLUXDB_V2_URL"], project.values["INFLUXDB_V2_ORG"]
    admin = {"Authorization": f"Token {project.values['INFLUXDB_V2_TOKEN']}"}
    reader = {"Authorization": f"Token {token}"}

    auths = requests.get(f"{url}/api/v2/authorizations", headers=admin, timeout=10).json()
    grafana = [a for a in auths["authorizations"] if a["description"] == "grafana-reader"]
    assert len(grafana) == 1
    org_id = grafana[0]["orgID"]
    assert [(p["action"], p["resource"]) for p in grafana[0]["permissions"]] == [
        ("read", {"type": "buckets", "orgID": org_id, "org": org})
    ]

    bucket = project.values["INFLUXDB_V2_BUCKET"]
    flux = f'from(bucket: "{bucket}") |> range(start: -1m)'
    query = requests.post(
        f"{url}/api/v2/query",
        params={"org": org},
        headers={**reader, "Content-Type": "application/vnd.flux"},
        data=flux,
        timeout=10,
    )
    assert query.status_code == 200, query.text
    write = requests.post(
        f"{url}/api/v2/write",
        params={"org": org, "bucket": bucket},
        headers=reader,
        data="m v=1",
        timeout=10,
    )
    assert write.status_code in (401, 403, 404), write.text
    tokens = requests.get(f"{url}/api/v2/authorizations", headers=reader, timeout=10)
    assert tokens.status_code in (401, 403) or not tokens.json()["authorizations"]


def test_the_fault_proxy_starts_on_demand_and_breaks_what_it_is_told(project: Project) -> None:
    # What a student runs to try the resilience lab's faults on their own stack.
    project.compose("--profile", "faults", "up", "--detach", "--wait", "toxiproxy")
    api = f"http://127.0.0.1:{project.values['TOXIPROXY_PORT']}"
    proxied = f"http://127.0.0.1:{project.values['TOXIPROXY_INFLUXDB_PORT']}/health"
    assert requests.get(proxied, timeout=10).json()["status"] == "pass"
    toxic = {"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}
    added = requests.post(f"{api}/proxies/influxdb/toxics", json=toxic, timeout=10)
    assert added.status_code == 200, added.text
    with pytest.raises(requests.ConnectionError):
        requests.get(proxied, timeout=10)
    requests.delete(f"{api}/proxies/influxdb/toxics/reset_peer_upstream", timeout=10)
    assert requests.get(proxied, timeout=10).json()["status"] == "pass"


def test_grafana_loads_the_lab_dashboard_and_runs_each_panels_query(project: Project) -> None:
    """The grafana_dashboard lab's model in the stack's own Grafana: the student's file is
    provisioned from the lab folder, and Grafana's query API runs the reference model's
    panels against InfluxDB through the provisioned datasource."""
    if "grafana" not in {c["Service"] for c in project.containers()}:
        pytest.skip(
            "Grafana's image cannot be had here (no registry serves it and it cannot be "
            "built); the lab's checks run every panel's query on live InfluxDB instead"
        )
    url = f"http://127.0.0.1:{project.values['GRAFANA_PORT']}"
    auth = (project.values["GRAFANA_ADMIN_USER"], project.values["GRAFANA_ADMIN_PASSWORD"])
    lab = json.loads((REPO_ROOT / "labs" / "grafana_dashboard" / "dashboard.json").read_text())
    loaded = requests.get(f"{url}/api/dashboards/uid/{lab['uid']}", auth=auth, timeout=10)
    assert loaded.status_code == 200, loaded.text
    model = json.loads(
        (REPO_ROOT / "solutions" / "grafana_dashboard" / "dashboard.json").read_text()
    )
    for panel in model["panels"]:
        queries = [
            {**target, "query": target["query"].replace("${device:regex}", ".*")}
            for target in panel["targets"]
        ]
        answer = requests.post(
            f"{url}/api/ds/query",
            auth=auth,
            json={"queries": queries, "from": "now-6h", "to": "now"},
            timeout=30,
        )
        assert answer.status_code == 200, (panel["title"], answer.text)
        results = answer.json()["results"]
        assert all("error" not in result for result in results.values()), results
