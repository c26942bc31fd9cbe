"""Checks for lab edge_to_cloud: the student's forwarder runs as a program between live
InfluxDB servers, the lab's edge and a second one, the cloud (and, for failover, a third,
the secondary region). The grader is the sensors (writing to the edge bucket, each
reading late by up to half a second), the network (a proxy in front of the cloud that
cuts, loses answers and stalls) and the operator (a SIGKILL and a restart); it reads back
what the cloud holds, to the nanosecond.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from influxdb_client import InfluxDBClient

from grader.check import expect, stored, until
from grader.faults import WRITE, Fault, FaultProxy, Seen, cut
from grader.sandbox import Sandbox, SandboxFactory
from grader.submission import Program, Submission
from influx_labs.services import InfluxEndpoint, Stack

BATCH = 40  # the BATCH_SIZE every check sets: history takes several batches
LAG = 1.0  # seconds a reading may take to reach the edge, as the contract allows
INTERVAL = 0.2
LATE = 0.5  # the sensors write every LATE seconds what they measured since
LAND_TIMEOUT = 12.0  # seconds after the last write by which everything must be in the cloud
SITES = ("north hall", "yard,east")  # tag values that need escaping
# Failover: the FAILOVER_AFTER and PROBE_INTERVAL the check sets, how long the primary
# refuses connections, and how long after it is back its readings must go to it again.
FAILOVER_AFTER = 1.0
PROBE_INTERVAL = 0.5
OUTAGE = 4.0
FAILED_BACK = 1.5


class Value(NamedTuple):
    """One stored value, as the checks compare them: the type is part of it."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    field: str
    kind: str
    value: Any
    ns: int


@pytest.fixture(scope="session")
def cloud_server(lab_stack: Stack) -> InfluxEndpoint:
    """The lab's second InfluxDB, started once for the run (the grader's admin token)."""
    return lab_stack.influx_server("cloud")


@pytest.fixture(scope="session")
def secondary_server(lab_stack: Stack) -> InfluxEndpoint:
    """The lab's third InfluxDB, the secondary region, started once for the run."""
    return lab_stack.influx_server("secondary")


def _sandbox_on(lab_stack: Stack, server: InfluxEndpoint) -> Iterator[Sandbox]:
    """This check's organization, bucket and scoped token on ``server``."""
    factory = SandboxFactory(replace(lab_stack.endpoints, influx=server))
    box = factory.create()
    try:
        yield box
    finally:
        factory.remove(box)


@pytest.fixture
def cloud(lab_stack: Stack, cloud_server: InfluxEndpoint) -> Iterator[Sandbox]:
    """This check's organization, bucket and scoped token on the cloud."""
    yield from _sandbox_on(lab_stack, cloud_server)


@pytest.fixture
def secondary(lab_stack: Stack, secondary_server: InfluxEndpoint) -> Iterator[Sandbox]:
    """This check's organization, bucket and scoped token on the secondary region."""
    yield from _sandbox_on(lab_stack, secondary_server)


@pytest.fixture
def proxy(cloud_server: InfluxEndpoint) -> Iterator[FaultProxy]:
    """The network between the edge and the cloud."""
    with FaultProxy(cloud_server.url) as faults:
        yield faults


@pytest.fixture
def secondary_proxy(secondary_server: InfluxEndpoint) -> Iterator[FaultProxy]:
    """The way to the secondary region: no faults, it sees what reaches it, and when."""
    with FaultProxy(secondary_server.url) as seen:
        yield seen


def region_env(name: str, box: Sandbox, url: str) -> dict[str, str]:
    """INFLUXDB_<NAME>_URL, _ORG, _TOKEN and _BUCKET: the sandbox ``box``, reached at ``url``."""
    prefix = f"INFLUXDB_{name.upper()}_"
    return {
        f"{prefix}URL": url,
        f"{prefix}ORG": box.org,
        f"{prefix}TOKEN": box.token,
        f"{prefix}BUCKET": box.bucket,
    }


