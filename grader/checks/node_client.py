"""Checks for lab node_client: writes and queries with @influxdata/influxdb-client under Node.js.

The python_client lab's core, in JavaScript: each check calls the student's
exported functions in a child ``node`` process (the runner's JavaScript side,
``grader/node_runner.mjs``), then reads back what landed with the grader's
admin client, or compares what a query returned with the data it seeded.
JavaScript has one number type, so the field types (integer or float) and the
exact times are judged by what InfluxDB stored, never by what the code says.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from influxdb_client import Point, WritePrecision

from grader.check import (
    EPOCH,
    brief,
    expect,
    expect_ok,
    expect_records,
    first_differences,
    ns_of,
    points_of,
    seed,
    stored,
    typed,
)
from grader.checks.python_client import (
    TRICKY_TAG_VALUES,
    ZONES,
    describe_shift,
    grade_precisions,
    grade_reading,
    recent_base,
    seed_air,
)
from grader.faults import WRITE, Fault, FaultProxy

STALL = 1.5  # seconds the proxy holds writeMany()'s first batch, as a slow server would
# A tag value a JavaScript template literal would read as a placeholder.
TEMPLATE_TAG_VALUE = "cost ${price}"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


@pytest.fixture
def proxy(sandbox):
    """An HTTP proxy in front of the sandbox's InfluxDB that records every request."""
    with FaultProxy(sandbox.url) as seen:
        yield seen


def ns_of_rfc3339(text: Any) -> int | None:
    """Integer nanoseconds of an RFC 3339 UTC time as InfluxDB writes it, exactly; None if
    it is not one (a Date turned into milliseconds, a number...)."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    whole = datetime.fromisoformat(match[1]).replace(tzinfo=UTC)
    return (whole - EPOCH) // timedelta(seconds=1) * 10**9 + int((match[2] or "").ljust(9, "0"))


def _number(value: Any) -> bool:
    """A JavaScript number as it reaches Python: an int or a float, never a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shift(found: int, want: int) -> str:
    """What a wrong stored time says about the mistake."""
    if found < 10**17:  # before 1973
        return "it landed in 1970: a count of milliseconds read as nanoseconds?"
    return describe_shift(found - want)


# -- writes ------------------------------------------------------------------


@pytest.mark.points(5)
def test_write_reading(submission, sandbox, admin, grade):
    """writeReading() writes one point: its tags, a float temperature, an integer humidity
    and the Date's time to the millisecond, whatever zone it was made in."""
    rng = random.Random()
    device = f"sensor-{rng.randrange(1000, 10000)}"
    room = rng.choice(["lab 2, east", "kitchen=main", "hall B"])  # needs escaping as a tag
    humidity = rng.randrange(30, 70)
    when = recent_base(rng) + timedelta(milliseconds=rng.randrange(1, 1000))
    result = submission.call(
        "writeReading", device, room, 21, humidity, when.astimezone(rng.choice(ZONES))
    )
    expect(
        result.ok,
        "writeReading() failed",
        found=result.explain(),
        hint="build a Point, write it with getWriteApi(org, bucket, precision) and await close()",
    )
    rows = stored(admin, sandbox, "climate")
    expect(
        rows,
        "writeReading() returned, but nothing landed in measurement 'climate'",
        expected="one point with fields temperature and humidity",
        found="no point",
        hint="the write API only buffers points: await writer.close() (or flush()) before "
        "returning, or the process ends with the point still in its buffer",
    )
    grade_reading(
        rows,
        grade,
        tags={"device": device, "room": room},
        humidity=humidity,
        when=when,
        exact_to="millisecond",
        shift=_shift,
        hints={
            "tags": "new Point('climate').tag('device', device).tag('room', room)",
            "temperature": "JavaScript has one number type: the field's method says the type, "
            "floatField('temperature', ...) for a float",
            "humidity": "intField('humidity', ...) writes 45i; floatField would make it 45.0",
            "time": "give timestamp() the Date itself: a number is read in the write API's "
            "precision, and getTime() counts milliseconds, not the default nanoseconds",
        },
    )


@pytest.mark.points(2)
def test_write_lines(submission, sandbox, admin, grade):
    """writeLines() writes the lines as given, with the precision it is given."""
    hint = (
        "the precision is the write API's: getWriteApi(org, bucket, precision), then "
        "writeRecords(lines) as they are"
    )
    grade_precisions(submission, "writeLines", admin, sandbox, grade, hint)


