"""Lab instrumentation: a metrics decorator and least-privilege tokens (reference solution).

Contract (settings come from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN, and SERVICE_NAME, BATCH_SIZE, FLUSH_INTERVAL_MS):
- instrumented(operation=None): a decorator for functions and coroutine functions.
  Every call becomes one point `service_calls` in INFLUXDB_V2_BUCKET: tags `service`
  (SERVICE_NAME), `operation` (``operation``, or the function's ``__qualname__``),
  `outcome` ("ok" when it returned, "error" when it raised anything, a cancellation
  included) and, on errors only, `error_type` (the exception's class name); one float
  field `duration_ms`, measured with time.perf_counter() up to the call's real end (for
  a coroutine: when it finished, not when it was created); its time is when the call
  started, in nanoseconds.
  The wrapper gives the caller exactly what the function gives (its value, or its
  exception, re-raised as it is), keeps the function's name, docstring and
  ``__wrapped__`` (functools.wraps), and is a coroutine function for a coroutine
  function. Points go through ONE batching writer shared by every decorated function
  and thread (BATCH_SIZE points or FLUSH_INTERVAL_MS, whichever first), created on
  first use: a call never waits for InfluxDB, and never fails because of it, even
  when InfluxDB is down or hangs. At exit the writer flushes what it holds, giving up
  after a few seconds when InfluxDB does not answer.
- create_tokens(ingest_bucket, dashboard_bucket): two new tokens of the organization,
  made through /api/v2/authorizations with INFLUXDB_V2_TOKEN: "ingest" may only write
  ``ingest_bucket``, "dashboard" may only read ``dashboard_bucket`` (each permission
  narrowed to the bucket's ID). Returns {"ingest": token, "dashboard": token}; neither
  token is printed or logged.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from influxdb_client import (
    Authorization,
    InfluxDBClient,
    Permission,
    PermissionResource,
    Point,
    WritePrecision,
)
from influxdb_client.client.write_api import SYNCHRONOUS

log = logging.getLogger(__name__)
TIMEOUT_MS = 2_000  # one request to InfluxDB: a hung server costs the sender this much
EXIT_FLUSH = 5.0  # seconds the exit flush keeps sending before it gives up
MAX_PENDING = 100_000  # points held while InfluxDB is down; newer ones are dropped


def _settings() -> dict[str, str]:
    return {
        name: os.environ[f"INFLUXDB_V2_{name.upper()}"]
        for name in ("url", "org", "bucket", "token")
    }


class _Batcher:
    """The process's one writer. A call only appends its point; a daemon thread sends a
    batch when BATCH_SIZE points wait or FLUSH_INTERVAL_MS has passed; at exit, close()
    sends what is left. (influxdb-client's own batching write_api cannot do the last
    part: at exit its thread pool is shut down before atexit handlers run.)"""

    def __init__(self) -> None:
        settings = _settings()
        self.client = InfluxDBClient(
            url=settings["url"], token=settings["token"], org=settings["org"], timeout=TIMEOUT_MS
        )
        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.bucket = settings["bucket"]
        self.size = int(os.environ.get("BATCH_SIZE", "500"))
        self.interval = int(os.environ.get("FLUSH_INTERVAL_MS", "1000")) / 1000
        self.pending: list[Point] = []
        self.ready = threading.Condition()
        self.sending = threading.Lock()  # one batch at a time; close() waits for it
        self.closing = False
        threading.Thread(target=self._run, name="metrics-writer", daemon=True).start()
        atexit.register(self.close)

    def add(self, point: Point) -> None:
        with self.ready:
            if len(self.pending) < MAX_PENDING:
                self.pending.append(point)
            if len(self.pending) >= self.size:
                self.ready.notify()

    def _run(self) -> None:
        while not self.closing:
            with self.ready:
                self.ready.wait_for(lambda: len(self.pending) >= self.size, self.interval)
            if not self.closing:  # at exit, close() sends: this thread must not hold it up
                self._send_batch()

    def _send_batch(self) -> bool:
        """Send up to a batch of what waits; whether there was any."""
        with self.sending:
            with self.ready:
                batch, self.pending = self.pending[: self.size], self.pending[self.size :]
            if batch:
                try:
                    self.api.write(bucket=self.bucket, record=batch)
                except Exception as exc:  # InfluxDB down or refusing: the calls go on
                    log.warning("dropped %d call record(s): %s", len(batch), type(exc).__name__)
            return bool(batch)

    def close(self) -> None:
        self.closing = True
        deadline = time.monotonic() + EXIT_FLUSH
        while time.monotonic() < deadline and self._send_batch():
            pass
        self.client.close()


_lock = threading.Lock()
_writer: _Batcher | None = None


def _shared_writer() -> _Batcher:
    """The one writer, made on first use (by whichever thread comes first)."""
    global _writer
    with _lock:
        if _writer is None:
            _writer = _Batcher()
        return _writer


class _Timed:
    """Times one call and records it when the call ends, however it ends."""

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        self.started_ns, self.started = time.time_ns(), time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        point = (
            Point("service_calls")
            .tag("service", os.environ.get("SERVICE_NAME", "lab-service"))
            .tag("operation", self.operation)
            .tag("outcome", "error" if kind else "ok")
            .field("duration_ms", (time.perf_counter() - self.started) * 1000.0)
            .time(self.started_ns, WritePrecision.NS)
        )
        if kind is not None:
            point.tag("error_type", kind.__name__)
        try:
            _shared_writer().add(point)
        except Exception:  # measuring must never break the call it measures
            log.exception("could not record a call of %s", self.operation)
        return False  # the call's own exception, if any, goes on unchanged


def instrumented(operation: str | None = None) -> Callable[[Callable], Callable]:
    """``@instrumented()`` or ``@instrumented("name")`` on a function or coroutine function."""

    def decorate(fn: Callable) -> Callable:
        name = operation or fn.__qualname__
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
                with _Timed(name):
                    return await fn(*args, **kwargs)

            return timed_coroutine

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with _Timed(name):
                return fn(*args, **kwargs)

        return timed

    return decorate


def create_tokens(ingest_bucket: str, dashboard_bucket: str) -> dict[str, str]:
    """A write-only token for one bucket and a read-only token for another."""
    settings = _settings()
    with InfluxDBClient(
        url=settings["url"], token=settings["token"], org=settings["org"]
    ) as client:
        org_id = client.organizations_api().find_organizations(org=settings["org"])[0].id

        def only(action: str, bucket_name: str) -> Permission:
            bucket = client.buckets_api().find_bucket_by_name(bucket_name)
            if bucket is None:
                raise LookupError(f"no bucket named {bucket_name!r}")
            resource = PermissionResource(type="buckets", org_id=org_id, id=bucket.id)
            return Permission(action=action, resource=resource)

        def token(description: str, *permissions: Permission) -> str:
            made = client.authorizations_api().create_authorization(
                authorization=Authorization(
                    org_id=org_id, permissions=list(permissions), description=description
                )
            )
            return made.token

        return {
            "ingest": token(f"ingest: write {ingest_bucket}", only("write", ingest_bucket)),
            "dashboard": token(
                f"dashboard: read {dashboard_bucket}", only("read", dashboard_bucket)
            ),
        }
