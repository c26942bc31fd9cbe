"""The external backend: servers the user already runs (e.g. the Compose stack).

Nothing is started or stopped; ``start`` only proves that both services
answer and that the token opens the organization, so a wrong setting fails
at once with a message instead of deep inside a lab.
"""

from __future__ import annotations

import os

from dotenv import dotenv_values

from ..settings import Settings, env_file, load_settings
from .base import BrokerEndpoint, Endpoints, InfluxEndpoint, ServiceError, Stack, server_env


def settings_endpoints(settings: Settings) -> Endpoints:
    """The endpoints that settings describe, unchecked."""
    influx = InfluxEndpoint(
        settings.influx_url.rstrip("/"),
        settings.influx_org,
        settings.influx_bucket,
        settings.influx_token.get_secret_value(),
    )
    return Endpoints(influx, BrokerEndpoint(settings.mqtt_host, settings.mqtt_port), "external")


class ExternalStack(Stack):
    """A stack described by settings (environment variables or ``.env``)."""

    backend = "external"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._endpoints: Endpoints | None = None

    def start(self) -> Endpoints:
        endpoints = settings_endpoints(self.settings)
        if not endpoints.influx.token:
            raise ServiceError(
                "no InfluxDB token: set INFLUXDB_V2_TOKEN (or run `influx-labs init-env` "
                "and start the stack with `./course up`)"
            )
        endpoints.influx.health()
        endpoints.influx.check_token()
        endpoints.mqtt.check()
        self._endpoints = endpoints
        return endpoints

    def stop(self) -> None:
        """Nothing to stop: the user owns these servers."""

    def _start_influx(self, name: str) -> InfluxEndpoint:
        """The extra server the settings describe (``INFLUXDB_CLOUD_URL`` and so on), checked
        like the first: a lab run on external servers cannot start one itself."""
        names = list(server_env(name, InfluxEndpoint("", "", "", "")))
        values = {**dotenv_values(env_file()), **os.environ}
        missing = [n for n in names if not values.get(n)]
        if missing:
            raise ServiceError(
                f"this lab needs a second InfluxDB server, {name!r}: set {', '.join(missing)} "
                f"(the Compose stack starts one with `docker compose --profile {name} up -d`)"
            )
        url, org, bucket, token = (str(values[n]) for n in names)
        peer = str(values.get(f"INFLUXDB_{name.upper()}_PEER_URL") or "")
        server = InfluxEndpoint(url.rstrip("/"), org, bucket, token, peer)
        server.health()
        server.check_token()
        return server
