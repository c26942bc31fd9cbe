"""Faults put between the student's code and the real servers.

``FaultProxy``: an HTTP proxy in front of the real InfluxDB.

Some answers a client must handle never come from an InfluxDB OSS server: a 429 from
InfluxDB Cloud's rate limiter or from a gateway, a 503 with Retry-After from a load
balancer while the server restarts. A check points the student's code at this proxy
(``INFLUXDB_V2_URL``): every request is forwarded to the real server unchanged, except
the ones a check has queued a fault for (``fail_next``) and those during an outage
(``fail_for``), which get that answer instead.

``SlowUplink``: a TCP relay that delays what a client sends (e.g. to the MQTT broker),
so that a client acting before the server has answered shows.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import queue
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import NamedTuple
from urllib.parse import urlsplit

WRITE = "/api/v2/write"  # the path of InfluxDB's write API, which most faults aim at
# Hop-by-hop headers are the proxy's own business on each side (RFC 9110, 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class Seen(NamedTuple):
    """A request as the proxy saw it: the body uncompressed, ``at`` on the monotonic clock."""

    method: str
    path: str
    body: bytes
    at: float


class Answer(NamedTuple):
    """The server's answer to a forwarded request: its status and body, and ``at``, when
    the proxy passed it back (monotonic clock)."""

    request: Seen
    status: int
    body: bytes
    at: float


@dataclass
class Fault:
    """An answer to give instead of forwarding: status, InfluxDB's JSON error body (or
    ``body`` as it is, e.g. a gateway's HTML page), extra headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    path: str = ""  # only a request whose path starts with this gets the fault
    carrying: bytes = b""  # ... and whose body (uncompressed) contains this
    # Retry-After as an HTTP-date this many seconds after the moment of answering.
    retry_date_in: float | None = None
    # No answer at all, the connection closed instead: "before" the request reaches the
    # server (a network cut, a server down) or "after" it did (the answer lost on the way).
    cut: str = ""


def cut(when: str = "before", path: str = WRITE) -> Fault:
    """A connection closed without an answer, ``before`` or ``after`` the server got it."""
    return Fault(0, "", "", path=path, cut=when)


