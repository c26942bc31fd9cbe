"""Simulated IoT sensors publishing telemetry over MQTT, for the IoT-pipeline lab.

Students run it to feed their MQTT -> InfluxDB bridge; the grader runs it to
publish a known stream and then checks what reached the database. Both need
the same stream from the same seed, so generation is a pure function of its
arguments and publishing is a separate step.

Message contract
----------------
Topic: ``{prefix}/{device}/telemetry`` (default prefix ``labs/devices``).

Payload: a UTF-8 JSON object::

    {"device": "dev-001", "ts": 1700000000000, "temperature": 21.0, "humidity": 45.37}

- ``device``: a non-empty string, the same as the topic's device segment;
- ``ts``: the reading's time as an integer count of milliseconds since the
  Unix epoch (UTC), never negative;
- ``temperature``: degrees Celsius, a JSON number;
- ``humidity``: relative humidity in percent, a JSON number.

A valid reading is exactly that; extra keys are allowed and ignored. The
simulator always writes the two measurements with a decimal point (``21.0``,
never ``21``), so a bridge must store them as float fields: InfluxDB rejects
an integer written to a field that already holds floats. Within one device the
timestamps strictly increase, so ``(device, ts)`` identifies a reading and a
reading stored twice is a duplicate.

Anything else is malformed and a bridge must skip it without crashing. The
simulator can mix in these kinds (:data:`MALFORMED_KINDS`): ``not_json``,
``missing_field``, ``non_numeric``, ``null_device``, ``empty_device`` and
``bad_ts``; :func:`parse_payload` is the contract as code.

Command line (``--help`` for all options)::

    python -m influx_labs.simulators.iot --devices 5 --count 100 --rate 10 --seed 42 --malformed 0.1
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

DEFAULT_PREFIX = "labs/devices"
FIELDS = ("device", "ts", "temperature", "humidity")
MALFORMED_KINDS = (
    "not_json",
    "missing_field",
    "non_numeric",
    "null_device",
    "empty_device",
    "bad_ts",
)
VALID = "valid"
# InfluxDB stores nanoseconds in a signed 64-bit integer: the last millisecond it can hold.
MAX_TS_MS = (2**63 - 1) // 1_000_000
# A JSON number no float can hold: json gives Python an int; math.isfinite() overflows on it.
HUGE_NUMBER = 10**400

# Unacknowledged QoS>0 messages allowed at once. paho numbers messages with
# 16-bit ids, so fewer than 65535 may be outstanding; within that, a larger
# window measured faster (fewer stalls, acks handled in bigger batches:
# ~15k msg/s at 512, ~25k at 4096, ~30k at 32768 on a 2-core machine).
ACK_WINDOW = 32_768
KEEPALIVE_SECONDS = 60
# Every WHOLE_EVERY-th reading of a device is a whole number (21.0), the value
# that exposes bridges which turn floats into integers.
WHOLE_EVERY = 10


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor reading, as the contract defines it."""

    device: str
    ts_ms: int
    temperature: float
    humidity: float


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message, payload pre-encoded so publishing costs no JSON work.

    ``reading`` is None for a malformed message, whose ``kind`` names the
    defect; a valid message has kind ``"valid"``.
    """

    topic: str
    payload: bytes
    reading: Reading | None
    kind: str


@dataclass(frozen=True, slots=True)
class PublishStats:
    """What :func:`publish` sent and how fast (messages per second)."""

    sent: int
    seconds: float
    rate: float


class MalformedPayload(ValueError):
    """A payload breaks the contract; ``kind`` is one of :data:`MALFORMED_KINDS`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


# --------------------------------------------------------------------------- contract


def topic_for(prefix: str, device: str) -> str:
    """The telemetry topic of one device."""
    return f"{prefix}/{device}/telemetry"


