"""A Mosquitto broker of one's own: a check that must restart the broker, or see how a
client subscribed, cannot do either on the broker a whole class shares.

It runs the same Debian ``mosquitto`` as the native backend, on a free loopback port
that stays the same across restarts, and logs each subscription as ``CLIENT QOS FILTER``.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .base import BrokerEndpoint, ServiceDown
from .binaries import find_mosquitto
from .native import mosquitto_conf
from .process import LocalService, ManagedProcess, free_port

_SUBSCRIBED = re.compile(r"^\d+: (\S+) ([0-2]) (\S+)$")


@dataclass(frozen=True)
class Subscription:
    """One SUBSCRIBE the broker accepted: who, which filter, at which QoS."""

    client: str
    qos: int
    topic: str


class LocalBroker(LocalService):
    """``with LocalBroker() as broker:`` then ``broker.endpoint``, ``broker.restart()``,
    ``broker.subscriptions()``. Raises a ServiceError subclass if Mosquitto cannot run."""

    def __init__(self, startup_timeout: float = 10.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="influx-labs-broker-")
        self.workdir = Path(self._tmp.name)
        self.endpoint = BrokerEndpoint("127.0.0.1", free_port())
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            mosquitto_conf(self.endpoint.port, self.workdir, False, log_subscriptions=True)
        )
        self.log = self.workdir / "mosquitto.log"
        self.startup_timeout = startup_timeout
        self._process: ManagedProcess | None = None

    def start(self) -> None:
        argv = [str(find_mosquitto()), "-c", str(self.conf)]
        self._process = ManagedProcess("mosquitto", argv, self.log, cwd=self.workdir)
        self._process.start()
        self._process.wait_ready(
            lambda: self.endpoint.check(timeout=1), self.startup_timeout, (ServiceDown,)
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the broker (its clients lose their connection), wait, start it again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def subscriptions(self) -> list[Subscription]:
        """Every subscription made since the first start, in order."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        found = (_SUBSCRIBED.match(line) for line in lines)
        return [Subscription(m[1], int(m[2]), m[3]) for m in found if m]

    def wait_for_subscription(self, topic: str, timeout: float) -> Subscription | None:
        """The first subscription to ``topic``, once the broker has it; None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((s for s in self.subscriptions() if s.topic == topic), None)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)
