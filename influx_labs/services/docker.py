"""The Docker backend: the pinned images through testcontainers.

Used where a Docker engine answers. Containers publish their port on a random
host port of 127.0.0.1 only (like the Compose file) and are removed, with
their anonymous volumes, on stop. testcontainers' reaper (Ryuk) also removes
them if the caller is killed, where its image is present; on machines that
cannot pull it (no registry) it is turned off and stop() is the only cleanup.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from dataclasses import replace
from typing import Any

from ..settings import REPO_ROOT, secret
from ..versions import INFLUXDB_IMAGE, MOSQUITTO_IMAGE
from .base import (
    BackendUnavailable,
    BrokerEndpoint,
    Endpoints,
    InfluxEndpoint,
    ServiceError,
    Stack,
)

MOSQUITTO_CONF = REPO_ROOT / "deploy" / "mosquitto" / "mosquitto.conf"


def docker_available(timeout: float = 3.0) -> bool:
    """Whether a Docker engine answers a ping (the client alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to reach an engine means "no"
        return False


def _post_mortem(container: Any, lines: int = 20) -> str:
    """A container's image, state and last log lines: why it did not start, for the error."""
    try:
        wrapped = container.get_wrapped_container()
    except Exception:
        wrapped = None
    if wrapped is None:
        return f"{container.image}: not created"
    try:
        wrapped.reload()
        state = wrapped.attrs.get("State", {})
        tail = wrapped.logs(tail=lines).decode(errors="replace").strip()
    except Exception as exc:  # the engine itself failing is worth reporting too
        return f"{container.image}: state unknown ({exc})"
    return (
        f"{container.image}: {state.get('Status')} (exit code {state.get('ExitCode')}, "
        f"OOM-killed {state.get('OOMKilled')}{', ' + state['Error'] if state.get('Error') else ''})"
        f", last log lines:\n{tail}"
    )


def _on_loopback(container: Any, port: int | str) -> Any:
    """Publish ``port`` on a random host port of 127.0.0.1 (testcontainers' own
    with_bind_ports() takes no address; the Docker SDK takes (address, port))."""
    container.ports[str(port)] = ("127.0.0.1", None)
    return container


def _engine_shares_this_network() -> bool:
    """Whether the engine runs in this network namespace, so 127.0.0.1 reaches its ports.

    testcontainers takes any process that looks containerised (a sandbox, a CI
    runner) for Docker-in-Docker and connects through the bridge's gateway. The
    engine's default bridge gateway being one of this machine's own addresses
    says otherwise: then ports go on loopback and are reached on localhost.
    """
    import docker
    import psutil
    from testcontainers.core.config import ConnectionMode
    from testcontainers.core.config import testcontainers_config as config

    if os.environ.get("TESTCONTAINERS_CONNECTION_MODE") or config.tc_host_override:
        return False  # the user said how to reach the containers
    client = docker.from_env()
    try:
        ipam = client.networks.get("bridge").attrs["IPAM"]["Config"] or []
        # The engine gives the bridge the subnet's first address unless told otherwise.
        gateways = {
            entry.get("Gateway") or str(next(ipaddress.ip_network(entry["Subnet"]).hosts()))
            for entry in ipam
        }
    except (docker.errors.APIError, KeyError, TypeError, ValueError, StopIteration):
        return False
    finally:
        client.close()
    local = {a.address for addresses in psutil.net_if_addrs().values() for a in addresses}
    if not gateways & local:
        return False
    config.connection_mode_override = ConnectionMode.docker_host
    return True


def _without_an_unreachable_reaper() -> None:
    """Turn Ryuk off when its image is neither here nor pullable, instead of failing every start."""
    import docker
    from testcontainers.core.config import testcontainers_config as config

    if config.ryuk_disabled:
        return
    client = docker.from_env()
    try:
        try:
            client.images.get(config.ryuk_image)
        except docker.errors.ImageNotFound:
            try:
                client.images.pull(config.ryuk_image)
            except docker.errors.APIError:
                config.ryuk_disabled = True
    finally:
        client.close()


class DockerStack(Stack):
    """InfluxDB 2.x and Mosquitto in throwaway containers."""

    backend = "docker"

    def __init__(
        self,
        *,
        org: str = "influx-labs",
        bucket: str = "labs",
        token: str | None = None,
        username: str = "admin",
        password: str | None = None,
        retention: str | None = None,
        docker_client_kw: dict[str, Any] | None = None,
    ) -> None:
        """``docker_client_kw`` goes to the Docker SDK (e.g. ``base_url``)."""
        self.org = org
        self.bucket = bucket
        self.token = token or secret(32)
        self.username = username
        self.password = password or secret(16)
        self.retention = retention
        self.docker_client_kw = docker_client_kw
        self.influx_container: Any = None
        self.mqtt_container: Any = None
        self.extra_containers: list[Any] = []  # the labs' extra InfluxDB servers
        self._endpoints: Endpoints | None = None
        # Publish on 127.0.0.1 only, as the Compose file does; start() turns it
        # off where the engine's loopback is not this machine's.
        self.loopback = True

    def influxdb_container(self, token: str | None = None) -> Any:
        """The configured (not yet started) InfluxDB container; ``token``: its admin token,
        else the stack's."""
        from testcontainers.community.influxdb import InfluxDb2Container

        container = InfluxDb2Container(
            image=INFLUXDB_IMAGE,
            init_mode="setup",
            admin_token=token or self.token,
            username=self.username,
            password=self.password,
            org_name=self.org,
            bucket=self.bucket,
            retention=self.retention,
            docker_client_kw=self.docker_client_kw,
        )
        return _on_loopback(container, 8086) if self.loopback else container

    def mosquitto_container(self) -> Any:
        """The configured (not yet started) Mosquitto container (anonymous, port 1883)."""
        from testcontainers.community.mqtt import MosquittoContainer

        class LoopbackMosquitto(MosquittoContainer):  # type: ignore[misc]
            # start() exposes 1883 on every interface; publish it on loopback instead.
            def with_exposed_ports(self, *ports: int | str) -> Any:
                for port in ports:
                    _on_loopback(self, port)
                return self

        kind = LoopbackMosquitto if self.loopback else MosquittoContainer
        return kind(image=MOSQUITTO_IMAGE, docker_client_kw=self.docker_client_kw)

    def start(self) -> Endpoints:
        if not docker_available():
            raise BackendUnavailable(
                "no Docker engine answers (is the daemon running and DOCKER_HOST right?); "
                "use the native backend instead: --backend native"
            )
        self.loopback = _engine_shares_this_network()
        _without_an_unreachable_reaper()
        # Kept before start(), so that a container that fails its wait is removed too.
        self.influx_container = self.influxdb_container()
        self.mqtt_container = self.mosquitto_container()
        try:
            self.influx_container.start()
            # The stack's own broker configuration (queue limits included), not the module's.
            self.mqtt_container.start(configfile=str(MOSQUITTO_CONF))
        except Exception as exc:
            report = "; ".join(
                _post_mortem(c) for c in (self.influx_container, self.mqtt_container)
            )
            self.stop()
            raise ServiceError(f"a container did not start ({exc}): {report}") from exc
        influx = self._endpoint(self.influx_container, self.token)
        host = "127.0.0.1" if self.loopback else self.mqtt_container.get_container_host_ip()
        broker = BrokerEndpoint(host, int(self.mqtt_container.get_exposed_port(1883)))
        self._endpoints = Endpoints(influx, broker, self.backend)
        influx.health()
        return self._endpoints

    def _endpoint(self, container: Any, token: str) -> InfluxEndpoint:
        host = "127.0.0.1" if self.loopback else container.get_container_host_ip()
        url = f"http://{host}:{container.get_exposed_port(8086)}"
        return InfluxEndpoint(url=url, org=self.org, bucket=self.bucket, token=token)

    def _start_influx(self, name: str) -> InfluxEndpoint:
        """One more container of the pinned image, onboarded like the first."""
        token = secret(32)
        container = self.influxdb_container(token)
        self.extra_containers.append(container)
        try:
            container.start()
        except Exception as exc:
            raise ServiceError(
                f"InfluxDB {name!r} did not start ({exc}): {_post_mortem(container)}"
            ) from exc
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        address = wrapped.attrs["NetworkSettings"]["IPAddress"]
        server = replace(self._endpoint(container, token), peer_url=f"http://{address}:8086")
        server.health()
        return server

    def stop(self) -> None:
        for container in (self.mqtt_container, self.influx_container, *self.extra_containers):
            if container is not None:
                with contextlib.suppress(Exception):
                    container.stop()
        self.mqtt_container = self.influx_container = None
        self.extra_containers = []
