"""Checks for lab devops_serverless: a CI step, a Lambda-style handler and Docker stats.

The CI step runs real commands with GitHub Actions' variables (values that need
escaping in line protocol) and is timed from outside; a bucket that does not exist
makes InfluxDB refuse its point. The handler is invoked many times in one process,
as a warm Lambda is, through a TCP relay that counts the connections it opens to
InfluxDB and holds each request 200 ms, so a real duration is not a small one. The
Docker part gets stats documents recorded from a real engine (a container busy on
1.5 of 2 CPUs and restarted, an idle one from an untagged image), moved to a random
time so nothing can be copied from the recording. Everything is read back from InfluxDB.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from grader.check import expect, expect_ok, points_of, show_ns, stored, typed
from grader.faults import SlowUplink
from grader.labs import REPO_ROOT

RECORDED = REPO_ROOT / "labs" / "devops_serverless" / "recorded"
SLEEP = 1.2  # how long the CI job's command runs
STEP_TIMEOUT = 30  # seconds a CI step may take here
UPLINK_DELAY = 0.2  # every request to InfluxDB from the handler, held this long
FUNCTION = "ingest-readings"


# -- the CI step ---------------------------------------------------------------------


def _github_env(rng: random.Random, job: str) -> dict[str, str]:
    """What GitHub Actions sets for a job, with names that need escaping as tags."""
    return {
        "GITHUB_REPOSITORY": "octo-org/shop api",
        "GITHUB_WORKFLOW": "Build, test & deploy",
        "GITHUB_JOB": job,
        "GITHUB_REF_NAME": "feature/rate=limit",
        "GITHUB_RUN_ID": str(rng.randrange(10**9, 10**10)),
        "GITHUB_RUN_ATTEMPT": str(rng.randrange(2, 5)),
        "GITHUB_SHA": f"{rng.getrandbits(160):040x}",
        "RUNNER_OS": "Linux",
        "GITHUB_ACTIONS": "true",
        "CI": "true",
    }


def _ci_tags(env: dict[str, str], status: str) -> dict[str, str]:
    return {
        "repository": env["GITHUB_REPOSITORY"],
        "workflow": env["GITHUB_WORKFLOW"],
        "job": env["GITHUB_JOB"],
        "branch": env["GITHUB_REF_NAME"],
        "runner_os": env["RUNNER_OS"],
        "status": status,
    }


def _annotations(stderr: str) -> list[str]:
    """The GitHub error annotations a step printed."""
    return [line[:400] for line in stderr.splitlines() if line.startswith("::error::")]


@dataclass
class Step:
    """One run of the CI step as a CI system runs it: a program, and what it left."""

    env: dict[str, str]
    code: int | None
    started: int  # wall clock, ns
    ended: int
    stdout: str
    stderr: str
    report: str

    @property
    def seconds(self) -> float:
        return (self.ended - self.started) / 1e9


def _step(submission, env: dict[str, str], command: str) -> Step:
    """`python devops.py -- sh -c COMMAND` with GitHub's variables, waited for."""
    started = time.time_ns()
    program = submission.program("devops.py", "--", "sh", "-c", command, env=env)
    code = program.wait(STEP_TIMEOUT)
    ended = time.time_ns()
    how = "" if code is not None else f"did not end within {STEP_TIMEOUT} s"
    return Step(
        env, code, started, ended, program.stdout(), program.stderr(), program.report("step", how)
    )


def _ran(step: Step, marker: str) -> None:
    expect(
        marker in step.stdout,
        "the step did not run the job's command",
        expected=f"the command's output ({marker!r}) in the step's log",
        found=step.report,
        hint="python devops.py -- COMMAND...: run COMMAND with subprocess.run(), "
        "leaving its output to the log",
    )


