"""Realistic mistakes in the devops_serverless lab, and exactly what each must cost."""

CI = "test_ci_step_posts_one_point_per_job"
REFUSED = "test_ci_step_fails_visibly_when_the_point_is_refused"
HANDLER = "test_handler_reuses_one_client_and_stores_each_batch"
CPU = "test_cpu_percent_from_counter_deltas"
STATS = "test_container_stats_become_points"

VARIANTS = [
    {
        "name": "duration_read_from_a_variable_that_does_not_exist",
        "patches": [
            (
                "duration = time.perf_counter() - started",
                'duration = float(os.environ.get("GITHUB_JOB_DURATION", "0"))',
            )
        ],
        "loses": {CI: 1.5},
        "says": "time the command with time.perf_counter()",
    },
    {
        "name": "an_error_answer_taken_for_success",
        "patches": [
            (
                'problem = "" if answer.status_code == 204 else f"{answer.status_code} '
                '{answer.text}"',
                'problem = ""  # requests.post() returned, so it was stored',
            )
        ],
        "loses": {REFUSED: 2},
    },
    {
        "name": "tags_not_escaped",
        "patches": [('f"{k}={v.translate(TAG_ESCAPES)}"', 'f"{k}={v}"')],
        # Spaces in the workflow's name end the tag set early: InfluxDB refuses the line.
        "loses": {CI: 5},
        "says": "::error::",
    },
    {
        "name": "run_id_as_a_tag",
        "patches": [
            (
                'tags["status"] = "success" if code == 0 else "failure"',
                'tags["status"] = "success" if code == 0 else "failure"\n'
                '    tags["run_id"] = env["GITHUB_RUN_ID"]',
            ),
            ("exit_code={code}i,run_id={int(env['GITHUB_RUN_ID'])}i,", "exit_code={code}i,"),
        ],
        "loses": {CI: 2.5},
    },
    {
        "name": "a_client_per_invocation",
        "patches": [
            (
                "    write = _write_api()\n",
                "    write = InfluxDBClient.from_env_properties()"
                ".write_api(write_options=SYNCHRONOUS)\n",
            )
        ],
        "loses": {HANDLER: 1.5},
        "says": "a client per invocation opens a connection each time",
    },
    {
        "name": "duration_is_the_remaining_time",
        "patches": [
            (
                "duration_ms = (time.perf_counter() - started) * 1000",
                "duration_ms = float(context.get_remaining_time_in_millis())",
            )
        ],
        "loses": {HANDLER: 0.5},
    },
    {
        "name": "a_batching_writer_never_flushed",
        "patches": [
            (
                "_writer = client.write_api(write_options=SYNCHRONOUS)",
                "_writer = client.write_api()",
            )
        ],
        # The twelve invocations take less than the writer's 1 s flush interval: when the
        # process ends, every point is still in its buffer and nothing was ever sent.
        "loses": {HANDLER: 5},
        "says": "a batching writer still holds points",
    },
    {
        "name": "a_boolean_taken_for_a_number",
        "patches": [
            (
                "if type(temperature) not in (int, float) or",
                "if not isinstance(temperature, (int, float)) or",
            )
        ],
        "loses": {HANDLER: 4},
    },
    {
        "name": "cumulative_counters_as_a_percentage",
        "patches": [
            (
                '    if not before.get("system_cpu_usage") or not now.get("system_cpu_usage"):\n'
                "        return None\n",
                "",
            ),
            (
                'container = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]',
                'container = now["cpu_usage"]["total_usage"] - before.get("cpu_usage", {}).get('
                '"total_usage", 0)',
            ),
            (
                'host = now["system_cpu_usage"] - before["system_cpu_usage"]',
                'host = now["system_cpu_usage"] - before.get("system_cpu_usage", 0)',
            ),
        ],
        "loses": {CPU: 1, STATS: 1.5},
        "says": "not a percentage",
    },
    {
        "name": "the_number_of_cpus_left_out",
        "patches": [("return container / host * cpus * 100", "return container / host * 100")],
        "loses": {CPU: 2, STATS: 1.5},
    },
    {
        "name": "the_first_tag_of_an_untagged_image",
        "patches": [
            (
                'return tags[0] if tags else image["Id"].removeprefix("sha256:")[:12]',
                'return image["RepoTags"][0]',
            )
        ],
        "loses": {STATS: 4},
        "says": "IndexError",
    },
    {
        "name": "read_times_through_a_float",
        "patches": [
            (
                'return seconds * 10**9 + int((rest or "0").ljust(9, "0")[:9])',
                'return int((seconds + float("0." + (rest or "0"))) * 1e9)',
            )
        ],
        "loses": {STATS: 0.5},
    },
    {
        "name": "page_cache_counted_as_memory",
        "patches": [
            (
                'point.field("memory_usage", memory["usage"] - cache)',
                'point.field("memory_usage", memory["usage"])',
            )
        ],
        "loses": {STATS: 1},
    },
]
