"""Real HTTP endpoints for a health checker to check, served by the grader on 127.0.0.1.

    with HealthEndpoints(delay=0.2) as site:
        site.urls  # {"healthy": url, "failing": ..., "redirect", "hanging", "closed"}

- healthy: 200 after ``delay`` seconds (so a response time in seconds, not milliseconds,
  shows);
- failing: 500 at once;
- redirect: 302 to a page answering 400, the first status that is not up (a checker
  that does not follow it records 302);
- hanging: a socket that accepts connections and never answers;
- closed: a port nobody listens on (connection refused).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class HealthEndpoints:
    def __init__(self, delay: float = 0.2) -> None:
        self.delay = delay
        self.hits: dict[str, list[int]] = {}  # path -> when each request came (ns, wall clock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._hanging = socket.create_server(("127.0.0.1", 0), backlog=128)
        with socket.create_server(("127.0.0.1", 0)) as spare:
            self._closed_port = spare.getsockname()[1]  # free again once closed

    @property
    def urls(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self._server.server_address[1]}"
        return {
            "healthy": f"{base}/ok",
            "failing": f"{base}/fail",
            "redirect": f"{base}/moved",
            "hanging": f"http://127.0.0.1:{self._hanging.getsockname()[1]}/health",
            "closed": f"http://127.0.0.1:{self._closed_port}/health",
        }

    def __enter__(self) -> HealthEndpoints:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._hanging.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.setdefault(self.path, []).append(time.time_ns())
                if self.path == "/ok":
                    time.sleep(site.delay)
                    self._answer(200, b"ok")
                elif self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/bad")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/bad":
                    self._answer(400, b"bad request")
                else:
                    self._answer(500, b"internal error")

            do_HEAD = do_GET

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        return Handler
