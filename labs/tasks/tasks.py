"""Lab tasks: retention tiers, downsampling tasks and a z-score anomaly task (skeleton).

Complete the TODOs, then run the grader on your work: `./course check tasks`.
Guide: docs/labs/tasks.md.

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

from influxdb_client import InfluxDBClient

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
    # TODO: for each name in RETENTION, find the bucket by name (buckets_api()
    # .find_bucket_by_name); create it when missing, with
    # BucketRetentionRules(type="expire", every_seconds=...) and org_id=_org_id(client),
    # or set its retention_rules and update_bucket() when it exists.
    raise NotImplementedError


def hourly_task() -> str:
    """The hourly tier: every hour, 5 minutes late (late readings still count), aggregate the
    hour that just ended from "raw" into "hourly".

    For each series and each of temperature and humidity: fields <field>_mean, <field>_min,
    <field>_max and <field>_count, at the START of the hour (10:00 holds 10:00-11:00), the
    series' tags kept. min and max keep the raw type; mean is a float; count an integer.
    """
    # TODO: option task = {name: ..., every: 1h, offset: 5m}; read range(start: -task.every)
    # of "raw"; aggregateWindow(every: task.every, fn: ..., timeSrc: "_start",
    # createEmpty: false) once per aggregate, renaming _field to <field>_<aggregate>;
    # union() them and to(bucket: "hourly").
    raise NotImplementedError


def daily_task() -> str:
    """The daily tier: every day, 15 minutes late (after the last hourly run), roll the day's
    hourly points up from "hourly" into "daily", at the start of the (UTC) day.

    Same fields as the hourly tier: <field>_min is the day's minimum, <field>_max its
    maximum, <field>_count the number of raw readings, and <field>_mean the mean of the
    day's raw readings: each hour weighs as many readings as it had, not one.
    """
    # TODO: option task = {name: ..., every: 1d, offset: 15m} (after any `import` lines);
    # min of the _min fields, max of the _max fields, sum of the _count fields, and for
    # each field sum(mean * count) / sum(count) over the day's hours; to(bucket: "daily").
    raise NotImplementedError


def anomaly_task(threshold: float) -> str:
    """Every hour, find the hour's anomalous temperatures in "raw" and write them to
    "anomalies".

    A reading is anomalous when its z-score, (value - mean) / standard deviation, is
    beyond `threshold` either way, with the mean and the (sample) standard deviation of
    its own series over that same hour. Each anomaly is one point of measurement
    "climate_anomaly" at the reading's time, with the reading's tags and two float
    fields: `temperature` (the reading) and `z`. Nothing else is written.
    """
    # TODO: option task = {name: ..., every: 1h}; the hour's temperatures; mean() and
    # stddev() of each series joined back to its readings; z = (value - mean) / sd;
    # keep math.abs(x: z) > threshold; write temperature and z to "anomalies".
    raise NotImplementedError


def create_tasks(threshold: float) -> dict[str, str]:
    """Create the three tasks (active) from the scripts above; returns "hourly", "daily"
    and "anomalies" -> task ID."""
    # TODO: tasks_api().create_task(task_create_request=TaskCreateRequest(flux=...,
    # org_id=_org_id(client), status="active")) for each script.
    raise NotImplementedError