@pytest.mark.points(5)
def test_ci_step_posts_one_point_per_job(submission, sandbox, admin, grade):
    """Two jobs, one failing after 1.2 s and one passing: a `ci_job` point each, with the
    job's tags, typed fields and the duration measured; the step exits with the job's status."""
    rng = random.Random()
    jobs = {"unit-tests": (3, "failure"), "lint": (0, "success")}
    steps = {
        job: _step(
            submission,
            _github_env(rng, job),
            f"echo {job}-ran; sleep {SLEEP if code else 0}; exit {code}",
        )
        for job, (code, _) in jobs.items()
    }
    _ran(steps["unit-tests"], "unit-tests-ran")
    points = {
        dict(tags).get("job"): (ns, dict(tags), fields)
        for (ns, tags), fields in points_of(stored(admin, sandbox, "ci_job")).items()
    }
    expect(
        points,
        "the step ended, but no `ci_job` point landed",
        expected="one point per job",
        found=f"nothing; {steps['unit-tests'].report}; annotations: "
        f"{_annotations(steps['unit-tests'].stderr)[:2]}",
        hint="POST the line to /api/v2/write and look at the answer: 204 means stored",
    )
    grade.part(
        "the step exits with the job's status",
        0.5,
        [steps[job].code for job in jobs] == [code for code, _ in jobs.values()],
        expected=[code for code, _ in jobs.values()],
        found=[steps[job].code for job in jobs],
        hint="sys.exit(ci_step(...)) with subprocess.run(command).returncode: the step "
        "fails when the job does",
    )
    want_tags = {job: _ci_tags(steps[job].env, status) for job, (_, status) in jobs.items()}
    found_tags = {job: points[job][1] if job in points else None for job in jobs}
    grade.part(
        "one point per job, tagged with its repository, workflow, job, branch, runner_os, status",
        1.5,
        found_tags == want_tags and len(points) == len(jobs),
        expected=want_tags,
        found=f"{len(points)} points; tags {found_tags}",
        hint="names with spaces, commas and = must be escaped in a tag; run ids and shas "
        "are fields: as tags every run would make a new series",
    )

    def fields_ok(job: str) -> bool:
        env, code = steps[job].env, jobs[job][0]
        f = points.get(job, (0, {}, {}))[2]
        want = {
            "exit_code": code,
            "run_id": int(env["GITHUB_RUN_ID"]),
            "run_attempt": int(env["GITHUB_RUN_ATTEMPT"]),
            "sha": env["GITHUB_SHA"],
        }
        return set(f) == {*want, "duration_s"} and all(
            type(f[k]) is type(v) and f[k] == v for k, v in want.items()
        )

    grade.part(
        "fields exit_code, run_id, run_attempt (integers) and sha (a string)",
        1,
        all(fields_ok(job) for job in jobs),
        expected="exit_code 3 and 0, run_id and run_attempt from GITHUB_RUN_ID and "
        "GITHUB_RUN_ATTEMPT, sha from GITHUB_SHA, duration_s, nothing else",
        found={
            job: {k: typed(v) for k, v in points.get(job, (0, {}, {}))[2].items()} for job in jobs
        },
    )
    slow, failed = points.get("unit-tests", (0, {}, {})), steps["unit-tests"]
    duration = slow[2].get("duration_s")
    grade.part(
        f"duration_s measured: from {SLEEP} s to the step's whole time",
        1.5,
        type(duration) is float and SLEEP <= duration <= failed.seconds,
        expected=f"a float from {SLEEP} to {failed.seconds:.2f} (the job's command sleeps "
        f"{SLEEP} s; the step took {failed.seconds:.2f} s)",
        found=typed(duration),
        hint="time the command with time.perf_counter() around subprocess.run(); GitHub "
        "has no variable or context value that holds a job's duration",
    )
    latest = failed.ended - int(SLEEP * 1e9)
    grade.part(
        "the point's time is when the command started",
        0.5,
        failed.started <= slow[0] <= latest,
        expected=f"from {show_ns(failed.started)} to {show_ns(latest)}, "
        f"{SLEEP} s before the step ended",
        found=show_ns(slow[0]) if slow[0] else "no point",
        hint="take time.time_ns() before running the command",
    )


