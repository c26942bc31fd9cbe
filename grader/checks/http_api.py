"""Checks for lab http_api: raw HTTP against a live InfluxDB.

The grader seeds and verifies through its own admin client; the student's
functions only ever see the check's sandbox organization.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from influxdb_client import Point, TaskCreateRequest, WritePrecision

from grader.check import ALL_TIME, expect, expect_ok, expect_records, seed, stored
from grader.check import typed as typed_value
from grader.faults import Fault, FaultProxy
from influx_labs.tasks import finished_run, wait_for_run

NOT_INFLUX_ERROR = "raise InfluxError(status, code, message, ...) for every error answer"


def _exact_times(admin, sandbox, measurement: str) -> dict[str, int]:
    """tag `id` -> the stored timestamp in integer nanoseconds, read back exactly."""
    return {row["tags"]["id"]: row["ns"] for row in stored(admin, sandbox, measurement)}


@pytest.mark.points(1)
def test_health(submission, sandbox):
    """health() returns the server's /health document."""
    result = submission.call("health")
    value = expect_ok(result)
    truth = requests.get(f"{sandbox.url}/health", timeout=5).json()
    expect(
        isinstance(value, dict)
        and value.get("status") == "pass"
        and value.get("version") == truth["version"],
        "health() should return the parsed JSON body of GET /health",
        expected={k: truth[k] for k in ("status", "version")},
        found=value,
    )


