"""Checks for lab instrumentation: a metrics decorator and least-privilege tokens.

The decorator is graded on the grader's own functions (``grader.workload``): sync ones
from the main thread and from a pool of threads, coroutines run concurrently, some
raising, some cancelled, each doing work of a random length. The workload runs as a
program in the sandbox and ends as a program ends, so the exit-time flush counts.
What the checks compare is what InfluxDB holds afterwards, against the grader's plan;
the workload reports only what the callers saw (values, exceptions, time added).
InfluxDB is also put behind a proxy that counts write requests, and replaced by a
server that accepts connections and never answers.

The tokens are proved with live requests: each one is tried on what it should do and
on what it must not (the other bucket, a third one, the organization's settings).
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from influxdb_client import Point
from influxdb_client.client.write_api import SYNCHRONOUS

from grader.check import expect, expect_ok, show_ns, stored, typed
from grader.faults import WRITE, Fault, FaultProxy, SlowUplink
from grader.submission import Submission

MEASUREMENT = "service_calls"
OPERATIONS = {"find_user": "lookup_user"}  # the workload's functions named otherwise
RAISES = {"calibrate": "SensorOffline", "upload": "TimeoutError", "stream": "CancelledError"}
SLACK_MS = 250  # what a call's recorded duration may exceed its work by, on a busy machine
BLOCKED = 0.25  # seconds a call may take beyond its work before it counts as waiting
RUN_LIMIT = 15  # seconds a workload may take, its exit flush included (it needs ~5)
HUNG_EXIT = 15  # ... when InfluxDB never answers: the exit flush must give up in time


# -- the workload ------------------------------------------------------------------------


def _plan(rng: random.Random, counts: dict[tuple[str, str], int], **extra: Any) -> dict:
    """Calls of (function, how) as often as ``counts`` says, each with its own sensor and
    a distinct work time of 10 to 120 ms; ``stream`` calls are cancelled midway."""
    total = sum(counts.values())
    delays = iter(ms / 1000 for ms in rng.sample(range(10, 121), total))
    sensors = iter(rng.sample(range(100, 1000), total))
    calls = []
    for (fn, how), times in counts.items():
        for _ in range(times):
            call = {"fn": fn, "how": how, "sensor": next(sensors), "delay": next(delays)}
            if fn == "stream":
                call["delay"] += 5.0  # would take seconds: cancelled after its planned time
                call["cancel_after"] = call["delay"] - 5.0
            calls.append(call)
    return {"calls": calls, **extra}


def _work_ms(call: dict) -> float:
    return 1000 * call.get("cancel_after", call["delay"])


def _operation(fn: str) -> str:
    return OPERATIONS.get(fn, fn)


class Run:
    """One workload run: started here; ``reported()`` waits for the calls' report (the
    program may still be running), ``finish()`` for its end."""

    def __init__(
        self, submission: Submission, plan: dict, env: dict[str, str], limit: float = RUN_LIMIT
    ):
        self.started_ns = time.time_ns()
        self.program = submission.workload(plan, env)
        self.deadline = time.monotonic() + limit
        self.limit = limit
        self.report: dict = {}
        self.reported_at = self.deadline
        self.code: int | None = None
        self.ended_ns = 0

    def reported(self) -> Run:
        while not self.report and self.program.alive() and time.monotonic() < self.deadline:
            time.sleep(0.05)
            self.report = self.program.last_json() or {}
        self.report = self.report or self.program.last_json() or {}
        self.reported_at = time.monotonic()
        return self

    def finish(self) -> Run:
        self.reported()
        self.code = self.program.wait(max(self.deadline - time.monotonic(), 0.1))
        self.ended_ns = time.time_ns()
        self.report = self.program.last_json() or self.report
        return self

    def calls(self) -> list[dict]:
        """The report's calls; fails the check, saying why, when there is no report."""
        report = self.report
        if report.get("ok"):
            return report["calls"]
        error = str(report.get("error", ""))
        if error.startswith("NotImplementedError"):
            expect(False, "instrumented() is not implemented yet (it raises NotImplementedError)")
        if report:
            where = {"import": "your module failed to import", "decorate": "decorating failed"}
            expect(False, f"{where.get(report['stage'], 'the calls failed')}: {error}")
        how = "" if self.code is not None else f"did not end within {self.limit:.0f} s"
        expect(False, "the workload gave no report", found=self.program.report("workload", how))
        return []


