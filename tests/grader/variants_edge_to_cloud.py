"""Realistic mistakes in the edge_to_cloud lab, and exactly what each must cost."""

LIVE = "test_history_and_late_readings_reach_the_cloud_exactly"
OUTAGE = "test_a_cloud_outage_and_a_lost_answer_lose_nothing"
ANSWERS = "test_a_429_is_tried_again_and_a_batch_answered_400_is_passed"
KILL = "test_a_sigkill_mid_batch_and_a_restart_lose_nothing_and_resend_little"
REPLICATION = "test_replication_copies_a_second_bucket_through_an_outage"
FAILOVER = "test_a_primary_outage_fails_over_to_the_secondary_and_back_losing_and_doubling_nothing"

SEND = """                    if regions.send([line for _, line in batch]):
                        forwarded += len(batch)
                        print(json.dumps({"forwarded": forwarded}), flush=True)
                    checkpoint.save(batch[-1][0] + 1)"""

VARIANTS = [
    {
        "name": "checkpoint_moved_before_the_cloud_answered",
        "patches": [
            (
                SEND,
                """                    checkpoint.save(batch[-1][0] + 1)
                    if regions.send([line for _, line in batch]):
                        forwarded += len(batch)
                        print(json.dumps({"forwarded": forwarded}), flush=True)""",
            )
        ],
        # The batch refused during the outage is skipped for good (and in the failover
        # check, the blip's batch and those refused before the failover; the one answered
        # 429 too).
        "loses": {OUTAGE: 3, ANSWERS: 1, FAILOVER: 1},
        "says": "move the checkpoint only after the cloud answered 204",
    },
    {
        "name": "counted_before_the_cloud_answered",
        "patches": [
            (
                SEND,
                """                    forwarded += len(batch)
                    if regions.send([line for _, line in batch]):
                        print(json.dumps({"forwarded": forwarded}), flush=True)
                    checkpoint.save(batch[-1][0] + 1)""",
            )
        ],
        # The batches refused (429, 500, 400) are counted too.
        "loses": {OUTAGE: 3, ANSWERS: 1, FAILOVER: 1},
        "says": "is not acknowledged",
    },
    {
        "name": "checkpoint_kept_in_memory",
        "patches": [
            (
                """        self.at = at
        partial = self.path.with_suffix(".tmp")
        with partial.open("w") as fh:
            json.dump({"next_ns": at}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, self.path)""",
                "        self.at = at",
            )
        ],
        # After the restart it starts again from 1970: nothing lost, everything sent again.
        "loses": {KILL: 2},
        "says": "save the checkpoint after each acknowledged batch",
    },
    {
        "name": "the_first_start_begins_now",
        "patches": [
            (
                "TypeError):\n            self.at = 0",
                "TypeError):\n            self.at = time.time_ns()",
            )
        ],
        # History never leaves the edge; with only history, the kill check has no batches.
        "loses": {LIVE: 2, OUTAGE: 3, ANSWERS: 1, KILL: 6, FAILOVER: 1},
        "says": "start from 1970-01-01, not from now",
    },
    {
        "name": "a_window_up_to_now",
        "patches": [("stop = time.time_ns() - lag", "stop = time.time_ns()")],
        # Readings that reach the edge after the window passed their time are skipped.
        "loses": {LIVE: 2, OUTAGE: 3, ANSWERS: 1, KILL: 3, FAILOVER: 1},
        "says": "now - LAG",
    },
    {
        "name": "times_through_a_datetime",
        "patches": [
            (
                "return f\"{head} {field} {record['_ns']}\"",
                "return f\"{head} {field} {int(record['_time'].timestamp() * 1e6) * 1000}\"",
            )
        ],
        # Microseconds: the readings 400 ns apart merge, every time shifts.
        "loses": {LIVE: 6, OUTAGE: 3, ANSWERS: 1, KILL: 3, FAILOVER: 1},
        "says": "int(v: r._time)",
    },
    {
        "name": "integers_written_as_floats",
        "patches": [('        return f"{value}i"', '        return f"{value}"')],
        # No value is the one written, so the batch answered 429 is not in the cloud either.
        "loses": {LIVE: 6, OUTAGE: 3, ANSWERS: 2, KILL: 3, FAILOVER: 1},
        "says": "integers with an i",
    },
    {
        "name": "one_request_per_round",
        "patches": [
            (
                "if not out or len(out[-1]) + len(values) > size:",
                "if not out:",
            )
        ],
        # The history goes in one write: no third batch for the kill check to stall, and the
        # write answered 429 is the one that then gets the 400.
        "loses": {LIVE: 1, ANSWERS: 1, KILL: 6},
        "says": "batches of at most BATCH_SIZE",
    },
    {
        "name": "the_remote_at_the_cloud_url_the_forwarder_uses",
        "patches": [('"remoteURL": remote_url,', '"remoteURL": cloud["url"],')],
        # From the edge server, the cloud is at remote_url (in Compose, a service name).
        "loses": {REPLICATION: 1},
        "says": "a remote to",
    },
    {
        "name": "replicated_into_a_bucket_of_the_local_name",
        "patches": [('"remoteBucketName": cloud_bucket,', '"remoteBucketName": bucket,')],
        "loses": {REPLICATION: 4},
        "says": "no replication of the bucket",
    },
    # Two regions: the failover check alone.
    {
        "name": "fails_over_on_the_first_failed_write",
        "patches": [
            (
                "if self.secondary is not None and now - self.failing_since >= "
                "self.failover_after:",
                "if self.secondary is not None:",
            )
        ],
        # The blip's 503 sends the batch to the secondary (and the primary's /health,
        # which passes, brings it back); the outage's first failure does the same.
        "loses": {FAILOVER: 2},
        "says": "failed for FAILOVER_AFTER seconds in a row",
    },
    {
        "name": "the_outage_measured_from_the_last_failure",
        "patches": [
            (
                """        if self.failing_since is None:
            self.failing_since = now
""",
                """        self.failing_since = now
""",
            )
        ],
        # Each failure starts the clock again: FAILOVER_AFTER never passes, the secondary
        # stays empty (and everything lands on the primary once it is back).
        "loses": {FAILOVER: 1},
        "says": "from the first failure in a row",
    },
    {
        "name": "never_fails_back",
        "patches": [
            (
                """        if self.active is not self.primary:
            self.probe()
""",
                "",
            )
        ],
        # Once on the secondary it stays there: the readings after the outage go there too.
        "loses": {FAILOVER: 1},
        "says": "GET the primary's /health every PROBE_INTERVAL",
    },
    {
        "name": "every_batch_written_to_both_regions",
        "patches": [
            (
                """            taken = send(self.session, self.active, lines)
""",
                """            if self.secondary is not None and self.active is self.primary:
                send(self.session, self.secondary, lines)  # a copy first, to be safe
            taken = send(self.session, self.active, lines)
""",
            )
        ],
        # The copy goes out before the primary's try, so it is there in every outcome: the
        # secondary gets writes before the outage and at its first moment (a failover
        # too early), the primary is tried after that, every value is in both regions,
        # and the count (once a batch) is not what the two acknowledged.
        "loses": {FAILOVER: 5},
        "says": "no reading is in both regions",
    },
    {
        "name": "a_new_region_gets_everything_from_the_start",
        "patches": [
            ("    forwarded = 0\n", "    forwarded, region = 0, regions.active\n"),
            (
                'rows = read_window(client, edge["bucket"], checkpoint.at, stop)',
                """if regions.active is not region:  # a switch: bring it up to date
                    region, checkpoint.at = regions.active, 0
                rows = read_window(client, edge["bucket"], checkpoint.at, stop)""",
            ),
        ],
        # The checkpoint reset at each switch: the secondary gets what the primary already
        # acknowledged, then the primary what the secondary did.
        "loses": {FAILOVER: 1},
        "says": "a switch neither resets it nor moves it",
    },
    {
        "name": "every_error_answer_tried_again",
        "patches": [
            (
                "if answer.status_code == 429 or answer.status_code >= 500:",
                "if answer.status_code != 204:",
            )
        ],
        # The batch answered 400 is sent again and again: the cloud took it the second time.
        "loses": {ANSWERS: 1},
        "says": "will be refused however often it is sent",
    },
    {
        "name": "a_429_passed_like_a_400",
        "patches": [
            (
                "if answer.status_code == 429 or answer.status_code >= 500:",
                "if answer.status_code >= 500:",
            )
        ],
        # Rate limited, the first batch is passed for good: yesterday's first readings never
        # reach the cloud.
        "loses": {ANSWERS: 1},
        "says": "mean not now",
    },
]
