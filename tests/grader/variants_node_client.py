"""Realistic mistakes in the node_client lab, and exactly what each must cost."""

READING = "test_write_reading"
LINES = "test_write_lines"
MANY = "test_write_many"
REFUSED = "test_a_refused_batch_makes_write_many_reject"
ROWS = "test_query_rows"
MEAN = "test_mean_by_tag"
ABOVE = "test_count_above"

VARIANTS = [
    {
        "name": "temperature_as_an_integer_field",
        "patches": [
            ('.floatField("temperature", temperature)', '.intField("temperature", temperature)')
        ],
        "loses": {READING: 1},
        "says": "temperature stored as a float",
    },
    {
        "name": "the_date_as_milliseconds_at_nanosecond_precision",
        "patches": [
            ('influx.getWriteApi(org, bucket, "ms");', "influx.getWriteApi(org, bucket);"),
            (".timestamp(when),", ".timestamp(when.getTime()),"),
        ],
        "loses": {READING: 2},
        "says": "it landed in 1970",
    },
    {
        "name": "close_not_awaited",
        "patches": [
            (
                """      .timestamp(when),
  );
  await writer.close();""",
                """      .timestamp(when),
  );
  writer.close();""",
            )
        ],
        # Nothing lands: the check stops at "nothing landed", every part lost.
        "loses": {READING: 5},
        "says": "await writer.close()",
    },
    {
        "name": "precision_left_at_nanoseconds",
        "patches": [
            (
                "const writer = influx.getWriteApi(org, bucket, precision);",
                "const writer = influx.getWriteApi(org, bucket);",
            )
        ],
        "loses": {LINES: 1.5},
    },
    {
        "name": "nanoseconds_through_a_number",
        "patches": [(".timestamp(record.time);", ".timestamp(Number(record.time));")],
        "loses": {MANY: 2},
    },
    {
        "name": "field_types_guessed_from_the_number",
        "patches": [
            (
                '.floatField("value", record.value)',
                '[Number.isInteger(record.value) ? "intField" : "floatField"]'
                '("value", record.value)',
            )
        ],
        # Whole-number values written as integers conflict with the float field: InfluxDB
        # refuses part of a batch, and close() rejects with its answer.
        "loses": {MANY: 6},
        "says": "field type conflict",
    },
    {
        "name": "close_taken_for_every_answer",
        "patches": [
            (
                """  while (acknowledged < records.length && failure === undefined) {
    await new Promise((resolve) => (wake = resolve));
  }
""",
                "",
            )
        ],
        "loses": {MANY: 1},
        "says": "returns only once every batch is acknowledged",
    },
    {
        "name": "a_refused_batch_counted_as_written",
        "patches": [("  if (failure !== undefined) throw failure;\n", "")],
        "loses": {REFUSED: 2},
        "says": "throw it once close() is done",
    },
    {
        "name": "default_tags_over_the_readings_own",
        "patches": [
            (
                "for (const [key, value] of Object.entries(record.tags)) point.tag(key, value);",
                "for (const [key, value] of Object.entries({ ...record.tags, ...defaultTags }))"
                " point.tag(key, value);",
            )
        ],
        "loses": {MANY: 1},
        "says": "a reading's own tag of the same name wins",
    },
    {
        "name": "batch_size_not_passed",
        "patches": [("    batchSize,\n", "")],
        "loses": {MANY: 1},
        "says": "sent in batches of 300",
    },
    {
        "name": "rows_sorted_as_text",
        "patches": [
            (
                """    |> group()
    |> sort(columns: ["_time"])`;
  const rows = await influx.getQueryApi(org).collectRows(query);""",
                """`;
  const rows = (await influx.getQueryApi(org).collectRows(query)).sort((a, b) =>
    a._time < b._time ? -1 : 1,
  );""",
            )
        ],
        "loses": {ROWS: 1},
        "says": "RFC 3339 strings do not sort as text",
    },
    {
        "name": "time_as_a_date",
        "patches": [
            ("return { time: row._time, value", "return { time: new Date(row._time), value")
        ],
        # A Date keeps milliseconds and reaches the grader as a time, not the server's string.
        "loses": {ROWS: 3},
    },
    {
        "name": "a_plain_template_literal",
        "patches": [
            (
                "r._measurement == ${measurement} and r._field == ${field})\n    |> group()",
                'r._measurement == "${measurement}" and r._field == "${field}")\n    |> group()',
            ),
            (
                "const query = flux`from(bucket: ${bucket})\n    |> range(start: ${start}, stop",
                'const query = `from(bucket: "${bucket}")\n'
                "    |> range(start: ${start.toISOString()}, stop",
            ),
            ("stop: ${stop})", "stop: ${stop.toISOString()})"),
        ],
        "loses": {ROWS: 1},
        "says": "a measurement name with quotes",
    },
    {
        "name": "mean_query_in_a_plain_template_literal",
        "patches": [
            (
                """  const query = flux`from(bucket: ${bucket})
    |> range(start: ${start})
    |> filter(fn: (r) => r._measurement == ${measurement} and r._field == ${field})
    |> filter(fn: (r) => r[${tag}] == ${tagValue})""",
                """  const query = `from(bucket: "${bucket}")
    |> range(start: ${start.toISOString()})
    |> filter(fn: (r) => r._measurement == "${measurement}" and r._field == "${field}")
    |> filter(fn: (r) => r["${tag}"] == "${tagValue}")""",
            )
        ],
        # Quotes end the string early, ${…} is Flux's own interpolation, and the hostile
        # tag key becomes part of the query.
        "loses": {MEAN: 2},
        "says": "a tag key with quotes in it is only a name",
    },
    {
        "name": "no_group_before_the_mean",
        "patches": [("    |> group()\n    |> mean()", "    |> mean()")],
        # One mean per sensor series; the first is not the mean of all of them.
        "loses": {MEAN: 2},
    },
    {
        "name": "at_or_above_the_threshold",
        "patches": [("r._value > ${threshold}", "r._value >= ${threshold}")],
        "loses": {ABOVE: 1},
    },
]