def _service(rng: random.Random) -> str:
    return f"checkout-{rng.randrange(16**6):06x}"


def _landed(admin, sandbox) -> list[dict[str, Any]]:
    """The recorded calls: one dict per point, its "tags", its "fields" and its time "ns"."""
    rows = stored(admin, sandbox, MEASUREMENT)
    points: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["ns"], tuple(sorted(row["tags"].items())))
        point = points.setdefault(key, {"tags": row["tags"], "fields": {}, "ns": row["ns"]})
        point["fields"][row["field"]] = row["value"]
    return list(points.values())


def _key(point: dict) -> tuple:
    tags = point["tags"]
    return (tags.get("operation"), tags.get("outcome"), tags.get("error_type"))


def _expected_key(call: dict) -> tuple:
    error = RAISES.get(call["fn"])
    return (_operation(call["fn"]), "error" if error else "ok", error)


def _durations_fit(calls: list[dict], points: list[dict]) -> tuple[bool, str]:
    """Whether the durations of the calls that returned, and of those that raised, fall
    (both sorted) in the planned work times (sorted), each from the work time to SLACK_MS
    more; the first misfit, said plainly. (Grouped by outcome only, so that a wrong
    operation name or error type costs its own part, not this one too.)"""
    for outcome in ("ok", "error"):
        work = sorted(_work_ms(c) for c in calls if _expected_key(c)[1] == outcome)
        got = sorted(
            (p["fields"].get("duration_ms") for p in points if _key(p)[1] == outcome),
            key=lambda v: v if isinstance(v, (int, float)) else -1,
        )
        if len(got) != len(work):
            return False, f"{len(got)} point(s) with outcome {outcome} for {len(work)} call(s)"
        for ms, value in zip(work, got, strict=True):
            if not isinstance(value, float) or not ms <= value <= ms + SLACK_MS:
                return False, f"a call that worked {ms:.0f} ms recorded {typed(value)}"
    return True, ""


def _tags_counted(points: list[dict]) -> Counter:
    return Counter(_key(p) for p in points)


def _shapes(points: list[dict]) -> set[tuple]:
    """Each point's (tag keys, field keys), to tell a tag written as a field."""
    return {(tuple(sorted(p["tags"])), tuple(sorted(p["fields"]))) for p in points}


# -- the decorator ---------------------------------------------------------------------------


