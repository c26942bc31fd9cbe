"""The example data every course page can rely on (documented in docs/reference.md).

The tests seed it into a fresh bucket `labs` before a page's examples run; a student
loads it into their own stack with ``./course load-examples``
(``influx-labs load-examples``):
- `readings`: tags `device` (dev-1, dev-2, dev-3) and `room` (dev-1 and dev-2 in
  `lab`, dev-3 in `office`), float fields `temperature` (°C) and `humidity` (%),
  one point a minute per device for the last two hours, ending in the current minute;
- `cpu`: tag `host` (web-1, web-2), float field `usage_percent`, one a minute.
Values come from a fixed seed, so a page sees the same shape on every run.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

DEVICES = {"dev-1": "lab", "dev-2": "lab", "dev-3": "office"}
HOSTS = ("web-1", "web-2")
MINUTES = 120


def points(now: datetime) -> list[Point]:
    rng = random.Random(7)
    end = now.replace(second=0, microsecond=0)
    out = []
    # The newest point is stamped at the start of the current minute, so every complete
    # hour or minute window that ends at or before now holds all of its points, even
    # when the clock turns an hour between seeding and querying.
    for minute in range(MINUTES - 1, -1, -1):
        when = end - timedelta(minutes=minute)
        for i, (device, room) in enumerate(DEVICES.items()):
            out.append(
                Point("readings")
                .tag("device", device)
                .tag("room", room)
                .field("temperature", round(20 + i + rng.gauss(0, 0.8), 2))
                .field("humidity", round(40 + 3 * i + rng.gauss(0, 2), 2))
                .time(when, WritePrecision.S)
            )
        for host in HOSTS:
            out.append(
                Point("cpu")
                .tag("host", host)
                .field("usage_percent", round(min(max(rng.gauss(35, 15), 0.0), 100.0), 1))
                .time(when, WritePrecision.S)
            )
    return out


def seed(client: InfluxDBClient, org: str, bucket: str) -> datetime:
    """Write the data set, ending in the current minute; the time of its newest points."""
    now = datetime.now(UTC)
    client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket, org=org, record=points(now))
    return now.replace(second=0, microsecond=0)


def summary() -> list[tuple[str, str, str, int]]:
    """What the data set holds: (measurement, its series, its fields, how many points)."""
    readings = "; ".join(f"device={d}, room={r}" for d, r in DEVICES.items())
    cpu = "; ".join(f"host={h}" for h in HOSTS)
    return [
        ("readings", readings, "temperature, humidity (floats)", MINUTES * len(DEVICES)),
        ("cpu", cpu, "usage_percent (float)", MINUTES * len(HOSTS)),
    ]
