"""How each backend is configured, and how `auto` chooses (no servers needed)."""

from __future__ import annotations

import pytest

from influx_labs import services
from influx_labs.services import (
    BackendUnavailable,
    DockerStack,
    NativeStack,
    ServiceError,
    choose_backend,
    open_stack,
)
from influx_labs.services.native import mosquitto_conf
from influx_labs.versions import INFLUXDB_IMAGE, MOSQUITTO_IMAGE

# An explicit API version stops the Docker SDK from asking an engine at construction.
NO_ENGINE = {"version": "1.44"}


def test_docker_influxdb_container_is_pinned_and_onboarded():
    stack = DockerStack(
        org="o",
        bucket="b",
        token="tok",
        password="secret-pw",
        retention="1w",
        docker_client_kw=NO_ENGINE,
    )
    container = stack.influxdb_container()
    assert container.image.endswith(INFLUXDB_IMAGE)
    assert ":latest" not in container.image
    assert container.env == {
        "DOCKER_INFLUXDB_INIT_MODE": "setup",
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": "tok",
        "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
        "DOCKER_INFLUXDB_INIT_PASSWORD": "secret-pw",
        "DOCKER_INFLUXDB_INIT_ORG": "o",
        "DOCKER_INFLUXDB_INIT_BUCKET": "b",
        "DOCKER_INFLUXDB_INIT_RETENTION": "1w",
    }
    assert container.ports == {"8086": ("127.0.0.1", None)}


def test_docker_mosquitto_container_is_pinned_and_published_on_loopback():
    container = DockerStack(docker_client_kw=NO_ENGINE).mosquitto_container()
    assert container.image.endswith(MOSQUITTO_IMAGE)
    container.with_exposed_ports(1883)  # what its start() does
    assert container.ports == {"1883": ("127.0.0.1", None)}


def test_docker_stack_refuses_clearly_without_an_engine(monkeypatch):
    monkeypatch.setattr(services.docker, "docker_available", lambda timeout=3.0: False)
    with pytest.raises(BackendUnavailable, match="no Docker engine answers"):
        DockerStack().start()


def test_auto_prefers_docker_then_native(monkeypatch):
    monkeypatch.delenv("INFLUX_LABS_BACKEND", raising=False)
    monkeypatch.setattr(services, "docker_available", lambda: True)
    assert choose_backend("auto") == "docker"
    monkeypatch.setattr(services, "docker_available", lambda: False)
    monkeypatch.setattr(services, "native_available", lambda: True)
    assert choose_backend(None) == "native"
    assert isinstance(open_stack("auto"), NativeStack)


def test_auto_without_any_backend_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(services, "docker_available", lambda: False)
    monkeypatch.setattr(services, "native_available", lambda: False)
    with pytest.raises(BackendUnavailable) as err:
        choose_backend("auto")
    message = str(err.value)
    assert "Docker" in message and "./course up" in message and "--backend external" in message


def test_backend_from_environment_and_unknown_names(monkeypatch):
    monkeypatch.setenv("INFLUX_LABS_BACKEND", "external")
    assert choose_backend(None) == "external"
    with pytest.raises(ServiceError, match="unknown backend 'podman'"):
        choose_backend("podman")


def test_native_broker_listens_on_loopback_only(tmp_path):
    conf = mosquitto_conf(18830, tmp_path, persistent=False)
    assert "listener 18830 127.0.0.1\n" in conf
    assert "persistence false" in conf