@pytest.mark.points(8)
def test_every_call_becomes_one_point(submission, sandbox, admin, grade):
    """Sync calls from the main thread and from four threads, one of them a method and one
    renamed, some raising: one point each, with its operation, outcome, error type, the
    call's duration in ms and its start in ns; the writer's timer sends them while the
    program still runs."""
    rng = random.Random()
    service = _service(rng)
    interval = 0.5
    plan = _plan(
        rng,
        {
            ("read_sensor", "sync"): 3,
            ("calibrate", "sync"): 2,
            ("find_user", "sync"): 2,
            ("Pump.start", "sync"): 2,
            ("read_sensor", "thread"): 12,
            ("calibrate", "thread"): 4,
        },
        linger=interval + 2.0,  # the writer's timer sends everything while it lingers
    )
    env = {"SERVICE_NAME": service, "FLUSH_INTERVAL_MS": str(int(interval * 1000))}
    run = Run(submission, plan, env).reported()
    time.sleep(interval + 1.0)
    sent_by_timer = len(_landed(admin, sandbox))
    run.finish().calls()
    points = _landed(admin, sandbox)
    calls = plan["calls"]
    want_ops = Counter(_operation(c["fn"]) for c in calls)
    got_ops = Counter(p["tags"].get("operation") for p in points)
    services = {p["tags"].get("service") for p in points}
    shapes = _shapes(points)
    fields_ok = {fields for _, fields in shapes} == {("duration_ms",)}
    grade.part(
        "one point per call, tagged with its operation and the service",
        2,
        got_ops == want_ops and services == {service} and fields_ok,
        expected=f"points {dict(want_ops)} tagged service={service}, one field duration_ms",
        found=f"points {dict(got_ops)}, services {sorted(map(str, services))}, "
        f"(tags, fields) {sorted(shapes)}",
        hint="operation: the name given to instrumented(), else the function's __qualname__ "
        "(a method is 'Class.method'); service, operation, outcome and error_type are tags "
        "(.tag()), duration_ms the only field; one point per call, also from several threads",
    )
    want = Counter(_expected_key(c)[1:] for c in calls)
    found = Counter(_key(p)[1:] for p in points)
    grade.part(
        "the outcome and the error type",
        2,
        found == want,
        expected=f"(outcome, error_type): {dict(want)}",
        found=dict(found),
        hint='outcome "ok" or "error"; error_type only on errors: type(exc).__name__',
    )
    fit, misfit = _durations_fit(calls, points)
    grade.part(
        "duration_ms: the call's own time, in milliseconds, as a float",
        2,
        fit,
        expected=f"each call's work time to {SLACK_MS} ms more",
        found=misfit,
        hint="time.perf_counter() before and after the call, times 1000",
    )
    started, ended = run.started_ns, run.ended_ns
    outside = [p["ns"] for p in points if not started <= p["ns"] <= ended]
    grade.part(
        "the time a call started, in nanoseconds",
        1,
        points and not outside,
        expected=f"times between {show_ns(started)} and {show_ns(ended)}",
        found=f"{len(outside)} point(s) outside, e.g. {show_ns(outside[0])}" if outside else "none",
        hint="time.time_ns() when the call starts, written with WritePrecision.NS",
    )
    grade.part(
        "the writer sends every FLUSH_INTERVAL_MS, not only at exit",
        1,
        sent_by_timer == len(calls),
        expected=f"all {len(calls)} points stored {interval + 1:.1f} s after the last call, "
        f"the program still running (FLUSH_INTERVAL_MS={int(interval * 1000)})",
        found=f"{sent_by_timer} stored by then",
        hint="the sender thread waits at most FLUSH_INTERVAL_MS for a full batch, then sends "
        "what it has",
    )


@pytest.mark.points(5)
def test_coroutines_are_timed_to_their_end(submission, sandbox, admin, grade):
    """Coroutine functions run concurrently: a call lasts until the coroutine finished,
    raised, or was cancelled (recorded as an error of type CancelledError)."""
    rng = random.Random()
    plan = _plan(
        rng, {("fetch", "async"): 4, ("upload", "async"): 2, ("stream", "async"): 2}, linger=1.5
    )
    env = {"SERVICE_NAME": _service(rng), "FLUSH_INTERVAL_MS": "500"}
    Run(submission, plan, env).finish().calls()
    points = _landed(admin, sandbox)
    hint = (
        "for a coroutine function (inspect.iscoroutinefunction), the wrapper must be "
        "`async def` and time `await fn(...)`: the coroutine only runs when awaited"
    )
    for fn, points_worth, what in (
        ("fetch", 2, "awaited calls, timed to their end"),
        ("upload", 2, "a coroutine that raises: an error, timed to its end"),
        ("stream", 1, "a cancelled coroutine: an error of type CancelledError"),
    ):
        mine = [c for c in plan["calls"] if c["fn"] == fn]
        found = [p for p in points if p["tags"].get("operation") == fn]
        fit, misfit = _durations_fit(mine, found)
        want = Counter(_expected_key(c) for c in mine)
        grade.part(
            what,
            points_worth,
            _tags_counted(found) == want and fit,
            expected=f"{dict(want)}, each lasting its work time to {SLACK_MS} ms more",
            found=misfit or dict(_tags_counted(found)),
            hint=hint if fn != "stream" else "CancelledError is a BaseException, not an Exception",
        )


