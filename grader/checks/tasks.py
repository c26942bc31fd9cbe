"""Checks for lab tasks: retention tiers, downsampling tasks and a z-score anomaly task.

Each check grades one thing. The grader makes the buckets and the tasks it runs itself,
from the scripts the student's functions return, in the check's own organization; it
seeds the data, runs each task manually for windows it chooses (a run with a scheduled
time sees that time as now()), and compares what the run wrote with its own computation
of the same numbers from the same data. Series have unequal numbers of readings, so a
mean of means, a count of rows or a window one hour off all give different answers.
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from influxdb_client import (
    BucketRetentionRules,
    InfluxDBClient,
    Point,
    TaskCreateRequest,
    WritePrecision,
)
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from grader.check import ALL_TIME, NOT_TAGS, CheckFailed, expect, expect_ok, feedback, typed
from influx_labs.tasks import wait_for_run

RAW, HOURLY, DAILY, ANOMALIES = "raw", "hourly", "daily", "anomalies"
DAY = 86_400
RETENTION = {RAW: 7 * DAY, HOURLY: 90 * DAY, DAILY: 0, ANOMALIES: 30 * DAY}
TASK_NAMES = {
    "hourly": "downsample-hourly",
    "daily": "downsample-daily",
    "anomalies": "temperature-anomalies",
}
SCHEDULE = {"hourly": ("1h", "5m"), "daily": ("1d", "15m")}  # every, offset
SERIES = (("dev-a", "lab"), ("dev-b", "lab"), ("dev-c", "hall"))
FIELDS = ("temperature", "humidity")
HOUR = timedelta(hours=1)


# -- helpers ---------------------------------------------------------------


def _tier_buckets(admin, sandbox) -> None:
    """The four buckets, made by the grader, so that a task check does not depend on
    create_buckets()."""
    api = admin.buckets_api()
    for name, seconds in RETENTION.items():
        rules = [BucketRetentionRules(type="expire", every_seconds=seconds)]
        api.create_bucket(bucket_name=name, retention_rules=rules, org_id=sandbox.org_id)


def _write(admin, sandbox, bucket: str, points: list[Point]) -> None:
    admin.write_api(write_options=SYNCHRONOUS).write(
        bucket=bucket, org=sandbox.org_id, record=points
    )


def _task_from(sandbox, submission, function: str, *args: Any):
    """A task made by the grader from the script the student's function returns.

    It is created with the check's scoped token, never the admin's: a task runs with the
    rights of the token that made it, and a student's script must reach no other org."""
    flux = expect_ok(submission.call(function, *args))
    expect(isinstance(flux, str), f"{function}() should return the task's Flux script", found=flux)
    request = TaskCreateRequest(flux=flux, org_id=sandbox.org_id, status="active")
    with InfluxDBClient(url=sandbox.url, token=sandbox.token, org=sandbox.org) as scoped:
        try:
            return scoped.tasks_api().create_task(task_create_request=request)
        except ApiException as exc:
            if exc.status is None or not 400 <= exc.status < 500:
                raise  # the server failed: an infrastructure error, not the student's
            raise CheckFailed(
                feedback(
                    f"InfluxDB refused the script of {function}() as a task",
                    found=exc.body,
                    hint="`import` lines first, then `option task = {name: ..., every: ...}` once",
                )
            ) from None


def _run(admin, task, scheduled_for: datetime) -> None:
    """Run the task as if scheduled at ``scheduled_for``; a failed run fails the check with
    the run's own log, which says what Flux objected to."""
    api = admin.tasks_api()
    run = api.run_manually(task.id, scheduled_for=scheduled_for)
    status = wait_for_run(admin, task.id, run.id)
    if status != "success":
        # The first entry repeats the whole script; the error is in the last ones.
        logs = [
            entry.message
            for entry in api.get_run_logs(task.id, run.id)
            if not entry.message.startswith("Started task from script")
        ]
        raise CheckFailed(
            feedback(
                f"the run of task {task.name!r} scheduled for {scheduled_for:%Y-%m-%d %H:%M} "
                f"ended {status!r}",
                found="\n          ".join(logs[-3:]) or "no run log",
            )
        )


def _read(admin, sandbox, bucket: str) -> list[dict[str, Any]]:
    """Every value in a bucket: time, measurement, field, value and tags."""
    tables = admin.query_api().query(f'from(bucket: "{bucket}") |> {ALL_TIME}', org=sandbox.org_id)
    return [
        {
            "time": r.get_time(),
            "measurement": r.get_measurement(),
            "field": r.get_field(),
            "value": r.get_value(),
            "tags": tuple(sorted((k, v) for k, v in r.values.items() if k not in NOT_TAGS)),
        }
        for table in tables
        for r in table.records
    ]


