"""Realistic mistakes in the monitoring lab, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "sleeps_a_whole_interval_after_each_cycle",
        # The textbook loop: work, then sleep(interval). Every cycle is late by its work.
        "patches": [
            (
                "            self.cycle(first + k * step)\n",
                "            self.cycle(time.time_ns())\n",
            ),
            (
                "            self.stopping.wait(max(0.0, (first + k * step - time.time_ns()) "
                "/ 1e9))\n",
                "            self.stopping.wait(self.interval)\n",
            ),
        ],
        "loses": {"test_cycles_run_on_schedule_until_sigterm": 2},
        "says": "without drift",
    },
    {
        "name": "health_checks_without_a_timeout",
        "patches": [
            (
                "response = requests.get(url, timeout=timeout)",
                "response = requests.get(url)",
            )
        ],
        # The silent endpoint holds the first cycle for ever: nothing is written.
        "loses": {
            "test_cycles_run_on_schedule_until_sigterm": 4,
            "test_system_metrics_are_typed_and_rates_come_from_deltas": 4,
            "test_health_checks_record_each_endpoint": 5,
        },
        "says": "did not exit within 10 s of SIGTERM",
    },
    {
        "name": "response_time_in_seconds",
        "patches": [
            (
                "elapsed_ms = (time.perf_counter() - started) * 1000",
                "elapsed_ms = time.perf_counter() - started",
            )
        ],
        "loses": {"test_health_checks_record_each_endpoint": 1},
    },
    {
        "name": "redirects_not_followed",
        "patches": [
            (
                "response = requests.get(url, timeout=timeout)",
                "response = requests.get(url, timeout=timeout, allow_redirects=False)",
            )
        ],
        "loses": {"test_health_checks_record_each_endpoint": 1},
    },
    {
        "name": "any_answer_counts_as_up",
        "patches": [
            (
                'point.field("up", response.status_code < 400)',
                'point.field("up", True)',
            )
        ],
        "loses": {"test_health_checks_record_each_endpoint": 2},
    },
    {
        "name": "every_failure_taken_for_a_connection_error",
        "patches": [
            (
                "    except requests.Timeout:  # first: a connect timeout is a "
                "ConnectionError too\n"
                '        return point.field("up", False).field("error", "timeout")\n',
                "",
            )
        ],
        "loses": {"test_health_checks_record_each_endpoint": 1},
    },
    {
        "name": "memory_in_megabytes",
        "patches": [
            (
                '.field("memory_used", int(memory.used))',
                '.field("memory_used", memory.used / 2**20)',
            )
        ],
        "loses": {"test_system_metrics_are_typed_and_rates_come_from_deltas": 1},
    },
    {
        "name": "rates_in_bits_per_second",
        "patches": [
            (
                'point.field(f"net_{name}_rate", float(rate))',
                'point.field(f"net_{name}_rate", float(rate * 8))',
            )
        ],
        "loses": {"test_system_metrics_are_typed_and_rates_come_from_deltas": 1.5},
    },
    {
        "name": "zero_rate_when_there_is_none",
        "patches": [
            (
                "current < previous or seconds <= 0:\n        return None\n",
                "current < previous or seconds <= 0:\n        return 0.0\n",
            )
        ],
        # The collector asks for no rate in its first cycle: only the function is wrong.
        "loses": {"test_net_rate": 1},
    },
    {
        "name": "zero_counter_taken_for_missing",
        "patches": [("    if previous is None or current", "    if not previous or current")],
        "loses": {"test_net_rate": 1},
    },
    {
        "name": "no_sigterm_handler",
        "patches": [
            (
                "    for signum in (signal.SIGTERM, signal.SIGINT):\n"
                "        signal.signal(signum, lambda *_: collector.stopping.set())\n",
                "",
            )
        ],
        "loses": {"test_cycles_run_on_schedule_until_sigterm": 1},
    },
    {
        "name": "writes_only_at_exit",
        "patches": [("flush_interval=1000)", "flush_interval=600_000)")],
        # Its exit also waits for the writer's ten-minute flush timer: it has to be killed.
        "loses": {"test_cycles_run_on_schedule_until_sigterm": 2},
    },
    {
        "name": "an_alert_for_every_high_reading",
        "patches": [
            (
                "                if (value > threshold) != high:\n"
                "                    high = not high\n",
                "                if value > threshold or high:\n"
                "                    high = value > threshold\n",
            )
        ],
        "loses": {"test_alerts_fire_once_per_crossing_and_recover": 1.5},
    },
    {
        "name": "threshold_itself_counts_as_high",
        "patches": [("if (value > threshold) != high:", "if (value >= threshold) != high:")],
        "loses": {"test_alerts_fire_once_per_crossing_and_recover": 5},
    },
    {
        "name": "hosts_mixed_in_one_table",
        "patches": [('|> group(columns: ["host"]) |> sort', "|> group() |> sort")],
        "loses": {"test_alerts_fire_once_per_crossing_and_recover": 5},
    },
    {
        "name": "window_ignored",
        "patches": [
            (
                '|> range(start: time(v: "{window[0]}"), stop: time(v: "{window[1]}")) ',
                "|> range(start: 0) ",
            )
        ],
        "loses": {"test_alerts_fire_once_per_crossing_and_recover": 3.5},
    },
    {
        "name": "offset_dropped_from_the_window",
        "patches": [
            (
                "datetime.fromisoformat(t).astimezone(UTC).isoformat()",
                "datetime.fromisoformat(t).replace(tzinfo=UTC).isoformat()",
            )
        ],
        "loses": {"test_alerts_fire_once_per_crossing_and_recover": 5},
    },
    {
        "name": "a_worker_per_url_and_no_urls",
        "patches": [("max_workers=max(1, len(self.urls))", "max_workers=len(self.urls)")],
        "loses": {"test_runs_with_no_health_urls": 1},
        "says": "max_workers must be greater than 0",
    },
]
