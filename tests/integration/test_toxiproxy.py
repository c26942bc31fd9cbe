"""The grader's Toxiproxy between a client and the live InfluxDB: each toxic does to a real
connection what its name says, and removing it restores the path."""

from __future__ import annotations

import time

import pytest
import requests

from influx_labs.services.toxiproxy import Toxiproxy

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def toxi() -> Toxiproxy:
    with Toxiproxy() as server:
        yield server


def _health(port: int, timeout: float = 5) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{port}/health", timeout=timeout)


def test_a_proxy_passes_requests_and_toxics_break_them(toxi, influx):
    port = toxi.proxy("influxdb", influx.url.removeprefix("http://"))
    assert _health(port).json()["status"] == "pass"

    toxi.add("influxdb", "reset_peer", timeout=0)
    with pytest.raises(requests.ConnectionError):
        _health(port)
    toxi.remove("influxdb", "reset_peer")

    toxi.add("influxdb", "timeout", timeout=0)  # accepted, never answered
    with pytest.raises(requests.Timeout):
        _health(port, timeout=1)
    toxi.remove("influxdb", "timeout")

    toxi.add("influxdb", "latency", latency=400)
    started = time.monotonic()
    assert _health(port).status_code == 200
    assert time.monotonic() - started >= 0.4
    toxi.remove("influxdb", "latency")
    assert _health(port).json()["status"] == "pass"


def test_a_missing_proxy_is_a_clear_error(toxi):
    from influx_labs.services import ServiceError

    with pytest.raises(ServiceError, match="toxiproxy DELETE /proxies/nowhere/toxics/latency: 404"):
        toxi.remove("nowhere", "latency")