class FaultProxy:
    """``with FaultProxy(upstream) as proxy:`` then ``proxy.url``, ``proxy.fail_next(...)``."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self._host, self._port = target.hostname or "127.0.0.1", target.port or 80
        self._faults: deque[Fault] = deque()
        self._outage: tuple[float, Fault] | None = None  # (until, fault): every request
        self._each: tuple[int, Fault] | None = None  # (times, fault): each body that often
        self._largest: tuple[int, Fault] | None = None  # (bytes, fault): a larger body
        self._refusals: Counter[bytes] = Counter()
        self._stall: tuple[int, float] | None = None  # (requests to go, seconds)
        self.stalling = threading.Event()  # set when the stalled request arrived
        self._lock = threading.Lock()
        # Each request passed on, and each answered with a fault.
        self.forwarded: list[Seen] = []
        self.refused: list[Seen] = []
        self.unanswered: list[Seen] = []  # forwarded, and the answer cut ("after")
        self.answers: list[Answer] = []  # the server's answers passed back, as they went
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, fault: Fault) -> None:
        """The next request that ``fault`` applies to (its path, and the lines it carries)
        gets it; faults queue in order."""
        self._faults.append(fault)

    def fail_for(self, seconds: float, fault: Fault) -> None:
        """Every request (to ``fault.path``) gets ``fault`` for the next ``seconds``."""
        with self._lock:
            self._outage = (time.monotonic() + seconds, fault)

    def fail_each(self, times: int, fault: Fault) -> None:
        """Each distinct request body (to ``fault.path``, compared uncompressed) gets
        ``fault`` its first ``times`` times: every batch is refused as often, in whatever
        order the batches come."""
        with self._lock:
            self._each = (times, fault)
            self._refusals.clear()

    def refuse_larger(self, size: int, fault: Fault) -> None:
        """Every request whose body (uncompressed) is longer than ``size`` bytes gets
        ``fault``, as a server with a maximum request size answers."""
        with self._lock:
            self._largest = (size, fault)

    def stall(self, after: int, seconds: float) -> None:
        """The request that comes after ``after`` more (a slow server) waits ``seconds``
        before it is passed on: long enough for a check to kill its sender mid-request.
        ``stalling`` is set when it arrives."""
        with self._lock:
            self._stall = (after, seconds)
            self.stalling.clear()

    def _stalls(self) -> float:
        """How long this request waits (counting it towards the stall)."""
        with self._lock:
            if self._stall is None:
                return 0.0
            after, seconds = self._stall
            self._stall = None if after == 0 else (after - 1, seconds)
        if after:
            return 0.0
        self.stalling.set()
        return seconds

    def _fault_for(self, path: str, body: bytes) -> Fault | None:
        def applies(fault: Fault | None) -> bool:
            return fault is not None and path.startswith(fault.path) and fault.carrying in body

        with self._lock:
            until, fault = self._outage or (0.0, None)
            if applies(fault) and time.monotonic() < until:
                return fault
            size, fault = self._largest or (0, None)
            if applies(fault) and len(body) > size:
                return fault
            times, fault = self._each or (0, None)
            if applies(fault) and self._refusals[body] < times:
                self._refusals[body] += 1
                return fault
            if self._faults and applies(self._faults[0]):
                return self._faults.popleft()
        return None

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # An answer's headers and body go out in two writes: with Nagle's algorithm
            # the body waits for the client's delayed ACK, up to 40 ms, and every wait
            # a check measures from an answer would be that much off for some requests.
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                body = self._body()
                plain = self._plain(body)
                fault = proxy._fault_for(self.path, plain)
                seen = Seen(self.command, self.path, plain, time.monotonic())
                if fault is None or fault.cut == "after":
                    proxy.forwarded.append(seen)  # as it arrives: a stalled one too
                    if fault is not None:
                        proxy.unanswered.append(seen)
                    if fault is None and self.command == "POST":
                        time.sleep(proxy._stalls())
                    self._forward(seen, body, reply=fault is None)
                else:
                    proxy.refused.append(seen)
                    self._fail(fault)

            def _body(self) -> bytes:
                """The request's body, sent with a length or in chunks (as Go's client does,
                e.g. influxd's replication)."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    length = int(self.headers.get("Content-Length") or 0)
                    return self.rfile.read(length) if length else b""
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)

            def _plain(self, body: bytes) -> bytes:
                """The body as sent before compression, for a check to read."""
                if self.headers.get("Content-Encoding") == "gzip":
                    with contextlib.suppress(OSError, EOFError):
                        return gzip.decompress(body)
                return body

            def _fail(self, fault: Fault) -> None:
                if fault.cut:
                    self._hang_up()
                    return
                error = {"code": fault.code, "message": fault.message}
                payload = (fault.body or json.dumps(error)).encode()
                headers = {"Content-Type": "application/json; charset=utf-8", **fault.headers}
                if fault.retry_date_in is not None:
                    when = time.time() + fault.retry_date_in
                    headers["Retry-After"] = formatdate(when, usegmt=True)
                self.send_response(fault.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _hang_up(self) -> None:
                """Close the client's connection without a byte of answer."""
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _forward(self, seen: Seen, body: bytes, reply: bool = True) -> None:
                """Pass the request on and its answer back (``reply`` False: hang up instead)."""
                upstream = http.client.HTTPConnection(proxy._host, proxy._port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                if not reply:
                    self._hang_up()
                    return
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                proxy.answers.append(Answer(seen, answer.status, data, time.monotonic()))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        return Handler


class SlowUplink:
    """A TCP relay that holds everything a client sends for ``delay`` seconds before the
    server gets it, while the server's answers pass at once: a slow uplink, as on a
    congested cellular link. ``with SlowUplink(host, port, 1.0) as link:`` then connect to
    ``link.port``. Each connection gets its own upstream connection, opened when it comes;
    ``connections`` counts the connections clients opened."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self.connections = 0

    def __enter__(self) -> SlowUplink:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:  # the server is down: the client sees its connection refused
                client.close()
                continue
            server.settimeout(None)
            self._sockets += [client, server]
            held: queue.Queue[tuple[float, bytes]] = queue.Queue()
            for target, args in (
                (self._read, (client, held)),
                (self._release, (held, server, client)),
                (self._pipe, (server, client)),
            ):
                threading.Thread(target=target, args=args, daemon=True).start()

    def _read(self, client: socket.socket, held: queue.Queue) -> None:
        """Take what the client sends, stamped with when it may go on."""
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                held.put((time.monotonic() + self.delay, data))
        held.put((time.monotonic() + self.delay, b""))

    def _release(self, held: queue.Queue, server: socket.socket, client: socket.socket) -> None:
        """Pass each piece on once its delay is over; the client's end, last of all."""
        with contextlib.suppress(OSError):
            while True:
                due, data = held.get()
                time.sleep(max(due - time.monotonic(), 0))
                if not data:
                    break
                server.sendall(data)
        _shut(server, client)

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        _shut(source, target)


def _shut(*sockets: socket.socket) -> None:
    """End both directions of each connection, whichever side ended first."""
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