class Forwarders:
    """Starts the student's forwarder, again and again, on one state folder."""

    def __init__(self, submission: Submission, cloud: Sandbox, proxy: FaultProxy, state: Path):
        self.submission, self.state = submission, state
        self.env = {
            **region_env("cloud", cloud, proxy.url),
            "BATCH_SIZE": str(BATCH),
            "INTERVAL": str(INTERVAL),
            "LAG": str(LAG),
        }

    def start(self, env: dict[str, str] | None = None) -> Program:
        """The forwarder, with ``env`` besides the usual settings."""
        env = {**self.env, **(env or {})}
        program = self.submission.program("forwarder.py", env=env, state=self.state)
        time.sleep(1.0)
        expect(
            program.alive(),
            "the forwarder stopped right after it started",
            expected="python forwarder.py running until it is stopped",
            found=program.report("forwarder"),
        )
        return program


@pytest.fixture
def forwarders(submission, cloud, proxy, tmp_path) -> Forwarders:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return Forwarders(submission, cloud, proxy, state)


# -- the sensors -------------------------------------------------------------


def _escape_tag(text: str) -> str:
    return text.replace(" ", "\\ ").replace(",", "\\,")


def _field(value: Any) -> str:
    """A field value as line protocol writes it (bool before int: a bool is an int)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


class Sensors:
    """The grader's sensors writing to one edge bucket; ``values`` is all they wrote."""

    def __init__(self, edge: InfluxEndpoint, sandbox: Sandbox, bucket: str = "") -> None:
        self.edge, self.sandbox, self.bucket = edge, sandbox, bucket or sandbox.bucket
        self.rng = random.Random()
        self.values: set[Value] = set()

    def readings(self, start_ns: int, count: int, step_ns: int) -> tuple[list[str], set[Value]]:
        """``count`` lines of four fields each (every third one three), and their values: two
        readings of one series 400 ns apart every ``step_ns``, so times cut to microseconds
        merge them. Times of three values and of four make batches of whole times uneven."""
        lines, values = [], set()
        first: dict[str, object] = {}
        for i in range(count):
            tags = (("sensor", f"s{(i // 2) % 3}"), ("site", SITES[(i // 2) % 2]))
            at = start_ns + (i // 2) * step_ns + (i % 2) * 400
            fields = self._fields(unlike=first if i % 2 else {})
            first = dict(fields)
            if i % 3 == 2:
                del fields["note"]
            values |= {Value("env", tags, k, type(v).__name__, v, at) for k, v in fields.items()}
            head = "env" + "".join(f",{k}={_escape_tag(v)}" for k, v in tags)
            lines.append(f"{head} {','.join(f'{k}={_field(v)}' for k, v in fields.items())} {at}")
        return lines, values

    def _fields(self, unlike: dict[str, object]) -> dict[str, object]:
        """Random values of the four fields, each unlike the one in ``unlike``: the second
        reading of a pair differs from the first in every field, so that times cut to
        microseconds make two lines of one time, never the same line twice (which would
        look like a line sent again)."""
        while True:
            fields = {
                "temp": round(self.rng.uniform(-10, 35), 3),
                "count": self.rng.randrange(10**12),
                "ok": self.rng.random() < 0.5,
                "note": self.rng.choice(['door "A" open', "ok", "c:\\logs"]),
            }
            if all(fields[k] != unlike.get(k) for k in fields):
                return fields

    def write(self, lines: list[str], values: set[Value]) -> None:
        answer = requests.post(
            f"{self.edge.url}{WRITE}",
            params={"org": self.sandbox.org, "bucket": self.bucket, "precision": "ns"},
            data="\n".join(lines).encode(),
            headers={"Authorization": f"Token {self.edge.token}"},
            timeout=10,
        )
        answer.raise_for_status()  # the grader's own write: a failure is not the student's
        self.values |= values

    def history(self, count: int) -> None:
        """Readings of yesterday, one pair a millisecond, before the forwarder starts. Their
        times are odd, so a checkpoint one nanosecond short of the last time acknowledged
        (``ns ^ 1``, say) shows as that value sent again after a restart."""
        start = (time.time_ns() - 86_400 * 10**9) | 1
        self.write(*self.readings(start, count, 1_000_000))

    def measure(self) -> None:
        """One round: what was measured in the last LATE seconds (every 0.1 s), so each
        reading reaches the edge up to LATE after its time; then wait LATE."""
        self.write(*self.readings(time.time_ns() - int(LATE * 1e9), 10, 100_000_000))
        time.sleep(LATE)


def stored_values(server: InfluxEndpoint, sandbox: Sandbox, bucket: str = "") -> set[Value]:
    """Every value of the bucket, its time to the nanosecond."""
    with InfluxDBClient(server.url, server.token, org=sandbox.org_id, timeout=20_000) as client:
        rows = stored(client, sandbox, bucket=bucket)
    return {
        Value(
            r["measurement"],
            tuple(sorted(r["tags"].items())),
            r["field"],
            type(r["value"]).__name__,
            r["value"],
            r["ns"],
        )
        for r in rows
    }


def _landed(
    expected: set[Value],
    *regions: tuple[InfluxEndpoint, Sandbox],
    bucket: str = "",
    still: float = 3.0,
) -> list[set[Value]]:
    """What each of the regions (server, sandbox) holds once together they hold everything
    expected, or once nothing changed for ``still`` seconds (a forwarder that lost values
    does not find them later), or after LAND_TIMEOUT."""
    deadline = time.monotonic() + LAND_TIMEOUT
    held: list[set[Value]] = []
    since = time.monotonic()
    while True:
        now = [stored_values(server, box, bucket) for server, box in regions]
        if now != held:
            held, since = now, time.monotonic()
        if set().union(*held) >= expected or time.monotonic() > min(deadline, since + still):
            return held
        time.sleep(0.5)


def _difference(expected: set[Value], held: set[Value]) -> str:
    missing, extra = sorted(expected - held), sorted(held - expected)
    found = f"{len(missing)} of {len(expected)} values missing"
    if missing:
        found += f", e.g. {missing[0]}"
    if extra:
        found += f"; {len(extra)} values that were never written, e.g. {extra[0]}"
    return found


def _replication(r: dict) -> tuple[Any, Any]:
    """(local bucket ID, remote bucket name or ID); influxd 2.9 answers the name under
    ``RemoteBucketName``."""
    name = r.get("remoteBucketName") or r.get("RemoteBucketName")
    return r.get("localBucketID"), name or r.get("remoteBucketID")


def _forwarded(program: Program) -> Any:
    summary = program.last_json()
    return summary.get("forwarded") if summary else None


def _counts(program: Program, acknowledged: Callable[[], int]) -> tuple[Any, int]:
    """The forwarder's last count and what the servers acknowledged, once the two agree
    or after 3 s: a proxy counts a write as it passes it on, the forwarder once the
    answer is back, so the last answer may still be on its way when the values are in."""
    until(lambda: _forwarded(program) == acknowledged(), 3)
    return _forwarded(program), acknowledged()


def _acknowledged(*proxies: FaultProxy) -> int:
    """The lines of the writes the servers behind these proxies answered (passed on, and
    the answer not cut)."""
    return sum(
        len(_sent_lines([seen for seen in proxy.forwarded if seen not in proxy.unanswered]))
        for proxy in proxies
    )


def _sent_lines(requests_seen: list[Seen]) -> list[str]:
    """The lines of these requests' bodies, in order."""
    bodies = (seen.body.decode(errors="replace") for seen in requests_seen)
    return [line for body in bodies for line in body.splitlines() if line]


# -- the checks ----------------------------------------------------------------


def _settle(sensors: Sensors, cloud_server, cloud) -> tuple[set[Value], set[Value]]:
    """(what the sensors wrote, what the cloud holds once it has it all or time is up)."""
    expected = sensors.values
    (held,) = _landed(expected, (cloud_server, cloud))
    return expected, held


@pytest.mark.points(8)
def test_history_and_late_readings_reach_the_cloud_exactly(
    forwarders, sandbox, lab_stack, cloud_server, cloud, proxy, grade
):
    """Yesterday's readings and live ones that arrive late land in the cloud: the same
    values, types and times to the nanosecond, in batches of BATCH_SIZE, counted."""
    sensors = Sensors(lab_stack.endpoints.influx, sandbox)
    sensors.history(160)
    history = set(sensors.values)
    program = forwarders.start()
    # Live readings only once yesterday's are on their way: they are then all newer than
    # the forwarder's start, however long it took to start.
    until(lambda: bool(_writes(proxy)), 10)
    for _ in range(6):
        sensors.measure()
    expected, held = _settle(sensors, cloud_server, cloud)
    live = expected - history
    grade.part(
        "every reading already on the edge when it started is forwarded",
        2,
        history <= held,
        expected=f"the {len(history)} values of yesterday, from a first start",
        found=f"{_difference(history, held)}; {program.report('forwarder')}",
        hint="with no checkpoint yet, start from 1970-01-01, not from now",
    )
    grade.part(
        "every live reading is forwarded, those that reach the edge late too",
        2,
        live <= held,
        expected=f"the {len(live)} values written while it ran, each up to {LATE}s late",
        found=_difference(live, held),
        hint="forward only what is older than now - LAG: a window up to now misses the "
        "readings still on their way, and the checkpoint has moved past them",
    )
    extra = held - expected
    grade.part(
        "the cloud holds the same values, types and times, and nothing else",
        2,
        not extra,
        expected="only values the edge holds: same measurement, tags, field, type and nanosecond",
        found=f"{len(extra)} values the edge does not hold, e.g. {min(extra, default=None)}",
        hint="read the time as nanoseconds (int(v: r._time) in Flux; a datetime stops at "
        "microseconds), write with precision ns, integers with an i",
    )
    writes = [_times(seen) for seen in _writes(proxy)]
    sizes = [len(times) for times in writes]
    past = {v.ns for v in history}
    # Yesterday's writes, in order: each as full as whole times allow, so the next one's
    # first time would not have fitted.
    old = [times for times in writes if times and set(times) <= past]
    roomy = [len(a) for a, b in itertools.pairwise(old) if len(a) + b.count(b[0]) <= BATCH]
    # A time the sensors wrote that two writes carry (times a forwarder changed are
    # graded above, with the values).
    known = {v.ns for v in expected}
    split = sum(len(set(a) & set(b) & known) for a, b in itertools.combinations(writes, 2))
    grade.part(
        f"batches of at most BATCH_SIZE ({BATCH}) values, as full as whole times allow",
        1,
        sizes and max(sizes) <= BATCH and not roomy and not split,
        expected=f"each write {BATCH} lines or fewer, the values of a time all in one; of "
        "yesterday's, each but the last so full that the next time's values would not "
        "have fitted",
        found=f"writes of {sorted(set(sizes), reverse=True)[:5]} lines"
        + (f"; {split} times split across writes" if split else "")
        + (
            f"; {len(roomy)} of yesterday's had room for the next time, e.g. {roomy[:3]} lines"
            if roomy
            else ""
        ),
        hint="pack whole times, oldest first, until the next would make the batch larger "
        "than BATCH_SIZE",
    )
    reported, acknowledged = _counts(program, lambda: _acknowledged(proxy))
    grade.part(
        "it reports the values the cloud acknowledged",
        1,
        reported == acknowledged,
        expected=f'a last stdout line {{"forwarded": {acknowledged}}}',
        found=f"forwarded {reported!r}",
    )


@pytest.mark.points(7)
def test_a_cloud_outage_and_a_lost_answer_lose_nothing(
    forwarders, sandbox, lab_stack, cloud_server, cloud, proxy, grade
):
    """The cloud unreachable for 3 s while readings keep coming, then one batch that lands
    but whose answer is lost: the forwarder keeps going, forwards it all, counts right."""
    sensors = Sensors(lab_stack.endpoints.influx, sandbox)
    sensors.history(60)
    program = forwarders.start()
    sensors.measure()
    proxy.fail_for(3.0, cut("before", WRITE))
    for _ in range(6):
        sensors.measure()
    proxy.fail_next(cut("after", WRITE))
    for _ in range(4):
        sensors.measure()
    expected, held = _settle(sensors, cloud_server, cloud)
    grade.part(
        "it keeps running through the outage",
        1,
        program.alive(),
        expected="still running after connections were refused for 3s",
        found=program.report("forwarder"),
        hint="a closed connection is requests.ConnectionError, not an HTTP status: catch it",
    )
    grade.part(
        "every reading written during the outage lands once it is over",
        3,
        held == expected,
        expected=f"the {len(expected)} values, each once",
        found=_difference(expected, held),
        hint="move the checkpoint only after the cloud answered 204",
    )
    reported, acknowledged = _counts(program, lambda: _acknowledged(proxy))
    grade.part(
        "it reports only what the cloud acknowledged",
        3,
        reported == acknowledged,
        expected=f'{{"forwarded": {acknowledged}}}: the values of the writes the cloud '
        "answered; a write refused, or whose answer never came, is not acknowledged",
        found=f"forwarded {reported!r}",
    )


@pytest.mark.points(2)
def test_a_429_is_tried_again_and_a_batch_answered_400_is_passed(
    forwarders, sandbox, lab_stack, cloud_server, cloud, proxy, grade
):
    """The cloud answers the first write 429 (rate limited), the next one 500, and the one
    with the last of yesterday's readings 400 (a batch it can never take): the first is
    sent again until it lands; the other is passed, once, and the forwarder goes on,
    counting none of the three."""
    sensors = Sensors(lab_stack.endpoints.influx, sandbox)
    sensors.history(60)
    history = set(sensors.values)
    last = str(max(v.ns for v in history)).encode()
    proxy.fail_next(Fault(429, "too many requests", "rate limited", path=WRITE))
    proxy.fail_next(Fault(500, "internal error", "unexpected", path=WRITE))
    proxy.fail_next(Fault(400, "invalid", "unable to parse", path=WRITE, carrying=last))
    program = forwarders.start()
    for _ in range(3):
        sensors.measure()
    limited, _, invalid = [*proxy.refused, None, None, None][:3]
    refused = _values_at(sensors.values, _times(invalid) if invalid else [])
    expected = sensors.values - refused
    (held,) = _landed(expected, (cloud_server, cloud))
    first = _values_at(history, _times(limited)) if limited else set()
    grade.part(
        "a batch answered 429, then 500, is sent again and lands",
        1,
        limited is not None and first <= held,
        expected="the values of the first write, answered 429 and then 500, in the cloud",
        found=f"{len(first & held)} of its {len(first)} values in the cloud; "
        f"{program.report('forwarder')}",
        hint="429 and any 5xx mean not now: leave the checkpoint where it is and try again "
        "next round",
    )
    again = [seen for seen in _writes(proxy) if invalid and seen.body == invalid.body]
    live = expected - history
    reported, acknowledged = _counts(program, lambda: _acknowledged(proxy))
    grade.part(
        "a batch answered 400 is passed, once; the rest lands; no refused batch is counted",
        1,
        invalid is not None
        and not again
        and not held & refused
        and live <= held
        and reported == acknowledged,
        expected=f"the write answered 400 ({len(_times(invalid)) if invalid else 0} values) "
        "sent once and never again, "
        f"none of its values in the cloud, the {len(live)} live values there, and "
        f'{{"forwarded": {acknowledged}}}',
        found=f"sent again {len(again)} times; {len(held & refused)} of its values in the "
        f"cloud; {len(live - held)} of the {len(live)} live values "
        f"missing; forwarded {reported!r}",
        hint="a 4xx other than 429 will be refused however often it is sent: report it on "
        "stderr, move the checkpoint past it and go on",
    )


def _values_at(values: set[Value], times: Iterable[int]) -> set[Value]:
    """The values at these times."""
    at = set(times)
    return {v for v in values if v.ns in at}


@pytest.mark.points(6)
def test_a_sigkill_mid_batch_and_a_restart_lose_nothing_and_resend_little(
    forwarders, sandbox, lab_stack, cloud_server, cloud, proxy, grade
):
    """The forwarder SIGKILLed while its third batch waits on a slow cloud, readings
    written while it is down, then started again on the same STATE_DIR."""
    sensors = Sensors(lab_stack.endpoints.influx, sandbox)
    sensors.history(160)
    proxy.stall(after=2, seconds=3.0)
    first = forwarders.start()
    expect(
        proxy.stalling.wait(10),
        "the forwarder never sent its third batch",
        expected=f"{len(sensors.values)} values of history sent in batches of {BATCH}",
        found=f"{len(proxy.forwarded)} writes; {first.report('forwarder')}",
    )
    first.close()  # SIGKILL, the batch in flight
    acknowledged = set(_sent_lines(proxy.forwarded[:2]))
    for _ in range(3):
        sensors.measure()
    before_restart = len(proxy.forwarded)
    second = forwarders.start()
    for _ in range(2):
        sensors.measure()
    expected, held = _settle(sensors, cloud_server, cloud)
    grade.part(
        "after the restart every reading lands, once",
        3,
        held == expected,
        expected=f"the {len(expected)} values, each once",
        found=f"{_difference(expected, held)}; {second.report('forwarder')}",
        hint="keep the checkpoint in STATE_DIR and write it atomically (a temporary "
        "file, then os.replace)",
    )
    again = [line for line in _sent_lines(proxy.forwarded[before_restart:]) if line in acknowledged]
    grade.part(
        "it resumes from its checkpoint: what was acknowledged is not sent again",
        2,
        not again,
        expected=f"none of the {len(acknowledged)} lines the cloud acknowledged before the "
        "kill sent again (the batch in flight may be)",
        found=f"{len(again)} sent again, e.g. {again[:1]}",
        hint="save the checkpoint after each acknowledged batch, before the next",
    )
    reported, resent = _counts(second, lambda: len(_sent_lines(proxy.forwarded[before_restart:])))
    grade.part(
        "the restarted forwarder counts what it forwarded itself",
        1,
        reported == resent,
        expected=f'{{"forwarded": {resent}}}: the values it got acknowledged',
        found=f"forwarded {reported!r}",
    )


@pytest.mark.points(5)
def test_replication_copies_a_second_bucket_through_an_outage(
    submission, sandbox, sandboxes, lab_stack, admin, cloud_server, cloud, proxy, grade
):
    """replicate() sets up InfluxDB's own replication of an edge bucket into a cloud bucket
    of another name; the edge server then copies every write, an outage notwithstanding."""
    edge = lab_stack.endpoints.influx
    local = admin.buckets_api().create_bucket(bucket_name="plant", org_id=sandbox.org_id)
    mirror = requests.post(
        f"{cloud_server.url}/api/v2/buckets",
        json={"orgID": cloud.org_id, "name": "plant-mirror", "retentionRules": []},
        headers={"Authorization": f"Token {cloud_server.token}"},
        timeout=10,
    ).json()
    # The cloud as the edge server reaches it: through the proxy, unless the servers run
    # in containers (then on the engine's network, and without the outage).
    remote_url = cloud_server.peer_url or proxy.url
    env = {
        # The edge token may manage remotes and replications: this call is an operator's.
        "INFLUXDB_V2_TOKEN": sandboxes.token_also_for(sandbox, "remotes", "replications"),
        **region_env("cloud", cloud, cloud_server.url),
    }
    made = submission.call("replicate", "plant", "plant-mirror", remote_url, env=env)
    why = "" if made.ok else f"; replicate() {made.explain()}"
    auth = {"Authorization": f"Token {edge.token}"}
    remotes = (
        requests.get(
            f"{edge.url}/api/v2/remotes", params={"orgID": sandbox.org_id}, headers=auth, timeout=10
        )
        .json()
        .get("remotes")
        or []
    )
    grade.part(
        "a remote connection to the cloud",
        1,
        any(
            r.get("remoteURL") == remote_url and r.get("remoteOrgID") == cloud.org_id
            for r in remotes
        ),
        expected=f"a remote to {remote_url} for the cloud's org {cloud.org_id}",
        found=f"remotes {[(r.get('remoteURL'), r.get('remoteOrgID')) for r in remotes]}{why}",
        hint="POST /api/v2/remotes with remoteURL, remoteAPIToken and remoteOrgID",
    )
    replications = (
        requests.get(
            f"{edge.url}/api/v2/replications",
            params={"orgID": sandbox.org_id},
            headers=auth,
            timeout=10,
        )
        .json()
        .get("replications")
        or []
    )
    into = [
        r
        for r in replications
        if r.get("localBucketID") == local.id
        and _replication(r)[1] in ("plant-mirror", mirror["id"])
    ]
    grade.part(
        "a replication of the bucket into the cloud's bucket",
        1,
        into and made.ok and made.value == into[0]["id"],
        expected=f"a replication of {local.id} into plant-mirror, its ID returned",
        found=f"replications {[_replication(r) for r in replications]}, "
        f"returned {made.value!r}{why}",
    )
    if not into:  # nothing will copy the readings: no need to write and wait for them
        grade.part(
            "the cloud's bucket holds every reading written to the edge's",
            3,
            False,
            found=f"no replication of the bucket{why}",
        )
        return
    sensors = Sensors(edge, sandbox, "plant")
    sensors.measure()
    if not cloud_server.peer_url:
        proxy.fail_for(2.5, cut("before", WRITE))
    for _ in range(5):
        sensors.measure()
    expected = sensors.values
    # The replication's retries after an outage wait longer and longer: no stillness rule.
    (held,) = _landed(expected, (cloud_server, cloud), bucket="plant-mirror", still=LAND_TIMEOUT)
    grade.part(
        "the cloud's bucket holds every reading written to the edge's",
        3,
        held == expected,
        expected=f"the {len(expected)} values, each once, after a 2.5s outage",
        found=_difference(expected, held) + why,
    )


def _measuring_until(sensors: Sensors, done: Callable[[], bool], seconds: float) -> bool:
    """The sensors measure, round after round, until ``done()`` or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        sensors.measure()
    return True


def _probe_gaps(proxy: FaultProxy, down: float) -> list[float]:
    """Seconds from the failover to the first GET of the primary's /health, and between
    each two after it, up to the one that passed. The failover is the last write the
    primary refused in the outage: a forwarder on the secondary writes there no more."""
    refused = [seen for seen in proxy.refused if seen.at >= down]
    failed = [seen.at for seen in refused if seen.path.startswith(WRITE)]
    health = [seen for seen in refused + proxy.forwarded if seen.path.startswith("/health")]
    probes = sorted(seen.at for seen in health if failed and seen.at > failed[-1])
    passed = [at for at in probes if at >= down + OUTAGE]
    times = ([failed[-1]] if failed else []) + probes[: len(probes) - len(passed) + 1]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def _times(seen: Seen) -> list[int]:
    """The time (ns, the last word) of each line a write carried, in order."""
    words = (line.rsplit(" ", 1)[-1] for line in seen.body.decode(errors="replace").splitlines())
    return [int(word) if word.isdigit() else -1 for word in words]


def _writes(proxy: FaultProxy) -> list[Seen]:
    """The writes the proxy passed on."""
    return [seen for seen in proxy.forwarded if seen.path.startswith(WRITE)]


@pytest.mark.points(6)
def test_a_primary_outage_fails_over_to_the_secondary_and_back_losing_and_doubling_nothing(
    forwarders,
    sandbox,
    lab_stack,
    cloud_server,
    cloud,
    proxy,
    secondary_server,
    secondary,
    secondary_proxy,
    grade,
):
    """Two regions, the cloud the primary: one write answered 503 (a blip, retried on the
    primary), then the primary refusing every connection for 4 s while readings keep
    coming, then back. The forwarder fails over to the secondary and back; every reading
    is in one region, none in both."""
    sensors = Sensors(lab_stack.endpoints.influx, sandbox)
    sensors.history(40)
    program = forwarders.start(
        {
            **region_env("secondary", secondary, secondary_proxy.url),
            "FAILOVER_AFTER": str(FAILOVER_AFTER),
            "PROBE_INTERVAL": str(PROBE_INTERVAL),
        }
    )
    sensors.measure()
    # The blip: the next write answered 503, as a load balancer does while a server restarts.
    proxy.fail_next(Fault(503, "unavailable", "the server is restarting", path=WRITE))
    _measuring_until(sensors, lambda: bool(proxy.refused), 10)
    blip = proxy.refused[0].at if proxy.refused else time.monotonic()
    _measuring_until(sensors, lambda: any(seen.at > blip for seen in _writes(proxy)), 10)
    # Long enough after the blip that a forwarder still timing from it (the write after it
    # not ending the run of failures) fails over at the outage's first failure.
    _measuring_until(sensors, lambda: time.monotonic() >= blip + 2 * FAILOVER_AFTER, 10)
    # The outage: every connection to the primary refused (its /health too), the requests
    # never reaching it, so that each write is acknowledged by one region or by none.
    down = time.monotonic()
    back_ns = time.time_ns() + int(OUTAGE * 1e9)
    proxy.fail_for(OUTAGE, cut("before", "/"))
    _measuring_until(sensors, lambda: time.monotonic() >= down + OUTAGE, OUTAGE + 5)
    for _ in range(6):
        sensors.measure()
    expected = sensors.values
    primary, backup = _landed(expected, (cloud_server, cloud), (secondary_server, secondary))

    early = [seen for seen in _writes(secondary_proxy) if seen.at < down]
    first = f", the first {down - early[0].at:.1f}s before it" if early else ""
    grade.part(
        "one failed write is tried again on the primary: no failover",
        1,
        not early,
        expected="nothing written to the secondary before the primary went down: a write "
        "answered 503 once and acknowledged when tried again is no outage",
        found=f"{len(early)} writes to the secondary before the outage{first}",
        hint="try a failed write again on the primary; switch only once the primary has "
        "failed for FAILOVER_AFTER seconds in a row",
    )
    during = [seen.at - down for seen in _writes(secondary_proxy) if seen.at >= down]
    grade.part(
        "when the primary stays down, it fails over: the secondary holds readings",
        1,
        backup and during and during[0] >= 0.9 * FAILOVER_AFTER,
        expected=f"writes to the secondary while the primary refused every connection for "
        f"{OUTAGE:.0f}s, the first once it had failed for FAILOVER_AFTER ({FAILOVER_AFTER}s)",
        found=f"the secondary holds {len(backup)} values"
        + (f", the first write {during[0]:.2f}s after the primary went down" if during else "")
        + f"; {program.report('forwarder')}",
        hint="measure how long the primary has been failing from the first failure in a "
        "row, not from the last; an answer ends the row",
    )
    # Judged by the writes the primary got, not by the readings it holds: a forwarder
    # that loses readings is graded for that in the next part, not here too.
    after = [seen for seen in _writes(proxy) if seen.at >= down + OUTAGE + FAILED_BACK]
    settled = back_ns + int(FAILED_BACK * 1e9)
    stayed = {v for v in backup if v.ns >= settled and v not in primary}
    gaps = _probe_gaps(proxy, down)
    # Back on the primary too soon: writes to it after the failover while it was still down.
    switched = during[0] + down if during else down + OUTAGE
    early = [s for s in proxy.refused if s.path.startswith(WRITE) and s.at > switched]
    grade.part(
        "once the primary is healthy again it fails back: the readings after are on it",
        1,
        after
        and not stayed
        and not early
        and min(gaps, default=PROBE_INTERVAL) >= 0.8 * PROBE_INTERVAL,
        expected=f"writes to the primary from {FAILED_BACK}s after it came back, and the "
        "readings timed from then on it; none while it was still down after the failover; "
        f"the primary's /health asked at most every {PROBE_INTERVAL}s (PROBE_INTERVAL) "
        "from the failover on",
        found=f"{len(after)} such writes to the primary, {len(stayed)} readings timed from "
        f"then on the secondary only, {len(early)} writes to the primary while it was down "
        "after the failover; /health asked "
        f"{', '.join(f'{gap:.2f}' for gap in gaps[:8]) or 'never'} s after the failover and "
        "after each other",
        hint="while on the secondary, GET the primary's /health every PROBE_INTERVAL and "
        'switch back once it answers {"status": "pass"}',
    )
    held, both = primary | backup, primary & backup
    grade.part(
        "every reading is in one region or the other: the same values, types and times",
        1,
        held == expected,
        expected=f"the {len(expected)} values the sensors wrote, across the two regions",
        found=_difference(expected, held),
        hint="move the checkpoint past a batch only once a region answered it 204",
    )
    grade.part(
        "no reading is in both regions",
        1,
        not both,
        expected="each value acknowledged by one region only",
        found=f"{len(both)} values in both, e.g. {min(both, default=None)}",
        hint="one checkpoint for both regions: what either acknowledged is never sent "
        "again, to either; a switch neither resets it nor moves it",
    )
    reported, acknowledged = _counts(program, lambda: _acknowledged(proxy, secondary_proxy))
    grade.part(
        "it counts the values either region acknowledged",
        1,
        reported == acknowledged,
        expected=f'{{"forwarded": {acknowledged}}}: the values of the writes the primary '
        "or the secondary answered",
        found=f"forwarded {reported!r}",
    )
