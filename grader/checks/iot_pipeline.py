"""Checks for lab iot_pipeline: the student's bridge runs as a program against a live broker
and a live InfluxDB; the grader publishes a known stream and reads back what landed."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest

from grader.check import ALL_TIME, expect, ns_of, until
from grader.faults import WRITE, Fault, FaultProxy, SlowUplink
from grader.sandbox import Sandbox
from grader.submission import Program, Submission
from influx_labs.services.broker import LocalBroker
from influx_labs.simulators.iot import (
    HUGE_NUMBER,
    MAX_TS_MS,
    Message,
    Reading,
    encode_reading,
    generate,
    publish,
    topic_for,
    valid_readings,
)

READY_TIMEOUT = 12.0
LAND_TIMEOUT = 12.0
BATCH = 50  # the batch size the batching check asks for
FLUSH_MS = 4000  # its flush interval: told apart from the default (1 s) even after a retry
UPLINK_DELAY = 0.3  # seconds the bridge's packets take to reach a check's own broker
BURST = 20_000  # readings in the burst check, published as fast as the broker takes them
BURST_DEADLINE = 15.0  # seconds after the last publish by which all of them must be stored


@pytest.fixture
def start_bridge(submission: Submission) -> Iterator:
    """start_bridge(**env) -> a running bridge that said READY (the check fails otherwise)."""
    started: list[Program] = []

    def start(**env: str) -> Program:
        program = submission.program("bridge.py", env=env)
        started.append(program)
        ready = program.wait_for_line("READY", READY_TIMEOUT)
        expect(
            ready,
            "the bridge never printed READY",
            expected=f"a line READY within {READY_TIMEOUT:.0f}s, once subscribed",
            found=f"the bridge {program.describe_exit()}; stderr: {program.stderr()[-800:]}",
            hint="print('READY', flush=True) in on_subscribe, after subscribing with QoS 1",
        )
        return program

    yield start
    for program in started:
        program.close()


def _stream(sandbox: Sandbox, count: int, malformed: float = 0.0) -> list[Message]:
    seed = random.randrange(2**32)
    return generate(
        devices=4,
        count=count,
        seed=seed,
        start_ms=int(time.time() * 1000) - 3_600_000,
        malformed_ratio=malformed,
        prefix=sandbox.topic_prefix,
    )


def _message(sandbox: Sandbox, reading: Reading) -> Message:
    """The contract's message for one reading, on its device's topic."""
    topic = topic_for(sandbox.topic_prefix, reading.device)
    return Message(topic, encode_reading(reading), reading, "valid")


def _whole_numbers(messages: list[Message]) -> list[Message]:
    """Give some valid readings JSON integers (21, not 21.0): the contract says numbers."""
    out = []
    for i, m in enumerate(messages):
        if m.reading is not None and i % 10 == 3:
            r = Reading(
                m.reading.device,
                m.reading.ts_ms,
                float(round(m.reading.temperature)),
                float(round(m.reading.humidity)),
            )
            body = {
                "device": r.device,
                "ts": r.ts_ms,
                "temperature": int(r.temperature),
                "humidity": int(r.humidity),
            }
            m = Message(m.topic, json.dumps(body).encode(), r, m.kind)
        out.append(m)
    return out


def _with_tricky_payloads(messages: list[Message]) -> list[Message]:
    """The stream with the malformed payloads few bridges survive, always (never sampled),
    spread through its first half: a number no float can hold, a ts past what InfluxDB
    stores, a negative ts, and JSON that is not an object (an array, a string)."""
    first = next(m for m in messages if m.reading is not None)
    body = json.loads(first.payload)
    payloads = (
        ({**body, "temperature": HUGE_NUMBER}, "non_numeric"),
        ({**body, "ts": MAX_TS_MS + 1}, "bad_ts"),
        ({**body, "ts": -1}, "bad_ts"),
        ([body], "not_object"),
        ("a reading", "not_object"),
    )
    out = list(messages)
    for i, (payload, kind) in enumerate(payloads):
        out.insert(10 * (i + 1), Message(first.topic, json.dumps(payload).encode(), None, kind))
    return out


def _landed(admin, sandbox: Sandbox) -> list[dict]:
    tables = admin.query_api().query(
        f'from(bucket: "{sandbox.bucket}") |> {ALL_TIME} '
        '|> filter(fn: (r) => r._measurement == "readings") '
        '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        org=sandbox.org_id,
    )
    return [r.values for t in tables for r in t]


def _count(admin, sandbox: Sandbox) -> int:
    tables = admin.query_api().query(
        f'from(bucket: "{sandbox.bucket}") |> {ALL_TIME} '
        '|> filter(fn: (r) => r._measurement == "readings" and r._field == "temperature") '
        "|> group() |> count()",
        org=sandbox.org_id,
    )
    return sum(r.get_value() for t in tables for r in t)


def _wait_for(admin, sandbox: Sandbox, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = _count(admin, sandbox)
        if count >= expected:
            time.sleep(0.5)  # a few more would be duplicates: give them a chance to show
            return _count(admin, sandbox)
        time.sleep(0.2)
    return count


def _schema(admin, sandbox: Sandbox) -> tuple[set[str], set[str]]:
    """The field names and tag keys of measurement `readings`."""
    keys = {}
    for kind in ("Field", "Tag"):
        tables = admin.query_api().query(
            'import "influxdata/influxdb/schema"\n'
            f'schema.measurement{kind}Keys(bucket: "{sandbox.bucket}", '
            'measurement: "readings", start: 0)',
            org=sandbox.org_id,
        )
        keys[kind] = {r.get_value() for t in tables for r in t}
    return keys["Field"], keys["Tag"] - {"_field", "_measurement", "_start", "_stop"}


def _compare(expected: list[Reading], landed: list[dict]) -> tuple[list, list]:
    """Readings not found at their own (device, ts), and values stored differently."""
    by_key = {(row.get("device"), ns_of(row["_time"]) // 10**6): row for row in landed}
    missing, wrong = [], []
    for r in expected:
        row = by_key.get((r.device, r.ts_ms))
        if row is None:
            missing.append((r.device, r.ts_ms))
        elif (row.get("temperature"), row.get("humidity")) != (r.temperature, r.humidity):
            wrong.append(
                f"device {r.device} at ts {r.ts_ms} ms: sent temperature={r.temperature!r} "
                f"humidity={r.humidity!r}, stored temperature={row.get('temperature')!r} "
                f"humidity={row.get('humidity')!r}"
            )
    return missing, wrong


@pytest.mark.points(6)
def test_every_valid_message_lands_exactly_once(start_bridge, sandbox, admin, grade):
    """Every valid reading lands once, with its device tag, float fields and own timestamp."""
    messages = _whole_numbers(_stream(sandbox, 400))
    bridge = start_bridge()
    publish(messages, sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
    expected = valid_readings(messages)
    stored = _wait_for(admin, sandbox, len(expected), LAND_TIMEOUT)
    landed = _landed(admin, sandbox)
    grade.part(
        "each valid message stored exactly once",
        2,
        stored == len(expected),
        expected=f"{len(expected)} points in measurement readings",
        found=f"{stored} points" + ("" if stored else f"; {bridge.report('bridge')}"),
        hint="one point per message; a rejected batch or a dropped message shows here",
    )
    fields, tags = _schema(admin, sandbox)
    floats = all(
        isinstance(row.get(f), float) for row in landed for f in ("temperature", "humidity")
    )
    grade.part(
        "device is a tag; temperature and humidity are float fields",
        1.5,
        landed and fields == {"temperature", "humidity"} and tags == {"device"} and floats,
        expected="fields {temperature, humidity} (floats, even for JSON integers like 21), "
        "tags {device}",
        found=f"fields {sorted(fields)}, tags {sorted(tags)}, all floats: {floats}",
        hint="float(value): a field's type is fixed by its first point, later integers "
        "are rejected",
    )
    missing, wrong = _compare(expected, landed)
    grade.part(
        "each reading at its own timestamp with its values",
        2,
        not missing and not wrong,
        expected="every (device, ts) sent found with the temperature and humidity sent",
        found=f"{len(missing)} not found at their ts"
        + "".join(f"; e.g. device {d} at ts {ts} ms" for d, ts in missing[:2])
        + f"; {len(wrong)} with other values"
        + "".join(f"; e.g. {w}" for w in wrong[:1]),
        hint="the point's time is the message's ts, in milliseconds, not the arrival time",
    )
    # Still at work, not just alive: one more reading, after the stream, must land too.
    last = expected[-1]
    late = Reading(last.device, last.ts_ms + 1500, 20.5, 50.5)  # a second of its own
    publish([_message(sandbox, late)], sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
    after = _wait_for(admin, sandbox, stored + 1, 10.0) if stored else 0
    grade.part(
        "the bridge keeps running and writing after the stream",
        0.5,
        bridge.alive() and stored and after == stored + 1,
        expected="one more reading published after the stream lands as well",
        found=f"{after - stored if stored else 0} landed; {bridge.report('bridge')}",
    )


@pytest.mark.points(2)
def test_a_burst_lands_whole_and_in_time(start_bridge, sandbox, admin, grade):
    """20,000 readings published in a burst (tens of thousands a second) are all stored
    within 15 s of the last publish: the reference bridge needs about one, a bridge that
    writes a request per message (a few hundred a second) about twice the allowance."""
    messages = _stream(sandbox, BURST)
    bridge = start_bridge()
    publish(messages, sandbox.mqtt_host, sandbox.mqtt_port, qos=1, timeout=60)
    published = time.monotonic()
    stored = _wait_for(admin, sandbox, len(messages), BURST_DEADLINE)
    took = time.monotonic() - published
    grade.part(
        f"all {BURST:,} readings of a burst stored within {BURST_DEADLINE:.0f} s",
        2,
        stored == len(messages),
        expected=f"{len(messages)} points within {BURST_DEADLINE:.0f} s of the last publish",
        found=f"{stored} points after {took:.0f} s; {bridge.report('bridge')}",
        hint="keep on_message short: validate, add the point to a batching writer, return "
        "(a synchronous write per message manages a few hundred a second)",
    )


def _stray(sandbox: Sandbox, reading: Reading) -> list[Message]:
    """Valid payloads on topics the contract's filter `{prefix}/+/telemetry` does not match:
    one level short, one level deeper, another topic name, another prefix."""
    topics = (
        f"{sandbox.topic_prefix}/telemetry",
        f"{sandbox.topic_prefix}/{{device}}/telemetry/raw",
        f"{sandbox.topic_prefix}/{{device}}/status",
        f"{sandbox.topic_prefix}-other/{{device}}/telemetry",
    )
    out = []
    for i, topic in enumerate(topics):
        device = f"stray-{i}"
        body = {"device": device, "ts": reading.ts_ms + i + 1, "temperature": 1.0, "humidity": 2.0}
        out.append(Message(topic.format(device=device), json.dumps(body).encode(), None, "stray"))
    return out


@pytest.mark.points(2)
def test_only_the_contract_topics_are_consumed(start_bridge, sandbox, admin, grade):
    """Readings on topics outside `{prefix}/+/telemetry` are neither stored nor counted."""
    messages = _stream(sandbox, 40)
    expected = valid_readings(messages)
    stray = _stray(sandbox, expected[0])
    bridge = start_bridge()
    publish([*stray, *messages], sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
    _wait_for(admin, sandbox, len(expected), LAND_TIMEOUT)
    landed = sorted({str(row.get("device")) for row in _landed(admin, sandbox)})
    strays = [d for d in landed if d.startswith("stray-")]
    grade.part(
        "readings on other topics are not stored",
        1.5,
        landed and not strays,
        expected=f"only devices of {sandbox.topic_prefix}/+/telemetry",
        found=f"devices stored: {landed}"
        if landed
        else f"nothing stored; {bridge.report('bridge')}",
        hint="subscribe to exactly {prefix}/+/telemetry: '+' is one level, '#' is any number",
    )
    bridge.terminate(10)
    stats = bridge.last_json()
    grade.part(
        "messages on other topics are not counted as received",
        0.5,
        stats is not None and stats.get("received") == len(messages),
        expected={"received": len(messages)},
        found=stats or bridge.stdout()[-300:] or "no counts printed",
    )


@pytest.fixture
def own_broker() -> Iterator[LocalBroker]:
    """A Mosquitto for this check alone: it can be restarted, and it logs subscriptions."""
    with LocalBroker() as broker:
        yield broker


@pytest.mark.points(4)
def test_subscribes_as_agreed_and_again_after_a_broker_restart(
    start_bridge, own_broker, sandbox, admin, grade
):
    """Over a slow uplink, READY comes only once the subscription is acknowledged, at QoS 1;
    when the broker restarts mid-stream the bridge reconnects, subscribes again, and the
    readings published then land."""
    host, port = own_broker.endpoint.host, own_broker.endpoint.port
    # What the bridge sends reaches the broker UPLINK_DELAY late; the broker's answers do not
    # wait. A READY printed before the SUBACK shows while the broker has no subscription.
    with SlowUplink(host, port, UPLINK_DELAY) as uplink:
        bridge = start_bridge(MQTT_HOST="127.0.0.1", MQTT_PORT=str(uplink.port))
        at_ready = own_broker.subscriptions()
        grade.part(
            "READY only once the subscription is acknowledged",
            1,
            bool(at_ready),
            expected="the broker holds the subscription when READY is printed",
            found=f"READY printed; the broker had {len(at_ready)} subscription(s) then",
            hint="print READY in on_subscribe (the SUBACK), not after calling subscribe()",
        )
        until(own_broker.subscriptions, 2 * UPLINK_DELAY)
        first = [(s.topic, s.qos) for s in own_broker.subscriptions()]
        grade.part(  # the filter itself is graded by test_only_the_contract_topics_are_consumed
            "subscribes with QoS 1",
            1,
            first and all(qos == 1 for _, qos in first),
            expected="QoS 1: each reading is delivered at least once, none lost on the way",
            found=f"subscriptions (filter, QoS): {first}",
            hint="client.subscribe(topic, qos=1)",
        )
        _restart_mid_stream(own_broker, bridge, sandbox, admin, grade)


def _restart_mid_stream(own_broker: LocalBroker, bridge: Program, sandbox, admin, grade) -> None:
    host, port = own_broker.endpoint.host, own_broker.endpoint.port
    messages = _stream(sandbox, 120)
    half = len(messages) // 2
    early = len(valid_readings(messages[:half]))
    publish(messages[:half], host, port, qos=1)
    _wait_for(admin, sandbox, early, LAND_TIMEOUT)
    count = len(own_broker.subscriptions())
    own_broker.restart(down_for=0.2)
    # Publish once the bridge is back (or has had its chance): a broker keeps nothing for
    # a client that is not subscribed, so readings sent before that are lost to everyone.
    again = until(lambda: len(own_broker.subscriptions()) > count, 20.0)
    publish(messages[half:], host, port, qos=1)
    expected = valid_readings(messages)
    stored = _wait_for(admin, sandbox, len(expected), LAND_TIMEOUT)
    grade.part(
        "after a broker restart, the readings published then land",
        2,
        stored == len(expected),
        expected=f"all {len(expected)} readings, {len(expected) - early} of them published "
        "after the restart",
        found=f"{stored} stored; subscribed again: {'yes' if again else 'no'}; "
        f"{bridge.report('bridge')}",
        hint="subscribe in on_connect, which runs again after every reconnect; paho "
        "reconnects by itself with loop_start() (see reconnect_delay_set)",
    )


@pytest.mark.points(5)
def test_malformed_messages_are_skipped_and_counted(start_bridge, sandbox, admin, grade):
    """Malformed payloads are skipped and counted; the bridge keeps running and writing."""
    messages = _with_tricky_payloads(_stream(sandbox, 300, malformed=0.2))
    bad = sum(1 for m in messages if m.reading is None)
    bridge = start_bridge()
    publish(messages, sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
    expected = valid_readings(messages)
    stored = _wait_for(admin, sandbox, len(expected), LAND_TIMEOUT)
    grade.part(
        "keeps running and writing through every kind of malformed payload",
        3,
        bridge.alive() and stored == len(expected),
        expected=f"all {len(expected)} valid readings stored, the bridge still running",
        found=f"{stored} stored; {bridge.report('bridge')}",
        hint="validate before building a point; an exception escaping on_message "
        "stops the MQTT loop",
    )
    code = bridge.terminate(10)
    stats = bridge.last_json()
    grade.part(
        "malformed messages counted",
        1,
        stats is not None and stats.get("malformed") == bad,
        expected=f'a last line like {{"received": {len(messages)}, "written": '
        f'{len(expected)}, "malformed": {bad}}}',
        found=stats or bridge.stdout()[-300:] or f"nothing (exit status {code})",
    )
    grade.part(
        "received and written counted too",
        1,
        stats is not None
        and stats.get("received") == len(messages)
        and stats.get("written") == len(expected),
        expected={"received": len(messages), "written": len(expected)},
        found=stats,
    )


@pytest.mark.points(4)
def test_sigterm_flushes_what_is_buffered(start_bridge, sandbox, admin, grade):
    """On SIGTERM the bridge writes its buffer before it exits."""
    messages = _stream(sandbox, 60)
    # A batch larger than the stream and a long interval: nothing is written before SIGTERM.
    bridge = start_bridge(BATCH_SIZE="10000", FLUSH_INTERVAL_MS="600000")
    publish(messages, sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
    time.sleep(1.5)  # let the bridge take them off the socket
    early = _count(admin, sandbox)
    state = bridge.report("bridge")
    code = bridge.terminate(15)
    stored = _count(admin, sandbox)
    grade.part(
        "exits by itself with status 0 after SIGTERM",
        1,
        code == 0,
        found=f"exit status {code}" if code is not None else "it had to be killed",
        hint="handle SIGTERM: set a flag, stop the MQTT loop, close the writer",
    )
    grade.part(
        "every buffered point is written",
        3,
        stored == len(messages),
        expected=f"{len(messages)} points after exit ({early} before SIGTERM)",
        found=stored if stored else f"0; before SIGTERM {state}",
        hint="write_api.close() flushes the batching buffer; exiting without it drops it",
    )


@pytest.mark.points(1)
def test_the_first_and_last_storable_times_are_readings(start_bridge, sandbox, admin, grade):
    """ts 0 (1970) and ts 9223372036854 (the last millisecond InfluxDB stores) are valid:
    both are stored (at which time is test_every_valid_message_lands_exactly_once's part)."""
    edges = [Reading("edge-first", 0, 20.5, 40.5), Reading("edge-last", MAX_TS_MS, 21.5, 41.5)]
    bridge = start_bridge()
    publish([_message(sandbox, r) for r in edges], sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
    _wait_for(admin, sandbox, len(edges), LAND_TIMEOUT)
    devices = sorted({str(row.get("device")) for row in _landed(admin, sandbox)})
    grade.part(
        "readings at ts 0 and at ts 9223372036854 are stored, not skipped",
        1,
        devices == ["edge-first", "edge-last"],
        expected="a point of each: edge-first (ts 0) and edge-last (ts 9223372036854)",
        found=f"points of {devices}; {bridge.report('bridge')}",
        hint="0 <= ts <= 9223372036854: both ends are inside",
    )


@pytest.mark.points(4)
def test_batches_as_configured_and_retries_a_refused_write(start_bridge, sandbox, admin, grade):
    """Writes go out in batches of BATCH_SIZE, the rest once FLUSH_INTERVAL_MS has passed; a
    batch the server refuses with 503 and Retry-After is sent again. Seen by a proxy in
    front of InfluxDB, which refuses the first write."""
    messages = _stream(sandbox, 120)
    expected = valid_readings(messages)
    with FaultProxy(sandbox.url) as proxy:
        busy = Fault(503, "unavailable", "restarting", {"Retry-After": "1"}, path=WRITE)
        proxy.fail_next(busy)
        bridge = start_bridge(
            INFLUXDB_V2_URL=proxy.url, BATCH_SIZE=str(BATCH), FLUSH_INTERVAL_MS=str(FLUSH_MS)
        )
        publish(messages, sandbox.mqtt_host, sandbox.mqtt_port, qos=1)
        published = time.monotonic()
        stored = _wait_for(admin, sandbox, len(expected), LAND_TIMEOUT)
        writes = [r for r in proxy.forwarded if r.path.startswith(WRITE)]
        refused = [r.body for r in proxy.refused if r.path.startswith(WRITE)]
    # Each batch once, however often it was sent: a retry repeats a refused body.
    bodies = dict.fromkeys([*refused, *(w.body for w in writes)])
    batches = sorted(len(body.splitlines()) for body in bodies)
    rest = len(expected) % BATCH
    want = sorted([BATCH] * (len(expected) // BATCH) + [rest])
    grade.part(
        f"writes in batches of BATCH_SIZE ({BATCH})",
        1.5,
        batches == want,
        expected=f"write requests of {want} lines for {len(expected)} readings",
        found=f"write requests of {batches[:12]}{'...' if len(batches) > 12 else ''} lines"
        + ("" if batches else f"; {bridge.report('bridge')}"),
        hint="one batching writer for the whole run: WriteOptions(batch_size=..., "
        "flush_interval=...), not a write per message",
    )
    # The last readings fill no batch: they wait for the interval (the default is 1 s).
    waited = [round(w.at - published, 1) for w in writes if len(w.body.splitlines()) == rest]
    grade.part(
        f"the rest waits for FLUSH_INTERVAL_MS ({FLUSH_MS} ms), then goes",
        1,
        len(waited) == 1 and FLUSH_MS / 1000 - 1.0 <= waited[0] <= FLUSH_MS / 1000 + 3.0,
        expected=f"one request of {rest} lines about {FLUSH_MS / 1000:.1f} s after the stream",
        found=f"requests of {rest} lines after {waited} s",
        hint="WriteOptions(flush_interval=int(os.environ['FLUSH_INTERVAL_MS']))",
    )
    sent = {line for w in writes for line in w.body.splitlines()}
    lost = [line for body in refused for line in body.splitlines() if line not in sent]
    grade.part(
        "a write refused with 503 and Retry-After is sent again and lands",
        1.5,
        refused and not lost and stored == len(expected),
        expected=f"the refused batch sent again; all {len(expected)} readings stored",
        found=f"{len(lost)} refused lines never sent again; {stored} stored"
        if refused
        else f"no write reached the server; {bridge.report('bridge')}",
        hint="WriteOptions(max_retries=..., retry_interval=...): the client waits as "
        "Retry-After says and sends the batch again",
    )