def _tags(device: str, room: str) -> tuple:
    return (("device", device), ("room", room))


def _close(a: Any, b: Any) -> bool:
    """Equal numbers of the same type; floats to 1e-9 relative (sums in another order)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _aggregates(values: list) -> dict[str, Any]:
    return {
        "mean": float(statistics.fmean(values)),
        "min": min(values),
        "max": max(values),
        "count": len(values),
    }


def _differences(expected: dict, found: dict, limit: int = 3) -> str:
    wrong = [
        f"{key}: expected {typed(value)}, found {typed(found[key]) if key in found else 'nothing'}"
        for key, value in sorted(expected.items(), key=str)
        if key not in found or not _close(value, found[key])
    ]
    return f"{len(wrong)} of {len(expected)} wrong; e.g. " + "; ".join(wrong[:limit])


def _grade_aggregates(grade, expected: dict, found: dict, parts: list[tuple]) -> None:
    """One part per (name, points, aggregates, hint): every expected value of those
    aggregates (keys end with "<field>_<aggregate>") is found, equal and of the same type."""
    for name, points, aggregates, hint in parts:
        want = {k: v for k, v in expected.items() if k[-1].rsplit("_", 1)[1] in aggregates}
        grade.part(
            name,
            points,
            all(k in found and _close(v, found[k]) for k, v in want.items()),
            expected=f"{len(want)} values computed from the seeded data",
            found=_differences(want, found),
            hint=hint,
        )


def _past_hour(rng: random.Random, hours_ago: tuple[int, int]) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=rng.randint(*hours_ago))


# -- checks ----------------------------------------------------------------


@pytest.mark.points(4)
def test_buckets_with_retention_tiers(submission, sandbox, admin, grade):
    """create_buckets() makes raw, hourly, daily and anomalies with their retention, and
    running it again changes nothing."""
    first = submission.call("create_buckets")
    expect_ok(first)

    def ours() -> dict[str, Any]:
        found = admin.buckets_api().find_buckets(org_id=sandbox.org_id, limit=100).buckets
        # Not the check's own bucket, nor the org's system buckets (_monitoring, _tasks).
        return {b.name: b for b in found if b.name != sandbox.bucket and b.type != "system"}

    def retention(bucket) -> int:
        return sum(rule.every_seconds or 0 for rule in bucket.retention_rules or [])

    buckets = ours()
    got = {name: retention(b) for name, b in buckets.items()}
    grade.part(
        "each bucket keeps its points as long as the contract says",
        2,
        got == RETENTION,
        expected=f"retention in seconds (0: forever) {RETENTION}",
        found=got,
        hint="BucketRetentionRules(type='expire', every_seconds=...): seconds, not days",
    )
    ids = {name: b.id for name, b in buckets.items()}
    grade.part(
        "it returns each bucket's ID by name",
        1,
        first.value == ids,
        expected=ids,
        found=first.value,
    )
    again = submission.call("create_buckets")
    after = {name: (b.id, retention(b)) for name, b in ours().items()}
    before = {name: (b.id, retention(b)) for name, b in buckets.items()}
    grade.part(
        "a second call succeeds and changes nothing",
        1,
        again.ok and again.value == first.value and after == before,
        expected="the same IDs, the same buckets",
        found=again.explain() if not again.ok else f"returned {again.value}; buckets {after}",
        hint="a deployment script runs again: find a bucket by name before creating it",
    )


@pytest.mark.points(4)
def test_tasks_are_created_on_their_schedule(submission, sandbox, admin, grade):
    """create_tasks() makes the three tasks, active, each on its schedule."""
    _tier_buckets(admin, sandbox)
    threshold = round(random.uniform(2.5, 3.5), 2)
    created = submission.call("create_tasks", threshold)
    expect_ok(created)
    tasks = admin.tasks_api().find_tasks(org_id=sandbox.org_id)
    by_name = {t.name: t for t in tasks}
    grade.part(
        "three active tasks with the contract's names",
        1,
        sorted(by_name) == sorted(TASK_NAMES.values()) and all(t.status == "active" for t in tasks),
        expected=f"{sorted(TASK_NAMES.values())}, all active",
        found=[(t.name, t.status) for t in tasks],
    )
    for kind, (every, offset) in SCHEDULE.items():
        task = by_name.get(TASK_NAMES[kind])
        grade.part(
            f"the {kind} task runs every {every}, {offset} late",
            1,
            task is not None and task.every == every and task.offset == offset,
            expected=f"every: {every}, offset: {offset}",
            found=None if task is None else f"every: {task.every}, offset: {task.offset}",
            hint="the offset lets late readings arrive before the window is aggregated",
        )
    ids = {kind: by_name[name].id for kind, name in TASK_NAMES.items() if name in by_name}
    grade.part(
        "it returns each task's ID by kind",
        1,
        created.value == ids,
        expected=ids,
        found=created.value,
    )


def _seed_raw(admin, sandbox, start: datetime, hours: int, rng: random.Random) -> list[dict]:
    """Readings of three series from ``start`` for ``hours``, each series at its own pace
    (so hours hold unequal counts), some exactly on the hour; returns them as dicts.

    The bucket also holds what a tier must leave out: some readings carry a `battery`
    field, and measurement `board` has a `temperature` field of its own."""
    readings, points = [], []
    for (device, room), pace in zip(SERIES, (45, 70, 150), strict=True):
        when = start
        center = rng.uniform(15, 25)
        while when < start + hours * HOUR:
            reading = {
                "time": when,
                "tags": _tags(device, room),
                "temperature": round(center + rng.gauss(0, 1.5), 3),
                "humidity": rng.randint(30, 70),
            }
            readings.append(reading)
            point = _reading(device, room, when, reading["temperature"], reading["humidity"])
            if rng.random() < 0.2:
                point = point.field("battery", round(rng.uniform(3.0, 4.2), 2))
            points.append(point)
            points.append(
                Point("board")
                .tag("device", device)
                .tag("room", room)
                .field("temperature", round(rng.uniform(40, 60), 1))
                .time(when, WritePrecision.NS)
            )
            # Mostly whole seconds with a jitter, and now and then exactly on the hour.
            step = timedelta(seconds=pace + rng.randint(-10, 10), microseconds=rng.randrange(10**6))
            nxt = when + step
            boundary = when.replace(minute=0, second=0, microsecond=0) + HOUR
            when = boundary if nxt > boundary and rng.random() < 0.5 else nxt
    _write(admin, sandbox, RAW, points)
    return readings


@pytest.mark.points(6)
def test_hourly_task_aggregates_each_hour(submission, sandbox, admin, grade):
    """hourly_task(): mean, min, max and count of each series and hour, at the hour's start."""
    _tier_buckets(admin, sandbox)
    rng = random.Random()
    start = _past_hour(rng, (30, 100))
    # An hour of readings before and after the two hours the task runs for.
    readings = _seed_raw(admin, sandbox, start - HOUR, 4, rng)
    task = _task_from(sandbox, submission, "hourly_task")
    windows = (start, start + HOUR)
    for window in windows:
        _run(admin, task, window + HOUR)

    expected: dict[tuple, Any] = {}
    for window in windows:
        for device, room in SERIES:
            mine = [
                r
                for r in readings
                if r["tags"] == _tags(device, room) and window <= r["time"] < window + HOUR
            ]
            for field in FIELDS:
                for name, value in _aggregates([r[field] for r in mine]).items():
                    expected[(window, _tags(device, room), f"{field}_{name}")] = value
    rows = _read(admin, sandbox, HOURLY)
    stamped = {(r["time"], r["tags"]) for r in rows}
    want = {(key[0], key[1]) for key in expected}
    grade.part(
        "one point per series and hour, stamped with the start of the hour",
        2,
        stamped == want
        and {(r["measurement"], r["field"]) for r in rows} == {("climate", k[2]) for k in expected},
        expected=f"{len(want)} points at {_hours(w for w, _ in want)} UTC, "
        f"fields {sorted({k[2] for k in expected})}",
        found=f"{len(stamped)} points at {_hours(t for t, _ in stamped)} UTC, "
        f"fields {sorted({r['measurement'] + '.' + r['field'] for r in rows})}",
        hint='aggregateWindow(..., timeSrc: "_start"): its default stamps the window\'s end; '
        "only climate's temperature and humidity belong in the tier",
    )
    # The values are matched by window whichever end it was stamped with, so a time-stamping
    # mistake costs the part above only.
    ends = {w + HOUR for w in windows}
    shift = HOUR if rows and all(r["time"] in ends for r in rows) else timedelta(0)
    found = {(r["time"] - shift, r["tags"], r["field"]): r["value"] for r in rows}
    _grade_aggregates(
        grade,
        expected,
        found,
        [
            ("the means", 2, ("mean",), "mean() of the hour's readings of each series"),
            (
                "the minimum and maximum, in the readings' own types",
                1,
                ("min", "max"),
                "min() and max() keep the field's type: humidity stays an integer",
            ),
            ("the counts, as integers", 1, ("count",), "count() of each series and hour"),
        ],
    )


