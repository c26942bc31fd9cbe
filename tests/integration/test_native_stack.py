"""The lab services answer and behave like InfluxDB 2.9 and Mosquitto 2 (live servers)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psutil
import pytest
import requests
from influxdb_client import BucketRetentionRules, Point, TaskCreateRequest, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from influx_labs.services import NativeStack
from influx_labs.services.process import process_gone
from influx_labs.tasks import finished_run
from influx_labs.versions import INFLUXDB_VERSION


def test_influxdb_is_healthy_and_the_pinned_version(influx):
    health = influx.health()
    assert health["status"] == "pass"
    # As official releases say it (clients check the `v`), in the body and the ping header.
    assert health["version"] == f"v{INFLUXDB_VERSION}"
    ping = requests.get(f"{influx.url}/ping", timeout=5)
    assert ping.headers["X-Influxdb-Version"] == f"v{INFLUXDB_VERSION}"


def test_written_points_read_back_with_exact_types_and_times(influx_client, fresh_bucket):
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    points = [
        Point("env")
        .tag("room", "lab")
        .field("count", i)
        .field("temp", 20.5 + i)
        .time(base + timedelta(seconds=i), WritePrecision.S)
        for i in range(3)
    ]
    with influx_client.write_api(write_options=SYNCHRONOUS) as write:
        write.write(bucket=fresh_bucket, record=points, write_precision=WritePrecision.S)

    tables = influx_client.query_api().query(
        f'from(bucket: "{fresh_bucket}") |> range(start: -1h) '
        '|> filter(fn: (r) => r._measurement == "env")'
    )
    got = {
        (r.get_field(), r.get_time(), r.values["room"]): r.get_value() for t in tables for r in t
    }
    assert len(got) == 6
    for i in range(3):
        when = base + timedelta(seconds=i)
        count = got[("count", when, "lab")]
        assert count == i and isinstance(count, int)
        assert got[("temp", when, "lab")] == pytest.approx(20.5 + i)


def test_bucket_with_retention_is_created_and_deleted(influx_client, influx):
    buckets = influx_client.buckets_api()
    name = f"ret-{uuid.uuid4().hex[:8]}"
    created = buckets.create_bucket(
        bucket_name=name,
        org=influx.org,
        retention_rules=BucketRetentionRules(type="expire", every_seconds=3600),
    )
    found = buckets.find_bucket_by_name(name)
    assert found is not None and found.id == created.id
    assert [r.every_seconds for r in found.retention_rules] == [3600]
    buckets.delete_bucket(created)
    assert buckets.find_bucket_by_name(name) is None


def test_flux_task_runs_on_demand_and_its_output_is_queryable(influx_client, influx, fresh_bucket):
    now = datetime.now(UTC).replace(microsecond=0)
    with influx_client.write_api(write_options=SYNCHRONOUS) as write:
        write.write(
            bucket=fresh_bucket,
            record=[
                Point("sales").field("amount", v).time(now - timedelta(minutes=m))
                for v, m in ((3, 10), (4, 20), (5, 30))
            ],
        )
    flux = f"""option task = {{name: "total-{fresh_bucket}", every: 1h}}

from(bucket: "{fresh_bucket}")
    |> range(start: -1h)
    |> filter(fn: (r) => r._measurement == "sales" and r._field == "amount")
    |> sum()
    |> duplicate(column: "_stop", as: "_time")
    |> set(key: "_measurement", value: "totals")
    |> to(bucket: "{fresh_bucket}", org: "{influx.org}")
"""
    tasks = influx_client.tasks_api()
    org_id = influx.check_token()
    task = tasks.create_task(
        task_create_request=TaskCreateRequest(flux=flux, org_id=org_id, status="active")
    )
    try:
        run = tasks.run_manually(task.id)
        ran = finished_run(influx_client, task.id, run.id)
        assert ran is not None and ran.status == "success", tasks.get_run_logs(task.id, run.id)
        # The output of that very run: a scheduled run at the hour writes one of its own.
        at = ran.scheduled_for
        tables = influx_client.query_api().query(
            f'from(bucket: "{fresh_bucket}") |> range(start: -2h) '
            '|> filter(fn: (r) => r._measurement == "totals")'
        )
        assert [r.get_value() for t in tables for r in t if r.get_time() == at] == [12]
    finally:
        tasks.delete_task(task.id)


def test_mqtt_message_published_is_received_by_a_subscriber(mqtt_broker):
    topic = f"labs/test/{uuid.uuid4().hex[:8]}"
    received: list[bytes] = []
    subscribed, arrived = threading.Event(), threading.Event()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda _c, _u, msg: (received.append(msg.payload), arrived.set())
    sub.connect(mqtt_broker.host, mqtt_broker.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(5), "subscription was not acknowledged"
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect(mqtt_broker.host, mqtt_broker.port)
        pub.loop_start()
        pub.publish(topic, b'{"device": "d1", "temperature": 21.5}', qos=1).wait_for_publish(5)
        pub.loop_stop()
        pub.disconnect()
        assert arrived.wait(5), "the subscriber got nothing"
        assert received == [b'{"device": "d1", "temperature": 21.5}']
    finally:
        sub.loop_stop()
        sub.disconnect()


@pytest.mark.usefixtures("native_binaries")
def test_stop_leaves_no_server_processes_and_no_files():
    stack = NativeStack()
    stack.start()
    pids = [stack.influxd.pid, stack.mosquitto.pid]
    workdir = stack.workdir
    assert all(psutil.pid_exists(p) for p in pids)
    stack.stop()
    assert all(process_gone(p) for p in pids)
    assert not workdir.exists()
    stack.stop()  # a second stop is harmless


@pytest.mark.usefixtures("native_binaries")
def test_a_second_influxdb_starts_on_demand_with_its_own_data_and_stops_with_the_stack():
    with NativeStack() as stack:
        cloud = stack.influx_server("cloud")
        assert stack.influx_server("cloud") == cloud  # asked again: the same server
        edge = stack.endpoints.influx
        assert cloud.url != edge.url and cloud.token != edge.token
        cloud.check_token()
        # Two servers, not two names for one: the edge's token does not open the cloud.
        refused = requests.get(
            f"{cloud.url}/api/v2/buckets", headers={"Authorization": f"Token {edge.token}"}
        )
        assert refused.status_code == 401
        env = stack.endpoints.as_env()
        assert (env["INFLUXDB_CLOUD_URL"], env["INFLUXDB_CLOUD_TOKEN"]) == (cloud.url, cloud.token)
        stack.check()
        pid = next(p.pid for p in stack._processes if p.name == "influxd-cloud")
    assert process_gone(pid)
