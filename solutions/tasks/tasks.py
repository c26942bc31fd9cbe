"""Lab tasks: retention tiers, downsampling tasks and a z-score anomaly task (solution).

Run the grader on it: `./course check tasks solutions/tasks`. Guide: docs/labs/tasks.md.

Contract (the grader calls these functions in a child process):
- settings come from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
  INFLUXDB_V2_TOKEN (``InfluxDBClient.from_env_properties()`` reads them);
- raw readings are points of measurement "climate" in bucket "raw", tagged
  `device` and `room`, with fields `temperature` (float) and `humidity` (integer);
- the three functions returning Flux return the whole task script, `option task`
  included; the grader creates tasks from them and runs them for windows it
  chooses (manual runs with a scheduled time), so a script must read the window
  it aggregates from the task's own schedule, never from a fixed time.
"""

from __future__ import annotations

from influxdb_client import BucketRetentionRules, InfluxDBClient, TaskCreateRequest

RAW, HOURLY, DAILY, ANOMALIES = "raw", "hourly", "daily", "anomalies"
DAY = 86_400
# How long each bucket keeps its points, in seconds; 0 keeps them forever.
RETENTION = {RAW: 7 * DAY, HOURLY: 90 * DAY, DAILY: 0, ANOMALIES: 30 * DAY}
# The name each task must have (its `option task` name).
TASK_NAMES = {
    "hourly": "downsample-hourly",
    "daily": "downsample-daily",
    "anomalies": "temperature-anomalies",
}


def connect() -> InfluxDBClient:
    return InfluxDBClient.from_env_properties()


def _org_id(client: InfluxDBClient) -> str:
    return client.organizations_api().find_organizations(org=client.org)[0].id


def create_buckets() -> dict[str, str]:
    """Create the four buckets with their RETENTION; returns bucket name -> bucket ID.

    Safe to run again: a bucket that exists keeps its ID and gets the contract's retention.
    """
    with connect() as client:
        api = client.buckets_api()
        org_id = _org_id(client)
        ids = {}
        for name, seconds in RETENTION.items():
            rules = [BucketRetentionRules(type="expire", every_seconds=seconds)]
            bucket = api.find_bucket_by_name(name)
            if bucket is None:
                bucket = api.create_bucket(bucket_name=name, retention_rules=rules, org_id=org_id)
            else:
                bucket.retention_rules = rules
                bucket = api.update_bucket(bucket)
            ids[name] = bucket.id
        return ids


def hourly_task() -> str:
    """The hourly tier: every hour, 5 minutes late (late readings still count), aggregate the
    hour that just ended from "raw" into "hourly".

    For each series and each of temperature and humidity: fields <field>_mean, <field>_min,
    <field>_max and <field>_count, at the START of the hour (10:00 holds 10:00-11:00), the
    series' tags kept. min and max keep the raw type; mean is a float; count an integer.
    """
    return f"""option task = {{name: "{TASK_NAMES["hourly"]}", every: 1h, offset: 5m}}

data = from(bucket: "{RAW}")
    |> range(start: -task.every)
    |> filter(fn: (r) => r._measurement == "climate")
    |> filter(fn: (r) => r._field == "temperature" or r._field == "humidity")

// One aggregate of every series, stamped with the start of its hour and named <field>_<name>.
aggregate = (fn, name) =>
    data
        |> aggregateWindow(every: task.every, fn: fn, timeSrc: "_start", createEmpty: false)
        |> map(fn: (r) => ({{r with _field: r._field + "_" + name}}))

union(
    tables: [
        aggregate(fn: mean, name: "mean"),
        aggregate(fn: min, name: "min"),
        aggregate(fn: max, name: "max"),
        aggregate(fn: count, name: "count"),
    ],
)
    |> to(bucket: "{HOURLY}")
"""


