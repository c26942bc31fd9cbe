"""The Docker backend: the pinned images through testcontainers.

Used where a Docker engine answers. Containers get random host ports (bound
by testcontainers) and are removed on stop; testcontainers' reaper removes
them even if the caller is killed.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from ..versions import INFLUXDB_IMAGE, MOSQUITTO_IMAGE
from .base import BackendUnavailable, BrokerEndpoint, Endpoints, InfluxEndpoint, Stack


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
        self.token = token or secrets.token_urlsafe(32)
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.retention = retention
        self.docker_client_kw = docker_client_kw
        self.influx_container: Any = None
        self.mqtt_container: Any = None
        self._endpoints: Endpoints | None = None

    def influxdb_container(self) -> Any:
        """The configured (not yet started) InfluxDB container."""
        from testcontainers.community.influxdb import InfluxDb2Container

        return InfluxDb2Container(
            image=INFLUXDB_IMAGE,
            init_mode="setup",
            admin_token=self.token,
            username=self.username,
            password=self.password,
            org_name=self.org,
            bucket=self.bucket,
            retention=self.retention,
            docker_client_kw=self.docker_client_kw,
        )

    def mosquitto_container(self) -> Any:
        """The configured (not yet started) Mosquitto container (anonymous, port 1883)."""
        from testcontainers.community.mqtt import MosquittoContainer

        return MosquittoContainer(image=MOSQUITTO_IMAGE, docker_client_kw=self.docker_client_kw)

    def start(self) -> Endpoints:
        if not docker_available():
            raise BackendUnavailable(
                "no Docker engine answers (is the daemon running and DOCKER_HOST right?); "
                "use the native backend instead: --backend native"
            )
        self.influx_container = self.influxdb_container().start()
        try:
            self.mqtt_container = self.mosquitto_container().start()
        except Exception:
            self.stop()
            raise
        influx = InfluxEndpoint(
            url=self.influx_container.get_url(), org=self.org, bucket=self.bucket, token=self.token
        )
        broker = BrokerEndpoint(
            self.mqtt_container.get_container_host_ip(),
            int(self.mqtt_container.get_exposed_port(1883)),
        )
        self._endpoints = Endpoints(influx, broker, self.backend)
        influx.health()
        return self._endpoints

    def stop(self) -> None:
        for container in (self.mqtt_container, self.influx_container):
            if container is not None:
                with contextlib.suppress(Exception):
                    container.stop()
        self.mqtt_container = self.influx_container = None
