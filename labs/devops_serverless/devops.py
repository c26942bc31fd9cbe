"""Lab devops_serverless: CI build metrics, a Lambda handler, Docker stats (skeleton).

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

Complete the TODOs, then run the grader on your work: `./course check devops_serverless`.
Guide: docs/labs/devops_serverless.md. The Docker stats documents in `recorded/` were
recorded from a real engine: open them, and try cpu_percent() on them.

Where a Docker engine answers, `python live_stats.py` writes the live stats of the
running containers through write_container_stats().
"""

from __future__ import annotations

import os
import sys
from typing import Any

from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi

# The TODOs need more: json, math, subprocess, time, requests, WritePrecision (from
# influxdb_client), and datetime and UTC (from datetime).

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
    # TODO: take time.time_ns() and time.perf_counter(), run the command with
    # subprocess.run(command, check=False), and measure its duration yourself.
    # Build one line of line protocol: tags escaped with TAG_ESCAPES, integers with
    # an "i", the sha in double quotes. POST it to {INFLUXDB_V2_URL}/api/v2/write with
    # params org, bucket (precision defaults to ns) and the header
    # "Authorization: Token ...". requests does not raise on an error answer: look at
    # the status code (204 means stored), and catch requests.RequestException.
    raise NotImplementedError("not implemented yet: ci_step()")


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
    # TODO: json.loads() (a ValueError means None), then check each key's type:
    # type(True) is bool, not int, and json.loads("NaN") gives a float that is not finite.
    raise NotImplementedError("not implemented yet: _reading()")


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
    # TODO: time the invocation with time.perf_counter() from its start; write the
    # readings through _write_api(), then the `invocations` point; return the failures.
    raise NotImplementedError("not implemented yet: handler()")


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
    # TODO: read cpu_stats and precpu_stats; return None where there is no interval,
    # else the share as a float.
    raise NotImplementedError("not implemented yet: cpu_percent()")


def _image_tag(image: dict[str, Any]) -> str:
    """The image's first tag, or for an untagged image its short ID, as `docker ps` shows."""
    # TODO: RepoTags may be an empty list (or missing): do not index [0] blindly.
    raise NotImplementedError("not implemented yet: _image_tag()")


def _ns(rfc3339: str) -> int:
    """Nanoseconds since the epoch of a time like 2026-11-30T23:51:52.333680812Z, exactly.

    datetime keeps microseconds only: the last three digits are added back by hand.
    """
    # TODO: split off the fraction, parse the rest with datetime.fromisoformat(), and
    # add the fraction as nanoseconds (pad it to nine digits).
    raise NotImplementedError("not implemented yet: _ns()")


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
    # TODO: one Point("docker_container") per sample: the two tags, cpu_percent when
    # not None, the integer fields, .time(_ns(sample["read"]), WritePrecision.NS); then
    # one SYNCHRONOUS write of them all (InfluxDBClient.from_env_properties()).
    raise NotImplementedError("not implemented yet: write_container_stats()")


if __name__ == "__main__":  # a CI job's step: python devops.py -- COMMAND [ARG ...]
    sys.exit(ci_step(sys.argv[sys.argv.index("--") + 1 :]))