@pytest.mark.points(4)
def test_the_decorator_changes_nothing(submission, grade):
    """Callers get exactly what the undecorated functions give (values, the same object,
    exceptions as raised), and the wrapper keeps the function's name, docstring,
    ``__wrapped__`` and its being a coroutine function."""
    rng = random.Random()
    counts = {
        (fn, how): 1
        for fn, how in (
            ("read_sensor", "sync"),
            ("calibrate", "sync"),
            ("Pump.start", "sync"),
            ("calibrate", "thread"),
            ("fetch", "async"),
            ("upload", "async"),
            ("stream", "async"),
        )
    }
    run = Run(submission, _plan(rng, counts), {"SERVICE_NAME": _service(rng)}).finish()
    changed = [c for c in run.calls() if not c["same"]]
    grade.part(
        "values and exceptions as the function gives them",
        2,
        not changed,
        expected="each caller gets the function's own value or exception",
        found="; ".join(f"{c['fn']} ({c['how']}) gave the caller {c['saw']}" for c in changed),
        hint="return the function's value; let its exception go on (`raise`, never a new "
        "one, never swallowed)",
    )
    looks = run.report.get("looks", {})
    lost = [name for name, ok in looks.items() if not ok]
    grade.part(
        "the wrapper looks like the function",
        2,
        looks and not lost,
        expected="the name, docstring and __wrapped__ kept; a coroutine function stays one",
        found=f"lost: {', '.join(lost)}",
        hint="functools.wraps(fn) on both wrappers; an `async def` wrapper for a coroutine "
        "function",
    )


@pytest.mark.points(4)
def test_one_shared_batching_writer_flushed_at_exit(submission, sandbox, admin, lab_stack, grade):
    """Many calls from threads and the main thread go out in a few batches through one
    writer, a batch as soon as it is full; the program ends soon after its last call, and
    the last batch still lands."""
    rng = random.Random()
    batch, linger = 50, 1.0
    plan = _plan(rng, {("read_sensor", "thread"): 80, ("find_user", "sync"): 17}, linger=linger)
    calls = len(plan["calls"])
    with FaultProxy(lab_stack.endpoints.influx.url) as proxy:
        env = {
            "INFLUXDB_V2_URL": proxy.url,
            "SERVICE_NAME": _service(rng),
            "BATCH_SIZE": str(batch),
            "FLUSH_INTERVAL_MS": "60000",  # only full batches and the exit send anything
        }
        run = Run(submission, plan, env).reported()
        time.sleep(linger / 2)
        while_running = len(_landed(admin, sandbox))
        run.finish().calls()
        exited_after = time.monotonic() - run.reported_at
        writes = [s for s in proxy.forwarded if s.path.startswith(WRITE)]
    most = math.ceil(calls / batch) + 1
    grade.part(
        "a batch goes out as soon as it is full, through one writer for all threads",
        2,
        0 < len(writes) <= most and while_running >= batch,
        expected=f"{calls} calls with BATCH_SIZE={batch}: at most {most} write requests, "
        f"and at least {batch} points stored before the program ends",
        found=f"{len(writes)} write request(s); {while_running} points stored before the end",
        hint="one writer for the whole process, made once (under a lock), never a client or "
        "a synchronous write per call; its sender wakes up when BATCH_SIZE points wait",
    )
    landed = len(_landed(admin, sandbox))
    prompt = linger + 3.0
    grade.part(
        "the last batch lands though the program ends soon after the last call",
        2,
        landed == calls and run.code is not None and exited_after <= prompt,
        expected=f"{calls} points; the program ended within {prompt:.0f} s of its last call",
        found=f"{landed} points; the program {run.program.describe_exit()} "
        f"{exited_after:.1f} s after its last call",
        hint="send what is left from an atexit handler, and stop once it is sent. (The "
        "batching write_api of influxdb-client cannot do it: at exit its thread pool is "
        "shut down before atexit handlers run.)",
    )


