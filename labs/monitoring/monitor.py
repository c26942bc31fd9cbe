"""Lab monitoring: a system-metrics and health-check collector with alerts (skeleton).

Complete the TODOs, then run the grader on your work: `./course check monitoring`.
Guide: docs/labs/monitoring.md. Try it by hand, with the INFLUXDB_V2_* settings exported:
`INTERVAL_MS=2000 HEALTH_URLS=http://localhost:8086/health python labs/monitoring/monitor.py`
(Ctrl-C stops it).

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

import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import psutil
from influxdb_client import InfluxDBClient, Point, WritePrecision

# The TODOs need more: json, signal, time, requests, and from
# influxdb_client.client.write_api import SYNCHRONOUS, WriteOptions.


def net_rate(previous: int | None, current: int, seconds: float) -> float | None:
    """Bytes per second between two readings of a byte counter taken ``seconds`` apart.

    None where there is no rate: no previous reading (the first cycle), a counter
    that went down (the interface was reset, or the counter wrapped), or no time between.
    """
    # TODO: careful with 0: a counter at 0 is a reading, not a missing one.
    raise NotImplementedError("not implemented yet: net_rate()")


def check(url: str, timeout: float) -> Point:
    """One health check of ``url`` as a `health` point (its time is set by the caller)."""
    # TODO: requests.get(url, timeout=timeout) (it follows redirects), timed with
    # time.perf_counter(); fields up, status_code and response_ms (milliseconds), or,
    # when no answer came, up=False and error "timeout" (requests.Timeout; catch it
    # first) or "connection" (any other requests.RequestException).
    raise NotImplementedError("not implemented yet: check()")


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
        # TODO: one batching writer for the whole run, flushing at least every second:
        # self.client.write_api(write_options=WriteOptions(batch_size=..., flush_interval=...))
        self.writer = None
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.urls)))
        psutil.cpu_percent()  # the first call only starts the measurement

    def system(self, at_ns: int) -> Point:
        """The cycle's `system` point, rates included from the second cycle on."""
        # TODO: psutil.cpu_percent(), virtual_memory(), disk_usage("/"), net_io_counters();
        # floats for percentages, ints for bytes; the rates with net_rate() over the
        # seconds between self.previous's time and at_ns; then remember this cycle's.
        raise NotImplementedError("not implemented yet: Collector.system()")

    def cycle(self, at_ns: int) -> None:
        checks = [self.pool.submit(check, url, self.timeout) for url in self.urls]
        points = [self.system(at_ns), *(c.result() for c in checks)]
        for point in points:
            point.time(at_ns, WritePrecision.NS)
        # TODO: hand the points to the writer.
        self.cycles += 1

    def run(self) -> None:
        # TODO: cycle k at first + k x interval (time.time_ns()), waiting with
        # self.stopping.wait(seconds) so that SIGTERM ends the wait at once; after the
        # loop: close the writer (it flushes), the client, and print {"cycles": n}.
        raise NotImplementedError("not implemented yet: Collector.run()")


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
    # TODO: InfluxDB OSS takes no query parameters: parse start and stop with
    # datetime.fromisoformat (it keeps their offset) and put them into the query in UTC,
    # range(start: time(v: "..."), stop: time(v: "...")); one table per host
    # (group(columns: ["host"])), only cpu_percent; walk each table in time order
    # remembering whether the host is high; write the points with a SYNCHRONOUS write API.
    raise NotImplementedError("not implemented yet: analyze()")


def main() -> None:
    collector = Collector()
    # TODO: on SIGTERM and SIGINT, set collector.stopping instead of dying at once.
    collector.run()


if __name__ == "__main__":
    main()
