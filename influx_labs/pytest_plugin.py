"""pytest fixtures for live lab services, shared by the project's tests and the grader.

Registered through the ``pytest11`` entry point, so any test suite in an
environment with influx-labs installed gets them:

- ``lab_stack``: one services stack for the whole session (``--backend``).
- ``influx`` / ``mqtt_broker``: its endpoints.
- ``influx_client``: an ``InfluxDBClient`` with the admin token.
- ``fresh_bucket``: a uniquely named bucket for one test, deleted afterwards.

Where no backend can run, tests that use these fixtures are skipped with the
reason, unless ``INFLUX_LABS_REQUIRE_LIVE=1`` (as in CI), which turns that into
an error: a suite must never look green because its live tests did not run.
``INFLUX_LABS_REQUIRE_DOCKER=1`` does the same for tests that need a Docker engine.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

from .services import BACKENDS, BackendUnavailable, Endpoints, Stack, open_stack
from .services.base import BrokerEndpoint, InfluxEndpoint


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("influx-labs")
    group.addoption(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("INFLUX_LABS_BACKEND", "auto"),
        help="where the lab services run: docker, native, external (from .env) or auto",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: needs a running InfluxDB and Mosquitto")
    config.addinivalue_line("markers", "docker: needs a Docker engine")


def live_required() -> bool:
    """Whether a missing live service must fail a test rather than skip it (CI sets it)."""
    return os.environ.get("INFLUX_LABS_REQUIRE_LIVE", "") not in ("", "0", "false")


def docker_required() -> bool:
    """Whether a missing Docker engine (or Compose) must fail a test rather than skip it."""
    return os.environ.get("INFLUX_LABS_REQUIRE_DOCKER", "") not in ("", "0", "false")


def docker_missing(reason: str) -> NoReturn:
    """Skip a Docker test with the reason, or fail it where Docker is required (CI)."""
    if docker_required():
        pytest.fail(f"Docker is required here but: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The session's services; started once, stopped at the end of the run."""
    try:
        stack = open_stack(request.config.getoption("--backend"))
        stack.start()
    except BackendUnavailable as exc:
        if live_required():
            pytest.fail(f"live services are required here but cannot run: {exc}")
        pytest.skip(f"no lab services: {exc}")
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def endpoints(lab_stack: Stack) -> Endpoints:
    return lab_stack.endpoints


@pytest.fixture(scope="session")
def influx(endpoints: Endpoints) -> InfluxEndpoint:
    return endpoints.influx


@pytest.fixture(scope="session")
def mqtt_broker(endpoints: Endpoints) -> BrokerEndpoint:
    return endpoints.mqtt


@pytest.fixture(scope="session")
def influx_client(influx: InfluxEndpoint):  # -> InfluxDBClient
    from influxdb_client import InfluxDBClient

    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=10_000) as c:
        yield c


@pytest.fixture
def fresh_bucket(influx_client, influx: InfluxEndpoint) -> Iterator[str]:
    """A new, empty bucket named for this test; deleted when the test ends."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    buckets = influx_client.buckets_api()
    bucket = buckets.create_bucket(bucket_name=name, org=influx.org)
    try:
        yield name
    finally:
        buckets.delete_bucket(bucket)
