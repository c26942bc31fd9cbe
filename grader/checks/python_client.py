"""Checks for lab python_client: writes and queries with influxdb-client against a live InfluxDB.

Every check makes its own random data. Writes are verified by reading back
what landed with the grader's admin client (exact timestamps as integer
nanoseconds, field types as the Python types the query returns); queries are
verified against the grader's own copy of the data it seeded. Seeded times
are whole microseconds written with nanosecond precision, so no conversion
can round them.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from influxdb_client import Point, WritePrecision

from grader.check import (
    brief,
    expect,
    expect_ok,
    expect_records,
    first_differences,
    ns_of,
    points_of,
    seed,
    show_ns,
    stored,
    typed,
)

ZONES = (
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)


# -- helpers ---------------------------------------------------------------


def describe_shift(ns: int) -> str:
    """How far a stored time is from the expected one, in units a student recognizes."""
    if abs(ns) >= 60 * 10**9:
        return f"{ns / 3.6e12:+.2f} h off: was the time zone lost?"
    return f"{ns:+d} ns off"


def recent_base(rng: random.Random) -> datetime:
    """A whole second between 3 and 4 hours ago (UTC): data then lies safely in the past."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(
        seconds=rng.randrange(3 * 3600, 4 * 3600)
    )


def float_trap_time(rng: random.Random, base: datetime) -> datetime:
    """A time within a second of `base` that the client's us-precision path gets wrong.

    Point.time(datetime, WritePrecision.US) computes int(ns / 1e3) in floating
    point, which for about 1 time in 70 lands one microsecond early. Picking such
    a time makes the check see that trap every run, not by chance.
    """
    for _ in range(100_000):
        when = base + timedelta(microseconds=rng.randrange(1, 10**6))
        if int(ns_of(when) / 1e3) != ns_of(when) // 1000:
            return when
    return when


# -- writes ------------------------------------------------------------------


@pytest.mark.points(5)
def test_write_reading(submission, sandbox, admin, grade):
    """write_reading() writes one point: right tags, float temperature, int humidity, exact time."""
    rng = random.Random()
    device = f"sensor-{rng.randrange(1000, 10000)}"
    room = rng.choice(["lab 2, east", "kitchen=main", "hall B"])  # needs escaping as a tag
    humidity = rng.randrange(30, 70)
    zone = rng.choice(ZONES)
    when = float_trap_time(rng, recent_base(rng)).astimezone(zone)
    result = submission.call("write_reading", device, room, 21, humidity, when)
    expect(
        result.ok,
        "write_reading() failed",
        found=result.explain(),
        hint="build a Point and write it with write_api(write_options=SYNCHRONOUS)",
    )
    rows = stored(admin, sandbox, "climate")
    expect(
        rows,
        "write_reading() returned, but nothing landed in measurement 'climate'",
        expected="one point with fields temperature and humidity",
        found="no point",
        hint="write_api() with no options is batching mode: it only queues the point, and the "
        "process ends before the queue is sent; use write_api(write_options=SYNCHRONOUS)",
    )
    grade_reading(
        rows,
        grade,
        tags={"device": device, "room": room},
        humidity=humidity,
        when=when,
        hints={
            "tags": "Point('climate').tag('device', device).tag('room', room)",
            "temperature": "a field's type comes from the Python value: 21 is written as the "
            "integer 21i; use float(temperature)",
            "humidity": "write int(humidity); a float field cannot later take integers (and "
            "vice versa)",
            "time": "pass the aware datetime to Point.time() as it is: a naive datetime is "
            "taken as UTC, and a coarser precision than ns converts through a float division",
        },
    )


