"""Shared test fixtures; the live-service fixtures come from influx_labs.pytest_plugin."""

from __future__ import annotations

import os

import pytest

from influx_labs.services.binaries import native_available


@pytest.fixture
def native_binaries() -> None:
    """Skip (or, where live tests are required, fail) unless influxd and mosquitto exist."""
    if native_available():
        return
    reason = "influxd/mosquitto not installed (run scripts/build-native.sh, apt install mosquitto)"
    if os.environ.get("INFLUX_LABS_REQUIRE_LIVE", "") not in ("", "0", "false"):
        pytest.fail(reason)
    pytest.skip(reason)
