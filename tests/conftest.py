"""Shared test fixtures; the live-service fixtures come from influx_labs.pytest_plugin."""

from __future__ import annotations

import pytest

from influx_labs.pytest_plugin import live_required
from influx_labs.services.binaries import native_available


@pytest.fixture
def native_binaries() -> None:
    """Skip (or, where live tests are required, fail) unless influxd and mosquitto exist."""
    if native_available():
        return
    reason = "influxd/mosquitto not installed (run scripts/build-native.sh, apt install mosquitto)"
    if live_required():
        pytest.fail(reason)
    pytest.skip(reason)
