"""Lab http_api: the InfluxDB 2.x HTTP API with nothing but `requests` (skeleton).

Complete the TODOs, then run the grader on your work: `./course check http_api`.
Guide: docs/labs/http_api.md.

Contract (the grader calls these functions in a child process):
- settings come from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
  INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN;
- every error answer from the server is raised as InfluxError (never a
  requests exception, never a crash); see InfluxError for its fields.
"""

from __future__ import annotations

import os
from typing import Any

TIMEOUT = 10  # seconds; a lab call must never hang


class InfluxError(Exception):
    """An error answer from InfluxDB, as data the caller can act on.

    status: the HTTP status (400, 401, 404, 413, 422, 429, 503...)
    code: the `code` of the JSON error body ("invalid", "unauthorized", "not found"...);
        "" when the body is not JSON (e.g. a proxy's HTML error page)
    message: the `message` of the JSON error body, or the whole body when it is not JSON
    line: for a line-protocol error, the 1-based number (an int) of the bad line, else None
    retry_after: seconds to wait from a Retry-After header (429/503): the header holds
        either seconds ("30") or an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"), and a date
        already past means 0; None without the header or when it is neither
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        line: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.line = line
        self.retry_after = retry_after


def settings() -> dict[str, str]:
    """Where the server is and who we are, from the environment."""
    return {
        "url": os.environ["INFLUXDB_V2_URL"].rstrip("/"),
        "org": os.environ["INFLUXDB_V2_ORG"],
        "bucket": os.environ["INFLUXDB_V2_BUCKET"],
        "token": os.environ["INFLUXDB_V2_TOKEN"],
    }


def _headers(token: str | None = None, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Token {token or settings()['token']}", **extra}


def health() -> dict[str, Any]:
    """GET /health: the server's own status document (no token needed)."""
    # TODO: request {url}/health and return the parsed JSON body.
    raise NotImplementedError


def write_lines(
    lines: str, precision: str = "ns", *, bucket: str | None = None, token: str | None = None
) -> None:
    """POST /api/v2/write: line protocol with the given precision. Success is 204, no body."""
    # TODO: send `lines` to /api/v2/write with org, bucket and precision as query
    # parameters. A success has no body. Turn every error answer into InfluxError,
    # with `line` set to the number of the bad line for a line-protocol error
    # (InfluxDB 2.9 quotes the bad line in `message`).
    raise NotImplementedError


def parse_annotated_csv(text: str) -> list[dict[str, Any]]:
    """Records from annotated CSV: one dict per row, values typed by the #datatype row."""
    # TODO: one dict per data row, keyed by the header row (skip the first, empty
    # column). Convert each value with the #datatype annotation: long -> int,
    # double -> float, boolean -> bool, dateTime:RFC3339 -> an aware datetime.
    # An empty cell takes the #default value. Tables with the same columns share one
    # header (the `table` column tells them apart); a blank line comes only before a
    # new block of annotation rows and header, where the columns change.
    raise NotImplementedError


def query(flux: str, *, token: str | None = None) -> list[dict[str, Any]]:
    """POST /api/v2/query with a JSON body and a dialect asking for annotations."""
    # TODO: ask for annotated CSV (dialect annotations: datatype, group, default)
    # and return parse_annotated_csv() of the answer. Errors become InfluxError.
    raise NotImplementedError


def create_bucket(name: str, retention_seconds: int) -> str:
    """POST /api/v2/buckets with one expire rule; returns the new bucket's ID."""
    # TODO: the body needs the org's ID (GET /api/v2/orgs?org=NAME) and
    # retentionRules [{"type": "expire", "everySeconds": ...}].
    raise NotImplementedError


def list_buckets() -> list[str]:
    """GET /api/v2/buckets for our org: every bucket name (system buckets included).

    The org may hold more buckets than one answer gives (see `limit` and `offset`).
    """
    # TODO
    raise NotImplementedError


def delete_bucket(bucket_id: str) -> None:
    """DELETE /api/v2/buckets/{id}: 204 on success."""
    # TODO
    raise NotImplementedError


def create_task(flux: str) -> str:
    """POST /api/v2/tasks: the script holds its own `option task`; returns the task ID."""
    # TODO: send orgID, flux and status "active"; return the new task's ID.
    raise NotImplementedError


def run_task(task_id: str) -> str:
    """POST /api/v2/tasks/{id}/runs: start a run now; returns the run ID."""
    # TODO
    raise NotImplementedError


def run_status(task_id: str, run_id: str) -> str:
    """GET /api/v2/tasks/{id}/runs/{runID}: scheduled, started, success, failed or canceled."""
    # TODO
    raise NotImplementedError