def grade_reading(
    rows: list[dict],
    grade,
    *,
    tags: dict[str, str],
    humidity: int,
    when: datetime,
    hints: dict[str, str],
    exact_to: str = "nanosecond",
    shift: Callable[[int, int], str] = lambda found, want: describe_shift(found - want),
) -> None:
    """The parts of one reading written as a point in 'climate' (5 points): its tags, a
    float temperature given as 21, an integer humidity and its exact time. The Node.js
    lab's check uses it too, with its own hints."""
    grade.part(
        "one point in 'climate' with tags device and room",
        1,
        sorted(r["field"] for r in rows) == ["humidity", "temperature"]
        and all(r["tags"] == tags for r in rows),
        expected=f"fields humidity and temperature, each with tags {tags}",
        found=sorted(((r["field"], r["tags"]) for r in rows), key=repr)
        or "nothing in measurement 'climate'",
        hint=hints["tags"],
    )
    temps = [r["value"] for r in rows if r["field"] == "temperature"]
    grade.part(
        "temperature stored as a float, even when given 21",
        1,
        len(temps) == 1 and type(temps[0]) is float and temps[0] == 21.0,
        expected=typed(21.0),
        found=", ".join(map(typed, temps)) or "no temperature",
        hint=hints["temperature"],
    )
    hums = [r["value"] for r in rows if r["field"] == "humidity"]
    grade.part(
        "humidity stored as an integer",
        1,
        len(hums) == 1 and type(hums[0]) is int and hums[0] == humidity,
        expected=typed(humidity),
        found=", ".join(map(typed, hums)) or "no humidity",
        hint=hints["humidity"],
    )
    want = ns_of(when)
    times = sorted({r["ns"] for r in rows})
    grade.part(
        f"timestamp exact to the {exact_to}, time zone respected",
        2,
        times == [want],
        expected=f"{show_ns(want)} (given {when.isoformat()})",
        found=", ".join(map(show_ns, times))
        + (f" ({shift(times[0], want)})" if len(times) == 1 else ""),
        hint=hints["time"],
    )