@pytest.mark.points(5)
def test_daily_task_rolls_up_the_hours(submission, sandbox, admin, grade):
    """daily_task(): the day's mean weighs every hour by its readings; min, max, count."""
    _tier_buckets(admin, sandbox)
    rng = random.Random()
    day = _past_hour(rng, (72, 24 * 20)).replace(hour=0)
    hours, points = {}, []
    # 24 hours of the day, and the hour either side of it (not the day's).
    for hour in range(-1, 25):
        start = day + hour * HOUR
        for device, room in SERIES[:2]:
            count = rng.choice((1, 2, 3, 30, 55, 60))
            temps = [round(rng.uniform(-5, 35), 2) for _ in range(count)]
            hums = [rng.randint(10, 95) for _ in range(count)]
            point = Point("climate").tag("device", device).tag("room", room).time(start)
            for field, values in (("temperature", temps), ("humidity", hums)):
                for name, value in _aggregates(values).items():
                    point = point.field(f"{field}_{name}", value)
            points.append(point)
            if 0 <= hour < 24:
                hours.setdefault((device, room), []).append((temps, hums))
        # Another measurement of the tier, with the same field names: not the daily's.
        points.append(
            Point("outdoor")
            .tag("device", "dev-x")
            .tag("room", "roof")
            .time(start)
            .field("temperature_mean", 1.5)
            .field("temperature_count", 4)
            .field("temperature_min", 1.0)
            .field("temperature_max", 2.0)
        )
    _write(admin, sandbox, HOURLY, points)
    task = _task_from(sandbox, submission, "daily_task")
    _run(admin, task, day + timedelta(days=1))

    expected: dict[tuple, Any] = {}
    for (device, room), per_hour in hours.items():
        for index, field in enumerate(FIELDS):
            values = [v for hour in per_hour for v in hour[index]]
            for name, value in _aggregates(values).items():
                expected[(_tags(device, room), f"{field}_{name}")] = value
    rows = _read(admin, sandbox, DAILY)
    grade.part(
        "one point per series, stamped with the start of the day",
        1,
        {(r["measurement"], r["time"], r["tags"]) for r in rows}
        == {("climate", day, k[0]) for k in expected},
        expected=f"2 points of climate at {day:%Y-%m-%d %H:%M} UTC",
        found=sorted(
            {
                f"{r['measurement']} {r['time']:%Y-%m-%d %H:%M} {dict(r['tags']).get('device')}"
                for r in rows
            }
        ),
        hint="only measurement climate belongs in the daily tier",
    )
    found = {(r["tags"], r["field"]): r["value"] for r in rows}
    _grade_aggregates(
        grade,
        expected,
        found,
        [
            (
                "the day's means weigh each hour by its number of readings",
                2,
                ("mean",),
                "sum(hourly mean * hourly count) / sum(hourly count): a mean of the hourly "
                "means counts an hour of 1 reading as much as one of 60",
            ),
            ("the day's minimum and maximum", 1, ("min", "max"), "min of mins, max of maxes"),
            (
                "the day's counts: every reading of the day",
                1,
                ("count",),
                "the sum of the hourly counts, not the number of hours",
            ),
        ],
    )


