"""Waiting for a Flux task run, shared by the grader and the tests.

A run started with ``POST /api/v2/tasks/{id}/runs`` is queued first; for a
short while ``GET .../runs/{runID}`` can answer 404 (the run is neither in
the queue nor in the run log yet), which is "not yet", not an error.
"""

from __future__ import annotations

import time

from influxdb_client import InfluxDBClient, Run
from influxdb_client.rest import ApiException

FINISHED = ("success", "failed", "canceled")


def finished_run(
    client: InfluxDBClient, task_id: str, run_id: str, timeout: float = 30.0
) -> Run | None:
    """The run once it finished, else the last state seen (None: never seen) after ``timeout``.

    Read what is needed of a run (its status, ``scheduled_for``) from this one answer:
    a run that just finished moves from the running ones to the run log, and a second
    ``GET`` in between can answer 404.
    """
    deadline = time.monotonic() + timeout
    run = None
    while time.monotonic() < deadline:
        try:
            run = client.tasks_api().get_run(task_id, run_id)
        except ApiException as exc:
            if exc.status != 404:
                raise
        if run is not None and run.status in FINISHED:
            break
        time.sleep(0.2)
    return run


def wait_for_run(client: InfluxDBClient, task_id: str, run_id: str, timeout: float = 30.0) -> str:
    """The run's final status, or its last status seen (or "missing") after ``timeout``."""
    run = finished_run(client, task_id, run_id, timeout)
    return run.status if run is not None else "missing"
