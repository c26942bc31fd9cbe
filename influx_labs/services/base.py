"""What every services backend provides, and the errors it raises.

The labs, the grader and the tests only ever see a :class:`Stack` and the
:class:`Endpoints` it returns, so they run unchanged against containers,
local processes or a server the user already has.
"""

from __future__ import annotations

import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

import requests


class ServiceError(RuntimeError):
    """A lab service could not be started, reached or used. The message says what to do."""


class BackendUnavailable(ServiceError):
    """The requested backend cannot run on this machine (no engine, no binaries)."""


class BinaryNotFound(BackendUnavailable):
    """A server binary needed by the native backend is missing."""


class PortInUse(ServiceError):
    """A fixed port that a service must bind is already taken."""


class ServiceStartError(ServiceError):
    """A server process exited or never became ready while starting."""


class ServiceDown(ServiceError):
    """A service that was running no longer answers."""


class AuthError(ServiceError):
    """The server rejected the token (HTTP 401) or it lacks a permission (403)."""


@dataclass(frozen=True)
class InfluxEndpoint:
    """How to reach and authenticate to one InfluxDB 2.x server."""

    url: str
    org: str
    bucket: str
    token: str
    # Where another InfluxDB of the stack reaches this one, when not at ``url`` (containers
    # reach each other on the engine's network, not on the host's loopback).
    peer_url: str = ""

    def health(self, timeout: float = 2.0) -> dict:
        """``GET /health``; raises :class:`ServiceDown` when the server does not answer ``pass``."""
        try:
            response = requests.get(f"{self.url}/health", timeout=timeout)
        except requests.RequestException as exc:
            raise ServiceDown(f"InfluxDB at {self.url} does not answer: {exc}") from exc
        body = response.json() if response.content else {}
        if response.status_code != 200 or body.get("status") != "pass":
            raise ServiceDown(f"InfluxDB at {self.url} is unhealthy: {response.status_code} {body}")
        return body

    def check_token(self, timeout: float = 5.0) -> str:
        """Prove the token works and the org exists; returns the org ID."""
        try:
            response = requests.get(
                f"{self.url}/api/v2/orgs",
                params={"org": self.org},
                headers={"Authorization": f"Token {self.token}"},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise ServiceDown(f"InfluxDB at {self.url} does not answer: {exc}") from exc
        if response.status_code in (401, 403):
            raise AuthError(
                f"InfluxDB at {self.url} rejected the token ({response.status_code}): "
                "check INFLUXDB_V2_TOKEN (a token from another server or a revoked one fails)"
            )
        if response.status_code == 404:
            raise ServiceError(f"organization {self.org!r} does not exist on {self.url}")
        response.raise_for_status()
        orgs = response.json().get("orgs", [])
        if not orgs:
            raise ServiceError(f"organization {self.org!r} does not exist on {self.url}")
        return orgs[0]["id"]


@dataclass(frozen=True)
class BrokerEndpoint:
    """How to reach one MQTT broker (anonymous access on loopback)."""

    host: str
    port: int

    def check(self, timeout: float = 2.0) -> None:
        """Open a TCP connection to the broker; raises :class:`ServiceDown` if refused."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                pass
        except OSError as exc:
            raise ServiceDown(f"MQTT broker at {self.host}:{self.port} refused: {exc}") from exc


def server_env(name: str, server: InfluxEndpoint) -> dict[str, str]:
    """The settings of the extra InfluxDB server ``name``: ``INFLUXDB_CLOUD_URL`` and so on."""
    prefix = f"INFLUXDB_{name.upper()}_"
    env = {
        f"{prefix}URL": server.url,
        f"{prefix}ORG": server.org,
        f"{prefix}BUCKET": server.bucket,
        f"{prefix}TOKEN": server.token,
    }
    return env | ({f"{prefix}PEER_URL": server.peer_url} if server.peer_url else {})


@dataclass(frozen=True)
class Endpoints:
    """Everything a lab program needs, whichever backend runs the servers."""

    influx: InfluxEndpoint
    mqtt: BrokerEndpoint
    backend: str
    # Extra InfluxDB servers started for a lab that needs more than one (e.g. "cloud").
    servers: Mapping[str, InfluxEndpoint] = field(default_factory=dict)

    def as_env(self) -> dict[str, str]:
        """The settings as environment variables, in the names the labs read."""
        env = {
            "INFLUXDB_V2_URL": self.influx.url,
            "INFLUXDB_V2_ORG": self.influx.org,
            "INFLUXDB_V2_BUCKET": self.influx.bucket,
            "INFLUXDB_V2_TOKEN": self.influx.token,
            "MQTT_HOST": self.mqtt.host,
            "MQTT_PORT": str(self.mqtt.port),
        }
        for name, server in self.servers.items():
            env |= server_env(name, server)
        return env


class Stack(ABC):
    """A running InfluxDB + Mosquitto pair. Use it as a context manager."""

    backend: str = "abstract"
    _endpoints: Endpoints | None = None

    @abstractmethod
    def start(self) -> Endpoints:
        """Start (or reach) both services and return once they are ready."""

    @abstractmethod
    def stop(self) -> None:
        """Stop what :meth:`start` started. Safe to call twice."""

    @property
    def endpoints(self) -> Endpoints:
        """The endpoints of a started stack."""
        if self._endpoints is None:
            raise ServiceError(f"the {self.backend} stack is not started")
        return self._endpoints

    def check(self) -> None:
        """Raise :class:`ServiceDown` unless every service answers right now."""
        self.endpoints.influx.health()
        self.endpoints.mqtt.check()
        for server in self.endpoints.servers.values():
            server.health()

    def influx_server(self, name: str) -> InfluxEndpoint:
        """Another InfluxDB server of this stack, started on the first ask: a lab with an
        edge and a cloud, or two regions, asks for each by name. Stopped with the stack."""
        if not re.fullmatch(r"[a-z][a-z0-9]*", name):
            raise ServiceError(f"an InfluxDB server's name is lower-case letters: not {name!r}")
        endpoints = self.endpoints
        if name not in endpoints.servers:
            server = self._start_influx(name)
            self._endpoints = replace(endpoints, servers={**endpoints.servers, name: server})
        return self.endpoints.servers[name]

    def _start_influx(self, name: str) -> InfluxEndpoint:
        """Start (or reach) the extra InfluxDB server ``name``, onboarded like the first."""
        raise ServiceError(f"the {self.backend} backend cannot start another InfluxDB")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
