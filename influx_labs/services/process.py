"""Child server processes that never outlive the caller.

A test run that crashes or is killed must not leave ``influxd`` or
``mosquitto`` behind holding ports and disk. Each child is started in its own
process group (so a terminal's Ctrl-C reaches us, not it, and we can kill it
with everything it spawned) and, unless detached, with ``PR_SET_PDEATHSIG``
so that the kernel kills it if we die without running any cleanup.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

from .base import PortInUse, ServiceStartError

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGKILL this child when the thread that spawned it exits."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_owner(port: int) -> str:
    """A readable guess at who holds a port: ``pid 123 (influxd)`` or ``another process``."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="inet"):
            listening = conn.status == psutil.CONN_LISTEN
            if listening and conn.laddr and conn.laddr.port == port and conn.pid:
                with contextlib.suppress(psutil.Error):
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f"pid {conn.pid}"
    return "another process"


def ensure_port_free(port: int, what: str, setting: str) -> None:
    """Raise :class:`PortInUse` naming the owner if ``port`` cannot be bound on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: connections left in TIME_WAIT by a
        # previous run do not make a port busy, only a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(
                f"{what} needs port {port} on 127.0.0.1, but it is in use by {port_owner(port)}. "
                f"Stop that process, or choose another port ({setting})."
            ) from exc


class LocalService:
    """A server of one's own, in a temporary folder (``self._tmp``): ``with`` starts it,
    and stops it and removes the folder at the end. Subclasses define start() and stop()."""

    _tmp: tempfile.TemporaryDirectory

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()


class ManagedProcess:
    """One server process with its log file, started and stopped as a unit."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        detached: bool = False,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.detached = detached
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=None if self.detached or sys.platform != "linux" else die_with_parent,
            )

    def exit_code(self) -> int | None:
        """``None`` while running, else the exit status (negative: killed by that signal)."""
        return self.popen.poll() if self.popen else None

    def wait_ready(
        self, probe: Callable[[], object], timeout: float, errors: tuple[type[Exception], ...]
    ) -> None:
        """Call ``probe`` until it raises none of ``errors``. If the process exits or
        ``timeout`` passes first, stop it and raise ServiceStartError with its log's end."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                probe()
                return
            except errors:
                if self.exit_code() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ServiceStartError(
                        f"{self.name} did not start: {self.log_tail()}"
                    ) from None
                time.sleep(0.05)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the process log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``timeout``."""
        if self.popen is None or self.popen.poll() is not None:
            return
        terminate_group(self.popen.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1)


def terminate_group(pid: int, timeout: float = 10.0) -> None:
    """Stop a process and its group: SIGTERM, wait up to ``timeout``, then SIGKILL."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def process_gone(pid: int) -> bool:
    """Whether a process has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
