"""Lab grafana_dashboard: the IoT dashboard as code (skeleton).

Contract (the grader calls ``dashboard()`` in a child process):
- it returns the dashboard model, Grafana's dashboard JSON as a dict, for
  Grafana 12 (the version docker-compose.yml pins), with the datasource that
  deploy/grafana/provisioning/datasources/influxdb.yml provisions (by its uid);
- the model has a multi-value query variable `device` listing the devices of
  measurement `readings` that report in the dashboard's time range, and three
  panels whose Flux queries use Grafana's v.timeRangeStart, v.timeRangeStop
  (and v.windowPeriod where they aggregate) and the `device` variable:
  - a `timeseries` panel: the mean temperature per device per v.windowPeriod,
    unit celsius;
  - a `stat` panel: the latest humidity of each device, unit humidity (%H),
    thresholds with at least two steps;
  - a `table` panel: one table, a row per device with the time of its last reading.
The model may be written as JSON (as here: dashboard.json next to this file, which
the Compose stack can load as it is) or built with grafana-foundation-sdk.
"""

from __future__ import annotations

import json  # noqa: F401 - for the TODO
from pathlib import Path  # noqa: F401


def dashboard() -> dict:
    """The dashboard model.

    TODO: complete dashboard.json (it holds the dashboard's frame: uid, title, time
    range) and return it, e.g. json.loads(Path(__file__).with_name("dashboard.json")
    .read_text()); or build the model with grafana-foundation-sdk and return its JSON.
    """
    raise NotImplementedError("dashboard() is not implemented yet")