@pytest.mark.points(2)
def test_ci_step_fails_visibly_when_the_point_is_refused(submission, grade):
    """A bucket that does not exist: InfluxDB answers 404, and the step must fail with the
    server's message as a GitHub error annotation, even though the job itself passed."""
    missing = f"no-such-bucket-{random.randrange(10**6)}"
    env = _github_env(random.Random(), "build") | {"INFLUXDB_V2_BUCKET": missing}
    step = _step(submission, env, "echo build-ran")
    _ran(step, "build-ran")
    grade.part(
        "the step fails: a non-zero exit status",
        1,
        step.code not in (0, None),
        expected="a non-zero status (the job passed, but its metrics were lost)",
        found=step.report,
        hint="requests.post() does not raise on an error answer: check the status (204)",
    )
    lines = _annotations(step.stderr)
    grade.part(
        "an ::error:: line on stderr with the server's message",
        1,
        any(
            f'bucket \\"{missing}\\" not found' in line or f'bucket "{missing}" not found' in line
            for line in lines
        ),
        expected=f'a line starting with ::error:: that includes: bucket "{missing}" not found',
        found=lines or f"stderr: {step.stderr.strip()[-300:]!r}",
        hint="print(f'::error::... {answer.status_code} {answer.text}', file=sys.stderr)",
    )


# -- the Lambda handler ----------------------------------------------------------------


def _events(rng: random.Random, now_ms: int) -> tuple[list[dict], dict, list[set]]:
    """Twelve SQS batches of unequal sizes, each kind of malformed message somewhere among
    them: the events, the readings they hold ((device, ns) -> temperature), and each
    batch's malformed message ids."""
    bad_bodies = [
        "not json",
        json.dumps({"ts": now_ms, "temperature": 20.5}),  # no device
        json.dumps({"device": "", "ts": now_ms, "temperature": 20.5}),
        json.dumps({"device": "d-9", "ts": str(now_ms), "temperature": 20.5}),
        '{"device": "d-9", "ts": 1, "temperature": NaN}',
        json.dumps({"device": "d-9", "ts": now_ms, "temperature": True}),
        json.dumps([1, 2, 3]),
    ]
    batches: list[list[dict]] = [[] for _ in range(12)]
    readings = {}
    for records in batches:
        for _ in range(rng.choice([1, 3, 7, 18, 30])):
            device = f"d-{rng.randrange(5)}"
            ms = now_ms - rng.randrange(1, 3_600_000)
            while (device, ms * 10**6) in readings:
                ms -= 1
            value = rng.choice([round(rng.uniform(-10, 40), 3), rng.randrange(-5, 35)])
            readings[(device, ms * 10**6)] = float(value)
            records.append({"body": json.dumps({"device": device, "ts": ms, "temperature": value})})
    bad: list[set] = [set() for _ in batches]
    for body in bad_bodies:
        b = rng.randrange(len(batches))
        batches[b].insert(rng.randrange(len(batches[b]) + 1), {"body": body, "bad": True})
    events = []
    for b, records in enumerate(batches):
        for i, record in enumerate(records):
            record["messageId"] = f"{b:02d}-{i:02d}-{rng.getrandbits(32):08x}"
            record["eventSource"] = "aws:sqs"
            if record.pop("bad", False):
                bad[b].add(record["messageId"])
        events.append({"Records": records})
    return events, readings, bad


