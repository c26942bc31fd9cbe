"""Lab python_client: writing and querying with influxdb-client (reference solution).

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
import re
from datetime import datetime
from typing import Any

import pandas as pd
from influxdb_client import InfluxDBClient, Point, WriteOptions
from influxdb_client.client.write_api import SYNCHRONOUS

# Columns every Flux table has that are not tags of the series.
_NOT_TAGS = {"result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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

    SYNCHRONOUS sends the request before write() returns and raises if the
    server refuses it, so nothing is left in a buffer when we return.
    float()/int() pin the field types: the first value written to a field fixes
    its type, and 21 (an int) would otherwise be stored as the integer 21i.
    The client converts an aware datetime to UTC itself; a naive one would be
    taken as UTC, which is why `when` must keep its timezone.
    """
    point = (
        Point("climate")
        .tag("device", device)
        .tag("room", room)
        .field("temperature", float(temperature))
        .field("humidity", int(humidity))
        .time(when)  # nanosecond precision: exact, no float division
    )
    with connect() as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket(), record=point)


def write_line_protocol(lines: list[str], precision: str) -> None:
    """Write line-protocol strings as given; `precision` says what their timestamps count.

    The precision travels with the request: "s", "ms", "us" or "ns"
    (WritePrecision values are these same strings).
    """
    with connect() as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=bucket(), record=lines, write_precision=precision
        )


def write_dicts(records: list[dict[str, Any]]) -> None:
    """Write records in the client's dict form: measurement, tags, fields, time.

    The client turns each dict into a Point; "time" may be an aware datetime or
    an ISO 8601 string (parsed with its offset).
    """
    with connect() as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket(), record=records)


def write_many(records: list[dict[str, Any]], batch_size: int) -> int:
    """Write many dict records through the batching writer; returns how many were handed over.

    Batching mode buffers points and sends them from a background thread, one
    request per `batch_size` points or per flush interval. The `with` block
    closes the writer, which sends what is still buffered and waits for it:
    without that the last partial batch (or everything) is lost at exit.
    (WriteApi.flush() does nothing in influxdb-client 1.50; close() is the way.)
    """
    options = WriteOptions(batch_size=batch_size, flush_interval=10_000)
    with connect() as client, client.write_api(write_options=options) as writer:
        writer.write(bucket=bucket(), record=records)
    return len(records)


def write_dataframe(
    frame: pd.DataFrame, measurement: str, tag_columns: list[str], timestamp_column: str
) -> None:
    """Write a DataFrame: one point per row, the tag columns as tags, the rest as fields.

    Without data_frame_timestamp_column the client takes the index as the time,
    and a plain RangeIndex becomes 0, 1, 2... nanoseconds after 1970.
    """
    with connect() as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=bucket(),
            record=frame,
            data_frame_measurement_name=measurement,
            data_frame_tag_columns=tag_columns,
            data_frame_timestamp_column=timestamp_column,
        )


def query_records(
    measurement: str, field: str, start: datetime, stop: datetime
) -> list[dict[str, Any]]:
    """Values of one field in [start, stop): {"time", "value", <tag>: <value>...} sorted by time.

    Every value goes in as a query parameter, so no quoting can go wrong.
    """
    flux = """
from(bucket: bucketName)
    |> range(start: startTime, stop: stopTime)
    |> filter(fn: (r) => r._measurement == measurementName and r._field == fieldName)
"""
    params = {
        "bucketName": bucket(),
        "startTime": start,
        "stopTime": stop,
        "measurementName": measurement,
        "fieldName": field,
    }
    with connect() as client:
        tables = client.query_api().query(flux, params=params)
    rows = [
        {
            "time": record.get_time(),
            "value": record.get_value(),
            **{k: v for k, v in record.values.items() if k not in _NOT_TAGS},
        }
        for table in tables
        for record in table.records
    ]
    return sorted(rows, key=lambda row: row["time"])


def query_dataframe(measurement: str, start: datetime, stop: datetime) -> pd.DataFrame:
    """One row per time and series: `_time`, the tag columns and one column per field, no other.

    query_data_frame expects a pivot() so that a row holds all of a point's
    fields; it returns a list of frames when the tables have different
    columns, so concatenate in that case.
    """
    flux = """
from(bucket: bucketName)
    |> range(start: startTime, stop: stopTime)
    |> filter(fn: (r) => r._measurement == measurementName)
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> drop(columns: ["_start", "_stop", "_measurement"])
"""
    params = {
        "bucketName": bucket(),
        "startTime": start,
        "stopTime": stop,
        "measurementName": measurement,
    }
    with connect() as client:
        result = client.query_api().query_data_frame(flux, params=params)
    frame = pd.concat(result, ignore_index=True) if isinstance(result, list) else result
    frame = frame.drop(columns=["result", "table"], errors="ignore")
    return frame.sort_values("_time", ignore_index=True)


def mean_by_tag(
    measurement: str, field: str, tag: str, tag_value: str, start: datetime
) -> float | None:
    """The mean of `field` over every series where tag `tag` equals `tag_value`, since `start`.

    A `tag` key that is not a plain name raises ValueError. influxdb-client sends
    `params` as Flux `option` statements, so the query names each one directly
    (tagValue, not params.tagValue). Values go in as parameters; a tag *key*
    cannot (Flux indexes records only with literals), so it is checked to be a
    plain name before it is placed in the query.
    group() merges the series so there is one mean. None when no point matches.
    """
    if not _IDENTIFIER.fullmatch(tag):
        raise ValueError(f"not a plain tag name: {tag!r}")
    flux = f"""
from(bucket: bucketName)
    |> range(start: startTime)
    |> filter(fn: (r) => r._measurement == measurementName and r._field == fieldName)
    |> filter(fn: (r) => r["{tag}"] == tagValue)
    |> group()
    |> mean()
"""
    params = {
        "bucketName": bucket(),
        "startTime": start,
        "measurementName": measurement,
        "fieldName": field,
        "tagValue": tag_value,
    }
    with connect() as client:
        tables = client.query_api().query(flux, params=params)
    values = [record.get_value() for table in tables for record in table.records]
    return float(values[0]) if values and values[0] is not None else None
