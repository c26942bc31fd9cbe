"""Realistic mistakes in the edge_to_cloud lab, and exactly what each must cost."""

LIVE = "test_history_and_late_readings_reach_the_cloud_exactly"
OUTAGE = "test_a_cloud_outage_and_a_lost_answer_lose_nothing"
KILL = "test_a_sigkill_mid_batch_and_a_restart_lose_nothing_and_resend_little"
REPLICATION = "test_replication_copies_a_second_bucket_through_an_outage"

SEND = """                    if send(session, cloud, [line for _, line in batch]):
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
                    if send(session, cloud, [line for _, line in batch]):
                        forwarded += len(batch)
                        print(json.dumps({"forwarded": forwarded}), flush=True)""",
            )
        ],
        # The batch refused during the outage is skipped for good.
        "loses": {OUTAGE: 3},
        "says": "move the checkpoint only after the cloud answered 204",
    },
    {
        "name": "counted_before_the_cloud_answered",
        "patches": [
            (
                SEND,
                """                    forwarded += len(batch)
                    if send(session, cloud, [line for _, line in batch]):
                        print(json.dumps({"forwarded": forwarded}), flush=True)
                    checkpoint.save(batch[-1][0] + 1)""",
            )
        ],
        "loses": {OUTAGE: 3},
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
        "loses": {LIVE: 2, OUTAGE: 3, KILL: 6},
        "says": "start from 1970-01-01, not from now",
    },
    {
        "name": "a_window_up_to_now",
        "patches": [("stop = time.time_ns() - lag", "stop = time.time_ns()")],
        # Readings that reach the edge after the window passed their time are skipped.
        "loses": {LIVE: 2, OUTAGE: 3, KILL: 3},
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
        "loses": {LIVE: 6, OUTAGE: 3, KILL: 3},
        "says": "int(v: r._time)",
    },
    {
        "name": "integers_written_as_floats",
        "patches": [('        return f"{value}i"', '        return f"{value}"')],
        "loses": {LIVE: 6, OUTAGE: 3, KILL: 3},
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
        # The history goes in one write: no third batch for the kill check to stall.
        "loses": {LIVE: 1, KILL: 6},
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
]
