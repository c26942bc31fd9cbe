r"""Realistic mistakes in the grafana_dashboard lab, and exactly what each must cost.

The patches apply to dashboard.json, the model the solution's dashboard() returns, as
its text: a query's newlines and quotes are written there as \n and \"."""

MODEL = "test_a_dashboard_model_grafana_accepts"
SOURCE = "test_everything_queries_the_provisioned_datasource"
VARIABLE = "test_the_device_variable_lists_the_devices"
SERIES = "test_temperature_per_device_over_time"
STAT = "test_latest_humidity_as_a_stat"
TABLE = "test_a_table_of_devices_and_their_last_report"
FILE = "dashboard.json"

VARIANTS = [
    {
        "name": "the_datasource_by_its_name",
        "file": FILE,
        "patches": [
            (
                '"title": "Humidity now",\n      "description": "The latest humidity of each '
                'device.",\n      "datasource": {\n        "type": "influxdb",\n        "uid": '
                '"influxdb-flux"',
                '"title": "Humidity now",\n      "description": "The latest humidity of each '
                'device.",\n      "datasource": {\n        "type": "influxdb",\n        "uid": '
                '"InfluxDB (Flux)"',
            )
        ],
        "loses": {SOURCE: 2},
        "says": "the provisioned InfluxDB datasource, by its uid",
    },
    {
        "name": "a_window_of_its_own",
        "file": FILE,
        "patches": [("aggregateWindow(every: v.windowPeriod,", "aggregateWindow(every: 1m,")],
        "loses": {SERIES: 2},
        "says": "macros missing: ['v.windowPeriod']",
    },
    {
        "name": "the_last_hour_not_the_dashboards_range",
        "file": FILE,
        "patches": [
            (
                r"range(start: v.timeRangeStart, stop: v.timeRangeStop)\n  |> filter(fn: (r) => "
                r"r._measurement == \"readings\" and r._field == \"humidity\")",
                r"range(start: -1h)\n  |> filter(fn: (r) => "
                r"r._measurement == \"readings\" and r._field == \"humidity\")",
            )
        ],
        "loses": {STAT: 1},
    },
    {
        "name": "the_table_ignores_the_device_variable",
        "file": FILE,
        "patches": [
            (
                r"  |> filter(fn: (r) => r.device =~ /^${device:regex}$/)\n  |> last()\n  |> "
                r"keep(columns: [\"device\", \"_time\"])",
                r"  |> last()\n  |> keep(columns: [\"device\", \"_time\"])",
            )
        ],
        "loses": {TABLE: 2},
    },
    {
        "name": "a_table_per_device",
        "file": FILE,
        "patches": [(r"\"last report\"})\n  |> group()", r"\"last report\"})")],
        "loses": {TABLE: 1},
        "says": "group() merges them",
    },
    {
        "name": "fahrenheit",
        "file": FILE,
        "patches": [('"unit": "celsius"', '"unit": "fahrenheit"')],
        "loses": {SERIES: 1},
    },
    {
        "name": "a_misspelt_field_config",
        "file": FILE,
        "patches": [
            (
                '"h": 9,\n        "w": 8,\n        "x": 16,\n        "y": 0\n      },\n      '
                '"fieldConfig"',
                '"h": 9,\n        "w": 8,\n        "x": 16,\n        "y": 0\n      },\n      '
                '"fieldconfig"',
            )
        ],
        # Grafana drops the key: the stat has no unit and no thresholds either.
        "loses": {MODEL: 1, STAT: 1},
        "says": "no key Grafana's schema does not know",
    },
    {
        "name": "a_panel_height_as_text",
        "file": FILE,
        "patches": [('"h": 8,', '"h": "8",')],
        "loses": {MODEL: 1},
        "says": "an integer expected",
    },
    {
        "name": "device_values_from_the_index",
        "file": FILE,
        "patches": [
            (
                r'"query": "from(bucket: v.defaultBucket)\n  |> range(start: v.timeRangeStart, '
                r"stop: v.timeRangeStop)\n  |> filter(fn: (r) => r._measurement == \"readings\" "
                r"and r._field == \"temperature\")\n  |> keep(columns: [\"device\"])\n  |> "
                r'group()\n  |> distinct(column: \"device\")"',
                r'"query": "import \"influxdata/influxdb/schema\"\n\nschema.tagValues(bucket: '
                r"v.defaultBucket, tag: \"device\", predicate: (r) => r._measurement == "
                r'\"readings\", start: v.timeRangeStart, stop: v.timeRangeStop)"',
            )
        ],
        "loses": {VARIABLE: 1},
        "says": "schema.tagValues() reads the index",
    },
    {
        "name": "one_device_at_a_time",
        "file": FILE,
        "patches": [('"multi": true', '"multi": false')],
        "loses": {VARIABLE: 1},
    },
]
