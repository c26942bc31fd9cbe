"""Checks for lab monitoring: the student's collector runs as a program for a few seconds
against the live InfluxDB, checking real endpoints the grader serves; the grader reads
back what landed. The alert analysis runs on data the grader seeds: several hosts with
unequal series, readings exactly at the threshold, readings just outside the window and
a second field, all in a window given in a non-UTC offset.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from influxdb_client import Point, WritePrecision

from grader.check import expect, expect_ok, ns_of, points_of, seed, show_ns, stored, typed
from grader.endpoints import HealthEndpoints
from grader.submission import STUDENT_ZONES, Program, Submission

INTERVAL_MS = 1250  # not a whole second: a collector that rounds it shows
TIMEOUT_MS = 600  # HEALTH_TIMEOUT_MS: the hanging endpoint must cost no more than this
DELAY = 0.2  # the healthy endpoint's answer time, in seconds
RUN_SECONDS = 6.0  # from the start of the program to SIGTERM
STOP_SECONDS = 10  # from SIGTERM to exit, at most
PERCENTS = ("cpu_percent", "memory_percent", "disk_percent")
BYTES = ("memory_used", "disk_used", "net_bytes_sent", "net_bytes_recv")
RATES = {"net_sent_rate": "net_bytes_sent", "net_recv_rate": "net_bytes_recv"}


@dataclass
class Run:
    """What one run of the collector left: its exit, its output and what it wrote."""

    program: Program
    urls: dict[str, str]  # HealthEndpoints.urls: kind -> URL
    exit_code: int | None
    stopped_ns: int  # wall clock, when SIGTERM was sent
    landed_while_running: int  # `system` points stored just before SIGTERM
    checked: list[int]  # when the healthy URL was requested (wall clock, ns): once a cycle
    system: list[tuple[int, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    health: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)

    def state(self) -> str:
        return _state(self.program, self.exit_code)


def _state(program: Program, exit_code: int | None) -> str:
    """For feedback: how the collector ended (None: terminate() had to kill it)."""
    killed = f"did not exit within {STOP_SECONDS} s of SIGTERM"
    return program.report("collector", killed if exit_code is None else "")


def _system_times(admin, sandbox) -> list[int]:
    return [ns for ns, _ in points_of(stored(admin, sandbox, "system", ("cpu_percent",)))]


def _run(submission: Submission, admin, sandbox, site: HealthEndpoints) -> Run:
    """Run the collector for RUN_SECONDS, stop it with SIGTERM, read back what it wrote."""
    program = submission.program(
        "monitor.py",
        env={
            "INTERVAL_MS": str(INTERVAL_MS),
            "HEALTH_URLS": ",".join(site.urls.values()),
            "HEALTH_TIMEOUT_MS": str(TIMEOUT_MS),
        },
    )
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline and program.alive():
        time.sleep(0.2)
    landed = len(_system_times(admin, sandbox))
    stopped = time.time_ns()
    code = program.terminate(STOP_SECONDS)
    run = Run(program, site.urls, code, stopped, landed, list(site.hits.get("/ok", [])))
    for (ns, tags), fields in sorted(points_of(stored(admin, sandbox, "system")).items()):
        run.system.append((ns, dict(tags), fields))
    for (ns, tags), fields in sorted(points_of(stored(admin, sandbox, "health")).items()):
        run.health.setdefault(dict(tags).get("url", ""), []).append((ns, fields))
    return run


@pytest.fixture(scope="module")
def run(lab, sandboxes, runner, influx_client) -> Iterator[Run]:
    """One run of the collector, with every kind of endpoint among its URLs, in a sandbox of
    its own: the schedule, metrics and health checks read what it wrote."""
    box = sandboxes.create()
    code = Submission(runner.path, lab.module, box.env(), runner=runner, timezone=STUDENT_ZONES[0])
    try:
        with HealthEndpoints(DELAY) as site:
            yield _run(code, influx_client, box, site)
    finally:
        code.close()
        sandboxes.remove(box)


def _expect_cycles(run: Run) -> None:
    expect(
        run.system,
        "no `system` point was written",
        expected=f"a point every {INTERVAL_MS} ms while the collector ran ({RUN_SECONDS:.0f} s)",
        found=run.state(),
    )


@pytest.mark.points(4)
def test_cycles_run_on_schedule_until_sigterm(run, grade):
    """A `system` point every INTERVAL_MS on a fixed schedule, even with an endpoint that
    hangs; points arrive while it runs; SIGTERM writes the rest, prints the cycles, exits 0."""
    _expect_cycles(run)
    times = [ns for ns, _, _ in run.system]
    gaps = [round((b - a) / 1e6) for a, b in itertools.pairwise(times)]
    # Each cycle requests the healthy URL once, soon after it starts: a point stamped with
    # its cycle's start has such a request at most TIMEOUT_MS + 0.4 s after its time.
    late = (TIMEOUT_MS + 400) * 10**6
    ahead = [ns for ns in times if not any(-5e7 <= at - ns <= late for at in run.checked)]
    grade.part(
        f"a `system` point every INTERVAL_MS ({INTERVAL_MS} ms), without drift",
        2,
        len(times) >= 3
        and all(0.85 * INTERVAL_MS <= g <= 1.15 * INTERVAL_MS for g in gaps)
        and not ahead,
        expected=f"points {INTERVAL_MS} ms apart, each stamped when its cycle started, with "
        f"a URL that never answers among HEALTH_URLS (HEALTH_TIMEOUT_MS={TIMEOUT_MS})",
        found=f"{len(times)} points, gaps in ms: {gaps[:10]}"
        + (f"; {len(ahead)} stamped at another time than their cycle ran" if ahead else ""),
        hint="the next cycle starts at first + k x interval: sleeping a whole interval "
        "after each cycle's work delays every cycle by that work",
    )
    old = sum(1 for ns in times if ns <= run.stopped_ns - 2.5e9)
    grade.part(
        "points reach InfluxDB while the collector runs",
        1,
        run.landed_while_running >= max(old, 1),
        expected=f"at least the {max(old, 1)} point(s) older than 2.5 s stored before SIGTERM",
        found=f"{run.landed_while_running} stored before SIGTERM, {len(times)} after",
        hint="a batching writer flushes on its flush_interval; a huge one holds "
        "everything until exit",
    )
    printed = run.program.last_json()
    grade.part(
        "SIGTERM: every point written, the cycles printed, exit status 0",
        1,
        run.exit_code == 0
        and printed == {"cycles": len(times)}
        and times[-1] >= run.stopped_ns - 2 * INTERVAL_MS * 10**6,
        expected=f'exit status 0, a last line {{"cycles": {len(times)}}} (the points stored), '
        "and the last cycle's point stored",
        found=f"exit status {run.exit_code}, last line {printed or run.program.stdout()[-200:]!r}, "
        f"last point {(run.stopped_ns - times[-1]) / 1e9:.1f} s before SIGTERM",
        hint="on SIGTERM set a flag, leave the loop, close() the write API (it flushes), "
        "then print",
    )


@pytest.mark.points(4)
def test_system_metrics_are_typed_and_rates_come_from_deltas(run, grade):
    """Percentages are floats, bytes are integers, and the network rates are the counters'
    deltas per second between cycles, absent from the first."""
    _expect_cycles(run)
    points = [fields for _, _, fields in run.system]
    bad_percent = [
        f"{name}={typed(p.get(name))}"
        for p in points
        for name in PERCENTS
        if not (isinstance(p.get(name), float) and 0 <= p[name] <= 100)
    ]
    grade.part(
        "cpu_percent, memory_percent and disk_percent are floats from 0 to 100",
        1,
        not bad_percent,
        expected="e.g. cpu_percent=12.5 (float)",
        found=f"{len(bad_percent)} not so, e.g. {', '.join(bad_percent[:3])}",
        hint="float(psutil.cpu_percent()): a field keeps the type of its first value",
    )
    bad_bytes = [
        f"{name}={typed(p.get(name))}"
        for p in points
        for name in BYTES
        if type(p.get(name)) is not int or p[name] < 0
    ]
    grade.part(
        "memory_used, disk_used and the network counters are integers (bytes)",
        1,
        not bad_bytes,
        expected="e.g. memory_used=2147483648 (int)",
        found=f"{len(bad_bytes)} not so, e.g. {', '.join(bad_bytes[:3])}",
        hint="psutil gives bytes as int: write them as they are, not as float or megabytes",
    )
    wrong_rates = _rate_errors(run.system)
    grade.part(
        "net_sent_rate and net_recv_rate: counter delta / seconds between cycles, "
        "none in the first cycle",
        1.5,
        len(points) >= 2 and not wrong_rates,
        expected="no rate in the first point; then (bytes now - bytes before) / "
        "(this point's time - the previous one's, in s)",
        found=f"{len(points)} points; " + ("; ".join(wrong_rates[:3]) or "too few to compare"),
        hint="keep the previous cycle's counters and time; net_rate() does the division",
    )
    tags = {json.dumps(t, sort_keys=True) for _, t, _ in run.system}
    extra = sorted({n for p in points for n in p} - {*PERCENTS, *BYTES, *RATES})
    grade.part(
        "one `host` tag, and only the contract's fields",
        0.5,
        all(set(t) == {"host"} and t["host"] for _, t, _ in run.system) and not extra,
        expected="tags {host}; fields " + ", ".join((*PERCENTS, *BYTES, *RATES)),
        found=f"tags {sorted(tags)[:2]}; other fields {extra}",
    )


def _rate_errors(system: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> list[str]:
    """Where a point's rates are not its counters' deltas per second since the point before."""
    errors = []
    for i, (ns, _, fields) in enumerate(system):
        for rate, counter in RATES.items():
            if i == 0:
                if rate in fields:
                    errors.append(f"the first point has {rate}={fields[rate]!r}")
                continue
            before_ns, _, before = system[i - 1]
            try:
                delta = fields[counter] - before[counter]
                want = delta / ((ns - before_ns) / 1e9)
            except (KeyError, TypeError, ZeroDivisionError):
                continue  # the counters themselves are graded by their own part
            got = fields.get(rate)
            if delta < 0:
                if got is not None:
                    errors.append(f"{rate}={got!r} at {show_ns(ns)} after a counter reset")
            elif not isinstance(got, float) or abs(got - want) > 1e-6 * max(1.0, want):
                errors.append(f"{rate}={typed(got)} at {show_ns(ns)}, expected {want!r}")
    return errors


@pytest.mark.points(2)
def test_net_rate(submission, grade):
    """net_rate(previous, current, seconds): bytes per second, None when there is no rate."""
    cases = {
        (1000, 4000, 1.5): 2000.0,
        (0, 0, 2.0): 0.0,
        (0, 500, 0.5): 1000.0,
        (0, 1000, 3.0): 1000 / 3,
    }
    got = {args: expect_ok(submission.call("net_rate", *args)) for args in cases}
    grade.part(
        "bytes per second from two readings",
        1,
        all(
            type(got[a]) in (int, float) and abs(got[a] - want) < 1e-9 for a, want in cases.items()
        ),
        expected={f"net_rate{a}": want for a, want in cases.items()},
        found={f"net_rate{a}": got[a] for a in cases},
        hint="(current - previous) / seconds; a counter at 0 is a reading, not a missing one",
    )
    none = [(None, 5000, 1.0), (5000, 1200, 1.0), (2**32 - 10, 20, 1.0), (1, 2, 0.0), (1, 2, -1.0)]
    got_none = {args: expect_ok(submission.call("net_rate", *args)) for args in none}
    grade.part(
        "None for a first reading, a counter that went down (reset or wrap), no time between",
        1,
        all(v is None for v in got_none.values()),
        expected={f"net_rate{a}": None for a in none},
        found={f"net_rate{a}": v for a, v in got_none.items()},
        hint="a counter going down is a reset, not negative traffic",
    )


@pytest.mark.points(5)
def test_health_checks_record_each_endpoint(run, grade):
    """A `health` point per URL per cycle: a healthy one, one answering 500, a redirect to a
    page answering 400, one that never answers, and a closed port, each recorded as it is."""
    _expect_cycles(run)
    urls = run.urls

    def each(kind: str, ok: Any) -> tuple[bool, str]:
        found = run.health.get(urls[kind], [])
        bad = [f for _, f in found if not ok(f)]
        return bool(found) and not bad, f"{len(found)} points; e.g. {(bad or found)[:1]}"

    def answered(status: int, up: bool) -> Any:
        return lambda f: (
            f.get("up") is up
            and type(f.get("status_code")) is int
            and f["status_code"] == status
            and "error" not in f
        )

    def unanswered(error: str) -> Any:
        return lambda f: f == {"up": False, "error": error}

    def timed(f: dict) -> bool:
        ms = f.get("response_ms")
        return answered(200, True)(f) and isinstance(ms, float) and DELAY * 1000 <= ms < TIMEOUT_MS

    parts = (
        (
            "healthy",
            1,
            timed,
            "up=true, status_code=200, response_ms>=200.0 (it answers in 200 ms)",
            "time the whole request with time.perf_counter(), in milliseconds",
        ),
        (
            "failing",
            1,
            answered(500, False),
            "up=false, status_code=500",
            "an answer is not health: up means a status below 400",
        ),
        (
            "redirect",
            1,
            answered(400, False),
            "up=false, status_code=400 (it redirects to a page answering 400: not below 400)",
            "follow redirects and record the final answer; up is a status below 400",
        ),
        (
            "hanging",
            1,
            unanswered("timeout"),
            'up=false, error="timeout" and no status_code',
            "requests.get(url, timeout=...): without a timeout a silent server stalls the cycle",
        ),
        (
            "closed",
            0.5,
            unanswered("connection"),
            'up=false, error="connection"',
            "catch requests.Timeout first, then requests.RequestException",
        ),
    )
    for kind, points, ok, expected, hint in parts:
        passed, found = each(kind, ok)
        grade.part(
            f"the {kind} URL ({urls[kind]})",
            points,
            passed,
            expected=expected,
            found=found,
            hint=hint,
        )
    # The cycles whose points surely left the writer's buffer before SIGTERM.
    cycles = [ns for ns, _, _ in run.system if ns <= run.stopped_ns - 2.5e9]
    missing = {
        kind: len(cycles) - len({ns for ns, _ in run.health.get(url, [])} & set(cycles))
        for kind, url in urls.items()
    }
    grade.part(
        "every URL checked in every cycle, at the cycle's time",
        0.5,
        cycles and not any(missing.values()),
        expected=f"{len(cycles)} points per URL, one at each `system` point's time",
        found=f"cycles without a point, per URL: {missing}",
    )


@pytest.mark.points(1)
def test_runs_with_no_health_urls(submission, admin, sandbox, grade):
    """HEALTH_URLS may be empty: the collector then writes `system` points alone (a worker
    pool sized by the URLs cannot be made with none). Stopping is graded elsewhere."""
    program = submission.program(
        "monitor.py", env={"INTERVAL_MS": str(INTERVAL_MS), "HEALTH_URLS": ""}
    )
    deadline = time.monotonic() + 3 * INTERVAL_MS / 1000 + 3
    while time.monotonic() < deadline and program.alive() and not _system_times(admin, sandbox):
        time.sleep(0.2)
    code = program.terminate(STOP_SECONDS)
    landed = _system_times(admin, sandbox)
    grade.part(
        "with HEALTH_URLS empty: `system` points",
        1,
        bool(landed),
        expected="at least one `system` point",
        found=f"{len(landed)} `system` points; {_state(program, code)}",
        hint="an empty HEALTH_URLS means no health checks, not an error: "
        "ThreadPoolExecutor(max_workers=0) raises ValueError",
    )


# -- alerts -----------------------------------------------------------------------------

THRESHOLD = 80.0
MINUTE = timedelta(minutes=1)
ZONE = timezone(timedelta(hours=5, minutes=30))  # the window is given in a non-UTC offset
# cpu_percent per host, one reading a minute from the start of the window, at a time with
# microseconds (written with less precision, an alert lands elsewhere); each series with
# its own length. web-2 sits exactly at the threshold (not above it).
IN_WINDOW = {
    "web-1": [50.0, 85.0, 90.0, 95.0, 70.0, 60.0, 88.0, 79.0, 81.0],
    "web-2": [80.0, 80.0, 80.5, 80.0, 30.0, 80.0],
    "db-1": [40.0, 45.0, 42.0, 41.5],
    "cache-1": [92.0, 93.0, 50.0, 55.5, 60.0, 62.0, 64.0],
}
# Outside the window: a high reading before it, one at its (excluded) stop.
OUTSIDE = {"db-1": [(-10 * MINUTE, 99.0), (60 * MINUTE, 99.0)], "cache-1": [(-MINUTE, 95.0)]}


def _alert_seed(start: datetime) -> tuple[list[Point], dict[tuple, tuple[str, float]]]:
    """The seeded readings, and the alerts they call for: (host, ns) -> (state, value)."""
    points, expected = [], {}
    for h, (host, values) in enumerate(IN_WINDOW.items()):
        high = False
        for i, value in enumerate(values):
            # No two hosts at one time: mixing them up in one series shows.
            at = start + i * MINUTE + h * timedelta(seconds=7, microseconds=123_456)
            points.append(_reading(host, at, value))
            if (value > THRESHOLD) != high:
                high = not high
                expected[(host, ns_of(at))] = ("alert" if high else "recovered", value)
    for host, outside in OUTSIDE.items():
        points += [_reading(host, start + offset, value) for offset, value in outside]
    return points, expected


def _float(value: Any) -> Any:
    return value if isinstance(value, float) else typed(value)


def _reading(host: str, at: datetime, cpu: float) -> Point:
    # memory_percent is high everywhere: only cpu_percent is analysed.
    return (
        Point("system")
        .tag("host", host)
        .field("cpu_percent", cpu)
        .field("memory_percent", 97.5)
        .time(at, WritePrecision.NS)
    )


@pytest.mark.points(5)
def test_alerts_fire_once_per_crossing_and_recover(submission, admin, sandbox, grade):
    """analyze() writes an alert exactly where a host's cpu_percent goes above the threshold
    and a recovery where it comes back, within the window it is given."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    readings, expected = _alert_seed(start)
    seed(admin, sandbox, readings)
    window = (
        start.astimezone(ZONE).isoformat(),
        (start + 60 * MINUTE).astimezone(ZONE).isoformat(),
    )
    result = submission.call("analyze", *window, THRESHOLD)
    written = expect_ok(result)
    rows = stored(admin, sandbox, "alerts")
    found = {
        # A threshold stored as an integer (80 == 80.0 in Python) must not pass for a float.
        (dict(tags).get("host"), ns): (f.get("state"), f.get("value"), _float(f.get("threshold")))
        for (ns, tags), f in points_of(rows).items()
    }
    want = {key: (state, value, THRESHOLD) for key, (state, value) in expected.items()}

    def show(keys: set) -> str:
        return ", ".join(
            f"{host} at {show_ns(ns)}: {found.get((host, ns)) or want.get((host, ns))}"
            for host, ns in sorted(keys)[:3]
        )

    def of(state: str, table: dict) -> set:
        return {k for k, v in table.items() if v[0] == state}

    for state, points, what, hint in (
        (
            "alert",
            2,
            "an alert at each crossing above the threshold, with its reading",
            "per host, in time order: above (>) the threshold after a normal reading",
        ),
        (
            "recovered",
            1.5,
            "a recovery where it comes back to the threshold or below",
            "at or below (<=) the threshold after an alert: a reading equal to it is normal",
        ),
    ):
        missing = {k for k in of(state, want) if found.get(k) != want[k]}
        grade.part(
            what,
            points,
            not missing,
            expected=f"{len(of(state, want))} `{state}` points, e.g. {show(of(state, want))}",
            found=f"{len(missing)} missing or different: {show(missing)}",
            hint=hint,
        )
    extra = set(found) - set(want)
    grade.part(
        "nothing else: no repeated alert while it stays high, nothing outside the window",
        1.5,
        not extra and written == len(want),
        expected=f"{len(want)} points in `alerts`, and analyze() returning {len(want)}",
        found=f"{len(extra)} unexpected, e.g. {show(extra)}; returned {written!r}",
        hint="remember each host's state: alert once on the way up; read only "
        "range(start, stop) and only cpu_percent",
    )