@pytest.mark.points(2)
def test_the_writer_keeps_its_pace_and_outlives_a_refused_batch(
    submission, sandbox, admin, lab_stack, grade
):
    """InfluxDB refuses the first batch (a 503, as while it restarts): the writer drops
    or retries it and goes on sending on its timer while the program runs. And it sends
    no more often than FLUSH_INTERVAL_MS says, however the calls come."""
    rng = random.Random()
    interval, linger = 0.3, 1.5
    plan = _plan(rng, {("read_sensor", "sync"): 16, ("calibrate", "sync"): 4}, linger=linger)
    calls = len(plan["calls"])
    with FaultProxy(lab_stack.endpoints.influx.url) as proxy:
        proxy.fail_next(Fault(503, "unavailable", "the server is restarting", path=WRITE))
        env = {
            "INFLUXDB_V2_URL": proxy.url,
            "SERVICE_NAME": _service(rng),
            "FLUSH_INTERVAL_MS": str(int(interval * 1000)),
        }
        run = Run(submission, plan, env).reported()
        time.sleep(linger / 2)
        while_running = len(_landed(admin, sandbox))
        run.finish().calls()
        refused = [s for s in proxy.refused if s.path.startswith(WRITE)]
        forwarded = [s for s in proxy.forwarded if s.path.startswith(WRITE)]
        writes = sorted(forwarded + refused, key=lambda s: s.at)
    dropped = len([line for line in refused[0].body.splitlines() if line.strip()]) if refused else 0
    grade.part(
        "a refused batch does not stop the writer",
        1,
        bool(refused) and calls - dropped <= while_running <= calls,
        expected=f"the first write refused (503), then the other {calls - dropped} of {calls} "
        "points stored by the timer while the program still runs",
        found=f"{len(refused)} write(s) refused; {while_running} point(s) stored by then",
        hint="catch a failed write inside the sender's loop, log it and go on: a sender "
        "thread that dies on its first error sends nothing more until the exit flush",
    )
    span = writes[-1].at - writes[0].at if writes else 0.0
    most = math.ceil(span / interval) + 2
    grade.part(
        "no more write requests than FLUSH_INTERVAL_MS allows",
        1,
        0 < len(writes) <= most,
        expected=f"at most {most} write requests in {span:.1f} s "
        f"(FLUSH_INTERVAL_MS={int(interval * 1000)}, batches far from full)",
        found=f"{len(writes)} write request(s)",
        hint="the sender waits up to FLUSH_INTERVAL_MS (milliseconds: / 1000 for seconds) "
        "for a full batch, then sends what it has; it does not send each point as it comes",
    )