def _z_scores(values: list[float]) -> list[float]:
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    return [(v - mean) / sd for v in values]


def _clear_of(values: list[float], threshold: float) -> bool:
    """No z-score near the threshold: sample and population deviations, which differ by a
    factor sqrt(n/(n-1)), then agree on which readings are anomalies."""
    return all(not threshold / 1.08 <= abs(z) <= threshold * 1.08 for z in _z_scores(values))


def _near_miss(values: list[float], threshold: float) -> bool:
    """A reading beyond 2 deviations but below the threshold: a lower threshold flags it."""
    return any(2.05 < abs(z) < threshold / 1.1 for z in _z_scores(values))


@pytest.mark.points(4)
def test_anomaly_task_finds_exactly_the_outliers(submission, sandbox, admin, grade):
    """anomaly_task(threshold): z-scores of each series over the task's window; only the
    readings beyond the threshold are written, with their z-score."""
    _tier_buckets(admin, sandbox)
    rng = random.Random()
    # Below 3 and not whole: a threshold rounded to an integer flags the near misses.
    threshold = round(rng.uniform(2.55, 2.95), 2)
    window = _past_hour(rng, (30, 100))
    # Series of unequal spread and size; a and b each hide outliers, c none.
    shapes = {SERIES[0]: (21.0, 0.4, 50, (4.0, -3.5)), SERIES[1]: (5.0, 2.0, 40, (11.0,))}
    shapes[SERIES[2]] = (12.0, 1.0, 30, ())
    while True:
        series = {}
        for key, (center, spread, n, jumps) in shapes.items():
            values = [round(center + rng.gauss(0, spread), 3) for _ in range(n)]
            for jump in jumps:
                values[rng.randrange(n)] = round(center + jump * spread * 2, 3)
            series[key] = values
        if all(_clear_of(v, threshold) for v in series.values()) and any(
            _near_miss(v, threshold) for v in series.values()
        ):
            break
    points, expected = [], {}
    for (device, room), values in series.items():
        seconds = sorted(rng.sample(range(1, 3600), len(values)))
        mean, sd = statistics.fmean(values), statistics.stdev(values)
        for second, value in zip(seconds, values, strict=True):
            when = window + timedelta(seconds=second)
            points.append(_reading(device, room, when, value, rng.randint(30, 70)))
            z = (value - mean) / sd
            if abs(z) > threshold:
                expected[(when, _tags(device, room))] = (value, z)
    # The hour before: a spike that only a window wider than the task's would see.
    spike = window - timedelta(minutes=20)
    points.append(_reading(*SERIES[2], spike, 80.0, rng.randint(30, 70)))
    # A humidity far off its series (anomalies are of temperature only), in a point of its own.
    dry = Point("climate").tag("device", SERIES[0][0]).tag("room", SERIES[0][1])
    points.append(dry.field("humidity", 0).time(window + timedelta(microseconds=500)))
    _write(admin, sandbox, RAW, points)
    task = _task_from(sandbox, submission, "anomaly_task", threshold)
    _run(admin, task, window + HOUR)

    rows = _read(admin, sandbox, ANOMALIES)
    fields: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        fields.setdefault((r["time"], r["tags"]), {})[(r["measurement"], r["field"])] = r["value"]
    grade.part(
        "exactly the readings beyond the threshold",
        2,
        set(fields) == set(expected),
        expected=f"{len(expected)} anomalies: {_show(expected)}",
        found=f"{len(fields)}: {_show(fields)}",
        hint="mean and stddev of each series over the task's own window (range(start: "
        "-task.every)), and abs(z) > threshold: readings far below the mean count too",
    )
    both = [key for key in expected if key in fields]
    z_found = {k: fields[k].get(("climate_anomaly", "z")) for k in both}
    grade.part(
        "each anomaly's z-score (sample standard deviation)",
        1,
        bool(both)
        and all(
            isinstance(z_found[k], float) and math.isclose(z_found[k], expected[k][1], abs_tol=1e-6)
            for k in both
        ),
        expected={f"{k[0]:%H:%M:%S}": round(expected[k][1], 6) for k in both[:3]},
        found={f"{k[0]:%H:%M:%S}": z_found[k] for k in both[:3]},
        hint="stddev() is the sample deviation (n - 1), as the contract asks",
    )
    temps = {k: fields[k].get(("climate_anomaly", "temperature")) for k in both}
    only = all(
        set(fields[k]) == {("climate_anomaly", "z"), ("climate_anomaly", "temperature")}
        for k in fields
    )
    grade.part(
        "each anomaly keeps its reading, and nothing else is written",
        1,
        bool(both) and only and all(temps[k] == expected[k][0] for k in both),
        expected='measurement "climate_anomaly" with fields temperature and z only',
        found=sorted({f"{m}.{f}" for point in fields.values() for m, f in point})
        if not only
        else {f"{k[0]:%H:%M:%S}": temps[k] for k in both[:3]},
    )


def _show(keys) -> list[str]:
    """(time, tags) keys as "HH:MM:SS device" for feedback."""
    return sorted(f"{when:%H:%M:%S} {dict(tags).get('device', '-')}" for when, tags in keys)


def _hours(times) -> list[str]:
    return sorted({f"{when:%H:%M}" for when in times})


def _reading(device: str, room: str, when: datetime, temperature: float, humidity: int) -> Point:
    """A raw reading as the contract writes it: a float temperature, an integer humidity."""
    return (
        Point("climate")
        .tag("device", device)
        .tag("room", room)
        .field("temperature", float(temperature))
        .field("humidity", int(humidity))
        .time(when, WritePrecision.NS)
    )
