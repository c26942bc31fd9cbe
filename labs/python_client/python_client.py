"""Lab python_client: writing and querying with influxdb-client (skeleton).

Complete the TODOs, then run the grader on your work: `./course check python_client`.
Guide: docs/labs/python_client.md.

Contract (the grader calls these functions in a child process):
- settings come from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
  INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN (``InfluxDBClient.from_env_properties()``
  reads all of them except the bucket);
- the process ends as soon as a function returns, without running exit
  handlers: a function must leave nothing buffered behind it;
- times given to and returned by these functions are timezone-aware datetimes.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pandas as pd
from influxdb_client import InfluxDBClient

# Columns every Flux table has that are not tags of the series.
_NOT_TAGS = {"result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}


def bucket() -> str:
    """The bucket to use; the client itself does not read INFLUXDB_V2_BUCKET."""
    return os.environ["INFLUXDB_V2_BUCKET"]


def connect() -> InfluxDBClient:
    """A client for the server, organization and token in the environment.

    One client per call keeps each function self-contained here; a long-running
    program would create one client at start-up and reuse it.
    """
    return InfluxDBClient.from_env_properties()


def write_reading(
    device: str, room: str, temperature: float, humidity: int, when: datetime
) -> None:
    """Write one reading as a Point in measurement "climate".

    Tags: device, room. Fields: temperature (always a float, even when given 21)
    and humidity (an integer). Time: `when`, a timezone-aware datetime.
    Use the SYNCHRONOUS write API, so the point is sent before this returns.
    """
    # TODO: build Point("climate") with both tags, temperature as float(...),
    # humidity as int(...), and .time(when) (keep its time zone; the default
    # nanosecond precision is exact). Open the client in a `with` block and
    # write with client.write_api(write_options=SYNCHRONOUS).
    raise NotImplementedError


def write_line_protocol(lines: list[str], precision: str) -> None:
    """Write line-protocol strings as given; `precision` says what their timestamps count.

    precision is one of "s", "ms", "us", "ns".
    """
    # TODO: a SYNCHRONOUS write of `lines` with write_precision=precision.
    raise NotImplementedError


def write_dicts(records: list[dict[str, Any]]) -> None:
    """Write records in the client's dict form: measurement, tags, fields, time.

    "time" is an aware datetime or an ISO 8601 string with an offset.
    """
    # TODO: a SYNCHRONOUS write of the list of dicts as the record.
    raise NotImplementedError


def write_many(records: list[dict[str, Any]], batch_size: int) -> int:
    """Write many dict records through the batching writer; returns how many were handed over.

    Every record must have landed when this returns.
    """
    # TODO: create the writer with write_options=WriteOptions(batch_size=batch_size,
    # flush_interval=...), write the records, and close the writer (a `with`
    # block does it) before returning len(records). Think about what happens to
    # a half-full batch if you do not.
    raise NotImplementedError


def write_dataframe(
    frame: pd.DataFrame, measurement: str, tag_columns: list[str], timestamp_column: str
) -> None:
    """Write a DataFrame: one point per row, the tag columns as tags, the rest as fields.

    The time of each row is in the column named `timestamp_column`.
    """
    # TODO: a SYNCHRONOUS write of the frame with data_frame_measurement_name,
    # data_frame_tag_columns and data_frame_timestamp_column.
    raise NotImplementedError


def query_records(
    measurement: str, field: str, start: datetime, stop: datetime
) -> list[dict[str, Any]]:
    """Values of one field in [start, stop): {"time", "value", <tag>: <value>...} sorted by time.

    "time" is a timezone-aware datetime; there is one key per tag of the series.
    """
    # TODO: query from(bucket) |> range(start, stop) |> filter(measurement and
    # field), passing the values with params={...}. Make one dict per record
    # (record.get_time(), record.get_value(), and the tag columns: every column
    # not in _NOT_TAGS), then sort by time.
    raise NotImplementedError


def query_dataframe(measurement: str, start: datetime, stop: datetime) -> pd.DataFrame:
    """One row per time and series: `_time`, the tag columns and one column per field, no other."""
    # TODO: filter on the measurement in [start, stop), pivot(rowKey: ["_time"],
    # columnKey: ["_field"], valueColumn: "_value") and use query_data_frame().
    # It may return a list of frames: concatenate them.
    raise NotImplementedError


def mean_by_tag(
    measurement: str, field: str, tag: str, tag_value: str, start: datetime
) -> float | None:
    """The mean of `field` over every series where tag `tag` equals `tag_value`, since `start`.

    Tag values may hold double quotes and backslashes. A `tag` key that is not a plain
    name (letters, digits, _; not starting with a digit) raises ValueError. None when no
    point matches.
    """
    # TODO: pass every value (bucket, start, measurement, field, tag_value) with
    # params={...}; find out how the query must refer to them (read how
    # influxdb-client sends `params`). group() before mean() so there is one
    # result. Return it as a float, or None when there is no table.
    raise NotImplementedError
