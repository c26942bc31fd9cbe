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

import gc
import json
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write.retry import WritesRetry
from influxdb_client.client.write_api import SYNCHRONOUS

# InfluxDB stores nanoseconds in a signed 64-bit integer: a later ts fails the whole batch.
MAX_TS_MS = (2**63 - 1) // 1_000_000
# What a tag value must escape in line protocol (the client's Point escapes the same).
TAG_ESCAPES = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)


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


def parse(payload: bytes) -> str:
    """The point a payload stands for, as a line of line protocol (ms precision), or
    Malformed saying why there is none.

    A string, not a Point: at thousands of messages a second, building a Point per
    message costs more than everything else the bridge does with it."""
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
    temperature = _number(message.get("temperature"), "temperature")
    humidity = _number(message.get("humidity"), "humidity")
    # repr() of a float is exact and always reads back as a float field ("21.0", "1e+16").
    return (
        f"readings,device={device.translate(TAG_ESCAPES)} "
        f"temperature={temperature!r},humidity={humidity!r} {ts}"
    )


class Batcher:
    """Collects lines and hands them to ``write`` in batches of ``size``, or fewer once
    ``interval`` seconds have passed since the first of them came; one thread writes,
    in order, so the MQTT thread never waits for InfluxDB."""

    def __init__(self, write: Callable[[list[str]], None], size: int, interval: float) -> None:
        self.write = write
        self.size = size
        self.interval = interval
        self.full: deque[list[str]] = deque()  # batches of `size`, waiting for the writer
        self.lines: list[str] = []  # the batch being filled
        self.due = 0.0  # when it must go, full or not
        self.closing = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self.thread.start()

    def add(self, line: str) -> None:
        with self.changed:
            if not self.lines:  # a new batch: the writer must wake when it is due
                self.due = time.monotonic() + self.interval
                self.changed.notify()
            self.lines.append(line)
            if len(self.lines) == self.size:
                self.full.append(self.lines)
                self.lines = []
                self.changed.notify()

    def close(self) -> None:
        """Write everything still waiting, then return."""
        with self.changed:
            self.closing = True
            self.changed.notify()
        self.thread.join()

    def _next(self) -> list[str] | None:
        """The next batch to write, waiting for one; None once closed and empty."""
        with self.changed:
            while not (self.full or self.closing):
                wait = self.due - time.monotonic() if self.lines else None
                if wait is not None and wait <= 0:
                    break
                self.changed.wait(wait)
            if self.full:
                return self.full.popleft()
            batch, self.lines = self.lines, []
            return batch or None

    def _run(self) -> None:
        while (batch := self._next()) is not None:
            self.write(batch)


class Bridge:
    """Subscribes, validates, and hands lines to one batcher."""

    def __init__(self) -> None:
        env = os.environ
        self.bucket = env["INFLUXDB_V2_BUCKET"]
        self.topic = f"{env['MQTT_TOPIC_PREFIX']}/+/telemetry"
        # No lock: "written" changes only on the writer's thread, the others only on
        # paho's, and they are read once both threads have stopped.
        self.counts = {"received": 0, "written": 0, "malformed": 0}
        self.stopping = threading.Event()

        # One client for the life of the process. Its retries (in urllib3, under every
        # request): up to 5 on 429, 5xx and dropped connections, as long as Retry-After
        # says, else backoff 1-2 s, 2-4 s, ... with jitter. max_retry_time counts from
        # when the WritesRetry is made, not from each request: the default (180 s) would
        # end all retrying three minutes into the bridge's life.
        retries = WritesRetry(
            total=5,
            retry_interval=1,
            max_retry_delay=30,
            jitter_interval=0.5,
            max_retry_time=10 * 365 * 86400,
            allowed_methods=["POST"],
        )
        self.influx = InfluxDBClient.from_env_properties(retries=retries)
        self.write_api = self.influx.write_api(write_options=SYNCHRONOUS)
        self.batcher = Batcher(
            self._write,
            size=int(env.get("BATCH_SIZE", "500")),
            interval=int(env.get("FLUSH_INTERVAL_MS", "1000")) / 1000,
        )

        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_message = self._on_message
        self.mqtt.reconnect_delay_set(min_delay=1, max_delay=30)

    def _write(self, lines: list[str]) -> None:
        """One batch, on the batcher's thread: counted once InfluxDB has confirmed it."""
        try:
            # One string: the client would otherwise encode and collect each line itself.
            body = "\n".join(lines)
            self.write_api.write(self.bucket, record=body, write_precision=WritePrecision.MS)
        except Exception as exc:  # retries are spent: report the loss and go on
            print(f"write of {len(lines)} points failed: {exc}", file=sys.stderr)
            return
        self.counts["written"] += len(lines)

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            print(f"MQTT connect refused: {reason_code}", file=sys.stderr)
            return
        client.subscribe(self.topic, qos=1)  # again after every reconnect

    def _on_subscribe(self, _client, _userdata, _mid, _reason_codes, _properties) -> None:
        print("READY", flush=True)

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        self.counts["received"] += 1
        try:
            line = parse(message.payload)
        except Malformed as exc:
            self.counts["malformed"] += 1
            print(f"skipped a message on {message.topic}: {exc}", file=sys.stderr)
            return
        self.batcher.add(line)

    def run(self) -> None:
        """Bridge until SIGTERM/SIGINT, then write what is buffered and report."""
        threading.Thread(target=self._disconnect_when_stopping, daemon=True).start()
        self.mqtt.connect_async(os.environ["MQTT_HOST"], int(os.environ["MQTT_PORT"]))
        # paho's network loop on this thread: it reconnects as loop_start() would, and a
        # message costs less than with the loop on a thread of its own. It returns once
        # the client has disconnected on purpose.
        self.mqtt.loop_forever(retry_first_connection=True)
        self.batcher.close()
        self.influx.close()
        print(json.dumps(self.counts), flush=True)

    def _disconnect_when_stopping(self) -> None:
        # Not in the signal handler itself: it may interrupt this thread inside paho,
        # holding a lock that disconnect() needs.
        self.stopping.wait()
        self.mqtt.disconnect()  # stop taking messages first


def main() -> None:
    bridge = Bridge()
    # Everything made so far lives as long as the process: keep the garbage collector
    # from walking it again and again while messages stream in.
    gc.freeze()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: bridge.stopping.set())
    bridge.run()


if __name__ == "__main__":
    main()
