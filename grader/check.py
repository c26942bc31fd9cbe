"""What check authors use: readable failures, partial credit, and the kit every lab's
checks share to seed data, read back what landed and compare it.

    @pytest.mark.points(4)
    def test_precision(submission, sandbox, grade):
        "Writes with the precision it is given."
        ...
        grade.part("seconds", 2, stored == expected, expected=..., found=..., hint=...)
        expect(result.ok, "write_lines() failed", found=result.explain(), hint="...")

``expect`` stops the check with feedback written for the student; ``grade.part``
records a scored piece and lets the check go on to the next one.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from influxdb_client import Point
from influxdb_client.client.write_api import SYNCHRONOUS

from .results import Part
from .submission import CallResult

# Reading back what landed: from 1970 to the last time InfluxDB stores, never `range(start: 0)`,
# which stops at now() and so hides the points a time-zone bug writes hours in the future.
ALL_TIME = "range(start: 0, stop: 2262-04-11T23:47:16.854775807Z)"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_TAGS = {"result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}


class CheckFailed(AssertionError):
    """A check's verdict on the student's work, with the feedback to show."""


def feedback(what: str, *, expected: Any = None, found: Any = None, hint: str = "") -> str:
    lines = [what]
    if expected is not None:
        lines.append(f"expected: {expected}")
    if found is not None:
        lines.append(f"found:    {found}")
    if hint:
        lines.append(f"hint:     {hint}")
    return "\n".join(lines)


def expect(
    condition: Any, what: str, *, expected: Any = None, found: Any = None, hint: str = ""
) -> None:
    """Fail the check with readable feedback unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(feedback(what, expected=expected, found=found, hint=hint))


def expect_ok(result: CallResult) -> Any:
    """The value a student's call returned; fails the check, saying why, if it raised."""
    expect(result.ok, f"{result.function}() failed", found=result.explain())
    return result.value


def expect_records(result: CallResult, what: str) -> list[dict]:
    """The list of dicts a student's call returned; fails the check otherwise."""
    records = expect_ok(result)
    expect(
        isinstance(records, list) and all(isinstance(r, dict) for r in records),
        f"{result.function}() should return {what}",
        found=type(records).__name__,
    )
    return records


class Grade:
    """The scored parts of one check (see the module docstring)."""

    def __init__(self) -> None:
        self.parts: list[Part] = []

    def part(
        self,
        name: str,
        points: float,
        passed: Any,
        *,
        expected: Any = None,
        found: Any = None,
        hint: str = "",
    ) -> bool:
        """Record a part worth ``points``; returns whether it passed."""
        ok = bool(passed)
        text = "" if ok else feedback(name, expected=expected, found=found, hint=hint)
        self.parts.append(Part(name, points, ok, text))
        return ok


# -- seeding, reading back, comparing ----------------------------------------------


def until(condition: Callable[[], Any], timeout: float) -> bool:
    """Whether ``condition()`` became true within ``timeout`` seconds, asked every 0.1 s:
    for what a live server or the student's program makes true a moment later."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def ns_of(when: datetime) -> int:
    """A timezone-aware datetime as integer nanoseconds since the epoch, exactly."""
    return (when - EPOCH) // timedelta(microseconds=1) * 1000


def show_ns(ns: int) -> str:
    """Integer nanoseconds as a readable UTC time with all nine digits."""
    seconds, rest = divmod(ns, 10**9)
    return f"{(EPOCH + timedelta(seconds=seconds)).strftime('%Y-%m-%dT%H:%M:%S')}.{rest:09d}Z"


def stored(
    admin, sandbox, measurement: str = "", fields: tuple[str, ...] = (), bucket: str = ""
) -> list[dict[str, Any]]:
    """Every stored value of a measurement (no measurement: of every one) in the sandbox's
    bucket or ``bucket``: {"measurement", "ns", "field", "value", "tags"}, whatever its time."""
    only = " or ".join(f'r._field == "{f}"' for f in fields)
    flux = (
        f'from(bucket: "{bucket or sandbox.bucket}") |> {ALL_TIME} '
        + (f'|> filter(fn: (r) => r._measurement == "{measurement}") ' if measurement else "")
        + (f"|> filter(fn: (r) => {only}) " if only else "")
        + "|> map(fn: (r) => ({r with ns__: int(v: r._time)}))"
    )
    tables = admin.query_api().query(flux, org=sandbox.org_id)
    return [
        {
            "measurement": r.get_measurement(),
            "ns": r.values["ns__"],
            "field": r.get_field(),
            "value": r.get_value(),
            "tags": {k: v for k, v in r.values.items() if k not in NOT_TAGS and k != "ns__"},
        }
        for t in tables
        for r in t.records
    ]


def points_of(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Stored values grouped into points: (ns, sorted tags) -> {field: value}."""
    points: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["ns"], tuple(sorted(row["tags"].items())))
        points.setdefault(key, {})[row["field"]] = row["value"]
    return points


def seed(admin, sandbox, points: list[Point]) -> None:
    admin.write_api(write_options=SYNCHRONOUS).write(
        bucket=sandbox.bucket, org=sandbox.org_id, record=points
    )


def brief(result) -> str:
    """A failed call in one line: the server's own message rather than a whole HTTP dump."""
    server = re.search(r'"message":\s*"((?:[^"\\]|\\.)*)"', result.message)
    if result.stage == "call" and server:
        text = re.sub(r"(\\+n)+", " ", server.group(1))  # escaped newlines of a bytes repr
        return f"{result.function}() raised {result.error_type}: {text}"
    return result.explain()


def typed(value: Any) -> str:
    """A value with its type, so 21 and 21.0 read differently in feedback."""
    return f"{value!r} ({type(value).__name__})"


def first_differences(expected: list, found: list, limit: int = 3) -> str:
    """A short account of what is missing and what is extra."""
    want, got = Counter(map(repr, expected)), Counter(map(repr, found))
    missing, extra = list((want - got).elements()), list((got - want).elements())
    text = f"{len(found)} item(s); {len(missing)} missing, {len(extra)} unexpected"
    if missing:
        text += f"; missing e.g. {', '.join(missing[:limit])}"
    if extra:
        text += f"; unexpected e.g. {', '.join(extra[:limit])}"
    return text