def _many(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Readings with nanosecond times (past 2**53, a BigInt in JavaScript), whole-number
    float values among the others, and every third reading with a site tag of its own."""
    base = ns_of(recent_base(rng))
    records = []
    for i in range(count):
        tags = {"sensor": f"s{i % 7}"} | ({"site": "own site"} if i % 3 == 0 else {})
        value = float(rng.randrange(100)) if i % 4 == 0 else round(rng.uniform(0, 100), 2)
        records.append(
            {
                "measurement": "bulk",
                "tags": tags,
                "seq": i,
                "value": value,
                "time": base + i * 1_000_003 + rng.randrange(1, 1000),
            }
        )
    return records


@pytest.mark.points(6)
def test_write_many(submission, sandbox, admin, proxy, grade):
    """writeMany() lands every reading exactly, in batches of batchSize, with the default
    tags, waits for every batch's answer and says how many it handed over."""
    rng = random.Random()
    count, batch_size = 2345, 300
    defaults = {"site": "plant 7", "line": "A"}
    records = _many(rng, count)
    proxy.stall(0, STALL)  # the first batch's answer comes late, long after the last's
    result = submission.call(
        "writeMany", records, batch_size, defaults, env={"INFLUXDB_V2_URL": proxy.url}, timeout=60
    )
    returned = time.monotonic()
    expect_ok(result)
    grade.part(
        "returns how many readings it handed to the writer",
        1,
        result.value == count and _number(result.value),
        expected=count,
        found=typed(result.value),
    )
    writes = [seen for seen in proxy.forwarded if seen.path.startswith(WRITE)]
    # The held batch reaches InfluxDB STALL seconds after it arrived, whether or not the
    # code waited for its answer: what landed is judged once it is there.
    time.sleep(max(0.0, (writes[0].at if writes else 0.0) + STALL + 1.0 - time.monotonic()))
    points = points_of(stored(admin, sandbox, "bulk"))
    found = [
        (ns, dict(tags).get("sensor"), fields.get("seq"), fields.get("value"))
        for (ns, tags), fields in points.items()
    ]
    want = [(r["time"], r["tags"]["sensor"], r["seq"], r["value"]) for r in records]
    typed_right = all(
        type(fields.get("seq")) is int and type(fields.get("value")) is float
        for fields in points.values()
    )
    grade.part(
        f"all {count} readings land exactly once: times to the nanosecond, seq an integer, "
        "value a float",
        2,
        Counter(map(repr, found)) == Counter(map(repr, want)) and typed_right,
        expected=f"{count} points, e.g. {want[0]}",
        found=first_differences(want, found, limit=2)
        + ("" if typed_right else "; fields of the wrong type"),
        hint="give timestamp() the BigInt (or its string): Number(time) rounds nanoseconds; "
        "intField for seq and floatField for value, never a type guessed from the number "
        "(40.0 is an integer to Number.isInteger); await close() for the last batch",
    )
    want_tags = Counter(repr(sorted((defaults | r["tags"]).items())) for r in records)
    got_tags = Counter(repr(list(tags)) for (_, tags) in points)
    grade.part(
        "the default tags on every point; a reading's own tag of the same name wins",
        1,
        got_tags == want_tags,
        expected=f"tags like {sorted((defaults | records[0]['tags']).items())}",
        found=first_differences(list(want_tags.elements()), list(got_tags.elements()), limit=2),
        hint="the write options' defaultTags (or writer.useDefaultTags()) add a tag only "
        "where the point has none of that name",
    )
    early = bool(writes) and returned < writes[0].at + STALL
    grade.part(
        "returns only once every batch is acknowledged",
        1,
        bool(writes) and not early,
        expected=f"writeMany() returning after the first batch's answer, which InfluxDB "
        f"gave {STALL:g}s after that batch arrived",
        found=f"it returned {writes[0].at + STALL - returned:.2f}s before that answer"
        if early
        else f"{len(writes)} write requests",
        hint="close() waits only for the batch it sends itself; the batches the writer sent "
        "on its own may still be waiting for their answer: count what writeSuccess "
        "acknowledged and wait for all of it",
    )
    sizes = [len(seen.body.splitlines()) for seen in writes]
    batches = -(-count // batch_size)
    grade.part(
        f"sent in batches of {batch_size}: {batches} requests",
        1,
        len(sizes) == batches and max(sizes, default=0) <= batch_size,
        expected=f"{batches} write requests of at most {batch_size} lines",
        found=f"{len(sizes)} requests of {sorted(Counter(sizes).items())} (lines, how many)",
        hint="the batch size is a write option: getWriteApi(org, bucket, 'ns', {batchSize})",
    )


@pytest.mark.points(2)
def test_a_refused_batch_makes_write_many_reject(submission, proxy, grade):
    """InfluxDB refuses the second of three batches (a 400, as for a field type conflict):
    writeMany() rejects with that error, promptly, instead of waiting for an answer that
    never comes or returning a count of readings that never landed."""
    records = _many(random.Random(), 700)
    # The second batch of 300 carries seq 400 (whatever the order of its fields).
    conflict = "partial write: field type conflict"
    proxy.fail_next(Fault(400, "invalid", conflict, path=WRITE, carrying=b"seq=400i"))
    result = submission.call(
        "writeMany", records, 300, {}, env={"INFLUXDB_V2_URL": proxy.url}, timeout=20
    )
    if result.not_implemented:
        expect_ok(result)  # says "not implemented yet"
    refused = [seen for seen in proxy.refused if seen.path.startswith(WRITE)]
    grade.part(
        "a refused batch makes writeMany() reject",
        2,
        bool(refused)
        and result.stage == "call"
        and (conflict in result.message or result.attrs.get("statusCode") == 400),
        expected="writeMany() rejecting with InfluxDB's error once a batch was answered 400",
        found=f"{len(refused)} batch(es) refused; " + result.explain(),
        hint="writeFailed(error) is where a refused batch shows: keep the error, stop "
        "waiting for acknowledgements, and throw it once close() is done (a promise "
        "nothing will resolve ends Node.js with the call unfinished)",
    )


# -- queries -----------------------------------------------------------------


def _seed_weather(admin, sandbox, rng: random.Random, measurement: str) -> tuple[list, Any, Any]:
    """Temperatures of three stations (unequal series), two readings in one second, the
    first on the whole second (its time has no fraction); the expected rows and window."""
    base = recent_base(rng)
    stamps = [
        base + timedelta(seconds=20 * k, microseconds=rng.randrange(10**6)) for k in range(45)
    ]
    stamps[10] = stamps[10].replace(microsecond=0)
    stamps[11] = stamps[10] + timedelta(microseconds=rng.randrange(100_000, 999_999))
    start, stop = stamps[3], stamps[40]
    points, expected = [], []
    for k, when in enumerate(stamps):
        station = f"st-{min(k % 5, 2)}"
        temp = round(rng.uniform(-10, 35), 3)
        points.append(
            Point(measurement)
            .tag("station", station)
            .field("temp", temp)
            .field("rain", k)
            .time(when, WritePrecision.NS)
        )
        if start <= when < stop:
            expected.append({"ns": ns_of(when), "value": temp, "station": station})
    seed(admin, sandbox, points)
    return expected, start, stop


def _rows(records: list[dict]) -> list[dict]:
    """The student's rows with the time as integer nanoseconds (None where unreadable)."""
    return [{**r, "ns": ns_of_rfc3339(r.get("time"))} for r in records if isinstance(r, dict)]


def _row_key(row: dict) -> str:
    """A row to compare, without its time string and with the value as a float: JavaScript
    sends the float 12.0 as 12."""
    value = row.get("value")
    row = {**row, "value": float(value)} if _number(value) else row
    return repr(sorted((k, v) for k, v in row.items() if k != "time"))


@pytest.mark.points(3)
def test_query_rows(submission, sandbox, admin, grade):
    """queryRows() returns the field's values in [start, stop) with their tags, by time,
    times exact as the server's strings; a measurement name with quotes is only data."""
    rng = random.Random()
    expected, start, stop = _seed_weather(admin, sandbox, rng, "weather")
    zone = rng.choice(ZONES)
    result = submission.call("queryRows", "weather", "temp", start.astimezone(zone), stop)
    rows = _rows(expect_records(result, "a list of objects"))
    grade.part(
        "exactly the seeded rows: time to the nanosecond, value and one key per tag",
        1,
        sorted(map(_row_key, rows)) == sorted(map(_row_key, expected)),
        expected=f"{len(expected)} rows like {expected[0]} (time as the server's RFC 3339)",
        found=first_differences(
            [sorted(r.items()) for r in expected],
            [sorted((k, v) for k, v in r.items() if k != "time") for r in rows],
            limit=2,
        ),
        hint="range(start, stop) includes start and excludes stop; keep _time as the string "
        "the server sent (a Date keeps only milliseconds) and the tag columns",
    )
    times = [r["ns"] for r in rows]
    backwards = next((i for i in range(1, len(times)) if (times[i] or 0) < (times[i - 1] or 0)), 0)
    grade.part(
        "sorted by time across the stations",
        1,
        len(times) == len(expected) and None not in times and not backwards,
        expected=f"{len(expected)} rows by ascending time",
        found=f"row {backwards} ({rows[backwards].get('time')}) after "
        f"{rows[backwards - 1].get('time')}"
        if backwards
        else f"{len(times)} rows",
        hint="rows come table by table (a table per station): group() and sort(columns: "
        '["_time"]) in Flux; RFC 3339 strings do not sort as text ("…:05Z" is before '
        '"…:05.5Z")',
    )
    quoted = 'weather "east" ${wing}'
    expected, start, stop = _seed_weather(admin, sandbox, rng, quoted)
    result = submission.call("queryRows", quoted, "temp", start, stop)
    rows = _rows(result.value) if result.ok and isinstance(result.value, list) else []
    grade.part(
        "a measurement name with quotes and ${…} in it",
        1,
        sorted(map(_row_key, rows)) == sorted(map(_row_key, expected)),
        expected=f"the {len(expected)} rows of measurement {quoted!r}",
        found=f"{len(rows)} rows" if result.ok else brief(result),
        hint="build the query with the flux`` tagged template: each ${value} becomes a Flux "
        "literal, quoted and escaped; a plain template literal pastes it in as it is",
    )


@pytest.mark.points(3)
def test_mean_by_tag(submission, sandbox, admin, grade):
    """meanByTag() computes the mean through the flux`` template, whatever a tag value or
    a tag key holds."""
    rng = random.Random()
    start = recent_base(rng) + timedelta(hours=1)
    tricky = [*TRICKY_TAG_VALUES, TEMPLATE_TAG_VALUE]
    values = seed_air(admin, sandbox, rng, ["roof", "cellar", *tricky], start)
    since = start.astimezone(rng.choice(ZONES))

    def mean(site: str, tag: str = "site") -> tuple[bool, str]:
        result = submission.call("meanByTag", "air", "pm25", tag, site, since)
        want = sum(values[site]) / len(values[site]) if tag == "site" and site in values else None
        if want is None:
            right = result.ok and result.value is None
        else:
            right = result.ok and _number(result.value) and math.isclose(result.value, want)
        found = typed(result.value) if result.ok else brief(result)
        return right, f"for {tag}={site!r} expected {want!r}, found {found}"

    cases = (
        ("a plain tag value", 0.5, ["roof"]),
        ("tag values with quotes, backslashes and ${…}", 1.5, tricky),
        ("null when nothing matches", 0.5, ["nowhere"]),
    )
    for name, worth, sites in cases:
        wrong = [said for right, said in map(mean, sites) if not right]
        grade.part(
            f"mean for {name}",
            worth,
            not wrong,
            expected=f"the mean of pm25 since start for site {', '.join(map(repr, sites))}",
            found="; ".join(wrong[:2]) + (f"; and {len(wrong) - 2} more" if len(wrong) > 2 else ""),
            hint="put every value in with the flux`` template; group() before mean() merges "
            "the series into one mean",
        )
    # A tag key is data too: r[${tag}] makes it a string literal, and no series has it.
    hostile = 'site"] == "roof" or r["site'
    right, said = mean("cellar", tag=hostile)
    grade.part(
        "a tag key with quotes in it is only a name: nothing matches it",
        0.5,
        right,
        expected=f"null for the tag key {hostile!r}",
        found=said,
        hint='filter with r[${tag}] inside flux``: r["key"] is Flux for r.key, and the '
        "template quotes the key",
    )


@pytest.mark.points(2)
def test_count_above(submission, sandbox, admin, grade):
    """countAbove() counts the values above a threshold, an integer one too, in every series."""
    rng = random.Random()
    base = recent_base(rng)
    points, values = [], []
    for k in range(60):
        # Whole numbers, one equal to the whole threshold; no other value equals either.
        value = float(12 + k % 3) if k % 10 == 0 else round(rng.uniform(5, 20), 2) + 0.005
        values.append(value)
        points.append(
            Point("levels")
            .tag("tank", f"t{min(k % 4, 2)}")
            .field("level", value)
            .time(base + timedelta(seconds=k, microseconds=rng.randrange(10**6)), WritePrecision.NS)
        )
    seed(admin, sandbox, points)
    for name, threshold in (("a whole-number threshold, 12", 12), ("a threshold of 12.5", 12.5)):
        result = submission.call("countAbove", "levels", "level", threshold, base)
        want = sum(value > threshold for value in values)
        grade.part(
            f"count for {name}",
            1,
            result.ok and result.value == want and _number(result.value),
            expected=f"{want} (values strictly above {threshold})",
            found=typed(result.value) if result.ok else brief(result),
            hint="strictly above: r._value > threshold; and every series counts, not only "
            "the first table's",
        )
