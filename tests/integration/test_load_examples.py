"""`influx-labs load-examples` (`./course load-examples`) against a live InfluxDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from influx_labs.examples import DEVICES, HOSTS, MINUTES
from influx_labs.services.process import free_port

pytestmark = pytest.mark.timeout(120)
CLI = str(Path(sys.executable).parent / "influx-labs")


def _load(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
    env |= {"INFLUX_LABS_ENV_FILE": str(tmp_path / ".env"), "COLUMNS": "200", **settings}
    return subprocess.run(
        [CLI, "load-examples"], capture_output=True, text=True, timeout=60, env=env
    )


def _settings(influx, bucket: str) -> dict[str, str]:
    return {
        "INFLUXDB_V2_URL": influx.url,
        "INFLUXDB_V2_TOKEN": influx.token,
        "INFLUXDB_V2_ORG": influx.org,
        "INFLUXDB_V2_BUCKET": bucket,
    }


def test_the_data_set_lands_and_is_described(tmp_path, influx, influx_client, fresh_bucket):
    done = _load(tmp_path, **_settings(influx, fresh_bucket))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"loaded into bucket '{fresh_bucket}'" in done.stdout
    assert "device=dev-3, room=office" in done.stdout and "usage_percent" in done.stdout
    flux = f"""from(bucket: "{fresh_bucket}") |> range(start: -3h)
        |> group(columns: ["_measurement", "_field"]) |> count()"""
    counts = {
        (r["_measurement"], r["_field"]): r.get_value()
        for table in influx_client.query_api().query(flux)
        for r in table.records
    }
    assert counts == {
        ("readings", "temperature"): MINUTES * len(DEVICES),
        ("readings", "humidity"): MINUTES * len(DEVICES),
        ("cpu", "usage_percent"): MINUTES * len(HOSTS),
    }


def test_a_missing_bucket_a_missing_token_and_a_server_down_are_said(tmp_path, influx):
    missing = _load(tmp_path, **_settings(influx, "no-such-bucket"))
    assert missing.returncode == 1 and "has no bucket 'no-such-bucket'" in missing.stdout
    no_token = _load(tmp_path, **{**_settings(influx, "labs"), "INFLUXDB_V2_TOKEN": ""})
    assert no_token.returncode == 1 and "no INFLUXDB_V2_TOKEN" in no_token.stdout
    down = {**_settings(influx, "labs"), "INFLUXDB_V2_URL": f"http://127.0.0.1:{free_port()}"}
    refused = _load(tmp_path, **down)
    assert refused.returncode == 1 and "does not answer" in refused.stdout
    assert "Traceback" not in missing.stderr + no_token.stderr + refused.stderr
