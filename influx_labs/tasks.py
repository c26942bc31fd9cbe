"""Waiting for a Flux task run, shared by the grader and the tests.

A run started with ``POST /api/v2/tasks/{id}/runs`` is queued first; for a
short while ``GET .../runs/{runID}`` can answer 404 (the run is neither in
the queue nor in the run log yet), which is "not yet", not an error.
"""

from __future__ import annotations

import time

from influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException

FINISHED = ("success", "failed", "canceled")


def wait_for_run(client: InfluxDBClient, task_id: str, run_id: str, timeout: float = 30.0) -> str:
    """The run's final status, or its last status seen (or "missing") after ``timeout``."""
    deadline = time.monotonic() + timeout
    status = "missing"
    while time.monotonic() < deadline:
        try:
            status = client.tasks_api().get_run(task_id, run_id).status
        except ApiException as exc:
            if exc.status != 404:
                raise
        if status in FINISHED:
            break
        time.sleep(0.2)
    return status