def grade_precisions(submission, function: str, admin, sandbox, grade, hint: str) -> None:
    """``function(lines, precision)`` for each precision: the lines land with the times the
    precision gives them (half a point each). The Node.js lab's check uses it too."""
    rng = random.Random()
    now_ns = ns_of(recent_base(rng)) + rng.randrange(10**9) * 1000 + rng.randrange(1000)
    for precision, divisor in (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1)):
        stamps = [(now_ns - i * 4_321_987_654_321) // divisor for i in range(3)]
        lines = [
            f"lp,room=lab\\ {precision},id={precision}{i} level={rng.randrange(1000)}i {ts}"
            for i, ts in enumerate(stamps)
        ]
        result = submission.call(function, lines, precision)
        if not result.ok:
            grade.part(f"precision {precision!r}", 0.5, False, found=result.explain())
            continue
        rows = [r for r in stored(admin, sandbox, "lp") if r["tags"]["id"].startswith(precision)]
        found = sorted((r["tags"]["id"], r["tags"]["room"], r["ns"]) for r in rows)
        want = sorted(
            (f"{precision}{i}", f"lab {precision}", ts * divisor) for i, ts in enumerate(stamps)
        )
        grade.part(
            f"precision {precision!r}",
            0.5,
            found == want,
            expected=f"(id, room, time in ns) {want}",
            found=found or "no points",
            hint=hint,
        )


@pytest.mark.points(2)
def test_write_line_protocol(submission, sandbox, admin, grade):
    """write_line_protocol() writes the lines as given, with the precision it is given."""
    hint = "pass the lines unchanged and write_precision=precision to write()"
    grade_precisions(submission, "write_line_protocol", admin, sandbox, grade, hint)


def _dict_records(rng: random.Random, base: datetime) -> tuple[list[dict], dict[str, tuple]]:
    """Dict records with datetime times (ids d*) and ISO-string times (ids s*), and their truth."""
    records, truth = [], {}
    for i in range(8):
        when = base + timedelta(seconds=i * 61, microseconds=rng.randrange(10**6))
        zone = ZONES[i % len(ZONES)]
        key = f"{'d' if i < 4 else 's'}{i}"
        local = when.astimezone(zone)
        fields = {"reading": round(rng.uniform(-40, 40), 3), "samples": rng.randrange(1, 500)}
        records.append(
            {
                "measurement": "dicts",
                "tags": {"id": key, "site": f"site {i % 3}"},
                "fields": fields,
                "time": local if i < 4 else local.isoformat(),
            }
        )
        truth[key] = (ns_of(when), {"id": key, "site": f"site {i % 3}"}, fields)
    return records, truth


@pytest.mark.points(2)
def test_write_dicts(submission, sandbox, admin, grade):
    """write_dicts() writes dict records with datetime and ISO-string times."""
    rng = random.Random()
    records, truth = _dict_records(rng, recent_base(rng))
    result = submission.call("write_dicts", records)
    expect(
        result.ok,
        "write_dicts() failed",
        found=result.explain(),
        hint="write_api(write_options=SYNCHRONOUS).write(bucket=..., record=records)",
    )
    points = points_of(stored(admin, sandbox, "dicts"))
    got = {dict(tags).get("id"): (ns, dict(tags), fields) for (ns, tags), fields in points.items()}
    for prefix, name in (
        ("d", "records timed with aware datetimes"),
        ("s", "records timed with ISO strings"),
    ):
        want = {k: v for k, v in truth.items() if k.startswith(prefix)}
        have = {k: v for k, v in got.items() if k and k.startswith(prefix)}
        wrong = [
            f"{k}: expected {show_ns(w[0])} {w[1]} {w[2]}, found "
            + (f"{show_ns(have[k][0])} {have[k][1]} {have[k][2]}" if k in have else "nothing")
            for k, w in want.items()
            if repr(have.get(k)) != repr(w)  # repr: 3 and 3.0 differ
        ]
        grade.part(
            name,
            1,
            not wrong and len(have) == len(want),
            expected=f"{len(want)} points with exact times, tags and typed fields",
            found="; ".join(wrong[:2]) or f"{len(have)} points",
            hint="the client accepts these dicts as they are; do not rebuild the times",
        )


@pytest.mark.points(3)
def test_write_many(submission, sandbox, admin, grade):
    """write_many() lands every record through the batching writer and says how many."""
    rng = random.Random()
    base = recent_base(rng)
    count, batch_size = 5250, 500
    records = [
        {
            "measurement": "bulk",
            "tags": {"sensor": f"s{i % 10}"},
            "fields": {"seq": i, "value": round(rng.uniform(0, 100), 2)},
            "time": base + timedelta(milliseconds=i, microseconds=rng.randrange(1000)),
        }
        for i in range(count)
    ]
    result = submission.call("write_many", records, batch_size, timeout=60)
    expect_ok(result)
    grade.part(
        "returns how many records it handed to the writer",
        1,
        type(result.value) is int and result.value == count,
        expected=count,
        found=typed(result.value),
    )
    want = [
        (ns_of(r["time"]), r["tags"]["sensor"], r["fields"]["seq"], r["fields"]["value"])
        for r in records
    ]
    points = points_of(stored(admin, sandbox, "bulk"))
    found = [
        (ns, dict(tags).get("sensor"), fields.get("seq"), fields.get("value"))
        for (ns, tags), fields in points.items()
    ]
    grade.part(
        f"all {count} records land, exactly once, with batch_size={batch_size}",
        2,
        Counter(map(repr, found)) == Counter(map(repr, want)),
        expected=f"{count} points",
        found=first_differences(want, found, limit=2),
        hint="use the writer in a `with` block (or call close()): batching mode sends from a "
        "background thread, and whatever is still buffered is lost when the process ends",
    )


def _frame(rng: random.Random, base: datetime) -> pd.DataFrame:
    rows = []
    for i in range(12):
        when = base + timedelta(minutes=i * 7, microseconds=rng.randrange(10**6))
        rows.append(
            {
                "device": f"d{i % 3}",
                "site": "north" if i % 2 else "south",
                "temperature": round(rng.uniform(15, 30), 2),
                "samples": rng.randrange(0, 1000),
                "measured_at": pd.Timestamp(when.astimezone(ZONES[0])),
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.points(3)
def test_write_dataframe(submission, sandbox, admin, grade):
    """write_dataframe() writes one point per row: tag columns as tags, times from the column."""
    rng = random.Random()
    frame = _frame(rng, recent_base(rng))
    result = submission.call("write_dataframe", frame, "frames", ["device", "site"], "measured_at")
    expect_ok(result)
    points = points_of(stored(admin, sandbox, "frames", ("temperature", "samples")))
    found = [
        (dict(tags), fields.get("temperature"), fields.get("samples"), ns)
        for (ns, tags), fields in points.items()
    ]
    want = [
        (
            {"device": r.device, "site": r.site},
            r.temperature,
            r.samples,
            ns_of(r.measured_at.to_pydatetime()),
        )
        for r in frame.itertuples()
    ]
    grade.part(
        "one point per row, tag columns as tags, the other columns as typed fields",
        1,
        sorted(repr(f[:3]) for f in found) == sorted(repr(w[:3]) for w in want),
        expected=f"{len(want)} points, e.g. {want[0][:3]} (tags, temperature, samples)",
        found=first_differences([w[:3] for w in want], [f[:3] for f in found], limit=2),
        hint="data_frame_tag_columns=tag_columns; the rest become fields",
    )
    times = sorted(f[3] for f in found)
    extra = sorted(
        {r["field"] for r in stored(admin, sandbox, "frames")} - {"temperature", "samples"}
    )
    grade.part(
        "times come from the timestamp column (which is not a field)",
        2,
        sorted(found, key=repr) == sorted(want, key=repr) and not extra,
        expected=f"times {show_ns(min(w[3] for w in want))} … {show_ns(max(w[3] for w in want))}",
        found=(f"times {show_ns(times[0])} … {show_ns(times[-1])}" if times else "no points")
        + (f"; extra fields {extra}" if extra else ""),
        hint="pass data_frame_timestamp_column=timestamp_column: otherwise the client takes "
        "the index (0, 1, 2…) as nanoseconds since 1970",
    )


# -- queries -----------------------------------------------------------------


def _seed_weather(admin, sandbox, rng: random.Random) -> tuple[list[dict], datetime, datetime]:
    """60 temp points over 3 stations, plus decoys; returns the expected records and the window."""
    base = recent_base(rng)
    stamps = [
        base + timedelta(seconds=20 * k, microseconds=rng.randrange(10**6)) for k in range(60)
    ]
    points, expected = [], []
    for k, when in enumerate(stamps):
        station, region = f"st-{k % 3}", ("coast" if k % 3 else "hills")
        temp = round(rng.uniform(-10, 35), 3)
        points += [
            Point("weather")
            .tag("station", station)
            .tag("region", region)
            .field("temp", temp)
            .field("pressure", rng.randrange(950, 1050))
            .time(when, WritePrecision.NS),
            Point("indoor")
            .tag("station", station)
            .field("temp", temp + 1)
            .time(when, WritePrecision.NS),
        ]
        if 10 <= k < 50:
            expected.append({"time": when, "value": temp, "station": station, "region": region})
    seed(admin, sandbox, points)
    return expected, stamps[10], stamps[50]


def _order_problem(times: list[datetime]) -> str:
    """Where a list of aware datetimes first goes backwards."""
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            return f"record {i} ({times[i].isoformat()}) comes after {times[i - 1].isoformat()}"
    return f"{len(times)} records in order"


def _in_utc(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its datetimes in UTC, so that reprs compare whatever zone was used."""
    return {k: (v.astimezone(UTC) if isinstance(v, datetime) else v) for k, v in record.items()}


def _record_key(record: dict[str, Any]) -> str:
    """A comparable, type-sensitive form of a record (21 and 21.0 differ)."""
    return repr(sorted(record.items()))


@pytest.mark.points(2)
def test_query_records(submission, sandbox, admin, grade):
    """query_records() returns the field's values in [start, stop) with their tags, sorted."""
    rng = random.Random()
    expected, start, stop = _seed_weather(admin, sandbox, rng)
    zone = rng.choice(ZONES)
    result = submission.call(
        "query_records", "weather", "temp", start.astimezone(zone), stop.astimezone(zone)
    )
    records = expect_records(result, "a list of dicts")
    normal = [_in_utc(r) for r in records]
    grade.part(
        "exactly the seeded records: time, value and one key per tag",
        1,
        sorted(map(_record_key, normal)) == sorted(map(_record_key, expected)),
        expected=f"{len(expected)} records like {expected[0]}",
        found=first_differences(
            [sorted(r.items()) for r in expected], [sorted(r.items()) for r in normal], limit=2
        ),
        hint="range(start, stop) includes start and excludes stop; keep the tag columns, "
        "drop _start, _stop, _measurement, _field, result and table",
    )
    times = [r.get("time") for r in records]
    aware = all(isinstance(t, datetime) and t.tzinfo for t in times)
    grade.part(
        "sorted by time, as timezone-aware datetimes",
        1,
        aware and times == sorted(times) and len(times) == len(expected),
        expected=f"{len(expected)} times ascending, each with a tzinfo",
        found=_order_problem(times) if aware else f"times like {times[:2]}",
        hint="records come table by table (one per series): sort them by time",
    )


def _seed_machines(admin, sandbox, rng: random.Random) -> tuple[list[dict], datetime, datetime]:
    base = recent_base(rng)
    points, expected = [], []
    start, stop = base + timedelta(minutes=10), base + timedelta(minutes=50)
    for k in range(30):
        when = base + timedelta(minutes=2 * k, microseconds=rng.randrange(10**6))
        for line, unit in (("L1", "press"), ("L2", "lathe")):
            if line == "L2" and k % 4 == 0:
                continue  # series of unequal lengths: no count or row may come out even
            rpm, load = rng.randrange(500, 3000), round(rng.uniform(0, 1), 4)
            points.append(
                Point("machine")
                .tag("line", line)
                .tag("unit", unit)
                .field("rpm", rpm)
                .field("load", load)
                .time(when, WritePrecision.NS)
            )
            if start <= when < stop:
                expected.append(
                    {"_time": when, "line": line, "unit": unit, "rpm": rpm, "load": load}
                )
        points.append(
            Point("power").tag("line", "L1").field("watts", 1.5).time(when, WritePrecision.NS)
        )
    seed(admin, sandbox, points)
    return expected, start, stop


def _frame_rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    rows = []
    for record in frame[columns].to_dict("records"):
        when = pd.Timestamp(record["_time"])
        when = when.tz_convert("UTC") if when.tzinfo else when.tz_localize("UTC")
        values = [v.item() if hasattr(v, "item") else v for v in (record[c] for c in columns[1:])]
        rows.append((ns_of(when.to_pydatetime()), *values))
    return sorted(rows, key=repr)


ROWS_PART = "one row per seeded time and series, with the seeded values"


@pytest.mark.points(2)
def test_query_dataframe(submission, sandbox, admin, grade):
    """query_dataframe() returns the measurement pivoted: one row per time and series."""
    rng = random.Random()
    expected, start, stop = _seed_machines(admin, sandbox, rng)
    result = submission.call("query_dataframe", "machine", start.astimezone(ZONES[0]), stop)
    frame = expect_ok(result)
    expect(
        isinstance(frame, pd.DataFrame),
        "query_dataframe() should return a pandas DataFrame",
        found=type(frame).__name__,
        hint="query_data_frame() returns a list of frames when the tables differ: concatenate",
    )
    columns = ["_time", "line", "unit", "rpm", "load"]
    missing = [c for c in columns if c not in frame.columns]
    grade.part(
        "columns: _time, each tag, one per field, and no other",
        0.5,
        sorted(map(str, frame.columns)) == sorted(columns),
        expected=columns,
        found=list(frame.columns),
        hint='pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value"), then '
        "drop the columns that are not tags (_start, _stop, _measurement, result, table)",
    )
    if missing:
        grade.part(ROWS_PART, 1.5, False, found="the columns above are missing")
        return
    want = sorted(((ns_of(e["_time"]), *(e[c] for c in columns[1:])) for e in expected), key=repr)
    found = _frame_rows(frame, columns)
    grade.part(
        ROWS_PART,
        1.5,
        found == want and all(type(f[3]) is int for f in found),
        expected=f"{len(want)} rows, e.g. {want[0]} (time ns, line, unit, rpm, load)",
        found=first_differences(want, found, limit=2),
        hint="filter on the measurement and the [start, stop) range, then pivot",
    )


# Tag values a string-formatted Flux query breaks on. One that ends in a backslash
# cannot even be written intact (line protocol reads it as escaping the separator
# after it), so none of these does.
TRICKY_TAG_VALUES = ('lab "north" \\ wing', 'C:\\data\\"raw"', 'say "hi"\\!')


def seed_air(admin, sandbox, rng: random.Random, sites: list[str], start: datetime) -> dict:
    """pm25 over three sensors per site, half before `start`; returns site -> values since.
    The Node.js lab's check seeds with it too."""
    values: dict[str, list[float]] = {site: [] for site in sites}
    points = []
    for site in sites:
        for k in range(24):
            when = start + timedelta(minutes=5 * (k - 12), microseconds=rng.randrange(10**6))
            value = round(rng.uniform(0, 80), 3)
            points.append(
                Point("air")
                .tag("site", site)
                # Sensors with unequal counts since `start` (p0: 2, p1: 2, p2: 8): the mean of
                # the per-sensor means is not the mean.
                .tag("sensor", f"p{min(k % 5, 2)}")
                .field("pm25", value)
                .field("pm10", value * 2)
                .time(when, WritePrecision.NS)
            )
            if when >= start:
                values[site].append(value)
    seed(admin, sandbox, points)
    return values


def _mean_matches(result, want: float | None) -> bool:
    if not result.ok:
        return False
    if want is None:
        return result.value is None
    return isinstance(result.value, float) and math.isclose(result.value, want, rel_tol=1e-9)


@pytest.mark.points(3)
def test_mean_by_tag(submission, sandbox, admin, grade):
    """mean_by_tag() computes the mean with query parameters, whatever the tag value holds."""
    rng = random.Random()
    start = recent_base(rng) + timedelta(hours=1)
    values = seed_air(admin, sandbox, rng, ["roof", "cellar", *TRICKY_TAG_VALUES], start)
    since = start.astimezone(rng.choice(ZONES))
    hint = (
        "pass every value with query(..., params={...}): influxdb-client sends each as a "
        "Flux `option`, so the query names it directly; group() before mean() merges the "
        "series into one mean"
    )
    cases = (
        ("a plain tag value", 0.5, ["roof"]),
        ("tag values with double quotes and backslashes", 1.5, list(TRICKY_TAG_VALUES)),
        ("None when nothing matches", 0.5, ["nowhere"]),
    )
    for name, worth, sites in cases:
        wrong = []
        for site in sites:
            result = submission.call("mean_by_tag", "air", "pm25", "site", site, since)
            want = sum(values[site]) / len(values[site]) if site in values else None
            if not _mean_matches(result, want):
                found = typed(result.value) if result.ok else brief(result)
                wrong.append(f"for {site!r} expected {want!r}, found {found}")
        grade.part(
            f"mean for {name}",
            worth,
            not wrong,
            expected=f"the mean of pm25 since start for site {', '.join(map(repr, sites))}",
            found="; ".join(wrong[:2]) + (f"; and {len(wrong) - 2} more" if len(wrong) > 2 else ""),
            hint=hint,
        )
    # A tag key is placed in the query's text: one that is not a plain name must be refused.
    hostile = 'site"] == "roof" or r["site'
    result = submission.call("mean_by_tag", "air", "pm25", hostile, "cellar", since)
    grade.part(
        "a tag key that is not a plain name raises ValueError",
        0.5,
        not result.ok and result.error_type == "ValueError",
        expected=f"ValueError for the tag key {hostile!r}",
        found=f"returned {typed(result.value)}" if result.ok else brief(result),
        hint="accept a tag key only if it is letters, digits and _ (not starting with a digit)",
    )
