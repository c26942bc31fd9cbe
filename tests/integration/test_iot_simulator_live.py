"""The IoT simulator against a real Mosquitto: what it publishes is what a subscriber gets.

Also the failures a student meets first (no broker, a broker that never
answers) end quickly with a clear error instead of hanging the lab or the
grader.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import pytest

from influx_labs.services.base import BrokerEndpoint
from influx_labs.services.process import free_port
from influx_labs.simulators import iot
from influx_labs.simulators.iot import Message, generate, publish

pytestmark = pytest.mark.timeout(90)

START = 1_700_000_000_000
MODULE = [sys.executable, "-m", "influx_labs.simulators.iot"]


class Subscriber:
    """A paho subscriber on ``{prefix}/#`` that records every (topic, payload) it receives."""

    def __init__(self, broker: BrokerEndpoint, prefix: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{prefix}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the subscription was never acknowledged"

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append((message.topic, message.payload))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[str, bytes]]:
        """What arrived once ``count`` messages did (or the time ran out), plus any extras."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
        time.sleep(0.3)  # room for unexpected extra messages to show up
        with self._cond:
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def subscribed(broker: BrokerEndpoint, prefix: str) -> Iterator[Subscriber]:
    subscriber = Subscriber(broker, prefix)
    try:
        yield subscriber
    finally:
        subscriber.close()


@pytest.fixture
def prefix() -> str:
    return f"test/{uuid.uuid4().hex[:10]}"


def _wire(messages: list[Message]) -> Counter[tuple[str, bytes]]:
    return Counter((m.topic, m.payload) for m in messages)


@pytest.mark.parametrize("qos", [1, 0])
def test_subscriber_receives_exactly_the_published_stream(mqtt_broker, prefix, qos):
    messages = generate(5, 500, seed=11, start_ms=START, malformed_ratio=0.1, prefix=prefix)
    with subscribed(mqtt_broker, prefix) as subscriber:
        stats = publish(messages, mqtt_broker.host, mqtt_broker.port, qos=qos)
        received = subscriber.wait_for(len(messages))
    assert stats.sent == 500 and stats.seconds > 0 and stats.rate > 0
    assert Counter(received) == _wire(messages)
    assert sum(m.reading is None for m in messages) == 50


def test_a_full_ack_window_waits_and_loses_nothing(mqtt_broker, prefix, monkeypatch):
    # Streams longer than the window must stall for acks, not drop or reuse message ids.
    monkeypatch.setattr(iot, "ACK_WINDOW", 16)
    messages = generate(3, 400, seed=4, start_ms=START, prefix=prefix)
    with subscribed(mqtt_broker, prefix) as subscriber:
        publish(messages, mqtt_broker.host, mqtt_broker.port, qos=1)
        received = subscriber.wait_for(len(messages))
    assert Counter(received) == _wire(messages)


def test_a_burst_waits_for_a_subscriber_that_falls_behind(mqtt_broker, prefix):
    # The subscriber takes nothing while 5,000 QoS 1 messages are published (a bridge
    # busy writing): the broker must queue them all. Mosquitto's default queue (1000)
    # drops the rest; the labs' broker is configured for bursts (max_queued_messages).
    messages = generate(5, 5000, seed=8, start_ms=START, prefix=prefix)
    gate = threading.Event()
    with subscribed(mqtt_broker, prefix) as subscriber:
        taken = subscriber.client.on_message
        subscriber.client.on_message = lambda *args: (gate.wait(30), taken(*args))
        publish(messages, mqtt_broker.host, mqtt_broker.port, qos=1)
        gate.set()
        received = subscriber.wait_for(len(messages), timeout=30)
    assert Counter(received) == _wire(messages)


def test_rate_paces_the_sends(mqtt_broker, prefix):
    messages = generate(2, 60, seed=1, start_ms=START, prefix=prefix)
    stats = publish(messages, mqtt_broker.host, mqtt_broker.port, rate=100.0)
    # 60 sends at 100/s: the last one is due 0.59 s after the first.
    assert 0.55 <= stats.seconds < 3.0
    assert stats.rate == pytest.approx(60 / stats.seconds)


def test_refused_port_raises_connection_error_quickly():
    port = free_port()
    messages = generate(1, 5, seed=1, start_ms=START)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        publish(messages, "127.0.0.1", port, timeout=30.0)
    assert time.monotonic() - started < 5.0


@contextmanager
def fake_broker(send_connack: bool) -> Iterator[int]:
    """A TCP server that accepts, maybe answers CONNECT, then never acknowledges anything."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        held.append(conn)
        conn.recv(1024)  # the CONNECT
        if send_connack:
            conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize(
    ("send_connack", "window"),
    [(False, 4096), (True, 4096), (True, 8)],
    ids=["no-connack", "no-puback", "no-puback-full-window"],
)
def test_a_silent_broker_times_out_instead_of_hanging(send_connack, window, monkeypatch):
    monkeypatch.setattr(iot, "ACK_WINDOW", window)
    messages = generate(1, 20, seed=1, start_ms=START)
    with fake_broker(send_connack) as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
            publish(messages, "127.0.0.1", port, qos=1, timeout=1.0)
    assert time.monotonic() - started < 5.0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MODULE, *args], capture_output=True, text=True, timeout=60)


def test_cli_dry_run_prints_one_line_per_message():
    result = _cli(
        "--devices", "4", "--count", "37", "--seed", "5", "--malformed", "0.2", "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 37
    assert all(line.startswith("labs/devices/dev-00") for line in lines)
    assert "37 messages" in result.stderr


def test_cli_duration_means_devices_times_duration_times_rate():
    result = _cli("--devices", "3", "--duration", "2", "--rate", "5", "--seed", "1", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 30


def test_cli_against_a_dead_port_exits_2_with_a_message():
    port = free_port()
    result = _cli("--host", "127.0.0.1", "--port", str(port), "--count", "5")
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_publishes_to_the_broker(mqtt_broker, prefix):
    args = ["--devices", "2", "--count", "40", "--seed", "9", "--malformed", "0.1"]
    args += ["--prefix", prefix, "--start-ms", str(START)]
    expected = generate(2, 40, seed=9, start_ms=START, malformed_ratio=0.1, prefix=prefix)
    with subscribed(mqtt_broker, prefix) as subscriber:
        result = _cli(*args, "--host", mqtt_broker.host, "--port", str(mqtt_broker.port))
        received = subscriber.wait_for(40)
    assert result.returncode == 0, result.stderr
    assert "published 40 messages (36 valid, 4 malformed)" in result.stdout
    assert Counter(received) == _wire(expected)