def device_name(index: int) -> str:
    """``dev-001`` for index 0: zero-padded so names sort in device order."""
    return f"dev-{index + 1:03d}"


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python, but ``true`` is no temperature.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _load_object(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload("not_json", str(exc)) from exc
    if not isinstance(body, dict):
        raise MalformedPayload("not_json", f"a JSON {type(body).__name__}, not an object")
    return body


def _check_device(device: object) -> str:
    if device is None:
        raise MalformedPayload("null_device", "device is null")
    if not isinstance(device, str):
        raise MalformedPayload("null_device", f"device is a {type(device).__name__}")
    if not device:
        raise MalformedPayload("empty_device", "device is an empty string")
    return device


def _check_ts(ts: object) -> int:
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise MalformedPayload("bad_ts", f"ts {ts!r} is not an integer")
    if ts < 0:
        raise MalformedPayload("bad_ts", f"ts {ts} is negative")
    if ts > MAX_TS_MS:
        raise MalformedPayload("bad_ts", f"ts {ts} is past what InfluxDB stores (2262)")
    return ts


def _finite(value: float | int) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer too large for any float
        return False


def _check_measure(name: str, value: object) -> float:
    if not _is_number(value) or not _finite(value):  # type: ignore[arg-type]
        shown = str(value)[:40]
        raise MalformedPayload("non_numeric", f"{name} {shown} is not a finite number")
    return float(value)  # type: ignore[arg-type]


def parse_payload(payload: bytes) -> Reading:
    """The reading in a payload, or :class:`MalformedPayload` saying which rule it breaks."""
    body = _load_object(payload)
    missing = [key for key in FIELDS if key not in body]
    if missing:
        raise MalformedPayload("missing_field", f"no {', '.join(missing)}")
    return Reading(
        device=_check_device(body["device"]),
        ts_ms=_check_ts(body["ts"]),
        temperature=_check_measure("temperature", body["temperature"]),
        humidity=_check_measure("humidity", body["humidity"]),
    )


def _as_object(reading: Reading) -> dict[str, Any]:
    return {
        "device": reading.device,
        "ts": reading.ts_ms,
        "temperature": reading.temperature,
        "humidity": reading.humidity,
    }


def _encode(body: dict[str, Any]) -> bytes:
    # json writes a float with its decimal point (21.0 -> "21.0"): keep floats floats.
    return json.dumps(body).encode()


def encode_reading(reading: Reading) -> bytes:
    """The contract's payload for a reading."""
    return _encode(_as_object(reading))


# --------------------------------------------------------------------------- generation


@dataclass
class _Walk:
    """One device's random-walk state: values drift around a per-device baseline."""

    base_temperature: float
    base_humidity: float
    temperature: float
    humidity: float

    @classmethod
    def start(cls, rng: random.Random) -> _Walk:
        base_t, base_h = rng.uniform(18.0, 26.0), rng.uniform(35.0, 60.0)
        return cls(base_t, base_h, float(round(base_t)), float(round(base_h)))

    def step(self, rng: random.Random) -> None:
        # Mean reversion keeps a long run realistic instead of wandering off to 80 °C.
        pull_t = 0.05 * (self.base_temperature - self.temperature)
        pull_h = 0.05 * (self.base_humidity - self.humidity)
        self.temperature = _clamp(self.temperature + pull_t + rng.gauss(0.0, 0.15), -20.0, 50.0)
        self.humidity = _clamp(self.humidity + pull_h + rng.gauss(0.0, 0.4), 0.0, 100.0)


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _rounded(value: float, whole: bool) -> float:
    return float(round(value)) if whole else round(value, 2)


def _check_generate_args(
    devices: int, count: int, start_ms: int, interval_ms: int, ratio: float, prefix: str
) -> None:
    if devices < 1:
        raise ValueError(f"devices must be at least 1, not {devices}")
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    if start_ms < 0 or interval_ms < 1:
        raise ValueError("start_ms must be >= 0 and interval_ms >= 1")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"malformed_ratio must be between 0 and 1, not {ratio}")
    check_prefix(prefix)


def check_prefix(prefix: str) -> str:
    """Reject prefixes that would make invalid or ambiguous topics; return the prefix."""
    if not prefix or prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must be non-empty, without a leading/trailing /")
    if any(c in prefix for c in "+#\x00") or " " in prefix:
        raise ValueError(f"prefix {prefix!r} must not contain wildcards (+ #), NUL or spaces")
    return prefix