@pytest.mark.points(4)
def test_a_hung_influxdb_never_blocks_or_breaks_a_call(submission, lab_stack, grade):
    """InfluxDB accepts connections and never answers: every call still takes its own
    time only and gives its own result, and the program still ends soon, with status 0,
    giving up on the many batches it still holds."""
    rng = random.Random()
    plan = _plan(
        rng,
        {
            ("read_sensor", "sync"): 6,
            ("calibrate", "sync"): 2,
            ("read_sensor", "thread"): 24,
            ("fetch", "async"): 4,
        },
    )
    influx = urlsplit(lab_stack.endpoints.influx.url)
    with SlowUplink(influx.hostname or "127.0.0.1", influx.port or 8086, 3600) as hung:
        # Batches of 2: at exit far more is left than can be sent before HUNG_EXIT.
        env = {"INFLUXDB_V2_URL": f"http://127.0.0.1:{hung.port}", "BATCH_SIZE": "2"}
        run = Run(submission, plan, env, HUNG_EXIT).finish()
    expect(
        run.report or run.code is not None,
        f"the calls waited for InfluxDB: the program did not end within {HUNG_EXIT} s",
        hint="write() to a batching writer only queues the point; a synchronous write "
        "waits for the server",
    )
    calls = run.calls()  # not implemented, or no report: says which
    slow = sorted(calls, key=lambda c: -c["overhead"])[:3]
    grade.part(
        "no call waits for InfluxDB",
        2,
        slow[0]["overhead"] < BLOCKED,
        expected=f"every call within {BLOCKED * 1000:.0f} ms of its own work",
        found=", ".join(f"{c['fn']} +{c['overhead'] * 1000:.0f} ms" for c in slow),
        hint="write() to a batching writer only queues the point; a synchronous write "
        "waits for the server",
    )
    changed = [c for c in calls if not c["same"]]
    grade.part(
        "every call gives its own result, and the program ends with status 0",
        2,
        not changed and run.code == 0,
        expected=f"the functions' own results; exit status 0 within {HUNG_EXIT} s",
        found=f"{len(changed)} call(s) changed; the program {run.program.describe_exit()}",
        hint="catch what recording raises; give the exit flush a deadline, and the client "
        "a timeout",
    )


# -- the tokens ------------------------------------------------------------------------------


class Probe:
    """Live requests with one token, answered by the real server."""

    def __init__(self, url: str, org_id: str, token: str) -> None:
        self.url, self.org_id = url, org_id
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"
        # A token's permission on the org's buckets: what a token-making token would grant.
        self._read_buckets = {"action": "read", "resource": {"type": "buckets", "orgID": org_id}}

    def write(self, bucket: str, line: str) -> int:
        params = {"orgID": self.org_id, "bucket": bucket, "precision": "ns"}
        return self.http.post(
            f"{self.url}/api/v2/write", params=params, data=line, timeout=10
        ).status_code

    def read(self, bucket: str) -> list[str]:
        """The _value column of the bucket's rows, or [] when the token may not read it."""
        flux = f'from(bucket: "{bucket}") |> range(start: 0) |> keep(columns: ["_value"])'
        answer = self.http.post(
            f"{self.url}/api/v2/query",
            params={"orgID": self.org_id},
            json={"query": flux, "dialect": {"annotations": []}},
            timeout=10,
        )
        if answer.status_code != 200:
            return []
        return [line.split(",")[-1] for line in answer.text.splitlines()[1:] if line.strip()]

    def manages(self) -> list[str]:
        """What of the organization's management this token was allowed to do."""
        tries = {
            "create a bucket": self.http.post(
                f"{self.url}/api/v2/buckets",
                json={"orgID": self.org_id, "name": f"b-{random.randrange(10**6)}"},
                timeout=10,
            ),
            "rename the organization": self.http.patch(
                f"{self.url}/api/v2/orgs/{self.org_id}", json={"description": "taken"}, timeout=10
            ),
            "create a token": self.http.post(
                f"{self.url}/api/v2/authorizations",
                json={"orgID": self.org_id, "permissions": [self._read_buckets]},
                timeout=10,
            ),
        }
        return [what for what, answer in tries.items() if answer.status_code < 300]


