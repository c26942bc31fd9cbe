"""Telegraf, the bridge the iot_pipeline solution is benchmarked against, bridges the lab's
stream as the lab's contract says: a point per valid reading, tag device, float fields,
the reading's own time; malformed payloads skipped."""

from __future__ import annotations

import time

import pytest

from influx_labs.services.base import ServiceStartError
from influx_labs.services.broker import LocalBroker
from influx_labs.services.telegraf import Telegraf, mqtt_bridge_config
from influx_labs.simulators.iot import generate, publish, valid_readings

pytestmark = pytest.mark.timeout(90)


def _stored(influx_client, bucket: str) -> list[dict]:
    tables = influx_client.query_api().query(
        f'from(bucket: "{bucket}") |> range(start: 0) '
        '|> pivot(rowKey: ["_time", "device"], columnKey: ["_field"], valueColumn: "_value")'
    )
    return [r.values for t in tables for r in t.records]


def test_telegraf_bridges_the_lab_stream(influx, influx_client, fresh_bucket):
    messages = generate(3, 60, seed=5, start_ms=1_700_000_000_000, prefix="tg")
    readings = valid_readings(messages)
    with LocalBroker() as broker:
        config = mqtt_bridge_config(
            broker.endpoint, influx, bucket=fresh_bucket, topic="tg/+/telemetry", batch_size=10
        )
        with Telegraf(config, token=influx.token) as telegraf:
            deadline = time.monotonic() + 15
            subscription = broker.wait_for_subscription("tg/+/telemetry", 15)
            assert subscription is not None and subscription.qos == 1, telegraf.log_tail()
            publish(messages, broker.endpoint.host, broker.endpoint.port, qos=1)
            while len(_stored(influx_client, fresh_bucket)) < len(readings):
                assert time.monotonic() < deadline + 15, telegraf.log_tail()
                time.sleep(0.2)
    rows = _stored(influx_client, fresh_bucket)
    got = {
        (r["device"], int(r["_time"].timestamp() * 1000)): (r["temperature"], r["humidity"])
        for r in rows
    }
    assert got == {(r.device, r.ts_ms): (r.temperature, r.humidity) for r in readings}
    assert {r["_measurement"] for r in rows} == {"readings"}
    assert all(isinstance(r["temperature"], float) for r in rows)


def test_a_broker_that_is_not_there_is_a_clear_error(influx):
    with LocalBroker() as broker:
        endpoint = broker.endpoint
    config = mqtt_bridge_config(endpoint, influx, bucket="b", topic="t/+/telemetry")
    with pytest.raises(ServiceStartError, match="telegraf did not start"):
        Telegraf(config, token=influx.token, startup_timeout=10).start()
