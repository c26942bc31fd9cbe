"""Tests that need a Docker engine: the Compose stack and the docker backend.

They run the images docker-compose.yml pins (pulled, or rebuilt by
scripts/build-images.sh where no registry answers). Without an engine they
are skipped with the reason, or fail where ``INFLUX_LABS_REQUIRE_DOCKER=1``.

The live-service fixtures are registered again here so that tests in this folder get
a docker-backend stack, whatever ``--backend`` the rest of the session uses.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

# The plugin's fixtures derived from lab_stack, registered again here: these get session
# caches of their own, built on this folder's docker stack, not the session's.
from influx_labs.pytest_plugin import (  # noqa: F401
    docker_missing,
    endpoints,
    influx,
    influx_client,
    mqtt_broker,
)
from influx_labs.services import DockerStack, docker_available
from influx_labs.versions import INFLUXDB_IMAGE, MOSQUITTO_IMAGE

pytestmark = pytest.mark.docker


# Every container testcontainers starts carries this label (any process, any session).
TESTCONTAINERS = "org.testcontainers=true"


def docker_objects(label: str = TESTCONTAINERS) -> dict[str, set[str]]:
    """The engine's containers and networks with ``label``, and its dangling volumes.

    Scoped to a label so that other work on the same engine (a developer's own
    containers) cannot fail a test; a removed container's anonymous volumes
    have no label, but one left behind shows up as dangling.
    """
    listings = {
        "containers": ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter"],
        "networks": ["docker", "network", "ls", "--quiet", "--no-trunc", "--filter"],
    }
    found = {
        kind: set(
            subprocess.run(
                [*cmd, f"label={label}"], capture_output=True, text=True, check=True
            ).stdout.split()
        )
        for kind, cmd in listings.items()
    }
    dangling = ["docker", "volume", "ls", "--quiet", "--filter", "dangling=true"]
    found["volumes"] = set(
        subprocess.run(dangling, capture_output=True, text=True, check=True).stdout.split()
    )
    return found


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """An engine that answers and has the pinned images (skip or fail otherwise)."""
    if not docker_available():
        docker_missing("no Docker engine answers (start dockerd; CI starts one)")
    for image in (INFLUXDB_IMAGE, MOSQUITTO_IMAGE):
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if found.returncode != 0:
            docker_missing(f"the engine has no {image}: run scripts/build-images.sh")


@pytest.fixture(scope="session")
def lab_stack(docker_engine: None) -> Iterator[DockerStack]:
    with DockerStack() as stack:
        yield stack
