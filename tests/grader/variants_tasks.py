"""Realistic mistakes in the tasks lab, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "buckets_created_every_time",
        # A deployment script that only ever creates: its second run fails on the
        # existing bucket.
        "patches": [
            (
                "            bucket = api.find_bucket_by_name(name)\n",
                "            bucket = None\n",
            )
        ],
        "loses": {"test_buckets_with_retention_tiers": 1},
    },
    {
        "name": "hourly_task_without_offset",
        "patches": [("every: 1h, offset: 5m}}", "every: 1h}}")],
        "loses": {"test_tasks_are_created_on_their_schedule": 1},
    },
    {
        "name": "hourly_stamped_at_the_end_of_the_window",
        "patches": [
            (
                '        |> aggregateWindow(every: task.every, fn: fn, timeSrc: "_start", '
                "createEmpty: false)\n        |> map(fn: (r) => ({{r with _field: r._field",
                "        |> aggregateWindow(every: task.every, fn: fn, createEmpty: false)\n"
                "        |> map(fn: (r) => ({{r with _field: r._field",
            )
        ],
        "loses": {"test_hourly_task_aggregates_each_hour": 2},
    },
    {
        "name": "hourly_values_made_floats_for_the_union",
        "patches": [
            (
                '({{r with _field: r._field + "_" + name}})',
                '({{r with _field: r._field + "_" + name, _value: float(v: r._value)}})',
            )
        ],
        "loses": {"test_hourly_task_aggregates_each_hour": 2},
    },
    {
        "name": "hourly_range_of_two_hours",
        "patches": [
            (
                'data = from(bucket: "{RAW}")\n    |> range(start: -task.every)\n'
                '    |> filter(fn: (r) => r._measurement == "climate")\n',
                'data = from(bucket: "{RAW}")\n    |> range(start: -2h)\n'
                '    |> filter(fn: (r) => r._measurement == "climate")\n',
            )
        ],
        "loses": {"test_hourly_task_aggregates_each_hour": 2},
    },
    {
        "name": "daily_mean_of_the_hourly_means",
        "patches": [
            (
                '        weighted_mean(field: "temperature"),\n'
                '        weighted_mean(field: "humidity"),\n',
                '        ending(suffix: "_mean") |> whole_day(fn: mean),\n',
            )
        ],
        "loses": {"test_daily_task_rolls_up_the_hours": 2},
    },
    {
        "name": "daily_count_of_hours",
        "patches": [
            (
                'ending(suffix: "_count") |> whole_day(fn: sum)',
                'ending(suffix: "_count") |> whole_day(fn: count)',
            )
        ],
        "loses": {"test_daily_task_rolls_up_the_hours": 1},
    },
    {
        "name": "anomaly_population_deviation",
        "patches": [("sd: data |> stddev()", 'sd: data |> stddev(mode: "population")')],
        "loses": {"test_anomaly_task_finds_exactly_the_outliers": 1},
    },
    {
        "name": "anomaly_only_above_the_mean",
        "patches": [("math.abs(x: r.z) >", "r.z >")],
        "loses": {"test_anomaly_task_finds_exactly_the_outliers": 2},
    },
    {
        "name": "anomaly_statistics_over_two_hours",
        "patches": [
            (
                "range(start: -task.every)\n"
                '    |> filter(fn: (r) => r._measurement == "climate" and',
                'range(start: -2h)\n    |> filter(fn: (r) => r._measurement == "climate" and',
            )
        ],
        "loses": {"test_anomaly_task_finds_exactly_the_outliers": 2},
    },
    {
        "name": "daily_mean_times_an_integer_count",
        # Flux does not convert int to float by itself: the run fails, and the feedback
        # shows the run's log.
        "patches": [("r.mean * float(v: r.count)", "r.mean * r.count")],
        "loses": {"test_daily_task_rolls_up_the_hours": 5},
        "says": "expected float but found int",
    },
]
