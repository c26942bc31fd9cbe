"""The Compose init script that gives Grafana a read-only token, run with the real influx CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from influx_labs.services.binaries import cache_dir

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/influxdb/init/10-grafana-reader.sh"


def _influx_cli() -> str:
    found = shutil.which("influx") or str(cache_dir() / "bin" / "influx")
    if not os.access(found, os.X_OK):
        pytest.skip("the influx CLI is not built (scripts/build-native.sh builds it)")
    return found


def _run_script(influx, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cli = _influx_cli()
    env = {
        "PATH": f"{Path(cli).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),  # an empty CLI config, as in a fresh container
        "INFLUX_HOST": influx.url,
        "DOCKER_INFLUXDB_INIT_ORG": influx.org,
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": influx.token,
        "GRAFANA_TOKEN_DIR": str(tmp_path / "shared"),
    }
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_grafana_token_reads_but_cannot_write(influx, tmp_path):
    result = _run_script(influx, tmp_path)
    assert result.returncode == 0, result.stderr
    token = (tmp_path / "shared" / "grafana-token").read_text().strip()
    assert token and token != influx.token
    headers = {"Authorization": f"Token {token}"}

    query = requests.post(
        f"{influx.url}/api/v2/query",
        params={"org": influx.org},
        headers={**headers, "Content-Type": "application/vnd.flux"},
        data=f'from(bucket: "{influx.bucket}") |> range(start: -1m)',
        timeout=10,
    )
    assert query.status_code == 200, query.text

    write = requests.post(
        f"{influx.url}/api/v2/write",
        params={"org": influx.org, "bucket": influx.bucket},
        headers=headers,
        data="m v=1",
        timeout=10,
    )
    assert write.status_code in (401, 403, 404), write.text

    again = _run_script(influx, tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "shared" / "grafana-token").read_text().strip() == token
    assert "still works, keeping it" in again.stdout
