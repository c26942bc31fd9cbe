"""Realistic mistakes in the instrumentation lab, and exactly what each must cost."""

CALLS = "test_every_call_becomes_one_point"
ASYNC = "test_coroutines_are_timed_to_their_end"
SAME = "test_the_decorator_changes_nothing"
BATCHED = "test_one_shared_batching_writer_flushed_at_exit"
HUNG = "test_a_hung_influxdb_never_blocks_or_breaks_a_call"
PACE = "test_the_writer_keeps_its_pace_and_outlives_a_refused_batch"
TOKENS = "test_tokens_grant_exactly_what_each_service_needs"

VARIANTS = [
    {
        "name": "one_sync_wrapper_for_coroutines_too",
        # The wrapper returns the coroutine at once: it is timed before it ran, as a success.
        "patches": [("        if inspect.iscoroutinefunction(fn):", "        if False:")],
        "loses": {ASYNC: 5, SAME: 2},
        "says": "the coroutine only runs when awaited",
    },
    {
        "name": "no_functools_wraps",
        "patches": [("        @functools.wraps(fn)\n        def timed(", "        def timed(")],
        "loses": {SAME: 2},
        "says": "lost: name, doc, wrapped",
    },
    {
        "name": "the_exception_swallowed",
        "patches": [
            (
                "return False  # the call's own exception, if any, goes on unchanged",
                "return True  # recorded: the caller needs no traceback",
            )
        ],
        "loses": {SAME: 2, HUNG: 2},
        "says": "let its exception go on",
    },
    {
        "name": "only_exceptions_recorded_not_cancellations",
        "patches": [
            (
                "    ) -> bool:\n        point = (",
                "    ) -> bool:\n        if kind is not None and not issubclass(kind, Exception):\n"
                "            return False\n        point = (",
            )
        ],
        "loses": {ASYNC: 1},
        "says": "CancelledError is a BaseException",
    },
    {
        "name": "a_client_and_a_synchronous_write_per_call",
        "patches": [
            (
                "_shared_writer().add(point)",
                "settings = _settings()\n"
                "            with InfluxDBClient(\n"
                '                url=settings["url"], token=settings["token"],\n'
                '                org=settings["org"],\n'
                "            ) as client:\n"
                "                client.write_api(write_options=SYNCHRONOUS).write(\n"
                '                    bucket=settings["bucket"], record=point\n'
                "                )",
            ),
        ],
        # A request per call: more than FLUSH_INTERVAL_MS allows, too.
        "loses": {BATCHED: 2, HUNG: 4, PACE: 1},
        "says": "never a client or a synchronous write per call",
    },
    {
        "name": "no_flush_at_exit",
        "patches": [("        atexit.register(self.close)\n", "")],
        "loses": {BATCHED: 2},
        "says": "send what is left from an atexit handler",
    },
    {
        "name": "the_librarys_batching_writer_closed_at_exit",
        # Its thread pool is shut down before atexit handlers run: the last batch waits for
        # the flush interval (a minute here), then cannot be sent.
        "patches": [
            (
                "from influxdb_client.client.write_api import SYNCHRONOUS",
                "from influxdb_client.client.write_api import SYNCHRONOUS, WriteOptions",
            ),
            (
                "            _writer = _Batcher()\n",
                "            settings = _settings()\n"
                "            client = InfluxDBClient(\n"
                '                url=settings["url"], token=settings["token"],\n'
                '                org=settings["org"], timeout=TIMEOUT_MS,\n'
                "            )\n"
                "            _writer = client.write_api(\n"
                "                write_options=WriteOptions(\n"
                '                    batch_size=int(os.environ.get("BATCH_SIZE", "500")),\n'
                "                    flush_interval=int(\n"
                '                        os.environ.get("FLUSH_INTERVAL_MS", "1000")\n'
                "                    ),\n"
                "                    max_retries=0,\n"
                "                )\n"
                "            )\n"
                "            _writer.add = lambda p: _writer.write(\n"
                '                bucket=settings["bucket"], record=p\n'
                "            )\n"
                "            atexit.register(_writer.close)\n",
            ),
        ],
        "loses": {BATCHED: 2},
        "says": "its thread pool is shut down before atexit handlers run",
    },
    {
        "name": "the_name_instead_of_the_qualified_name",
        "patches": [("name = operation or fn.__qualname__", "name = operation or fn.__name__")],
        "loses": {CALLS: 2},
        "says": "a method is 'Class.method'",
    },
    {
        "name": "the_sender_thread_dies_on_a_refused_batch",
        # Its error ends the thread: nothing more is sent until the exit flush.
        "patches": [
            (
                "except Exception as exc:  # InfluxDB down or refusing",
                "except OSError as exc:  # the network only; InfluxDB down or refusing",
            )
        ],
        "loses": {PACE: 1},
        "says": "a sender thread that dies on its first error",
    },
    {
        "name": "the_flush_interval_floored_to_whole_seconds",
        # 300 ms // 1000 is 0 s: the sender never waits, and sends each point as it comes.
        "patches": [
            (
                'int(os.environ.get("FLUSH_INTERVAL_MS", "1000")) / 1000',
                'int(os.environ.get("FLUSH_INTERVAL_MS", "1000")) // 1000',
            )
        ],
        "loses": {PACE: 1},
        "says": "milliseconds: / 1000 for seconds",
    },
    {
        "name": "the_message_as_the_error_type",
        "patches": [
            ('point.tag("error_type", kind.__name__)', 'point.tag("error_type", str(exc))')
        ],
        "loses": {CALLS: 2, ASYNC: 3},
        "says": "type(exc).__name__",
    },
    {
        "name": "the_duration_in_seconds",
        "patches": [
            ("(time.perf_counter() - self.started) * 1000.0", "time.perf_counter() - self.started")
        ],
        "loses": {CALLS: 2, ASYNC: 5},
        "says": "times 1000",
    },
    {
        "name": "a_read_token_for_every_bucket",
        "patches": [
            (
                'f"dashboard: read {dashboard_bucket}", only("read", dashboard_bucket)',
                'f"dashboard: read {dashboard_bucket}",\n'
                "                Permission(\n"
                '                    action="read",\n'
                '                    resource=PermissionResource(type="buckets", org_id=org_id),\n'
                "                ),",
            )
        ],
        "loses": {TOKENS: 2},
        "says": "give it the bucket's id",
    },
    {
        "name": "an_ingest_token_that_also_reads",
        "patches": [
            (
                'only("write", ingest_bucket)),',
                'only("write", ingest_bucket), only("read", ingest_bucket)),',
            )
        ],
        "loses": {TOKENS: 2},
        "says": "the ingest token's only permission",
    },
    {
        "name": "a_token_printed",
        "patches": [
            (
                "            return made.token",
                '            print(f"created {made.description}: {made.token}")\n'
                "            return made.token",
            )
        ],
        "loses": {TOKENS: 1},
        "says": "the output shows the ingest token",
    },
]
