"""Lab instrumentation: a metrics decorator and least-privilege tokens (skeleton).

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

Complete the TODOs, then run the grader on your work: `./course check instrumentation`.
Guide: docs/labs/instrumentation.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# The TODOs need more: atexit, functools, inspect, logging, threading and time; from
# influxdb_client: InfluxDBClient, Point, WritePrecision, SYNCHRONOUS (from
# influxdb_client.client.write_api), and Authorization, Permission and PermissionResource.


def _settings() -> dict[str, str]:
    return {
        name: os.environ[f"INFLUXDB_V2_{name.upper()}"]
        for name in ("url", "org", "bucket", "token")
    }


def instrumented(operation: str | None = None) -> Callable[[Callable], Callable]:
    """``@instrumented()`` or ``@instrumented("name")`` on a function or coroutine function.

    TODO:
    - one writer for the whole process, made on first use under a lock (threads call at
      once): a list of pending points behind a threading.Condition, a daemon thread that
      sends a batch (a synchronous write_api, with a client timeout) when BATCH_SIZE
      points wait or FLUSH_INTERVAL_MS has passed, and an atexit handler that sends what
      is left and gives up after a few seconds. (influxdb-client's own batching
      write_api cannot be flushed from atexit: its thread pool is shut down first.)
    - for each call: time.time_ns() and time.perf_counter() at the start, a point
      `service_calls` at the end (see the contract above), written to that writer inside
      a try/except: recording must never break the call;
    - the wrapper returns what the function returns and lets its exception go on as it is;
      functools.wraps(fn); for a coroutine function (inspect.iscoroutinefunction) an
      `async def` wrapper that times `await fn(...)`;
    - a cancelled coroutine raises CancelledError, a BaseException: record it too.
    """
    raise NotImplementedError("not implemented yet: instrumented()")


def create_tokens(ingest_bucket: str, dashboard_bucket: str) -> dict[str, str]:
    """A write-only token for ``ingest_bucket`` and a read-only token for ``dashboard_bucket``.

    TODO: with INFLUXDB_V2_TOKEN, find the organization's ID and each bucket's ID, then
    create two authorizations (client.authorizations_api().create_authorization), each
    with one Permission: action "write" or "read" on a PermissionResource of type
    "buckets" with org_id AND id (without the id it covers every bucket). Return
    {"ingest": token, "dashboard": token}; never print or log a token.
    """
    raise NotImplementedError("not implemented yet: create_tokens()")