@pytest.mark.points(6)
def test_handler_reuses_one_client_and_stores_each_batch(submission, sandbox, admin, grade):
    """Twelve invocations in one process through a relay that counts connections: every
    valid reading stored, the malformed ones reported, one connection for all, and an
    `invocations` point per call with its real duration."""
    rng = random.Random()
    events, readings, bad = _events(rng, time.time_ns() // 10**6)
    url = urlsplit(sandbox.url)
    with SlowUplink(url.hostname, url.port, UPLINK_DELAY) as uplink:
        result = submission.invoke(
            "handler",
            events,
            function_name=FUNCTION,
            env={"INFLUXDB_V2_URL": f"http://127.0.0.1:{uplink.port}"},
            timeout=60,
        )
        connections = uplink.connections
    runs = expect_ok(result)
    stored_readings = {
        (dict(tags).get("device"), ns): f.get("temperature")
        for (ns, tags), f in points_of(stored(admin, sandbox, "readings")).items()
    }
    grade.part(
        "every valid reading stored, exactly, once the invocation returned",
        2,
        stored_readings == readings and all(type(v) is float for v in stored_readings.values()),
        expected=f"{len(readings)} readings (tag device, float temperature, at ts)",
        found=f"{len(stored_readings)} stored, {len(set(readings) - set(stored_readings))} "
        f"missing, {len(set(stored_readings) - set(readings))} unexpected",
        hint="write synchronously before returning: a batching writer still holds points "
        "when Lambda freezes the process; ts is in milliseconds",
    )
    answers = [
        {f.get("itemIdentifier") for f in (run.get("value") or {}).get("batchItemFailures", [])}
        if isinstance(run.get("value"), dict)
        else run.get("value")
        for run in runs
    ]
    grade.part(
        "each answer lists exactly its malformed messages in batchItemFailures",
        1,
        answers == bad,
        expected=[sorted(ids) for ids in bad][:4],
        found=[sorted(a) if isinstance(a, set) else a for a in answers][:4],
        hint="a body that is not a reading must not fail the whole batch",
    )
    grade.part(
        "one connection to InfluxDB for every invocation",
        1.5,
        connections == 1,
        expected="1 connection: one client, made once per process and kept",
        found=f"{connections} connections for {len(events)} invocations",
        hint="create the client at module level (or lazily, once) and reuse it; a client "
        "per invocation opens a connection each time",
    )
    calls = {
        (f.get("request_id")): (dict(tags), f)
        for (_, tags), f in points_of(stored(admin, sandbox, "invocations")).items()
    }
    want_calls = {
        run["request_id"]: (
            {"function": FUNCTION},
            len(event["Records"]),
            len(failed),
        )
        for run, event, failed in zip(runs, events, bad, strict=True)
    }
    found_calls = {
        rid: (tags, f.get("records"), f.get("failed")) for rid, (tags, f) in calls.items()
    }
    grade.part(
        "an `invocations` point per invocation: function, records, failed, request_id",
        1,
        found_calls == want_calls and all(type(f.get("records")) is int for _, f in calls.values()),
        expected=f"{len(want_calls)} points, e.g. {next(iter(want_calls.items()))}",
        found=f"{len(found_calls)} points, e.g. {next(iter(found_calls.items()), None)}",
    )
    limits = {run["request_id"]: run["seconds"] * 1000 for run in runs}
    wrong = {
        rid: f.get("duration_ms")
        for rid, (_, f) in calls.items()
        if not (
            type(f.get("duration_ms")) is float
            and UPLINK_DELAY * 1000 <= f["duration_ms"] <= limits.get(rid, 0)
        )
    }
    grade.part(
        "duration_ms is the invocation's real time",
        0.5,
        calls and not wrong,
        expected=f"a float from {UPLINK_DELAY * 1000:.0f} ms (the write of the readings "
        "takes that long here) to the invocation's whole time",
        found=f"{len(wrong)} wrong, e.g. {next(iter(wrong.values()), None)!r}",
        hint="measure with time.perf_counter(); context.get_remaining_time_in_millis() is "
        "the time left before the timeout, not the time taken",
    )


# -- Docker stats -----------------------------------------------------------------------


def _recorded(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


def _ns(rfc3339: str) -> int:
    whole, _, rest = rfc3339.removesuffix("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
    return seconds * 10**9 + int((rest or "0").ljust(9, "0")[:9])


def _moved(recording: dict[str, Any], shift_ns: int) -> dict[str, Any]:
    """The recording with every sample's read time moved by ``shift_ns``."""
    moved = copy.deepcopy(recording)
    for sample in moved["samples"]:
        for key in ("read", "preread"):
            if not sample[key].startswith("0001-"):
                sample[key] = show_ns(_ns(sample[key]) + shift_ns)  # Docker's own form
    return moved


def _cpu(sample: dict[str, Any]) -> float | None:
    """The grader's own reading of a stats document's CPU share."""
    now, before = sample["cpu_stats"], sample.get("precpu_stats") or {}
    if "system_cpu_usage" not in before or "system_cpu_usage" not in now:
        return None
    used = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
    host = now["system_cpu_usage"] - before["system_cpu_usage"]
    cpus = now.get("online_cpus") or len(now["cpu_usage"]["percpu_usage"])
    return used / host * cpus * 100 if host > 0 and used >= 0 else None


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return isinstance(a, float) and math.isclose(a, b, rel_tol=1e-9)


def _cpu_cases() -> dict[str, tuple[dict[str, Any], float | None]]:
    """Documents for cpu_percent() and the share each stands for."""
    busy, idle = _recorded("api-1")["samples"], _recorded("worker-7")["samples"]
    older = copy.deepcopy(busy[2])  # an engine that leaves online_cpus out
    for stats in (older["cpu_stats"], older["precpu_stats"]):
        del stats["online_cpus"]
    down = copy.deepcopy(busy[1])  # the container's counter went down
    down["precpu_stats"]["cpu_usage"]["total_usage"] = busy[3]["cpu_stats"]["cpu_usage"][
        "total_usage"
    ]
    still = copy.deepcopy(busy[1])  # no time passed on the host
    still["precpu_stats"]["system_cpu_usage"] = still["cpu_stats"]["system_cpu_usage"]
    cases = {
        "a first document (no previous reading)": busy[0],
        "the first document after a restart": busy[4],
        "1.5 of 2 CPUs busy": busy[1],
        "an idle container": idle[2],
        "no online_cpus (an older engine: count percpu_usage)": older,
        "a container counter that went down": down,
        "a host counter that did not move": still,
    }
    return {name: (doc, _cpu(doc)) for name, doc in cases.items()}


@pytest.mark.points(3)
def test_cpu_percent_from_counter_deltas(submission, grade):
    """cpu_percent() of recorded stats documents and of edge cases made from them."""
    cases, found = _cpu_cases(), {}
    for name, (doc, _) in cases.items():
        result = submission.call("cpu_percent", doc)
        expect(result.ok, "cpu_percent() failed", found=f"on {name}: {result.explain()}")
        found[name] = result.value

    def part(title: str, points: float, names: list[str], hint: str) -> None:
        wrong = {n: found[n] for n in names if not _same(found[n], cases[n][1])}
        grade.part(
            title,
            points,
            not wrong,
            expected={n: cases[n][1] for n in wrong},
            found=wrong,
            hint=hint,
        )

    part(
        "None for a document without a previous reading",
        1,
        ["a first document (no previous reading)", "the first document after a restart"],
        "the counters are cumulative: a first document's totals since the start are "
        "not a percentage; without precpu_stats.system_cpu_usage there is no interval",
    )
    part(
        "the share of the interval, times the number of CPUs",
        1,
        ["1.5 of 2 CPUs busy", "an idle container"],
        "(container delta / host delta) x cpu_stats.online_cpus x 100",
    )
    part(
        "the fallbacks: percpu_usage's length, and None with no interval",
        1,
        [
            "no online_cpus (an older engine: count percpu_usage)",
            "a container counter that went down",
            "a host counter that did not move",
        ],
        "a counter that goes down is a restart, not a negative share",
    )


@pytest.mark.points(4)
def test_container_stats_become_points(submission, sandbox, admin, grade):
    """write_container_stats() for a busy container restarted mid-recording and an idle
    one from an untagged image: tags, CPU where it can be computed, memory less the page
    cache, network totals, at each document's read time to the nanosecond."""
    shift = random.randrange(-400, -30) * 86400 * 10**9 + random.randrange(10**9)
    recordings = [_moved(_recorded(name), shift) for name in ("api-1", "worker-7")]
    for rec in recordings:
        result = submission.call(
            "write_container_stats", rec["container"], rec["image"], rec["samples"]
        )
        expect(result.ok, "write_container_stats() failed", found=result.explain())
    want = {}
    for rec in recordings:
        tags = (
            ("container", rec["container"]["Name"].lstrip("/")),
            ("image", (rec["image"]["RepoTags"] or [rec["image"]["Id"][7:19]])[0]),
        )
        for sample in rec["samples"]:
            memory = sample["memory_stats"]
            cache = memory["stats"].get(
                "total_inactive_file", memory["stats"].get("inactive_file", 0)
            )
            nets = sample["networks"].values()
            fields = {
                "memory_usage": memory["usage"] - cache,
                "memory_limit": memory["limit"],
                "rx_bytes": sum(n["rx_bytes"] for n in nets),
                "tx_bytes": sum(n["tx_bytes"] for n in nets),
            }
            if (cpu := _cpu(sample)) is not None:
                fields["cpu_percent"] = cpu
            want[(_ns(sample["read"]), tags)] = fields
    found = points_of(stored(admin, sandbox, "docker_container"))
    series = sorted({tags for _, tags in want})
    grade.part(
        "tags container (no leading /) and image (its tag, or its short ID when it has none)",
        1,
        sorted({tags for _, tags in found}) == series,
        expected=[dict(t) for t in series],
        found=[dict(t) for t in sorted({tags for _, tags in found})],
        hint="an untagged image has RepoTags [] (image.tags == [] in the docker package): "
        "[0] of it raises IndexError",
    )
    # Fields are compared point by point in time order, so a time off costs only its part.
    found_times = sorted((dict(tags)["container"], ns) for ns, tags in found)
    want_times = sorted((dict(tags)["container"], ns) for ns, tags in want)
    grade.part(
        "a point at each document's read time, to the nanosecond",
        0.5,
        found_times == want_times,
        expected=[show_ns(ns) for _, ns in want_times][:3],
        found=[show_ns(ns) for _, ns in found_times][:3],
        hint="datetime.fromisoformat() keeps microseconds: Docker's times have nine digits",
    )
    pairs = []  # (container #k, expected fields, stored fields)
    for container in sorted({c for c, _ in want_times}):
        mine = [f for (_, tags), f in sorted(want.items()) if dict(tags)["container"] == container]
        theirs = [
            f for (_, tags), f in sorted(found.items()) if dict(tags)["container"] == container
        ]
        for k, fields in enumerate(mine):
            pairs.append((f"{container} #{k}", fields, theirs[k] if k < len(theirs) else {}))
    cpu_wrong = {
        label: (w.get("cpu_percent"), f.get("cpu_percent"))
        for label, w, f in pairs
        if not _same(f.get("cpu_percent"), w.get("cpu_percent"))
    }
    grade.part(
        "cpu_percent where the document has a previous reading, and only there",
        1.5,
        not cpu_wrong,
        expected="cpu_percent(sample) of each document; no field where it is None",
        found=f"{len(cpu_wrong)} points wrong (point: expected, found), e.g. "
        f"{dict(list(cpu_wrong.items())[:2])}",
        hint="after the restart the engine's counters start again: use each document's "
        "own precpu_stats, not the document before it",
    )
    other = ("memory_usage", "memory_limit", "rx_bytes", "tx_bytes")
    rest_wrong = {
        label: {k: (w[k], f.get(k)) for k in other if type(f.get(k)) is not int or f[k] != w[k]}
        for label, w, f in pairs
    }
    rest_wrong = {label: d for label, d in rest_wrong.items() if d}
    grade.part(
        "memory_usage less the page cache, memory_limit, rx_bytes, tx_bytes: integers",
        1,
        not rest_wrong,
        expected="usage - total_inactive_file, limit, and the byte counters summed over "
        "the networks, as integers",
        found=f"{len(rest_wrong)} points wrong (field: expected, found), e.g. "
        f"{dict(list(rest_wrong.items())[:1])}",
        hint="`docker stats` leaves the inactive page cache out of a container's memory",
    )
