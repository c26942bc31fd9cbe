"""Lab iot_pipeline: a bridge from MQTT device readings to InfluxDB (skeleton).

Complete the TODOs, then run the grader on your work: `./course check iot_pipeline`.
Guide: docs/labs/iot_pipeline.md. Feed it by hand with the simulator:
`python labs/iot_pipeline/simulate.py --devices 3 --rate 5 --count 60 --malformed 0.1`.

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
import os
import sys
import threading

import paho.mqtt.client as mqtt
from influxdb_client import InfluxDBClient, Point


class Malformed(ValueError):
    """A payload that breaks the message contract; the text says how."""


def parse(payload: bytes) -> Point:
    """The point a payload stands for, or Malformed saying why there is none."""
    # TODO: decode the JSON and check every field of the contract; raise Malformed
    # for anything else (not JSON, not an object, a missing/empty/None device, ts
    # that is not a non-negative integer, non-numeric or boolean readings).
    # Build Point("readings") with the device tag, float fields and .time(ts, ms)
    # (or a line of line protocol: the guide's "Speed" section says when that pays).
    raise NotImplementedError("not implemented yet: parse()")


class Bridge:
    """Subscribes, validates, and hands points to one batching writer."""

    def __init__(self) -> None:
        env = os.environ
        self.bucket = env["INFLUXDB_V2_BUCKET"]
        self.topic = f"{env['MQTT_TOPIC_PREFIX']}/+/telemetry"
        self.counts = {"received": 0, "written": 0, "malformed": 0}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

        self.influx = InfluxDBClient.from_env_properties()
        # TODO: one batching writer for the life of the process:
        # self.influx.write_api(write_options=WriteOptions(batch_size=...,
        # flush_interval=...), success_callback=..., error_callback=...)
        # and count confirmed points in the success callback.
        self.writer = None

        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_message = self._on_message
        self.mqtt.reconnect_delay_set(min_delay=1, max_delay=30)

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            print(f"MQTT connect refused: {reason_code}", file=sys.stderr)
            return
        # TODO: subscribe to self.topic with QoS 1. Here, in on_connect: it runs again
        # after every reconnect, and a broker that restarted has forgotten the subscription.
        raise NotImplementedError("not implemented yet: subscribe in _on_connect()")

    def _on_subscribe(self, _client, _userdata, _mid, _reason_codes, _properties) -> None:
        print("READY", flush=True)

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        # TODO: count it, parse it, skip and count a Malformed one (print why to
        # stderr), and hand a good point to the writer. An exception escaping this
        # callback ends the MQTT loop, and with it the bridge.
        point = parse(message.payload)
        self.counts["received"] += 1
        del point

    def run(self) -> None:
        """Bridge until SIGTERM/SIGINT, then write what is buffered and report."""
        threading.Thread(target=self._disconnect_when_stopping, daemon=True).start()
        self.mqtt.connect_async(os.environ["MQTT_HOST"], int(os.environ["MQTT_PORT"]))
        # paho's network loop runs on this thread and reconnects by itself; it returns
        # once the client has disconnected on purpose. An exception escaping a callback
        # ends it (and the bridge): catch per message.
        self.mqtt.loop_forever(retry_first_connection=True)
        # TODO: flush and close the writer and the client, then print the counts as
        # one JSON line.
        print(json.dumps(self.counts), flush=True)

    def _disconnect_when_stopping(self) -> None:
        # Not in the signal handler itself: it may interrupt the main thread inside
        # paho, holding a lock that disconnect() needs.
        self.stopping.wait()
        self.mqtt.disconnect()  # stop taking messages first


def main() -> None:
    bridge = Bridge()
    # TODO: on SIGTERM and SIGINT, set bridge.stopping instead of dying at once.
    bridge.run()


if __name__ == "__main__":
    main()
