"""Lab http_api: the InfluxDB 2.x HTTP API with nothing but `requests` (reference solution).

Contract (the grader calls these functions in a child process):
- settings come from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
  INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN;
- every error answer from the server is raised as InfluxError (never a
  requests exception, never a crash); see InfluxError for its fields.
"""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

TIMEOUT = 10  # seconds; a lab call must never hang
PAGE = 100  # buckets per request, the API's maximum


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


def _bad_line(message: str, body: str) -> int | None:
    """The number of the line a parse error quotes (2.9 names the text, not the number)."""
    quoted = re.search(r"unable to parse '(.*)':", message, re.DOTALL)
    if quoted:
        for number, line in enumerate(body.splitlines(), start=1):
            if line == quoted.group(1):
                return number
    return None


def _retry_after(header: str | None) -> float | None:
    """Retry-After in seconds, from either of its forms (RFC 9110): seconds or an HTTP date."""
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _check(response: requests.Response, body: str = "") -> requests.Response:
    """Return a successful response; turn any error answer into InfluxError."""
    if response.status_code < 400:
        return response
    try:
        error = response.json()
    except ValueError:
        error = {"code": "", "message": response.text}
    message = error.get("message", "")
    line = error.get("line") or _bad_line(message, body)
    raise InfluxError(
        response.status_code,
        error.get("code", ""),
        message,
        line=int(line) if line else None,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def health() -> dict[str, Any]:
    """GET /health: the server's own status document (no token needed)."""
    return _check(requests.get(f"{settings()['url']}/health", timeout=TIMEOUT)).json()


def write_lines(
    lines: str, precision: str = "ns", *, bucket: str | None = None, token: str | None = None
) -> None:
    """POST /api/v2/write: line protocol with the given precision. Success is 204, no body."""
    s = settings()
    response = requests.post(
        f"{s['url']}/api/v2/write",
        params={"org": s["org"], "bucket": bucket or s["bucket"], "precision": precision},
        headers=_headers(token, **{"Content-Type": "text/plain; charset=utf-8"}),
        data=lines.encode(),
        timeout=TIMEOUT,
    )
    _check(response, lines)


_TYPES = {
    "long": int,
    "unsignedLong": int,
    "double": float,
    "boolean": lambda v: v == "true",
    "string": str,
}


def _convert(text: str, datatype: str) -> Any:
    if datatype.startswith("dateTime"):
        # Python keeps microseconds: cut nanoseconds, keep the zone.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
        return datetime.fromisoformat(text)
    return _TYPES.get(datatype, str)(text)


def parse_annotated_csv(text: str) -> list[dict[str, Any]]:
    """Records from annotated CSV: one dict per row, values typed by the #datatype row."""
    records: list[dict[str, Any]] = []
    datatypes: list[str] = []
    defaults: list[str] = []
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or all(cell == "" for cell in row):
            header = None  # a blank line ends a table; the next has its own annotations
            continue
        if row[0] == "#datatype":
            datatypes, header = row, None
        elif row[0] == "#default":
            defaults = row
        elif row[0].startswith("#"):
            continue
        elif header is None:
            header = row
        else:
            record = {}
            for i, name in enumerate(header):
                if i == 0:
                    continue  # the annotation column
                value = row[i] if row[i] != "" else (defaults[i] if i < len(defaults) else "")
                datatype = datatypes[i] if i < len(datatypes) else "string"
                record[name] = _convert(value, datatype) if value != "" else None
            records.append(record)
    return records


def query(flux: str, *, token: str | None = None) -> list[dict[str, Any]]:
    """POST /api/v2/query with a JSON body and a dialect asking for annotations."""
    s = settings()
    response = requests.post(
        f"{s['url']}/api/v2/query",
        params={"org": s["org"]},
        headers=_headers(token, **{"Accept": "application/csv"}),
        json={
            "query": flux,
            "type": "flux",
            "dialect": {"header": True, "annotations": ["datatype", "group", "default"]},
        },
        timeout=TIMEOUT,
    )
    return parse_annotated_csv(_check(response).text)


def _org_id() -> str:
    s = settings()
    response = requests.get(
        f"{s['url']}/api/v2/orgs", params={"org": s["org"]}, headers=_headers(), timeout=TIMEOUT
    )
    return _check(response).json()["orgs"][0]["id"]


def create_bucket(name: str, retention_seconds: int) -> str:
    """POST /api/v2/buckets with one expire rule; returns the new bucket's ID."""
    rules = [{"type": "expire", "everySeconds": retention_seconds}] if retention_seconds else []
    response = requests.post(
        f"{settings()['url']}/api/v2/buckets",
        headers=_headers(),
        json={"orgID": _org_id(), "name": name, "retentionRules": rules},
        timeout=TIMEOUT,
    )
    return _check(response).json()["id"]


def list_buckets() -> list[str]:
    """GET /api/v2/buckets for our org: every bucket name (system buckets included).

    The API answers one page at a time (20 buckets unless `limit` asks for more, at most
    100): ask for the next page until one comes back short.
    """
    s = settings()
    names: list[str] = []
    while True:
        response = requests.get(
            f"{s['url']}/api/v2/buckets",
            params={"org": s["org"], "limit": PAGE, "offset": len(names)},
            headers=_headers(),
            timeout=TIMEOUT,
        )
        page = [b["name"] for b in _check(response).json()["buckets"]]
        names += page
        if len(page) < PAGE:
            return names


def delete_bucket(bucket_id: str) -> None:
    """DELETE /api/v2/buckets/{id}: 204 on success."""
    response = requests.delete(
        f"{settings()['url']}/api/v2/buckets/{bucket_id}", headers=_headers(), timeout=TIMEOUT
    )
    _check(response)


def create_task(flux: str) -> str:
    """POST /api/v2/tasks: the script holds its own `option task`; returns the task ID."""
    response = requests.post(
        f"{settings()['url']}/api/v2/tasks",
        headers=_headers(),
        json={"orgID": _org_id(), "flux": flux, "status": "active"},
        timeout=TIMEOUT,
    )
    return _check(response).json()["id"]


def run_task(task_id: str) -> str:
    """POST /api/v2/tasks/{id}/runs: start a run now; returns the run ID."""
    response = requests.post(
        f"{settings()['url']}/api/v2/tasks/{task_id}/runs",
        headers=_headers(),
        json={},
        timeout=TIMEOUT,
    )
    return _check(response).json()["id"]


def run_status(task_id: str, run_id: str) -> str:
    """GET /api/v2/tasks/{id}/runs/{runID}: scheduled, started, success, failed or canceled."""
    response = requests.get(
        f"{settings()['url']}/api/v2/tasks/{task_id}/runs/{run_id}",
        headers=_headers(),
        timeout=TIMEOUT,
    )
    return _check(response).json()["status"]