def _readings(
    devices: int, count: int, rng: random.Random, start_ms: int, interval_ms: int
) -> list[Reading]:
    """Round-robin over devices, so the list is in time order.

    Device ``d``'s ``k``-th reading is at ``start + k*interval + d*interval/devices``:
    each device has its own regular clock, and the devices are staggered within
    an interval the way real sensors are.
    """
    names = [device_name(d) for d in range(devices)]
    offsets = [d * interval_ms // devices for d in range(devices)]
    walks = [_Walk.start(rng) for _ in range(devices)]
    readings = []
    for index in range(count):
        step, d = divmod(index, devices)
        walk = walks[d]
        if step:
            walk.step(rng)
        readings.append(
            Reading(
                device=names[d],
                ts_ms=start_ms + step * interval_ms + offsets[d],
                temperature=_rounded(walk.temperature, step % WHOLE_EVERY == 0),
                humidity=_rounded(walk.humidity, step % WHOLE_EVERY == WHOLE_EVERY // 2),
            )
        )
    return readings


def _not_json(reading: Reading, rng: random.Random) -> bytes:
    whole = encode_reading(reading)
    return rng.choice(
        [
            f"temperature={reading.temperature}".encode(),  # line-protocol habits
            whole[: len(whole) // 2],  # a truncated object
            f"{reading.device},{reading.ts_ms},{reading.temperature}".encode(),  # CSV
        ]
    )


def _missing_field(reading: Reading, rng: random.Random) -> bytes:
    body = _as_object(reading)
    del body[rng.choice(FIELDS)]
    return _encode(body)


def _non_numeric(reading: Reading, rng: random.Random) -> bytes:
    body = _as_object(reading)
    field = rng.choice(("temperature", "humidity"))
    decimal_comma = f"{body[field]:.1f}".replace(".", ",")  # "21,5": a locale bug
    body[field] = rng.choice(
        ["hot" if field == "temperature" else "wet", decimal_comma, HUGE_NUMBER]
    )
    return _encode(body)


def _null_device(reading: Reading, rng: random.Random) -> bytes:
    return _encode({**_as_object(reading), "device": None})


def _empty_device(reading: Reading, rng: random.Random) -> bytes:
    return _encode({**_as_object(reading), "device": ""})


def _bad_ts(reading: Reading, rng: random.Random) -> bytes:
    iso = datetime.fromtimestamp(reading.ts_ms / 1000, UTC).isoformat()
    past_int64 = MAX_TS_MS + 1 + reading.ts_ms  # an integer, and still wrong
    bad = rng.choice([str(reading.ts_ms), iso, -max(reading.ts_ms, 1), past_int64])
    return _encode({**_as_object(reading), "ts": bad})


_MALFORMERS: dict[str, Callable[[Reading, random.Random], bytes]] = {
    "not_json": _not_json,
    "missing_field": _missing_field,
    "non_numeric": _non_numeric,
    "null_device": _null_device,
    "empty_device": _empty_device,
    "bad_ts": _bad_ts,
}


def _malformed_slots(count: int, ratio: float, rng: random.Random) -> dict[int, str]:
    """Which message indexes are malformed, and how: kinds cycle in time order."""
    chosen = sorted(rng.sample(range(count), round(count * ratio)))
    return {index: MALFORMED_KINDS[n % len(MALFORMED_KINDS)] for n, index in enumerate(chosen)}


def generate(
    devices: int,
    count: int,
    *,
    seed: int,
    start_ms: int,
    interval_ms: int = 1000,
    malformed_ratio: float = 0.0,
    prefix: str = DEFAULT_PREFIX,
) -> list[Message]:
    """``count`` messages from ``devices`` devices, in time order; the same for the same seed.

    The readings depend only on ``seed`` and the shape arguments, not on
    ``malformed_ratio``: the faults come from their own random stream and
    replace readings, so a run with faults is the clean run with holes in it.
    """
    _check_generate_args(devices, count, start_ms, interval_ms, malformed_ratio, prefix)
    readings = _readings(devices, count, random.Random(seed), start_ms, interval_ms)
    faults = random.Random(f"faults:{seed}")
    slots = _malformed_slots(count, malformed_ratio, faults)
    messages = []
    for index, reading in enumerate(readings):
        topic = topic_for(prefix, reading.device)
        kind = slots.get(index)
        if kind is None:
            messages.append(Message(topic, encode_reading(reading), reading, VALID))
        else:
            messages.append(Message(topic, _MALFORMERS[kind](reading, faults), None, kind))
    return messages


def valid_readings(messages: Sequence[Message]) -> list[Reading]:
    """The readings a correct bridge stores: those of the valid messages."""
    return [m.reading for m in messages if m.reading is not None]


# --------------------------------------------------------------------------- publishing

_PUBACK_OK = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)
_LEAN_ACK_NEEDS = (
    "_in_packet",
    "_out_messages",
    "_out_message_mutex",
    "_inflight_messages",
    "_max_inflight_messages",
    "_protocol",
)


class _SimulatorClient(mqtt.Client):
    """paho's client with a lean path for MQTT 3.1.1 PUBACKs.

    Why: for every PUBACK paho builds a ReasonCode and a Properties object
    (MQTT 5 structures a 3.1.1 PUBACK does not even carry), which costs more
    than the publish itself and halves QoS 1 throughput. A 3.1.1 PUBACK is just
    a 16-bit message id, so this path pops the message and reports it, as paho
    does when in-flight messages are unlimited. It relies on paho internals,
    so it switches itself off (falling back to paho's path) if they change.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lean_acks = all(hasattr(self, name) for name in _LEAN_ACK_NEEDS) and hasattr(
            mqtt.MQTTMessageInfo, "_set_as_published"
        )

    def _handle_pubackcomp(self, cmd: Any) -> mqtt.MQTTErrorCode:
        packet = self._in_packet["packet"] if self._lean_acks else b""
        if (
            cmd != "PUBACK"
            or len(packet) != 2
            or self._protocol == mqtt.MQTTv5
            or self._max_inflight_messages != 0
        ):
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            message = self._out_messages.pop(mid, None)
            if message is None:  # an ack for a message already acknowledged
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
            self._inflight_messages -= 1
        callback = self.on_publish
        if callback is not None:
            callback(self, self.user_data_get(), mid, _PUBACK_OK, _NO_PROPERTIES)
        message.info._set_as_published()
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS


class _AckCounter:
    """Acknowledgements counted on paho's network thread, awaited on the caller's.

    The network thread only increments and notifies when someone waits, so the
    common case (the window is not full) costs no lock.
    """

    def __init__(self) -> None:
        self.acked = 0
        self.lost: str | None = None
        self._waiting = False
        self._cond = threading.Condition()

    def on_ack(self) -> None:
        self.acked += 1
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def on_lost(self, reason: str) -> None:
        with self._cond:
            self.lost = reason
            self._cond.notify_all()

    def wait_for(self, target: int, deadline: float) -> bool:
        """True once ``target`` messages are acknowledged; False on timeout or a lost link."""
        with self._cond:
            self._waiting = True
            try:
                while self.acked < target and self.lost is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, 0.1))
            finally:
                self._waiting = False
        return self.acked >= target


class _Publisher:
    """One connection that publishes one batch: connect, send, await acks, disconnect."""

    def __init__(self, host: str, port: int, qos: int, client_id: str, timeout: float) -> None:
        self.address = f"{host}:{port}"
        self.host, self.port, self.qos, self.timeout = host, port, qos, timeout
        self.acks = _AckCounter()
        self._connack = threading.Event()
        self._refused: str | None = None
        self.client = self._make_client(client_id)

    def _make_client(self, client_id: str) -> mqtt.Client:
        client = _SimulatorClient(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        # Unlimited for paho: the ACK_WINDOW below bounds what is outstanding. With
        # a paho limit, every ack rescans the whole queue (quadratic on 100k).
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)  # never drop a message for a full queue
        client.connect_timeout = min(self.timeout, 5.0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        if self.qos > 0:
            # Only for QoS>0: at QoS 0 paho would build two objects per message to
            # call it; the last message's info tells when everything is written.
            client.on_publish = self._on_publish
        return client

    # paho's VERSION2 callbacks; they run on paho's network thread.
    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        self._connack.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.acks.on_lost(str(reason))
        self._connack.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, _r: Any, _p: Any) -> None:
        self.acks.on_ack()

    def open(self) -> None:
        """Connect and wait for the CONNACK, turning every failure into a clear error."""
        try:
            # connect() before loop_start(): the other order makes paho's thread
            # sleep a second before it first looks at the socket.
            self.client.connect(self.host, self.port, keepalive=KEEPALIVE_SECONDS)
        except (OSError, ValueError) as exc:
            raise ConnectionError(
                f"cannot connect to the MQTT broker at {self.address}: {exc}"
            ) from exc
        self.client.loop_start()
        if not self._connack.wait(self.timeout):
            raise TimeoutError(f"{self.address} accepted TCP but sent no MQTT CONNACK")
        if self._refused is not None:
            raise ConnectionError(f"the MQTT broker at {self.address} refused: {self._refused}")
        if self.acks.lost is not None:
            raise ConnectionError(f"{self.address} closed the connection: {self.acks.lost}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _lost(self, sent: int) -> ConnectionError:
        return ConnectionError(
            f"lost the connection to the MQTT broker at {self.address} after {sent} "
            f"messages ({self.acks.acked} acknowledged): {self.acks.lost or 'not connected'}"
        )

    def _timed_out(self, sent: int) -> TimeoutError:
        return TimeoutError(
            f"the MQTT broker at {self.address} acknowledged {self.acks.acked} of {sent} "
            f"messages within {self.timeout:g}s"
        )

    def _await_acks(self, target: int, sent: int) -> None:
        if not self.acks.wait_for(target, time.monotonic() + self.timeout):
            raise self._lost(sent) if self.acks.lost else self._timed_out(sent)

    def send(self, messages: Sequence[Message], rate: float | None) -> mqtt.MQTTMessageInfo | None:
        """Publish every message, paced to ``rate`` if given; returns the last one's info."""
        publish, qos, acks = self.client.publish, self.qos, self.acks
        started = time.perf_counter()
        info = None
        for index, message in enumerate(messages):
            if rate is not None:
                _sleep_until(started + index / rate)
            if qos and index - acks.acked >= ACK_WINDOW:
                self._await_acks(index - ACK_WINDOW // 2, index)
            info = publish(message.topic, message.payload, qos)
            if info.rc:
                raise self._lost(index)
        return info

    def finish(self, sent: int, last: mqtt.MQTTMessageInfo | None) -> None:
        """Return once the broker has everything: all acks, or at QoS 0 all bytes written."""
        if self.qos:
            self._await_acks(sent, sent)
            return
        deadline = time.monotonic() + self.timeout
        while last is not None and not last.is_published():
            if self.acks.lost is not None:
                raise self._lost(sent)
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not write {sent} messages to {self.address} in time")
            last.wait_for_publish(0.05)


def _sleep_until(due: float) -> None:
    # Sleeping until an absolute time (not "1/rate after the previous send")
    # keeps the average rate exact however long each publish takes.
    delay = due - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def publish(
    messages: Sequence[Message],
    host: str,
    port: int,
    *,
    qos: int = 1,
    rate: float | None = None,
    client_id: str | None = None,
    timeout: float = 30.0,
) -> PublishStats:
    """Publish ``messages`` in order and return once the broker has all of them.

    ``rate`` is in messages per second over all devices (None: as fast as
    possible). Raises ConnectionError when the broker cannot be reached, refuses
    or drops the connection, and TimeoutError when the CONNACK or the
    acknowledgements take longer than ``timeout`` seconds.
    """
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, not {qos}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    publisher = _Publisher(
        host, port, qos, client_id or f"iot-sim-{uuid.uuid4().hex[:12]}", timeout
    )
    try:
        publisher.open()
        started = time.perf_counter()
        last = publisher.send(messages, rate)
        publisher.finish(len(messages), last)
        seconds = time.perf_counter() - started
    finally:
        publisher.close()
    return PublishStats(len(messages), seconds, len(messages) / seconds if seconds > 0 else 0.0)


# --------------------------------------------------------------------------- command line


def _default_broker() -> tuple[str, int]:
    """MQTT_HOST/MQTT_PORT from the environment, then from the project's ``.env``."""
    from ..settings import load_settings

    try:
        settings = load_settings()
    except ValueError:  # a broken .env must not stop a simulator given --host/--port
        return "127.0.0.1", 1883
    return settings.mqtt_host, settings.mqtt_port


def _parser(host: str, port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m influx_labs.simulators.iot",
        description="Publish simulated sensor telemetry to MQTT (contract: see the module doc).",
    )
    parser.add_argument("--devices", type=int, default=5, help="number of devices (default 5)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--count", type=int, help="messages in all, over all devices (default 100)")
    size.add_argument(
        "--duration",
        type=float,
        help="seconds to run instead of --count: count = devices * duration * rate",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="readings per second per device; also sets their spacing in time to 1/rate. "
        "Default: publish as fast as possible, readings 1 s apart",
    )
    parser.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    parser.add_argument("--malformed", type=float, default=0.0, help="fraction of bad messages")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"topic prefix ({DEFAULT_PREFIX})")
    parser.add_argument("--start-ms", type=int, help="first timestamp, epoch ms (default: now)")
    parser.add_argument("--host", default=host, help=f"broker host (MQTT_HOST, now {host})")
    parser.add_argument(
        "--port", type=int, default=port, help=f"broker port (MQTT_PORT, now {port})"
    )
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for acks")
    parser.add_argument("--dry-run", action="store_true", help="print 'topic payload' lines only")
    return parser


def _message_count(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    if args.duration is None:
        return 100 if args.count is None else args.count
    if args.rate is None:
        parser.error("--duration needs --rate (readings per second per device)")
    return round(args.devices * args.duration * args.rate)


def _generate_from(args: argparse.Namespace, count: int) -> list[Message]:
    return generate(
        args.devices,
        count,
        seed=args.seed,
        start_ms=args.start_ms if args.start_ms is not None else time.time_ns() // 1_000_000,
        interval_ms=max(1, round(1000 / args.rate)) if args.rate else 1000,
        malformed_ratio=args.malformed,
        prefix=args.prefix,
    )


def _describe(messages: Sequence[Message], args: argparse.Namespace) -> str:
    bad = sum(1 for m in messages if m.reading is None)
    return (
        f"{len(messages)} messages ({len(messages) - bad} valid, {bad} malformed) "
        f"from {args.devices} devices on {args.prefix}/+/telemetry, seed {args.seed}"
    )


def _dry_run(messages: Sequence[Message], args: argparse.Namespace) -> int:
    out = sys.stdout
    for message in messages:
        out.write(f"{message.topic} {message.payload.decode(errors='replace')}\n")
    print(f"dry run: {_describe(messages, args)}; nothing published", file=sys.stderr)
    return 0


def _publish_run(messages: Sequence[Message], args: argparse.Namespace) -> int:
    rate = args.rate * args.devices if args.rate else None
    try:
        stats = publish(
            messages, args.host, args.port, qos=args.qos, rate=rate, timeout=args.timeout
        )
    except (ConnectionError, TimeoutError) as exc:
        print(
            f"error: {exc}\n(is the broker running? set --host/--port or MQTT_HOST/MQTT_PORT)",
            file=sys.stderr,
        )
        return 2
    print(
        f"published {_describe(messages, args)} to {args.host}:{args.port} at qos {args.qos} "
        f"in {stats.seconds:.2f}s ({stats.rate:,.0f} msg/s)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator command line; returns the exit status."""
    parser = _parser(*_default_broker())
    args = parser.parse_args(argv)
    count = _message_count(args, parser)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    try:
        messages = _generate_from(args, count)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return _dry_run(messages, args) if args.dry_run else _publish_run(messages, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
