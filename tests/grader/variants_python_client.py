"""Realistic mistakes in the python_client lab, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "humidity_written_as_float",
        "patches": [('.field("humidity", int(humidity))', '.field("humidity", float(humidity))')],
        "loses": {"test_write_reading": 1},
    },
    {
        "name": "temperature_int_when_given_21",
        "patches": [
            ('.field("temperature", float(temperature))', '.field("temperature", temperature)')
        ],
        "loses": {"test_write_reading": 1},
    },
    {
        "name": "room_tag_dropped",
        "patches": [('        .tag("room", room)\n', "")],
        "loses": {"test_write_reading": 1},
    },
    {
        "name": "naive_datetime",
        "patches": [
            (
                ".time(when)  # nanosecond precision: exact, no float division",
                ".time(when.replace(tzinfo=None))  # the offset is lost: read as UTC",
            )
        ],
        "loses": {"test_write_reading": 2},
    },
    {
        "name": "microsecond_precision_through_float_division",
        "patches": [
            (
                ".time(when)  # nanosecond precision: exact, no float division",
                ".time(when, WritePrecision.US)",
            ),
            (
                "from influxdb_client import InfluxDBClient, Point, WriteOptions",
                "from influxdb_client import InfluxDBClient, Point, WriteOptions, WritePrecision",
            ),
            (
                "client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket(), record=point)",
                "client.write_api(write_options=SYNCHRONOUS).write(\n"
                "            bucket=bucket(), record=point, write_precision=WritePrecision.US\n"
                "        )",
            ),
        ],
        # Only some microsecond values land one unit off, so the check must see it
        # every time: see test_write_reading for how the grader makes sure.
        "loses": {"test_write_reading": 2},
    },
    {
        "name": "default_write_api_is_batching",
        "patches": [
            (
                "client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket(), record=point)",
                "client.write_api().write(bucket=bucket(), record=point)",
            )
        ],
        "loses": {"test_write_reading": 5},
    },
    {
        "name": "precision_not_passed",
        "patches": [
            (
                "bucket=bucket(), record=lines, write_precision=precision",
                "bucket=bucket(), record=lines",
            )
        ],
        "loses": {"test_write_line_protocol": 1.5},
    },
    {
        "name": "batching_writer_never_closed",
        "patches": [
            (
                "with connect() as client, client.write_api(write_options=options) as writer:\n",
                "with connect() as client:\n"
                "        writer = client.write_api(write_options=options)\n",
            )
        ],
        "loses": {"test_write_many": 2},
    },
    {
        "name": "dataframe_without_timestamp_column",
        "patches": [("            data_frame_timestamp_column=timestamp_column,\n", "")],
        "loses": {"test_write_dataframe": 2},
    },
    {
        "name": "records_not_sorted",
        "patches": [
            ('    return sorted(rows, key=lambda row: row["time"])\n', "    return rows\n")
        ],
        "loses": {"test_query_records": 1},
    },
    {
        "name": "dataframe_not_pivoted",
        "patches": [
            (
                '    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n',
                "",
            )
        ],
        "loses": {"test_query_dataframe": 2},
    },
    {
        "name": "mean_with_f_string_instead_of_params",
        "patches": [
            (
                '|> filter(fn: (r) => r["{tag}"] == tagValue)',
                '|> filter(fn: (r) => r["{tag}"] == "{tag_value}")',
            )
        ],
        "loses": {"test_mean_by_tag": 1.5},
    },
    {
        "name": "mean_without_group",
        "patches": [("    |> group()\n    |> mean()\n", "    |> mean()\n")],
        "loses": {"test_mean_by_tag": 2},
    },
    {
        "name": "mean_of_the_series_means",
        "patches": [
            ("    |> group()\n    |> mean()\n", "    |> mean()\n"),
            (
                "return float(values[0]) if values and values[0] is not None else None",
                "return sum(values) / len(values) if values else None",
            ),
        ],
        "loses": {"test_mean_by_tag": 2},
    },
]