@pytest.mark.points(4)
def test_write_with_precision(submission, sandbox, admin, grade):
    """write_lines() sends line protocol with the precision it is given."""
    rng = random.Random()
    now_ns = time.time_ns() - rng.randrange(3600) * 10**9
    cases = [  # (part, points, precision argument, divisor from ns)
        ("seconds precision", 2, "s", 10**9),
        ("milliseconds precision", 1, "ms", 10**6),
        ("default precision is nanoseconds", 1, None, 1),
    ]
    for name, points, precision, divisor in cases:
        stamps = {f"{name[:2]}{i}": (now_ns - i * 7_654_321_987) // divisor for i in range(3)}
        lines = "\n".join(
            f"prec,id={key} v={i}i {ts}" for i, (key, ts) in enumerate(stamps.items())
        )
        args = (lines,) if precision is None else (lines, precision)
        result = submission.call("write_lines", *args)
        if not result.ok:
            grade.part(name, points, False, found=result.explain())
            continue
        landed = {k: v for k, v in _exact_times(admin, sandbox, "prec").items() if k in stamps}
        expected = {k: ts * divisor for k, ts in stamps.items()}
        grade.part(
            name,
            points,
            landed == expected,
            expected=f"timestamps (ns) {expected}",
            found=landed or "no points",
            hint="pass `precision` as a query parameter of POST /api/v2/write",
        )


def _seed_mixed(admin, sandbox) -> list[tuple]:
    """Points with every field type in two measurements: tables of several schemas (a block
    of annotations and header each) and tables sharing one (two hosts' tables of a field)."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    rows = []
    points = []
    for i in range(4):
        when = base + timedelta(seconds=i * 17, microseconds=250_000 * i)
        fields = {"count": i * 3, "ratio": 0.5 + i, "ok": i % 2 == 0, "note": f'n,{i} "q"'}
        # Nanosecond precision: the client converts datetimes to coarser units through a
        # float division, which can land one unit off (0.25 s -> 249999 us).
        p = Point("mixed").tag("host", f"h{i % 2}").time(when, WritePrecision.NS)
        for name, value in fields.items():
            p = p.field(name, value)
            rows.append(("mixed", name, when, value))
        points.append(p)
        points.append(Point("other").field("level", float(i)).time(when, WritePrecision.NS))
        rows.append(("other", "level", when, float(i)))
    seed(admin, sandbox, points)
    return rows


def _utc(when: object) -> object:
    """A datetime as an aware UTC one (a naive one read as UTC), anything else as it is:
    records are matched by time whether or not the student's times carry a zone."""
    if not isinstance(when, datetime):
        return when
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _seed_sparse(admin, sandbox) -> list[dict]:
    """Points of measurement `sparse` where some lack field b: pivoted, their b is empty."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    points, expected = [], []
    for i in range(5):
        when = base + timedelta(seconds=i)
        p = Point("sparse").field("a", i).time(when, WritePrecision.S)
        b = None if i % 2 else i * 10
        if b is not None:
            p = p.field("b", b)
        points.append(p)
        expected.append({"_time": when, "a": i, "b": b})
    seed(admin, sandbox, points)
    return expected


@pytest.mark.points(5)
def test_query_returns_typed_records(submission, sandbox, admin, grade):
    """query() parses annotated CSV into records with typed values, empty cells and defaults."""
    rows = _seed_mixed(admin, sandbox)
    sparse = _seed_sparse(admin, sandbox)
    flux = (
        f'from(bucket: "{sandbox.bucket}") |> {ALL_TIME} '
        '|> filter(fn: (r) => r._measurement != "sparse")'
    )
    result = submission.call("query", flux)
    records = expect_records(result, "a list of dicts, one per CSV row")
    grade.part(
        "one record per row, across tables",
        1,
        len(records) == len(rows),
        expected=len(rows),
        found=len(records),
        hint="tables with the same columns share one header (see the table column); a "
        "blank line comes before a new block of annotation rows and header",
    )
    got = {
        (r.get("_measurement"), r.get("_field"), _utc(r.get("_time"))): r.get("_value")
        for r in records
    }
    typed = [
        f"{m}.{f} at {t.isoformat()}: expected {typed_value(v)}, "
        f"found {typed_value(got[(m, f, t)]) if (m, f, t) in got else 'no record'}"
        for m, f, t, v in rows
        if got.get((m, f, t)) != v or type(got.get((m, f, t))) is not type(v)
    ]
    grade.part(
        "values typed by #datatype (long, double, boolean, string)",
        2,
        not typed,
        expected="e.g. count -> int, ratio -> float, ok -> bool",
        found=f"{len(typed)} wrong; " + "; ".join(typed[:2]),
        hint="use the #datatype annotation row; CSV quoting matters for strings",
    )
    times = [r.get("_time") for r in records]
    grade.part(
        "times are timezone-aware datetimes",
        1,
        times and all(isinstance(t, datetime) and t.tzinfo for t in times),
        found=times[:2],
        hint="dateTime:RFC3339 ends in Z: it is UTC",
    )
    pivoted = submission.call(
        "query",
        f'from(bucket: "{sandbox.bucket}") |> {ALL_TIME} '
        '|> filter(fn: (r) => r._measurement == "sparse") '
        '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value") '
        '|> keep(columns: ["_time", "a", "b"]) |> yield(name: "sparse")',
    )
    found = (
        [{k: _utc(v) for k, v in r.items()} for r in pivoted.value if isinstance(r, dict)]
        if pivoted.ok and isinstance(pivoted.value, list)
        else pivoted.explain()
    )
    want = [{**row, "result": "sparse", "table": 0} for row in sparse]
    grade.part(
        "an empty cell is None; the #default row fills the result column; no other keys",
        1,
        isinstance(found, list) and sorted(found, key=repr) == sorted(want, key=repr),
        expected=want[:2],
        found=found[:2] if isinstance(found, list) else found,
        hint="a cell left empty takes the #default row's value for its column, or None "
        "when that is empty too",
    )


@pytest.mark.points(4)
def test_bucket_lifecycle(submission, sandbox, admin, grade):
    """create_bucket(), list_buckets() and delete_bucket() change the server's buckets.

    Each is graded on its own: when the student's bucket is missing, the grader makes the
    one to delete. The org holds more buckets than the largest page the API gives (100).
    """
    name = f"b-{uuid.uuid4().hex[:8]}"
    created = submission.call("create_bucket", name, 7200)
    found = admin.buckets_api().find_bucket_by_name(name)
    rules = [r.every_seconds for r in found.retention_rules] if found else None
    grade.part(
        "bucket created in the org with the asked retention",
        2,
        found is not None
        and found.org_id == sandbox.org_id
        and rules == [7200]
        and created.ok
        and created.value == found.id,
        expected=f"bucket {name} with retention [7200] and its ID returned",
        found=f"bucket: {found and found.name}, retention: {rules}, "
        f"returned: {created.value if created.ok else created.explain()}",
        hint="retentionRules: [{type: expire, everySeconds: ...}]; return the new ID",
    )
    if found is None:
        found = admin.buckets_api().create_bucket(bucket_name=name, org_id=sandbox.org_id)
    for i in range(101):  # more than the largest page the API gives (100)
        admin.buckets_api().create_bucket(bucket_name=f"{name}-{i:03d}", org_id=sandbox.org_id)
    truth = {b.name for b in admin.buckets_api().find_buckets_iter(org_id=sandbox.org_id)}
    listed = submission.call("list_buckets")
    names = listed.value if listed.ok and isinstance(listed.value, list) else None
    grade.part(
        "list_buckets() names every bucket of the org, and no other",
        1,
        names is not None and sorted(names) == sorted(truth),
        expected=f"all {len(truth)} names, system buckets included",
        found=listed.explain()
        if names is None
        else f"{len(names)} names; missing {sorted(truth - set(names))[:3]}, "
        f"extra {sorted(set(names) - truth)[:3]}",
        hint="the API answers one page: 20 buckets, or `limit` up to 100; ask for the "
        "next with `offset` until a page comes back short",
    )
    deleted = submission.call("delete_bucket", found.id)
    gone = admin.buckets_api().find_bucket_by_name(name) is None
    grade.part(
        "delete_bucket() removes it",
        1,
        deleted.ok and gone,
        found=deleted.explain() if not deleted.ok else "the bucket still exists",
    )


@pytest.mark.points(4)
def test_task_created_and_run(submission, sandbox, admin, grade):
    """create_task() makes the task, run_task() runs it now, run_status() reports a run.

    The three are independent: when the student's task is missing the grader creates its
    own, and run_status() is asked about a run the grader started, so one broken function
    costs only its own part.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    amounts = [random.randint(1, 50) for _ in range(5)]
    seed(
        admin,
        sandbox,
        [
            Point("sales").field("amount", a).time(now - timedelta(minutes=i + 1))
            for i, a in enumerate(amounts)
        ],
    )
    flux = (
        f'option task = {{name: "total-sales", every: 1h}}\n\n'
        f'from(bucket: "{sandbox.bucket}")\n'
        "    |> range(start: -1h)\n"
        '    |> filter(fn: (r) => r._measurement == "sales")\n'
        "    |> sum()\n"
        '    |> duplicate(column: "_stop", as: "_time")\n'
        '    |> set(key: "_measurement", value: "sales_total")\n'
        f'    |> to(bucket: "{sandbox.bucket}")\n'
    )
    created = submission.call("create_task", flux)
    tasks = admin.tasks_api().find_tasks(org_id=sandbox.org_id)
    task = next((t for t in tasks if created.ok and t.id == created.value), None)
    grade.part(
        "create_task() creates the task with the given script",
        1,
        task is not None and task.flux.strip() == flux.strip(),
        expected="the ID of a task whose flux is the script given",
        found=created.explain()
        if not created.ok
        else f"returned {created.value!r}; tasks in the org: {[t.id for t in tasks]}",
    )
    if task is None:  # the rest does not depend on create_task(): use the grader's own task
        task = admin.tasks_api().create_task(
            task_create_request=TaskCreateRequest(org_id=sandbox.org_id, flux=flux)
        )

    run = submission.call("run_task", task.id)
    ran = finished_run(admin, task.id, run.value) if run.ok and isinstance(run.value, str) else None
    status = ran.status if ran else None
    grade.part(
        "run_task() starts a run that succeeds",
        1,
        status == "success",
        expected="a run ID whose run ends in success",
        found=run.explain() if not run.ok else f"run {run.value!r}, status {status or 'not found'}",
        hint="POST /api/v2/tasks/{id}/runs with an empty JSON body",
    )
    # The output of that very run: a scheduled run (at the hour) writes at another time.
    wrote = None
    if ran is not None and ran.status == "success":
        tables = admin.query_api().query(
            f'from(bucket: "{sandbox.bucket}") |> {ALL_TIME} '
            '|> filter(fn: (r) => r._measurement == "sales_total")',
            org=sandbox.org_id,
        )
        wrote = [r.get_value() for t in tables for r in t if r.get_time() == ran.scheduled_for]
    grade.part(
        "the run wrote the task's output",
        1,
        wrote == [sum(amounts)],
        expected=f"sales_total = {sum(amounts)} at the run's scheduled time",
        found="no successful run" if wrote is None else f"sales_total {wrote}",
    )

    own = admin.tasks_api().run_manually(task.id)
    truth = wait_for_run(admin, task.id, own.id)
    reported = submission.call("run_status", task.id, own.id)
    grade.part(
        "run_status() reports a run's status",
        1,
        reported.ok and reported.value == truth,
        expected=f"{truth!r} for run {own.id} (started by the grader)",
        found=reported.explain() if not reported.ok else repr(reported.value),
        hint="GET /api/v2/tasks/{id}/runs/{runID} and return its status",
    )


def _raised(result, status: int, code: str, line: int | None = None) -> tuple[bool, str]:
    """Whether the call raised InfluxError(status, code[, line]), and what it did instead."""
    attrs = result.attrs
    ok = (
        not result.ok
        and result.error_type == "InfluxError"
        and (attrs.get("status"), attrs.get("code")) == (status, code)
        and (line is None or (attrs.get("line") == line and type(attrs.get("line")) is int))
    )
    if result.ok:
        return ok, f"returned {result.value!r}"
    if result.error_type == "InfluxError":
        return ok, f"InfluxError {attrs}"
    return ok, result.explain()


@pytest.mark.points(8)
def test_errors_become_influx_errors(submission, sandbox, grade):
    """Error answers (400, 401, 404, 429, 503) are raised as InfluxError with status, code,
    line and retry_after."""
    missing = f"missing-{uuid.uuid4().hex[:6]}"
    # Lines before the bad one sort below and above it: a wrong comparison shows.
    bad_batch = "air v=1i 1700000000\nzinc v=2i 1700000001\nbad,t=x v=\ncold v=3i 1700000003"
    cases = [  # part, points, call, expected (status, code, line), hint
        (
            "bad line protocol: 400 'invalid' with the bad line's number",
            2,
            ("write_lines", (bad_batch, "s"), {}),
            (400, "invalid", 3),
            "InfluxDB 2.9 quotes the bad line in `message`; find its number in the body",
        ),
        (
            "wrong token: 401 'unauthorized'",
            1,
            ("write_lines", ("m v=1", "s"), {"token": "not-a-token"}),
            (401, "unauthorized", None),
            NOT_INFLUX_ERROR,
        ),
        (
            "missing bucket: 404 'not found'",
            1,
            ("write_lines", ("m v=1", "s"), {"bucket": missing}),
            (404, "not found", None),
            NOT_INFLUX_ERROR,
        ),
        (
            "Flux that does not compile: 400 'invalid'",
            1,
            ("query", ('from(bucket: "x" |> range(start: -1h)',), {}),
            (400, "invalid", None),
            NOT_INFLUX_ERROR,
        ),
    ]
    for name, points, (function, args, kwargs), (status, code, line), hint in cases:
        ok, found = _raised(submission.call(function, *args, **kwargs), status, code, line)
        expected = f"InfluxError status={status} code={code!r}" + (f" line={line}" if line else "")
        grade.part(name, points, ok, expected=expected, found=found, hint=hint)

    # Answers an OSS server never gives, from a proxy in front of it: a rate limiter's 429
    # with Retry-After in seconds, a 503 with Retry-After as an HTTP date (ahead, and past).
    with FaultProxy(sandbox.url) as proxy:
        env = {"INFLUXDB_V2_URL": proxy.url}
        write, query = ("write_lines", "m v=1", "s"), ("query", "buckets() |> limit(n: 1)")
        ahead, past = (
            format_datetime(datetime.now(UTC) + timedelta(seconds=s), usegmt=True)
            for s in (90, -30)
        )
        limited = (submission, proxy, 429, "too many requests")
        seconds = [
            _retry_after(*limited, "37", write, lambda s: s == 37),
            _retry_after(*limited, "0", write, lambda s: s == 0),
        ]
        grade.part(
            "429 with Retry-After in seconds",
            1,
            all(ok for ok, _ in seconds),
            expected="InfluxError status=429 code='too many requests', retry_after 37, then 0",
            found="; ".join(text for _, text in seconds),
            hint="Retry-After holds seconds or an HTTP date (RFC 9110)",
        )
        busy = (submission, proxy, 503, "unavailable")
        dates = [
            _retry_after(*busy, ahead, query, lambda s: 60 <= s <= 90),
            _retry_after(*busy, past, query, lambda s: s == 0),
        ]
        grade.part(
            "503 with Retry-After as an HTTP date: the seconds until then, 0 once past",
            1,
            all(ok for ok, _ in dates),
            expected="retry_after about 90 for a date 90 s ahead, 0 for a date 30 s ago",
            found="; ".join(text for _, text in dates),
            hint="email.utils.parsedate_to_datetime() reads the date; never a negative wait",
        )
        page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        proxy.fail_next(Fault(502, "", "", {"Content-Type": "text/html"}, body=page))
        result = submission.call("write_lines", "m v=1", "s", env=env)
        ok, found = _raised(result, 502, "")
        grade.part(
            "an error whose body is not JSON: code '' and the body as message",
            0.5,
            ok and result.attrs.get("message") == page,
            expected=f"InfluxError status=502 code='' message={page!r}",
            found=found if not ok else f"message={result.attrs.get('message')!r}",
            hint="response.json() raises on an HTML page: fall back to the text",
        )
        proxy.fail_next(Fault(503, "unavailable", "restarting", {"Retry-After": "soon"}))
        result = submission.call("write_lines", "m v=1", "s", env=env)
        ok, found = _raised(result, 503, "unavailable")
        grade.part(
            "a Retry-After that is neither seconds nor a date gives retry_after None",
            0.5,
            ok and "retry_after" in result.attrs and result.attrs["retry_after"] is None,
            expected="InfluxError status=503 code='unavailable' retry_after=None",
            found=found if not ok else f"retry_after={result.attrs.get('retry_after')!r}",
        )


def _retry_after(submission, proxy, status, code, header, call, right) -> tuple[bool, str]:
    """Answer the call's request with ``status``/``code`` and ``Retry-After: header``:
    whether it raised that InfluxError with a ``retry_after`` that is ``right``, and what
    it did, for the feedback."""
    proxy.fail_next(Fault(status, code, "try again later", {"Retry-After": header}))
    result = submission.call(*call, env={"INFLUXDB_V2_URL": proxy.url})
    ok, found = _raised(result, status, code)
    seconds = result.attrs.get("retry_after")
    shown = found if not ok else f"retry_after={seconds!r}"
    return ok and _number(seconds) and right(seconds), f"Retry-After {header}: {shown}"


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
