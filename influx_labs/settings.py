"""Connection settings shared by the labs, the grader and the stack commands.

Everything is read from the environment first and from the repository's
``.env`` second, so the same file drives Docker Compose, the native stack and
the students' programs. The InfluxDB names are the ones
``InfluxDBClient.from_env_properties()`` reads, so a lab can open a client
with no configuration code at all.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def env_file() -> Path:
    """The settings file: ``$INFLUX_LABS_ENV_FILE``, else ``.env`` at the repository root."""
    return Path(os.environ.get("INFLUX_LABS_ENV_FILE") or REPO_ROOT / ".env")


_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def retention_seconds(duration: str) -> int:
    """Turn a retention such as ``30d`` into seconds; ``0`` or ``inf`` mean forever."""
    if duration in ("0", "0s", "inf", ""):
        return 0
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"retention {duration!r} is not a duration like 12h, 30d or 4w")
    return int(match.group(1)) * _SECONDS[match.group(2)]


class Settings(BaseSettings):
    """Where the lab services are and how to authenticate to them."""

    model_config = SettingsConfigDict(
        env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    influx_url: str = Field("http://127.0.0.1:8086", alias="INFLUXDB_V2_URL")
    influx_org: str = Field("influx-labs", alias="INFLUXDB_V2_ORG")
    influx_bucket: str = Field("labs", alias="INFLUXDB_V2_BUCKET")
    influx_token: SecretStr = Field(SecretStr(""), alias="INFLUXDB_V2_TOKEN")
    influx_port: int = Field(8086, alias="INFLUXDB_PORT")
    admin_user: str = Field("admin", alias="INFLUXDB_ADMIN_USER")
    admin_password: SecretStr = Field(SecretStr(""), alias="INFLUXDB_ADMIN_PASSWORD")
    retention: str = Field("30d", alias="INFLUXDB_RETENTION")
    mqtt_host: str = Field("127.0.0.1", alias="MQTT_HOST")
    mqtt_port: int = Field(1883, alias="MQTT_PORT")
    grafana_port: int = Field(3000, alias="GRAFANA_PORT")
    # The edge_to_cloud lab's second and third servers, its two regions (`up --cloud`).
    cloud_url: str = Field("http://127.0.0.1:8087", alias="INFLUXDB_CLOUD_URL")
    cloud_token: SecretStr = Field(SecretStr(""), alias="INFLUXDB_CLOUD_TOKEN")
    cloud_port: int = Field(8087, alias="INFLUXDB_CLOUD_PORT")
    secondary_url: str = Field("http://127.0.0.1:8088", alias="INFLUXDB_SECONDARY_URL")
    secondary_token: SecretStr = Field(SecretStr(""), alias="INFLUXDB_SECONDARY_TOKEN")
    secondary_port: int = Field(8088, alias="INFLUXDB_SECONDARY_PORT")

    @field_validator("retention")
    @classmethod
    def _valid_retention(cls, value: str) -> str:
        retention_seconds(value)
        return value


def load_settings() -> Settings:
    """Settings from the environment, then from :func:`env_file`."""
    return Settings(_env_file=env_file())  # type: ignore[call-arg]


def secret(nbytes: int = 32) -> str:
    """A random URL-safe secret that no command line takes for an option: the official
    influxdb image's entrypoint passes the password as ``--password VALUE``, and a value
    starting with "-" makes its setup fail."""
    while (value := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return value


def new_env_text(
    *,
    influx_port: int = 8086,
    mqtt_port: int = 1883,
    grafana_port: int = 3000,
    toxiproxy_port: int = 8474,
    toxiproxy_influxdb_port: int = 18086,
    cloud_port: int = 8087,
    secondary_port: int = 8088,
) -> str:
    """A complete ``.env`` with fresh random secrets, for Compose and the native stack alike."""
    token = secret(48)
    return "\n".join(
        [
            "# Written by `influx-labs init-env`. Secrets are random; keep this file out of git.",
            "# Changing them after the first start needs a fresh data volume (see README).",
            f"INFLUXDB_V2_URL=http://127.0.0.1:{influx_port}",
            "INFLUXDB_V2_ORG=influx-labs",
            "INFLUXDB_V2_BUCKET=labs",
            f"INFLUXDB_V2_TOKEN={token}",
            f"INFLUXDB_PORT={influx_port}",
            "INFLUXDB_ADMIN_USER=admin",
            f"INFLUXDB_ADMIN_PASSWORD={secret(18)}",
            "INFLUXDB_RETENTION=30d",
            "MQTT_HOST=127.0.0.1",
            f"MQTT_PORT={mqtt_port}",
            f"GRAFANA_PORT={grafana_port}",
            "GRAFANA_ADMIN_USER=admin",
            f"GRAFANA_ADMIN_PASSWORD={secret(18)}",
            f"TOXIPROXY_PORT={toxiproxy_port}",
            f"TOXIPROXY_INFLUXDB_PORT={toxiproxy_influxdb_port}",
            f"INFLUXDB_CLOUD_URL=http://127.0.0.1:{cloud_port}",
            "INFLUXDB_CLOUD_ORG=influx-labs",
            "INFLUXDB_CLOUD_BUCKET=labs",
            f"INFLUXDB_CLOUD_TOKEN={secret(48)}",
            f"INFLUXDB_CLOUD_PORT={cloud_port}",
            f"INFLUXDB_SECONDARY_URL=http://127.0.0.1:{secondary_port}",
            "INFLUXDB_SECONDARY_ORG=influx-labs",
            "INFLUXDB_SECONDARY_BUCKET=labs",
            f"INFLUXDB_SECONDARY_TOKEN={secret(48)}",
            f"INFLUXDB_SECONDARY_PORT={secondary_port}",
            "",
        ]
    )


def write_env_file(path: Path | None = None, *, force: bool = False) -> bool:
    """Write a fresh ``.env`` unless one exists; returns whether it wrote one."""
    path = path or env_file()
    if path.exists() and not force:
        return False
    write_private(path, new_env_text())
    return True


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (mode 600 from the first byte: it holds secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
