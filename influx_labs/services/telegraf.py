"""Telegraf of one's own, as the MQTT-to-InfluxDB bridge a lab's bridge is measured against.

    config = mqtt_bridge_config(broker, influx, bucket="b", topic="iot/+/telemetry")
    with Telegraf(config, token=influx.token) as telegraf:
        ...  # publish; Telegraf subscribes with QoS 1 and writes to the bucket

It runs ``telegraf`` built from its Go module with only the mqtt_consumer input,
the json_v2 parser and the influxdb_v2 output (scripts/build-native.sh telegraf).
The token reaches it through the environment, never through the config file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .base import BrokerEndpoint, InfluxEndpoint, ServiceStartError
from .binaries import find_telegraf
from .process import LocalService, ManagedProcess


def mqtt_bridge_config(
    broker: BrokerEndpoint,
    influx: InfluxEndpoint,
    *,
    bucket: str,
    topic: str,
    batch_size: int = 5000,
    flush_interval_ms: int = 1000,
    client_id: str = "influx-labs-telegraf",
) -> str:
    """The iot_pipeline bridge's contract as a Telegraf config: JSON readings on ``topic``
    at QoS 1 become ``readings`` points, tag ``device``, float fields, time ``ts`` in ms."""
    q = json.dumps  # TOML basic strings and JSON strings escape alike
    return f"""\
[agent]
  metric_batch_size = {batch_size}
  # Large enough for a whole burst: a full buffer drops the oldest metrics.
  metric_buffer_limit = 1000000
  flush_interval = "{flush_interval_ms}ms"
  flush_jitter = "0s"
  omit_hostname = true

[[inputs.mqtt_consumer]]
  servers = [{q(f"tcp://{broker.host}:{broker.port}")}]
  topics = [{q(topic)}]
  topic_tag = ""
  qos = 1
  client_id = {q(client_id)}
  persistent_session = true
  # Messages taken but not yet written: below a batch, every batch would wait for
  # flush_interval (the default, 1000, would cap Telegraf at 1,000 messages a second).
  max_undelivered_messages = {2 * batch_size}
  data_format = "json_v2"
  [[inputs.mqtt_consumer.json_v2]]
    measurement_name = "readings"
    timestamp_path = "ts"
    timestamp_format = "unix_ms"
    [[inputs.mqtt_consumer.json_v2.tag]]
      path = "device"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "temperature"
      type = "float"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "humidity"
      type = "float"

[[outputs.influxdb_v2]]
  urls = [{q(influx.url)}]
  token = "${{INFLUX_TOKEN}}"
  organization = {q(influx.org)}
  bucket = {q(bucket)}
"""


class Telegraf(LocalService):
    """``with Telegraf(config, token=...):`` runs Telegraf on ``config`` until the block ends."""

    def __init__(self, config: str, *, token: str, startup_timeout: float = 15.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="influx-labs-telegraf-")
        self.workdir = Path(self._tmp.name)
        self.config = self.workdir / "telegraf.conf"
        self.config.write_text(config)
        self.log = self.workdir / "telegraf.log"
        self.token = token
        self.startup_timeout = startup_timeout
        self._process: ManagedProcess | None = None

    def start(self) -> None:
        argv = [str(find_telegraf()), "--config", str(self.config)]
        env = {**os.environ, "INFLUX_TOKEN": self.token}
        self._process = ManagedProcess("telegraf", argv, self.log, cwd=self.workdir, env=env)
        self._process.start()
        # Its inputs are started (the MQTT connection made) before it says so.
        self._process.wait_ready(self._started, self.startup_timeout, (ServiceStartError,))

    def _started(self) -> None:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        if "Connected [" not in text:
            raise ServiceStartError("telegraf has not connected yet")

    def stop(self) -> None:
        """SIGTERM: Telegraf writes what it buffered, then exits."""
        if self._process is not None:
            self._process.stop(timeout=30)

    def log_tail(self, lines: int = 15) -> str:
        return self._process.log_tail(lines) if self._process else ""
