"""The server versions the whole project is pinned to.

One place, because the Docker images, the native build and the tests must
agree: a lab that passes against one InfluxDB must pass against the other.
"""

INFLUXDB_VERSION = "2.9.1"
# The influx-cli commit that influxdb v2.9.1 itself pins (see scripts/build-native.sh).
INFLUX_CLI_VERSION = "2.7.1-0.20250130214939-76d1c4d9b777"
# The TCP fault injector the grader puts between a student's code and a server.
TOXIPROXY_VERSION = "2.5.0"
# The MQTT-to-InfluxDB agent the iot_pipeline bridge is benchmarked against.
TELEGRAF_VERSION = "1.37.2"

# Never `influxdb:latest`: that tag moves to InfluxDB 3, which has another API.
INFLUXDB_IMAGE = f"influxdb:{INFLUXDB_VERSION}"
MOSQUITTO_IMAGE = "eclipse-mosquitto:2.0.22"
GRAFANA_IMAGE = "grafana/grafana:12.0.2"
TOXIPROXY_IMAGE = f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}"
