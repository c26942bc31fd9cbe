"""Realistic mistakes in the iot_pipeline bridge, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "dies_on_a_bad_payload",
        "patches": [("        except Malformed as exc:\n", "        except KeyError as exc:\n")],
        "loses": {"test_malformed_messages_are_skipped_and_counted": 5},
    },
    {
        # 1e400 written out as a JSON integer: math.isfinite() raises OverflowError, which
        # escapes on_message and ends paho's loop: nothing after it is read.
        "name": "isfinite_overflows_on_a_huge_number",
        "patches": [
            (
                "    try:\n        finite = math.isfinite(value)\n"
                "    except OverflowError:  # a JSON integer too large for any float\n"
                "        finite = False\n",
                "    finite = math.isfinite(value)\n",
            )
        ],
        "loses": {"test_malformed_messages_are_skipped_and_counted": 5},
    },
    {
        # A ts past int64 nanoseconds is written: InfluxDB rejects the whole batch it is in.
        "name": "ts_past_what_influxdb_stores",
        "patches": [("not 0 <= ts <= MAX_TS_MS", "ts < 0")],
        "loses": {"test_malformed_messages_are_skipped_and_counted": 5},
    },
    {
        # Whole numbers written as integer fields ("21i"): InfluxDB rejects each reading
        # whose field type differs from the first one stored (422, partial write).
        "name": "integer_fields_for_whole_numbers",
        "patches": [
            ("    return float(value)  # always float", "    return value  # always float"),
            (
                'f"temperature={temperature!r},humidity={humidity!r} {ts}"',
                'f"temperature={_lp(temperature)},humidity={_lp(humidity)} {ts}"',
            ),
            (
                "class Batcher:",
                "def _lp(value):\n"
                '    return f"{value}i" if isinstance(value, int) else repr(value)\n\n\n'
                "class Batcher:",
            ),
        ],
        "loses": {"test_every_valid_message_lands_exactly_once": 4},
    },
    {
        "name": "device_as_a_field",
        "patches": [
            (
                'f"readings,device={device.translate(TAG_ESCAPES)} "\n        f"temperature=',
                'f"readings "\n        f"device={json.dumps(device)},temperature=',
            )
        ],
        "loses": {"test_every_valid_message_lands_exactly_once": 1.5},
    },
    {
        "name": "timestamps_cut_to_seconds",
        "patches": [
            ("humidity={humidity!r} {ts}", "humidity={humidity!r} {ts // 1000}"),
            ("write_precision=WritePrecision.MS", "write_precision=WritePrecision.S"),
        ],
        "loses": {"test_every_valid_message_lands_exactly_once": 2},
    },
    {
        # The client's default precision is nanoseconds: every reading lands in 1970.
        "name": "precision_left_at_nanoseconds",
        "patches": [(", write_precision=WritePrecision.MS)", ")")],
        "loses": {"test_every_valid_message_lands_exactly_once": 2},
    },
    {
        "name": "no_sigterm_handler",
        "patches": [
            (
                "    for sig in (signal.SIGTERM, signal.SIGINT):\n"
                "        signal.signal(sig, lambda *_: bridge.stopping.set())\n",
                "",
            )
        ],
        # Killed by SIGTERM, it never prints its counts: each check that reads them.
        "loses": {
            "test_sigterm_flushes_what_is_buffered": 4,
            "test_malformed_messages_are_skipped_and_counted": 2,
            "test_only_the_contract_topics_are_consumed": 0.5,
        },
    },
    {
        "name": "writer_never_closed",
        "patches": [("        self.batcher.close()\n", "")],
        "loses": {"test_sigterm_flushes_what_is_buffered": 3},
    },
    {
        "name": "subscribes_to_every_topic_under_the_prefix",
        "patches": [('/+/telemetry"', '/#"')],
        "loses": {"test_only_the_contract_topics_are_consumed": 2},
    },
    {
        "name": "subscribes_once_at_start_not_on_every_connect",
        "patches": [
            ("        client.subscribe(self.topic, qos=1)  # again after every reconnect\n", ""),
            ("self.mqtt.connect_async(", "self.mqtt.connect("),
            (
                "        self.mqtt.loop_forever(",
                "        self.mqtt.subscribe(self.topic, qos=1)\n        self.mqtt.loop_forever(",
            ),
        ],
        "loses": {"test_subscribes_as_agreed_and_again_after_a_broker_restart": 2},
    },
    {
        "name": "subscribes_with_qos_0",
        "patches": [("client.subscribe(self.topic, qos=1)", "client.subscribe(self.topic, qos=0)")],
        "loses": {"test_subscribes_as_agreed_and_again_after_a_broker_restart": 1},
    },
    {
        "name": "ready_as_soon_as_subscribe_is_called",
        "patches": [
            (
                "        client.subscribe(self.topic, qos=1)  # again after every reconnect\n",
                "        client.subscribe(self.topic, qos=1)  # again after every reconnect\n"
                '        print("READY", flush=True)\n',
            ),
            (
                '_properties) -> None:\n        print("READY", flush=True)\n',
                "_properties) -> None:\n        pass\n",
            ),
        ],
        "loses": {"test_subscribes_as_agreed_and_again_after_a_broker_restart": 1},
    },
    {
        "name": "a_client_and_a_synchronous_write_per_message",
        "patches": [
            (
                "        self.batcher.add(line)\n",
                "        with InfluxDBClient.from_env_properties() as client:\n"
                "            client.write_api(write_options=SYNCHRONOUS).write(\n"
                "                self.bucket, record=line, write_precision=WritePrecision.MS\n"
                "            )\n"
                '        self.counts["written"] += 1\n',
            ),
        ],
        # Every part: no batches, so no rest waiting for the interval either, and nothing
        # retries the refused request (the synchronous write raises in on_message); and a
        # request per message is far too slow for the burst.
        "loses": {
            "test_batches_as_configured_and_retries_a_refused_write": 4,
            "test_a_burst_lands_whole_and_in_time": 2,
        },
    },
    {
        "name": "no_retries",
        "patches": [("            total=5,\n", "            total=0,\n")],
        "loses": {"test_batches_as_configured_and_retries_a_refused_write": 1.5},
    },
    {
        "name": "ts_zero_taken_for_missing",
        "patches": [("or not 0 <= ts <= MAX_TS_MS:", "or not 0 < ts <= MAX_TS_MS:")],
        "loses": {"test_the_first_and_last_storable_times_are_readings": 1},
    },
    {
        "name": "flush_interval_ignored",
        "patches": [
            (
                'interval=int(env.get("FLUSH_INTERVAL_MS", "1000")) / 1000,',
                "interval=1.0,",
            )
        ],
        "loses": {"test_batches_as_configured_and_retries_a_refused_write": 1},
    },
]
