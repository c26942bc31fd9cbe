"""The docker backend (testcontainers) passes the live-service tests the native backend passes."""

from __future__ import annotations

import json
import subprocess

import pytest

from influx_labs.services import DockerStack, ServiceError
from influx_labs.versions import INFLUXDB_IMAGE, MOSQUITTO_IMAGE

# The same test functions as tests/integration (every one that takes the services from
# the fixtures rather than starting native servers), on this folder's docker fixtures.
from tests.integration.test_failures import (  # noqa: F401
    test_external_backend_reaches_the_running_servers,
    test_wrong_token_is_rejected_with_a_clear_message,
)
from tests.integration.test_fault_proxy import (  # noqa: F401
    test_a_queued_fault_answers_the_next_request_once,
    test_requests_reach_the_real_server_unchanged,
)
from tests.integration.test_iot_simulator_live import (  # noqa: F401
    prefix,
    test_a_full_ack_window_waits_and_loses_nothing,
    test_cli_publishes_to_the_broker,
    test_rate_paces_the_sends,
    test_subscriber_receives_exactly_the_published_stream,
)
from tests.integration.test_native_stack import (  # noqa: F401
    test_bucket_with_retention_is_created_and_deleted,
    test_flux_task_runs_on_demand_and_its_output_is_queryable,
    test_influxdb_is_healthy_and_the_pinned_version,
    test_mqtt_message_published_is_received_by_a_subscriber,
    test_written_points_read_back_with_exact_types_and_times,
)

from .conftest import docker_objects


def _inspect(container_id: str) -> dict:
    out = subprocess.run(
        ["docker", "inspect", container_id], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)[0]


def test_containers_run_the_pinned_images_on_loopback_ports(lab_stack: DockerStack) -> None:
    for container, image, port in (
        (lab_stack.influx_container, INFLUXDB_IMAGE, "8086/tcp"),
        (lab_stack.mqtt_container, MOSQUITTO_IMAGE, "1883/tcp"),
    ):
        info = _inspect(container.get_wrapped_container().id)
        assert info["Config"]["Image"] == image
        bindings = info["HostConfig"]["PortBindings"]
        assert list(bindings) == [port]
        assert [b["HostIp"] for b in bindings[port]] == ["127.0.0.1"]


@pytest.mark.usefixtures("docker_engine")
def test_a_stopped_stack_leaves_no_container_volume_or_network() -> None:
    before = docker_objects()
    stack = DockerStack()
    with stack:
        assert stack.loopback, "a second stack in one process publishes on loopback too"
        cloud = stack.influx_server("cloud")  # a lab's second InfluxDB goes with the stack too
        assert cloud.url != stack.endpoints.influx.url
        cloud.check_token()
        # The first InfluxDB reaches it at its peer URL, as a replication's remote must.
        code, out = stack.influx_container.exec(["influx", "ping", "--host", cloud.peer_url])
        assert code == 0, out
        running = docker_objects()
        assert len(running["containers"] - before["containers"]) == 3
        # The influxdb image declares its data and config as volumes: two anonymous ones.
        volumes = _inspect(stack.influx_container.get_wrapped_container().id)["Mounts"]
        assert [m["Type"] for m in volumes] == ["volume", "volume"]
    assert docker_objects() == before
    gone = subprocess.run(["docker", "volume", "inspect", *(m["Name"] for m in volumes)])
    assert gone.returncode != 0


@pytest.mark.usefixtures("docker_engine")
def test_a_container_that_never_gets_ready_is_removed_too(monkeypatch) -> None:
    before = docker_objects()
    stack = DockerStack()
    # An onboarding that cannot succeed: InfluxDB refuses a password under 8 characters,
    # so the entrypoint's setup fails and /health never answers on the real port.
    stack.password = "short"
    from testcontainers.core import config

    monkeypatch.setattr(config.testcontainers_config, "max_tries", 10)
    with pytest.raises(ServiceError) as failed:
        stack.start()
    assert docker_objects() == before
    # The error says why, from the container itself: its state and the end of its log.
    assert f"{INFLUXDB_IMAGE}: exited (exit code 1" in str(failed.value)
    assert "password" in str(failed.value)
