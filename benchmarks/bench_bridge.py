"""Bridge throughput: the iot_pipeline solution against Telegraf, on one MQTT stream.

The same burst of QoS 1 readings (200,000 by default, 10 devices, every time in
the past) is published by the lab's simulator, as fast as the broker takes it, to
a Mosquitto of the benchmark's own (Debian's, with the stack's queue limit), once
per bridge, each into a fresh bucket of one native influxd:

- solution: solutions/iot_pipeline/bridge.py (or --bridge PATH: your own),
  started as the grader starts it;
- telegraf: Telegraf (built by scripts/build-native.sh telegraf) with
  mqtt_consumer (QoS 1, persistent session, json_v2) and influxdb_v2, the same
  batch size and flush interval.

A run's time is from the first publish until the server has taken as many
points as were published (its storage_writer_ok_points counter, polled); a run
that stops gaining points for --stall seconds ends there. Lost = readings not
stored (a count query); duplicated = points the server took beyond those
stored. Prints messages per second and the ratio; the exit status is 0 when
the solution reaches 1.0x Telegraf with nothing lost (the lab's target).

    python benchmarks/bench_bridge.py [--messages 200000] [--devices 10] [--batch 5000]
                                      [--bridge labs/iot_pipeline/bridge.py]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import requests
from influxdb_client import InfluxDBClient

from influx_labs.services import NativeStack
from influx_labs.services.base import BrokerEndpoint, InfluxEndpoint
from influx_labs.services.broker import LocalBroker
from influx_labs.services.telegraf import Telegraf, mqtt_bridge_config
from influx_labs.simulators.iot import generate, publish

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.0  # the solution's speed as a share of Telegraf's
_OK_POINTS = re.compile(r"^storage_writer_ok_points_sum\{[^}]*\} (\S+)$", re.M)

# start(broker, influx, bucket, prefix, args) -> a context in which the bridge runs
Starter = Callable[
    [BrokerEndpoint, InfluxEndpoint, str, str, argparse.Namespace], AbstractContextManager
]


@dataclass
class Run:
    seconds: float
    published_in: float
    stored: int
    duplicated: int


@contextlib.contextmanager
def solution(
    broker: BrokerEndpoint, influx: InfluxEndpoint, bucket: str, prefix: str, args
) -> Iterator[None]:
    env = {
        **os.environ,
        "INFLUXDB_V2_URL": influx.url,
        "INFLUXDB_V2_ORG": influx.org,
        "INFLUXDB_V2_TOKEN": influx.token,
        "INFLUXDB_V2_BUCKET": bucket,
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "MQTT_TOPIC_PREFIX": prefix,
        "BATCH_SIZE": str(args.batch),
        "FLUSH_INTERVAL_MS": "1000",
    }
    with subprocess.Popen(
        [sys.executable, str(args.bridge)], env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            if process.stdout.readline().strip() != "READY":  # type: ignore[union-attr]
                raise RuntimeError(f"{args.bridge} did not print READY")
            yield
        finally:
            process.terminate()
            process.communicate(timeout=60)


@contextlib.contextmanager
def telegraf(
    broker: BrokerEndpoint, influx: InfluxEndpoint, bucket: str, prefix: str, args
) -> Iterator[None]:
    topic = f"{prefix}/+/telemetry"
    config = mqtt_bridge_config(
        broker, influx, bucket=bucket, topic=topic, batch_size=args.batch, client_id=prefix
    )
    with Telegraf(config, token=influx.token):
        yield


def stored(client: InfluxDBClient, bucket: str) -> int:
    tables = client.query_api().query(
        f'from(bucket: "{bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._field == "temperature") |> group() |> count()'
    )
    return sum(r.get_value() for t in tables for r in t.records)


def ok_points(influx: InfluxEndpoint) -> float:
    """Points the server has taken since it started (written twice counts twice)."""
    text = requests.get(f"{influx.url}/metrics", timeout=10).text
    return sum(float(v) for v in _OK_POINTS.findall(text))


def run(
    start: Starter,
    broker: LocalBroker,
    influx: InfluxEndpoint,
    client: InfluxDBClient,
    args: argparse.Namespace,
) -> Run:
    bucket = prefix = f"bench{uuid.uuid4().hex[:8]}"
    client.buckets_api().create_bucket(bucket_name=bucket, org=influx.org)
    messages = generate(
        args.devices, args.messages, seed=7, start_ms=1_700_000_000_000, prefix=prefix
    )
    before = ok_points(influx)
    with start(broker.endpoint, influx, bucket, prefix, args):
        topic = f"{prefix}/+/telemetry"
        if broker.wait_for_subscription(topic, 15) is None:
            raise RuntimeError(f"nobody subscribed to {topic} within 15 s")
        started = time.monotonic()
        publish(messages, broker.endpoint.host, broker.endpoint.port, qos=1, timeout=300)
        published_in = time.monotonic() - started
        # The server's own counter, polled: cheap enough not to slow what it watches.
        taken, gained = 0.0, time.monotonic()
        while taken < len(messages) and time.monotonic() - gained < args.stall:
            time.sleep(0.05)
            now = ok_points(influx) - before
            if now > taken:
                taken, gained = now, time.monotonic()
        seconds = gained - started
    count = stored(client, bucket)  # what the bridge wrote as it stopped counts as stored
    return Run(seconds, published_in, count, round(ok_points(influx) - before) - count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--batch", type=int, default=5000, help="batch size of both bridges")
    parser.add_argument("--stall", type=float, default=10.0, help="seconds without progress")
    parser.add_argument(
        "--bridge", type=Path, default=REPO / "solutions" / "iot_pipeline" / "bridge.py"
    )
    args = parser.parse_args()
    with NativeStack() as stack, LocalBroker() as broker:
        influx = stack.endpoints.influx
        client = InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=60_000)
        print(
            f"{args.messages:,} QoS 1 readings from {args.devices} devices, published in a "
            f"burst; batches of {args.batch}; influxd on {influx.url}; solution: {args.bridge}"
        )
        runs = {
            name: run(start, broker, influx, client, args)
            for name, start in (("telegraf", telegraf), ("solution", solution))
        }
        client.close()
    rate = {name: args.messages / r.seconds for name, r in runs.items()}
    for name, r in runs.items():
        print(
            f"  {name:9} {r.seconds:6.1f} s {rate[name]:9,.0f} msg/s "
            f"{rate[name] / rate['telegraf']:5.2f}x telegraf   "
            f"lost {args.messages - r.stored:,}  duplicated {r.duplicated:,}  "
            f"(published in {r.published_in:.1f} s)"
        )
    share = rate["solution"] / rate["telegraf"]
    lost = args.messages - runs["solution"].stored
    ok = share >= TARGET and lost == 0
    print(
        f"solution at {share:.2f}x Telegraf, {lost:,} lost; target >= {TARGET}x with 0 lost: "
        f"{'meets' if ok else 'MISSES'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
