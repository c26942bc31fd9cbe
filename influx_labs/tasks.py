"""Waiting for a Flux task run, shared by the grader and the tests.

A run started with ``POST /api/v2/tasks/{id}/runs`` is queued first; for a
short while ``GET .../runs/{runID}`` can answer 404 (the run is neither in
the queue nor in the run log yet), which is "not yet", not an error.

A run that finished goes the same way once more: influxd drops it from the
running ones, then records it in the org's ``_tasks`` bucket (the run log).
In between, ``GET .../runs/{runID}`` answers 404 again; under load that lasts
long enough for a student's code, asked right then, to fail. So a run counts
as finished once its record is in the run log.
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
    run, org = None, ""
    while time.monotonic() < deadline:
        try:
            run = client.tasks_api().get_run(task_id, run_id)
        except ApiException as exc:
            if exc.status != 404:
                raise
        if run is not None and run.status in FINISHED:
            org = org or client.tasks_api().find_task_by_id(task_id).org_id
            if _logged(client, org, task_id, run_id):
                break
        time.sleep(0.2)
    return run


def _logged(client: InfluxDBClient, org: str, task_id: str, run_id: str) -> bool:
    """Whether the run's record is in its org's run log (the ``_tasks`` bucket)."""
    flux = (
        'from(bucket: "_tasks") |> range(start: -30d) '
        f'|> filter(fn: (r) => r._measurement == "runs" and r.taskID == "{task_id}" '
        f'and r._field == "runID" and r._value == "{run_id}")'
    )
    return any(table.records for table in client.query_api().query(flux, org=org))


def wait_for_run(client: InfluxDBClient, task_id: str, run_id: str, timeout: float = 30.0) -> str:
    """The run's final status, or its last status seen (or "missing") after ``timeout``."""
    run = finished_run(client, task_id, run_id, timeout)
    return run.status if run is not None else "missing"
