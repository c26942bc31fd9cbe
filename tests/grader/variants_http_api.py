"""Realistic mistakes in the http_api lab, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "precision_not_sent",
        "patches": [
            (
                '"bucket": bucket or s["bucket"], "precision": precision}',
                '"bucket": bucket or s["bucket"]}',
            )
        ],
        "loses": {"test_write_with_precision": 3},
    },
    {
        "name": "every_number_a_float",
        "patches": [('"long": int,', '"long": float,')],
        "loses": {"test_query_returns_typed_records": 2},
    },
    {
        "name": "naive_times",
        "patches": [
            (
                "return datetime.fromisoformat(text)",
                "return datetime.fromisoformat(text).replace(tzinfo=None)",
            )
        ],
        "loses": {"test_query_returns_typed_records": 1},
    },
    {
        "name": "raise_for_status_instead_of_influx_error",
        "patches": [
            (
                "    if response.status_code < 400:\n        return response\n",
                "    if response.status_code < 400:\n        return response\n"
                "    response.raise_for_status()\n",
            )
        ],
        "loses": {"test_errors_become_influx_errors": 8},
    },
    {
        "name": "no_line_number",
        "patches": [
            ('line = error.get("line") or _bad_line(message, body)', 'line = error.get("line")')
        ],
        "loses": {"test_errors_become_influx_errors": 2},
    },
    {
        "name": "retention_ignored",
        "patches": [
            (
                'rules = [{"type": "expire", "everySeconds": retention_seconds}] '
                "if retention_seconds else []",
                "rules = []",
            )
        ],
        "loses": {"test_bucket_lifecycle": 2},
    },
    {
        "name": "run_task_lists_runs_instead_of_starting_one",
        "patches": [
            (
                "response = requests.post(\n"
                "        f\"{settings()['url']}/api/v2/tasks/{task_id}/runs\",",
                "response = requests.get(\n"
                "        f\"{settings()['url']}/api/v2/tasks/{task_id}/runs\",",
            )
        ],
        "loses": {"test_task_created_and_run": 2},
    },
    {
        "name": "list_buckets_reads_one_page",
        "patches": [
            ("        if len(page) < PAGE:\n            return names\n", "        return names\n")
        ],
        "loses": {"test_bucket_lifecycle": 1},
    },
    {
        "name": "error_body_always_read_as_json",
        "patches": [
            (
                "    try:\n        error = response.json()\n    except ValueError:\n"
                '        error = {"code": "", "message": response.text}\n',
                "    error = response.json()\n",
            )
        ],
        "loses": {"test_errors_become_influx_errors": 0.5},
    },
]
