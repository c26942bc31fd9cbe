"""Lab iot_pipeline: a bridge from MQTT device readings to InfluxDB (reference solution).

Contract (the grader starts this file as a program: `python bridge.py`):
- settings from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
  INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN, MQTT_HOST, MQTT_PORT,
  MQTT_TOPIC_PREFIX (subscribe to `{prefix}/+/telemetry` with QoS 1),
  BATCH_SIZE (default 500) and FLUSH_INTERVAL_MS (default 1000);
- print a line `READY` once the subscription is acknowledged;
- a valid message is a JSON object with `device` (non-empty string), `ts`
  (integer epoch milliseconds, 0 to 9223372036854: what InfluxDB can store in
  nanoseconds), `temperature` and `humidity` (finite numbers; an integer too
  large for a float is not one);
  it becomes one point: measurement `readings`, tag `device`, float fields
  `temperature` and `humidity`, at time `ts`;
- anything else is skipped and counted, and the bridge keeps running;
- on SIGTERM or SIGINT: stop reading, write everything still buffered, print
  one JSON line {"received": n, "written": n, "malformed": n} and exit 0.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from typing import Any

import paho.mqtt.client as mqtt
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import WriteOptions

# InfluxDB stores nanoseconds in a signed 64-bit integer: a later ts fails the whole batch.
MAX_TS_MS = (2**63 - 1) // 1_000_000


class Malformed(ValueError):
    """A payload that breaks the message contract; the text says how."""


def _number(value: Any, name: str) -> float:
    # bool is an int in Python, but `true` is no temperature.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{name} is not a number: {value!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # a JSON integer too large for any float
        finite = False
    if not finite:
        raise Malformed(f"{name} is not a finite number: {str(value)[:40]}")
    return float(value)  # always float: an integer 21 must not start an integer field


def parse(payload: bytes) -> Point:
    """The point a payload stands for, or Malformed saying why there is none."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise Malformed("not a JSON object")
    device = message.get("device")
    if not isinstance(device, str) or not device.strip():
        raise Malformed(f"device is missing or empty: {device!r}")
    ts = message.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TS_MS:
        raise Malformed(f"ts is not epoch milliseconds InfluxDB can store: {str(ts)[:40]}")
    return (
        Point("readings")
        .tag("device", device)
        .field("temperature", _number(message.get("temperature"), "temperature"))
        .field("humidity", _number(message.get("humidity"), "humidity"))
        .time(ts, WritePrecision.MS)  # an int is passed through exactly
    )


class Bridge:
    """Subscribes, validates, and hands points to one batching writer."""

    def __init__(self) -> None:
        env = os.environ
        self.bucket = env["INFLUXDB_V2_BUCKET"]
        self.topic = f"{env['MQTT_TOPIC_PREFIX']}/+/telemetry"
        self.counts = {"received": 0, "written": 0, "malformed": 0}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

        # One client and one writer for the life of the process.
        self.influx = InfluxDBClient.from_env_properties()
        self.writer = self.influx.write_api(
            write_options=WriteOptions(
                batch_size=int(env.get("BATCH_SIZE", "500")),
                flush_interval=int(env.get("FLUSH_INTERVAL_MS", "1000")),
                retry_interval=1_000,
                max_retries=5,
            ),
            success_callback=self._written,
            error_callback=self._failed,
        )

        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_message = self._on_message
        self.mqtt.reconnect_delay_set(min_delay=1, max_delay=30)

    # Batching callbacks: run on the writer's thread, once per batch.
    def _written(self, _conf: tuple, data: str) -> None:
        with self.lock:
            self.counts["written"] += len(data.splitlines())

    def _failed(self, _conf: tuple, data: str, exc: Exception) -> None:
        print(f"write of {len(data.splitlines())} points failed: {exc}", file=sys.stderr)

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            print(f"MQTT connect refused: {reason_code}", file=sys.stderr)
            return
        client.subscribe(self.topic, qos=1)  # again after every reconnect

    def _on_subscribe(self, _client, _userdata, _mid, _reason_codes, _properties) -> None:
        print("READY", flush=True)

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.counts["received"] += 1
        try:
            point = parse(message.payload)
        except Malformed as exc:
            with self.lock:
                self.counts["malformed"] += 1
            print(f"skipped a message on {message.topic}: {exc}", file=sys.stderr)
            return
        self.writer.write(bucket=self.bucket, record=point)

    def run(self) -> None:
        self.mqtt.connect_async(os.environ["MQTT_HOST"], int(os.environ["MQTT_PORT"]))
        self.mqtt.loop_start()
        self.stopping.wait()
        # Stop taking messages first, then write what is buffered, then report.
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
        self.writer.close()
        self.influx.close()
        print(json.dumps(self.counts), flush=True)


def main() -> None:
    bridge = Bridge()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: bridge.stopping.set())
    bridge.run()
    # Everything is written and closed. Leave now: the batching writer's scheduler keeps
    # an idle thread waiting for its flush timer, and a normal interpreter exit joins it,
    # which with a long FLUSH_INTERVAL_MS would hold the process for that long.
    os._exit(0)


if __name__ == "__main__":
    main()