def daily_task() -> str:
    """The daily tier: every day, 15 minutes late (after the last hourly run), roll the day's
    hourly points up from "hourly" into "daily", at the start of the (UTC) day.

    Same fields as the hourly tier: <field>_min is the day's minimum, <field>_max its
    maximum, <field>_count the number of raw readings, and <field>_mean the mean of the
    day's raw readings: each hour weighs as many readings as it had, not one.
    """
    return f"""import "strings"

option task = {{name: "{TASK_NAMES["daily"]}", every: 1d, offset: 15m}}

hourly = from(bucket: "{HOURLY}")
    |> range(start: -task.every)
    |> filter(fn: (r) => r._measurement == "climate")

// The day's value of every series, stamped with the start of the day.
whole_day = (tables=<-, fn) =>
    tables |> aggregateWindow(every: task.every, fn: fn, timeSrc: "_start", createEmpty: false)
ending = (suffix) => hourly |> filter(fn: (r) => strings.hasSuffix(v: r._field, suffix: suffix))

// A mean of the hourly means would weigh an hour of 3 readings as much as an hour of 60:
// sum(mean * count) / sum(count) is the mean of the day's readings.
weighted_mean = (field) =>
    hourly
        |> filter(fn: (r) => r._field == field + "_mean" or r._field == field + "_count")
        |> map(fn: (r) => ({{r with _field: strings.trimPrefix(v: r._field, prefix: field + "_")}}))
        |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
        |> reduce(
            identity: {{total: 0.0, n: 0}},
            fn: (r, accumulator) =>
                ({{
                    total: accumulator.total + r.mean * float(v: r.count),
                    n: accumulator.n + r.count,
                }}),
        )
        |> map(fn: (r) => ({{r with _time: r._start, _value: r.total / float(v: r.n)}}))
        |> set(key: "_field", value: field + "_mean")
        |> drop(columns: ["total", "n"])

union(
    tables: [
        weighted_mean(field: "temperature"),
        weighted_mean(field: "humidity"),
        ending(suffix: "_min") |> whole_day(fn: min),
        ending(suffix: "_max") |> whole_day(fn: max),
        ending(suffix: "_count") |> whole_day(fn: sum),
    ],
)
    |> to(bucket: "{DAILY}")
"""


def anomaly_task(threshold: float) -> str:
    """Every hour, find the hour's anomalous temperatures in "raw" and write them to
    "anomalies".

    A reading is anomalous when its z-score, (value - mean) / standard deviation, is
    beyond `threshold` either way, with the mean and the (sample) standard deviation of
    its own series over that same hour. Each anomaly is one point of measurement
    "climate_anomaly" at the reading's time, with the reading's tags and two float
    fields: `temperature` (the reading) and `z`. Nothing else is written.
    """
    return f"""import "math"

option task = {{name: "{TASK_NAMES["anomalies"]}", every: 1h}}

data = from(bucket: "{RAW}")
    |> range(start: -task.every)
    |> filter(fn: (r) => r._measurement == "climate" and r._field == "temperature")

// Mean and (sample) standard deviation of each series over the window, from the data.
series = ["_start", "_stop", "_measurement", "_field", "device", "room"]
stats = join(tables: {{mean: data |> mean(), sd: data |> stddev()}}, on: series)

// Only the stats' columns are in one input alone and renamed: _value stays the reading's.
scored =
    join(tables: {{reading: data, stats: stats}}, on: series)
        |> map(fn: (r) => ({{r with z: (r._value - r._value_mean) / r._value_sd}}))
        |> filter(fn: (r) => math.abs(x: r.z) > {float(threshold)!r})

union(tables: [scored, scored |> map(fn: (r) => ({{r with _field: "z", _value: r.z}}))])
    |> keep(columns: ["_time", "_start", "_stop", "_field", "_value", "device", "room"])
    |> set(key: "_measurement", value: "climate_anomaly")
    |> to(bucket: "{ANOMALIES}")
"""


def create_tasks(threshold: float) -> dict[str, str]:
    """Create the three tasks (active) from the scripts above; returns "hourly", "daily"
    and "anomalies" -> task ID."""
    scripts = {"hourly": hourly_task(), "daily": daily_task(), "anomalies": anomaly_task(threshold)}
    with connect() as client:
        org_id = _org_id(client)
        api = client.tasks_api()
        return {
            kind: api.create_task(
                task_create_request=TaskCreateRequest(flux=flux, org_id=org_id, status="active")
            ).id
            for kind, flux in scripts.items()
        }
