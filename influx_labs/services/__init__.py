"""One way to get lab services, whichever backend runs them.

>>> with open_stack("auto") as stack:
...     env = stack.endpoints.as_env()

``auto`` picks Docker when an engine answers, else the native processes when
their binaries exist, else fails with a message saying how to get either.
"""

from __future__ import annotations

import os

from .base import (
    AuthError,
    BackendUnavailable,
    BinaryNotFound,
    BrokerEndpoint,
    Endpoints,
    InfluxEndpoint,
    PortInUse,
    ServiceDown,
    ServiceError,
    ServiceStartError,
    Stack,
    server_env,
)
from .binaries import native_available
from .docker import DockerStack, docker_available
from .external import ExternalStack
from .native import NativeStack

BACKENDS = ("auto", "docker", "native", "external")

__all__ = [
    "BACKENDS",
    "AuthError",
    "BackendUnavailable",
    "BinaryNotFound",
    "BrokerEndpoint",
    "DockerStack",
    "Endpoints",
    "ExternalStack",
    "InfluxEndpoint",
    "NativeStack",
    "PortInUse",
    "ServiceDown",
    "ServiceError",
    "ServiceStartError",
    "Stack",
    "choose_backend",
    "open_stack",
    "server_env",
]


def choose_backend(requested: str | None = None) -> str:
    """Resolve ``auto`` (or ``$INFLUX_LABS_BACKEND``) to a concrete backend name."""
    name = (requested or os.environ.get("INFLUX_LABS_BACKEND") or "auto").lower()
    if name not in BACKENDS:
        raise ServiceError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name != "auto":
        return name
    if docker_available():
        return "docker"
    if native_available():
        return "native"
    raise BackendUnavailable(
        "no way to run the lab services here: no Docker engine answers, and the native "
        "binaries (influxd, mosquitto) are missing. Either start Docker, or install the "
        "native servers with `./course up` (apt mosquitto + a one-time influxd build), or "
        "point at running servers with --backend external and INFLUXDB_V2_URL/TOKEN/ORG."
    )


def open_stack(backend: str | None = None, **options: object) -> Stack:
    """A not-yet-started stack of the chosen backend; use it with ``with``."""
    name = choose_backend(backend)
    if name == "docker":
        return DockerStack(**options)  # type: ignore[arg-type]
    if name == "native":
        return NativeStack(**options)  # type: ignore[arg-type]
    return ExternalStack(**options)  # type: ignore[arg-type]