@pytest.mark.points(8)
def test_tokens_grant_exactly_what_each_service_needs(submission, sandbox, sandboxes, admin, grade):
    """create_tokens() makes a write-only token for the ingestion bucket and a read-only
    one for the dashboards' bucket; live requests prove what each can and cannot do, and
    the code prints neither."""
    rng = random.Random()
    buckets = {}
    for name in ("telemetry", "reports", "billing"):
        buckets[name] = admin.buckets_api().create_bucket(bucket_name=name, org_id=sandbox.org_id)
        value = rng.randrange(10**6)
        admin.write_api(write_options=SYNCHRONOUS).write(
            bucket=name, org=sandbox.org_id, record=Point("kept").field("v", value)
        )
    maker = sandboxes.token_making_tokens(sandbox)
    made = submission.call(
        "create_tokens", "telemetry", "reports", env={"INFLUXDB_V2_TOKEN": maker.token}
    )
    tokens = expect_ok(made)
    expect(
        isinstance(tokens, dict)
        and set(tokens) == {"ingest", "dashboard"}
        and all(isinstance(t, str) and t for t in tokens.values()),
        "create_tokens() should return {'ingest': token, 'dashboard': token}",
        found=typed(tokens),
    )
    url = sandbox.url
    ingest, dashboard = (Probe(url, sandbox.org_id, tokens[k]) for k in ("ingest", "dashboard"))
    marker = rng.randrange(10**9)
    written = ingest.write("telemetry", f"probe value={marker}i")
    landed = [r["value"] for r in stored(admin, sandbox, "probe", bucket="telemetry")]
    grade.part(
        "the ingest token writes its bucket",
        1,
        written == 204 and landed == [marker],
        expected="204, and the point in telemetry",
        found=f"{written}, telemetry holds {landed}",
    )
    grade.part(
        "the ingest token cannot read, not even its own bucket",
        1,
        not ingest.read("telemetry"),
        expected="its query of telemetry refused",
        found="it read telemetry",
        hint="the ingest token's only permission: write on the bucket",
    )
    seeded = dashboard.read("reports")
    grade.part(
        "the dashboard token reads its bucket",
        1,
        len(seeded) == 1,
        expected="the point in reports",
        found=f"{seeded}",
    )
    refused = dashboard.write("reports", f"probe value={marker}i")
    grade.part(
        "the dashboard token cannot write, not even its own bucket",
        1,
        refused >= 400 and not stored(admin, sandbox, "probe", bucket="reports"),
        expected="its write to reports refused",
        found=f"{refused}",
        hint="the dashboard token's only permission: read on the bucket",
    )
    strays = [
        what
        for what, done in (
            ("ingest wrote reports", ingest.write("reports", "probe value=1i") < 300),
            ("ingest wrote billing", ingest.write("billing", "probe value=1i") < 300),
            ("dashboard read telemetry", bool(dashboard.read("telemetry"))),
            ("dashboard read billing", bool(dashboard.read("billing"))),
        )
        if done
    ]
    grade.part(
        "neither token reaches another bucket",
        1,
        not strays,
        expected="each token limited to its bucket's ID",
        found=", ".join(strays),
        hint="a permission's resource with only orgID covers every bucket of the organization: "
        "give it the bucket's id",
    )
    managed = [
        f"{who}: {what}"
        for who, probe in (("ingest", ingest), ("dashboard", dashboard))
        for what in probe.manages()
    ]
    grade.part(
        "neither token manages the organization",
        1,
        not managed,
        expected="creating buckets and tokens, and changing the organization, refused",
        found=", ".join(managed),
    )
    # Listings hide the tokens: the ones create_tokens() made are those of the maker's user.
    auths = admin.authorizations_api().find_authorizations(user_id=maker.user_id)
    held = sorted(
        sorted((p.action, p.resource.type, p.resource.id) for p in a.permissions)
        for a in auths
        if a.id != maker.id
    )
    want = sorted(
        [
            [("write", "buckets", buckets["telemetry"].id)],
            [("read", "buckets", buckets["reports"].id)],
        ]
    )
    grade.part(
        "each token holds exactly one permission",
        1,
        held == want,
        expected=want,
        found=held,
        hint="no more than the service needs: not even read on the organization",
    )
    secrets = {
        "the token create_tokens() used": maker.token,
        "the ingest token": tokens["ingest"],
        "the dashboard token": tokens["dashboard"],
    }
    output = made.stdout + made.stderr
    shown = [what for what, secret in secrets.items() if secret in output]
    grade.part(
        "no token printed or logged",
        1,
        not shown,
        expected="no token in the output",
        found=f"the output shows {', '.join(shown)}",
        hint="return the tokens; a log line may name a token's description or ID, never the token",
    )
