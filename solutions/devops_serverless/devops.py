"""Lab devops_serverless: CI build metrics, a Lambda handler, Docker stats (reference solution).

Contract (the grader calls these functions in a child process; settings come
from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG, INFLUXDB_V2_BUCKET,
INFLUXDB_V2_TOKEN):
- ci_step(command): run a CI job's command and post one `ci_job` point about it
  over plain HTTP (no client library: a CI runner has only the standard tools);
  the grader runs it as a CI system would: `python devops.py -- COMMAND [ARG ...]`,
  whose exit status is ci_step()'s;
- handler(event, context): an AWS Lambda handler for a batch of SQS messages;
  the grader invokes it many times in one process, as Lambda does;
- cpu_percent(sample) and write_container_stats(container, image, samples):
  Docker Engine API stats documents as points.
Each function's docstring says exactly what it must do.

Where a Docker engine answers, `python live_stats.py` writes the live stats of the
running containers through write_container_stats().
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import requests
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi

# -- a CI step -------------------------------------------------------------------------

# GitHub Actions' default variables, and the tag each becomes.
CI_TAGS = {
    "repository": "GITHUB_REPOSITORY",
    "workflow": "GITHUB_WORKFLOW",
    "job": "GITHUB_JOB",
    "branch": "GITHUB_REF_NAME",
    "runner_os": "RUNNER_OS",
}
TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def ci_step(command: list[str]) -> int:
    """Run ``command``, then post one point `ci_job` about it; return the step's exit status.

    The point: tags repository, workflow, job, branch, runner_os (from GITHUB_REPOSITORY,
    GITHUB_WORKFLOW, GITHUB_JOB, GITHUB_REF_NAME, RUNNER_OS) and status ("success" when
    the command exited 0, else "failure"); fields duration_s (float: the command's wall
    time, measured here: no CI variable holds it), exit_code, run_id and run_attempt
    (integers, from GITHUB_RUN_ID and GITHUB_RUN_ATTEMPT) and sha (string, GITHUB_SHA);
    its time is when the command started, in nanoseconds.

    The status returned is the command's. When InfluxDB does not accept the point (any
    answer but 204, or no answer), print a line starting with "::error::" (GitHub's
    annotation) with the status and the server's message to stderr, and return 1 if the
    command itself had succeeded: a step whose metrics were lost must fail visibly.
    """
    started_ns = time.time_ns()
    started = time.perf_counter()
    code = subprocess.run(command, check=False).returncode
    duration = time.perf_counter() - started
    env = os.environ
    tags = {tag: env[name] for tag, name in CI_TAGS.items()}
    tags["status"] = "success" if code == 0 else "failure"
    sha = env["GITHUB_SHA"].replace("\\", "\\\\").replace('"', '\\"')
    line = (
        "ci_job,"
        + ",".join(f"{k}={v.translate(TAG_ESCAPES)}" for k, v in sorted(tags.items()))
        + f" duration_s={duration!r},exit_code={code}i,run_id={int(env['GITHUB_RUN_ID'])}i,"
        + f'run_attempt={int(env["GITHUB_RUN_ATTEMPT"])}i,sha="{sha}" {started_ns}'
    )
    try:
        answer = requests.post(
            f"{env['INFLUXDB_V2_URL'].rstrip('/')}/api/v2/write",
            params={"org": env["INFLUXDB_V2_ORG"], "bucket": env["INFLUXDB_V2_BUCKET"]},
            headers={
                "Authorization": f"Token {env['INFLUXDB_V2_TOKEN']}",
                "Content-Type": "text/plain; charset=utf-8",
            },
            data=line.encode(),
            timeout=10,
        )
        problem = "" if answer.status_code == 204 else f"{answer.status_code} {answer.text}"
    except requests.RequestException as exc:
        problem = f"no answer: {exc}"
    if problem:
        print(f"::error::InfluxDB did not take the build metrics: {problem}", file=sys.stderr)
        return code or 1
    return code


# -- a Lambda handler -----------------------------------------------------------------

# One client and write API for the life of the process: Lambda keeps the process (and
# this module) between invocations, so a connection opened once is used again.
_writer: WriteApi | None = None


def _write_api() -> WriteApi:
    global _writer
    if _writer is None:
        client = InfluxDBClient(
            url=os.environ["INFLUXDB_V2_URL"],
            token=os.environ["INFLUXDB_V2_TOKEN"],
            org=os.environ["INFLUXDB_V2_ORG"],
        )
        _writer = client.write_api(write_options=SYNCHRONOUS)
    return _writer


def _reading(body: str) -> Point | None:
    """The point an SQS message body stands for, or None when it breaks the contract."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    device, ts, temperature = data.get("device"), data.get("ts"), data.get("temperature")
    if not isinstance(device, str) or not device:
        return None
    if type(ts) is not int or ts < 0:
        return None
    if type(temperature) not in (int, float) or not math.isfinite(temperature):
        return None
    return (
        Point("readings")
        .tag("device", device)
        .field("temperature", float(temperature))
        .time(ts, WritePrecision.MS)
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Store a batch of SQS messages, each a reading; report the ones that could not be.

    ``event["Records"]`` holds the messages; each message's "body" is a JSON object with
    "device" (non-empty string), "ts" (integer epoch milliseconds) and "temperature" (a
    finite number), and becomes a point `readings`: tag device, float field
    temperature, at ts. A body that is anything else is not stored: its "messageId"
    goes into the answer, {"batchItemFailures": [{"itemIdentifier": id}, ...]} (SQS's
    partial batch response), and the rest of the batch is stored all the same.

    Then one point `invocations`: tag function (context.function_name), fields
    duration_ms (float: the time this invocation took, measured, up to and including
    the write of the readings; not the context's remaining time), records and failed
    (integers) and request_id (string, context.aws_request_id), at the time the
    invocation started, in nanoseconds.

    One client for every invocation of the process, and everything written before
    this returns: Lambda may freeze the process the moment it does.
    """
    started_ns = time.time_ns()
    started = time.perf_counter()
    bucket = os.environ["INFLUXDB_V2_BUCKET"]
    write = _write_api()
    records = event.get("Records", [])
    points, failed = [], []
    for record in records:
        point = _reading(record.get("body", ""))
        if point is None:
            failed.append({"itemIdentifier": record.get("messageId")})
        else:
            points.append(point)
    if points:
        write.write(bucket=bucket, record=points)
    duration_ms = (time.perf_counter() - started) * 1000
    write.write(
        bucket=bucket,
        record=Point("invocations")
        .tag("function", context.function_name)
        .field("duration_ms", duration_ms)
        .field("records", len(records))
        .field("failed", len(failed))
        .field("request_id", context.aws_request_id)
        .time(started_ns, WritePrecision.NS),
    )
    return {"batchItemFailures": failed}


# -- Docker stats -----------------------------------------------------------------------


def cpu_percent(sample: dict[str, Any]) -> float | None:
    """A stats document's CPU use over the interval it covers, as `docker stats` shows it.

    Both counters are cumulative: the container's CPU time
    (cpu_stats.cpu_usage.total_usage) and the host's (cpu_stats.system_cpu_usage), each
    against the engine's previous reading in precpu_stats. The share is
    container delta / host delta x the number of CPUs (cpu_stats.online_cpus, or where
    an older engine leaves it out, the length of cpu_usage.percpu_usage) x 100: 150.0
    is one and a half CPUs. None where there is no interval: a first document (its
    precpu_stats has no system_cpu_usage), a host delta that is not positive, or a
    container counter that went down.
    """
    now, before = sample["cpu_stats"], sample.get("precpu_stats") or {}
    if not before.get("system_cpu_usage") or not now.get("system_cpu_usage"):
        return None
    container = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
    host = now["system_cpu_usage"] - before["system_cpu_usage"]
    if host <= 0 or container < 0:
        return None
    cpus = now.get("online_cpus") or len(now["cpu_usage"].get("percpu_usage") or [])
    return container / host * cpus * 100


def _image_tag(image: dict[str, Any]) -> str:
    """The image's first tag, or for an untagged image its short ID, as `docker ps` shows."""
    tags = image.get("RepoTags") or []
    return tags[0] if tags else image["Id"].removeprefix("sha256:")[:12]


def _ns(rfc3339: str) -> int:
    """Nanoseconds since the epoch of a time like 2026-11-30T23:51:52.333680812Z, exactly.

    datetime keeps microseconds only: the last three digits are added back by hand.
    """
    whole, _, rest = rfc3339.removesuffix("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
    return seconds * 10**9 + int((rest or "0").ljust(9, "0")[:9])


def write_container_stats(
    container: dict[str, Any], image: dict[str, Any], samples: list[dict[str, Any]]
) -> int:
    """Write one point `docker_container` per stats document; return how many were written.

    ``container`` is the container's inspect document, ``image`` its image's, ``samples``
    its stats documents in the order the engine gave them (the container may have been
    restarted between two of them). Each point: tags container (its name, without the
    leading "/") and image (the image's first tag, or its 12-digit short ID when it has
    none); fields cpu_percent (float, cpu_percent(sample), left out when None),
    memory_usage (integer bytes: memory_stats.usage less the page cache that
    `docker stats` leaves out, stats.total_inactive_file on cgroup v1 or
    stats.inactive_file on v2), memory_limit, rx_bytes and tx_bytes (integers; the
    network counters summed over the container's networks); at the document's "read"
    time, to the nanosecond.
    """
    tags = {"container": container["Name"].lstrip("/"), "image": _image_tag(image)}
    points = []
    for sample in samples:
        memory = sample["memory_stats"]
        stats = memory.get("stats") or {}
        cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
        networks = (sample.get("networks") or {}).values()
        point = Point("docker_container")
        for key, value in tags.items():
            point.tag(key, value)
        percent = cpu_percent(sample)
        if percent is not None:
            point.field("cpu_percent", percent)
        points.append(
            point.field("memory_usage", memory["usage"] - cache)
            .field("memory_limit", memory["limit"])
            .field("rx_bytes", sum(n["rx_bytes"] for n in networks))
            .field("tx_bytes", sum(n["tx_bytes"] for n in networks))
            .time(_ns(sample["read"]), WritePrecision.NS)
        )
    with InfluxDBClient.from_env_properties() as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=os.environ["INFLUXDB_V2_BUCKET"], record=points
        )
    return len(points)


if __name__ == "__main__":  # a CI job's step: python devops.py -- COMMAND [ARG ...]
    sys.exit(ci_step(sys.argv[sys.argv.index("--") + 1 :]))
