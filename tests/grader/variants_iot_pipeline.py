"""Realistic mistakes in the iot_pipeline bridge, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "dies_on_a_bad_payload",
        "patches": [("        except Malformed as exc:\n", "        except KeyError as exc:\n")],
        "loses": {"test_malformed_messages_are_skipped_and_counted": 5},
    },
    {
        "name": "integer_fields_for_whole_numbers",
        "patches": [
            ("    return float(value)  # always float", "    return value  # always float")
        ],
        # InfluxDB rejects each integer reading (422, partial write): those readings
        # are missing; the ones that land are still floats.
        "loses": {"test_every_valid_message_lands_exactly_once": 4},
    },
    {
        "name": "device_as_a_field",
        "patches": [('.tag("device", device)', '.field("device", device)')],
        "loses": {"test_every_valid_message_lands_exactly_once": 2},
    },
    {
        "name": "timestamps_cut_to_seconds",
        "patches": [(".time(ts, WritePrecision.MS)", ".time(ts // 1000, WritePrecision.S)")],
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
        "loses": {
            "test_sigterm_flushes_what_is_buffered": 4,
            "test_malformed_messages_are_skipped_and_counted": 2,
        },
    },
    {
        "name": "writer_never_closed",
        "patches": [("        self.writer.close()\n", "")],
        "loses": {"test_sigterm_flushes_what_is_buffered": 3},
    },
]
