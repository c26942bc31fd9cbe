"""Toxiproxy of one's own: TCP faults between a client and a real server.

    with Toxiproxy() as toxi:
        port = toxi.proxy("influxdb", "127.0.0.1:8086")   # clients connect here
        toxi.add("influxdb", "reset_peer", timeout=0)      # every connection reset
        toxi.remove("influxdb", "reset_peer")

It runs Shopify's ``toxiproxy-server`` (built from its Go module by
scripts/build-native.sh) on a free loopback port and drives it through its HTTP
API: the same server and toxics (``latency``, ``timeout``, ``reset_peer``,
``bandwidth``, ``slicer``...) a student can run against their own stack.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import requests

from .base import ServiceError
from .binaries import find_toxiproxy
from .process import LocalService, ManagedProcess, free_port


class Toxiproxy(LocalService):
    """``with Toxiproxy() as toxi:`` then ``proxy()``, ``add()``, ``remove()``."""

    def __init__(self, startup_timeout: float = 10.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="influx-labs-toxiproxy-")
        self.api = f"http://127.0.0.1:{free_port()}"
        self.startup_timeout = startup_timeout
        self._http = requests.Session()
        self._process: ManagedProcess | None = None

    def start(self) -> None:
        port = self.api.rsplit(":", 1)[1]
        argv = [str(find_toxiproxy()), "-host", "127.0.0.1", "-port", port]
        log = Path(self._tmp.name) / "toxiproxy.log"
        self._process = ManagedProcess("toxiproxy", argv, log, cwd=Path(self._tmp.name))
        self._process.start()
        self._process.wait_ready(
            lambda: self._http.get(f"{self.api}/version", timeout=1).raise_for_status(),
            self.startup_timeout,
            (requests.RequestException,),
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        self._http.close()

    def proxy(self, name: str, upstream: str) -> int:
        """A proxy from a new loopback port to ``upstream`` (``host:port``); the port."""
        port = free_port()
        self._call(
            "POST",
            "/proxies",
            {"name": name, "listen": f"127.0.0.1:{port}", "upstream": upstream, "enabled": True},
        )
        return port

    def add(self, proxy: str, kind: str, *, stream: str = "downstream", **attributes: Any) -> None:
        """Add toxic ``kind`` (named after it) to every connection through ``proxy``."""
        body = {"name": kind, "type": kind, "stream": stream, "attributes": attributes}
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def remove(self, proxy: str, kind: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{kind}")

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        answer = self._http.request(method, f"{self.api}{path}", json=body, timeout=5)
        if answer.status_code >= 300:
            raise ServiceError(f"toxiproxy {method} {path}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None
