"""Write throughput: the resilient_writes solution against its peers, on one file.

The same file of line protocol (1,000,000 lines by default: 100 series, integer
and float fields, nanosecond times) goes into a fresh bucket of a fresh native
stack for each writer, and each run ends only when the server has every line
(a count query checks it). Writers:

- ceiling: raw HTTP, 10,000-line batches, 4 requests in flight (what the
  server takes at most here);
- solution: solutions/resilient_writes ResilientWriter, 5,000-line batches,
  4 in flight, a buffer that holds the file, every fault rule of the lab in place;
- influx write: the influx CLI built by scripts/build-native.sh;
- client batching: influxdb-client's write_api with WriteOptions(batch_size=5000);
- one per request: a line per POST on a kept-alive connection, timed on the
  first lines only and extrapolated (a million requests take too long).

Prints lines per second and ratios; the exit status is 0 when the solution
reaches 0.8x the ceiling (the lab's target).

    python benchmarks/bench_writers.py [--lines 1000000] [--per-request 5000]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import WriteOptions

from influx_labs.services import NativeStack
from influx_labs.services.base import InfluxEndpoint
from influx_labs.services.binaries import cache_dir

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.8  # the solution's share of the ceiling
BASE_NS = 1_700_000_000_000_000_000


def make_file(path: Path, lines: int) -> None:
    with path.open("w") as out:
        for n in range(lines):
            out.write(
                f"bench,host=h{n % 100},region=r{n % 7} value={n * 0.5},count={n}i "
                f"{BASE_NS + n * 1000}\n"
            )


def solution_writer() -> type:
    spec = importlib.util.spec_from_file_location(
        "writer", REPO / "solutions" / "resilient_writes" / "writer.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.ResilientWriter


def ceiling(influx: InfluxEndpoint, bucket: str, lines: list[str]) -> None:
    url = f"{influx.url}/api/v2/write"
    params = {"org": influx.org, "bucket": bucket, "precision": "ns"}
    batches = ["\n".join(lines[i : i + 10_000]) for i in range(0, len(lines), 10_000)]
    sessions = [requests.Session() for _ in range(4)]
    for session in sessions:
        session.headers["Authorization"] = f"Token {influx.token}"

    def post(i: int) -> None:
        sessions[i % 4].post(url, params=params, data=batches[i], timeout=60).raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(post, range(len(batches))))


def solution(influx: InfluxEndpoint, bucket: str, lines: list[str]) -> None:
    # A producer this fast fills any buffer: hold the whole file, or the writer rightly
    # drops the oldest lines (the lab's policy) and the run measures nothing.
    writer = solution_writer()(
        influx.url,
        influx.token,
        influx.org,
        bucket,
        batch_size=5000,
        max_in_flight=4,
        buffer_limit=len(lines),
    )
    for line in lines:
        writer.write(line)
    writer.close()
    if writer.stats["written"] != len(lines):
        raise RuntimeError(f"the solution's stats: {writer.stats}")


def influx_cli(influx: InfluxEndpoint, bucket: str, file: Path) -> None:
    cli = cache_dir() / "bin" / "influx"
    subprocess.run(
        [
            str(cli),
            "write",
            "--host",
            influx.url,
            "--token",
            influx.token,
            "--org",
            influx.org,
            "--bucket",
            bucket,
            "--precision",
            "ns",
            "--file",
            str(file),
        ],
        check=True,
        capture_output=True,
    )


def client_batching(influx: InfluxEndpoint, bucket: str, lines: list[str]) -> None:
    options = WriteOptions(batch_size=5000, flush_interval=1000)
    client = InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=60_000)
    with client, client.write_api(write_options=options) as writer:
        writer.write(bucket=bucket, record=lines)


def per_request(influx: InfluxEndpoint, bucket: str, lines: list[str]) -> None:
    with requests.Session() as http:
        http.headers["Authorization"] = f"Token {influx.token}"
        params = {"org": influx.org, "bucket": bucket, "precision": "ns"}
        for line in lines:
            http.post(f"{influx.url}/api/v2/write", params=params, data=line, timeout=10)


def landed(client: InfluxDBClient, bucket: str) -> int:
    tables = client.query_api().query(
        f'from(bucket: "{bucket}") |> range(start: 0) '
        '|> filter(fn: (r) => r._field == "count") |> group() |> count()'
    )
    return sum(r.get_value() for t in tables for r in t.records)


def timed(client: InfluxDBClient, name: str, expected: int, run: Callable[[str], None]) -> float:
    """Seconds for ``run(bucket)`` into a fresh bucket, checked by a count of what landed."""
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    client.buckets_api().create_bucket(bucket_name=bucket, org=client.org)
    started = time.monotonic()
    run(bucket)
    seconds = time.monotonic() - started
    count = landed(client, bucket)
    if count != expected:
        raise RuntimeError(f"{name}: {count} of {expected} lines landed")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--per-request", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, NativeStack() as stack:
        file = Path(tmp) / "lines.lp"
        make_file(file, args.lines)
        lines = file.read_text().splitlines()
        influx = stack.endpoints.influx
        client = InfluxDBClient(url=influx.url, token=influx.token, org=influx.org, timeout=120_000)
        print(f"{args.lines:,} lines, each writer into a fresh bucket of influxd on {influx.url}:")
        runs = {
            "ceiling": lambda b: ceiling(influx, b, lines),
            "solution": lambda b: solution(influx, b, lines),
            "influx write": lambda b: influx_cli(influx, b, file),
            "client batching": lambda b: client_batching(influx, b, lines),
        }
        seconds = {name: timed(client, name, len(lines), run) for name, run in runs.items()}
        sample = lines[: args.per_request]
        seconds["one per request"] = timed(
            client, "one per request", len(sample), lambda b: per_request(influx, b, sample)
        ) * (len(lines) / len(sample))
        client.close()
    rate = {name: args.lines / s for name, s in seconds.items()}
    for name, s in seconds.items():
        extrapolated = " (extrapolated)" if name == "one per request" else ""
        print(
            f"  {name:16} {s:8.1f} s {rate[name]:12,.0f} lines/s   "
            f"{rate[name] / rate['ceiling']:5.2f}x ceiling   "
            f"{rate[name] / rate['influx write']:5.2f}x influx write{extrapolated}"
        )
    share = rate["solution"] / rate["ceiling"]
    verdict = "meets" if share >= TARGET else "MISSES"
    print(f"solution at {share:.2f}x the ceiling; target >= {TARGET}x: {verdict}")
    return 0 if share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
