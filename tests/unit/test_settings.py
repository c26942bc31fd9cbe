"""Settings and the generated .env file."""

from __future__ import annotations

import stat

import pytest
from dotenv import dotenv_values

from influx_labs.settings import (
    Settings,
    new_env_text,
    retention_seconds,
    secret,
    write_env_file,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2_592_000), ("12h", 43_200), ("4w", 2_419_200), ("0", 0)]
)
def test_retention_durations(text, seconds):
    assert retention_seconds(text) == seconds


@pytest.mark.parametrize("text", ["30 days", "1y", "-3d", "d"])
def test_bad_retention_is_refused_with_the_value(text):
    with pytest.raises(ValueError, match="is not a duration"):
        retention_seconds(text)


def test_generated_env_has_random_secrets_and_every_setting():
    first, second = (
        dotenv_values(stream=_io(new_env_text())),
        dotenv_values(stream=_io(new_env_text())),
    )
    assert first.keys() == second.keys()
    for name in ("INFLUXDB_V2_TOKEN", "INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert first[name] != second[name]
        assert len(first[name]) >= 16
    settings = Settings(**first)
    assert settings.influx_url == "http://127.0.0.1:8086"
    assert settings.influx_token.get_secret_value() == first["INFLUXDB_V2_TOKEN"]


def test_no_secret_reads_as_an_option():
    # A token_urlsafe starts with "-" once in 64 draws; the official image's setup then
    # takes the password for a flag and fails.
    values = [secret(16) for _ in range(2000)]
    assert not [v for v in values if v.startswith("-")]
    assert len(set(values)) == 2000 and all(len(v) == 22 for v in values)


def test_write_env_file_keeps_an_existing_file(tmp_path):
    path = tmp_path / ".env"
    assert write_env_file(path) is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    assert write_env_file(path) is False
    assert path.read_text() == before
    assert write_env_file(path, force=True) is True
    assert path.read_text() != before


def test_environment_overrides_the_env_file(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("INFLUXDB_V2_ORG=from-file\nMQTT_PORT=1999\n")
    monkeypatch.setenv("INFLUX_LABS_ENV_FILE", str(path))
    monkeypatch.setenv("INFLUXDB_V2_ORG", "from-env")
    from influx_labs.settings import load_settings

    settings = load_settings()
    assert settings.influx_org == "from-env"
    assert settings.mqtt_port == 1999


def _io(text: str):
    import io

    return io.StringIO(text)
