"""Lab monitoring: a system-metrics and health-check collector with alerts (reference solution).

Contract, the program (the grader starts it: `python monitor.py`):
- settings from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
  INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN; INTERVAL_MS (default 10000);
  HEALTH_URLS (comma-separated, may be empty); HEALTH_TIMEOUT_MS (default 2000);
- cycle k starts at the first cycle's time + k x INTERVAL_MS, however long the
  cycles before it took (a cycle that starts late keeps its own time), and its
  points carry that time;
- each cycle writes one point `system`, tag `host` (socket.gethostname()):
  float fields cpu_percent, memory_percent, disk_percent (of "/"); integer
  fields memory_used, disk_used (bytes), net_bytes_sent, net_bytes_recv
  (counters of all interfaces); from the second cycle on also float fields
  net_sent_rate and net_recv_rate: net_rate() of the counters over the time
  between this cycle and the one before;
- and one point `health` per URL, tag `url`: boolean `up` (an answer with a
  status below 400, redirects followed), and either integer `status_code`
  (the final answer's) with float `response_ms` (the whole request, redirects
  included, in milliseconds), or, when no answer came, string `error`:
  "timeout" (none within HEALTH_TIMEOUT_MS) or "connection" (refused, reset);
- points reach InfluxDB while it runs, not only at exit;
- on SIGTERM or SIGINT: write everything, print one JSON line {"cycles": n}, exit 0.

Contract, the functions (the grader calls them in a child process):
- net_rate(previous, current, seconds): see its docstring;
- analyze(start, stop, threshold): see its docstring.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psutil
import requests
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS, WriteOptions


def net_rate(previous: int | None, current: int, seconds: float) -> float | None:
    """Bytes per second between two readings of a byte counter taken ``seconds`` apart.

    None where there is no rate: no previous reading (the first cycle), a counter
    that went down (the interface was reset, or the counter wrapped), or no time between.
    """
    if previous is None or current < previous or seconds <= 0:
        return None
    return (current - previous) / seconds


def check(url: str, timeout: float) -> Point:
    """One health check of ``url`` as a `health` point (its time is set by the caller)."""
    point = Point("health").tag("url", url)
    started = time.perf_counter()
    try:
        response = requests.get(url, timeout=timeout)  # follows redirects
    except requests.Timeout:  # first: a connect timeout is a ConnectionError too
        return point.field("up", False).field("error", "timeout")
    except requests.RequestException:
        return point.field("up", False).field("error", "connection")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return (
        point.field("up", response.status_code < 400)
        .field("status_code", response.status_code)
        .field("response_ms", elapsed_ms)
    )


class Collector:
    """The cycle loop: system metrics and health checks, one batching writer."""

    def __init__(self) -> None:
        env = os.environ
        self.bucket = env["INFLUXDB_V2_BUCKET"]
        self.interval = int(env.get("INTERVAL_MS", "10000")) / 1000
        self.urls = [u.strip() for u in env.get("HEALTH_URLS", "").split(",") if u.strip()]
        self.timeout = int(env.get("HEALTH_TIMEOUT_MS", "2000")) / 1000
        self.host = socket.gethostname()
        self.stopping = threading.Event()
        self.cycles = 0
        self.previous: tuple[int, int, int] | None = None  # time (ns), bytes sent, received
        self.client = InfluxDBClient.from_env_properties()
        self.writer = self.client.write_api(
            write_options=WriteOptions(batch_size=500, flush_interval=1000)
        )
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.urls)))
        psutil.cpu_percent()  # the first call only starts the measurement

    def system(self, at_ns: int) -> Point:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage("/")
        net = psutil.net_io_counters()
        point = (
            Point("system")
            .tag("host", self.host)
            .field("cpu_percent", float(psutil.cpu_percent()))
            .field("memory_percent", float(memory.percent))
            .field("memory_used", int(memory.used))
            .field("disk_percent", float(disk.percent))
            .field("disk_used", int(disk.used))
            .field("net_bytes_sent", int(net.bytes_sent))
            .field("net_bytes_recv", int(net.bytes_recv))
        )
        if self.previous is not None:
            then, sent, recv = self.previous
            seconds = (at_ns - then) / 1e9
            for name, before, now in (
                ("sent", sent, net.bytes_sent),
                ("recv", recv, net.bytes_recv),
            ):
                rate = net_rate(before, now, seconds)
                if rate is not None:
                    point.field(f"net_{name}_rate", float(rate))
        self.previous = (at_ns, net.bytes_sent, net.bytes_recv)
        return point

    def cycle(self, at_ns: int) -> None:
        checks = [self.pool.submit(check, url, self.timeout) for url in self.urls]
        points = [self.system(at_ns), *(c.result() for c in checks)]
        for point in points:
            point.time(at_ns, WritePrecision.NS)
        self.writer.write(bucket=self.bucket, record=points)
        self.cycles += 1

    def run(self) -> None:
        first = time.time_ns()
        step = int(self.interval * 1e9)
        k = 0
        while not self.stopping.is_set():
            self.cycle(first + k * step)
            k += 1
            # Sleep until the next cycle's own time, not for a whole interval after this
            # one's work: otherwise every cycle drifts by the time its work took.
            self.stopping.wait(max(0.0, (first + k * step - time.time_ns()) / 1e9))
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.writer.close()  # writes what is still buffered
        self.client.close()
        print(json.dumps({"cycles": self.cycles}), flush=True)


def analyze(start: str, stop: str, threshold: float) -> int:
    """Alerts on `system` `cpu_percent` between ``start`` (included) and ``stop`` (excluded),
    RFC 3339 times. Writes them to measurement `alerts` of INFLUXDB_V2_BUCKET and returns
    how many it wrote.

    Each host's readings are taken in time order, the state before the first one
    counting as normal. A reading above ``threshold`` after a normal state is an alert;
    a reading at or below it after an alert is a recovery. Each is a point `alerts`,
    tag `host`, fields `state` ("alert" or "recovered"), `value` (the reading) and
    `threshold`, at the reading's time. Readings that stay above raise no new alert.
    """
    bucket = os.environ["INFLUXDB_V2_BUCKET"]
    # InfluxDB OSS has no query parameters: the times go into the query as RFC 3339 in UTC,
    # after datetime has parsed them (which also refuses anything that is not a time).
    window = [datetime.fromisoformat(t).astimezone(UTC).isoformat() for t in (start, stop)]
    with InfluxDBClient.from_env_properties() as client:
        tables = client.query_api().query(
            f'from(bucket: "{bucket}") '
            f'|> range(start: time(v: "{window[0]}"), stop: time(v: "{window[1]}")) '
            '|> filter(fn: (r) => r._measurement == "system" and r._field == "cpu_percent") '
            '|> group(columns: ["host"]) |> sort(columns: ["_time"])'
        )
        alerts = []
        for table in tables:  # one table per host
            high = False
            for record in table.records:
                value = float(record.get_value())
                if (value > threshold) != high:
                    high = not high
                    alerts.append(
                        Point("alerts")
                        .tag("host", record.values["host"])
                        .field("state", "alert" if high else "recovered")
                        .field("value", value)
                        .field("threshold", float(threshold))
                        .time(record.get_time(), WritePrecision.NS)
                    )
        client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket, record=alerts)
    return len(alerts)


def main() -> None:
    collector = Collector()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: collector.stopping.set())
    collector.run()


if __name__ == "__main__":
    main()
