"""Realistic mistakes in the resilient_writes lab, and exactly what each must cost."""

VARIANTS = [
    {
        "name": "every_error_retried",
        # "Retry until it works": a 400 or 403 batch is sent again and again.
        "patches": [
            (
                "            if status is not None and status < 500 and status != 429:",
                "            if False:",
            )
        ],
        # Its retries take the answers meant for the next batches, the 413 included.
        "loses": {
            "test_client_errors_are_not_retried_and_413_splits": 4,
            "test_other_5xx_are_retried_and_other_4xx_are_not": 1,
            "test_a_413_splits_down_to_the_line_that_is_too_large": 1,
        },
    },
    {
        "name": "retry_after_ignored",
        "patches": [
            (
                'status, wait = answer.status_code, retry_after(answer.headers.get("Retry-After"))',
                "status, wait = answer.status_code, None",
            )
        ],
        "loses": {"test_retry_after_in_seconds_and_as_a_date": 3},
    },
    {
        "name": "retry_after_read_as_seconds_only",
        "patches": [
            (
                "    try:\n        when = parsedate_to_datetime(value)\n"
                "    except (TypeError, ValueError):\n        return None\n"
                "    return max(0.0, when.timestamp() - time.time())\n",
                "    return None\n",
            )
        ],
        "loses": {"test_retry_after_in_seconds_and_as_a_date": 1.5},
    },
    {
        "name": "a_fixed_pause_between_retries",
        "patches": [
            (
                "time.sleep(wait if wait is not None else self.backoff(retries))",
                "time.sleep(wait if wait is not None else self.base_delay)",
            )
        ],
        # Its third and fourth waits are below the range too, and no wait has jitter.
        "loses": {"test_backoff_grows_and_is_capped_without_retry_after": 3},
    },
    {
        # Exponential and capped, but every writer that failed together comes back
        # together: the "jitter" is the same share of the delay every time.
        "name": "jitter_a_fixed_share_of_the_delay",
        "patches": [
            ("return delay / 2 + random.uniform(0, delay / 2)", "return delay * 0.75"),
        ],
        "loses": {"test_backoff_grows_and_is_capped_without_retry_after": 1},
    },
    {
        "name": "backoff_without_a_cap",
        "patches": [
            (
                "delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))",
                "delay = self.base_delay * 2 ** (retry - 1)",
            )
        ],
        "loses": {"test_backoff_grows_and_is_capped_without_retry_after": 0.5},
    },
    {
        "name": "a_413_batch_rejected_whole",
        "patches": [("            if status == 413 and len(batch) > 1:", "            if False:")],
        "loses": {
            "test_client_errors_are_not_retried_and_413_splits": 2.5,
            "test_a_413_splits_down_to_the_line_that_is_too_large": 2,
        },
    },
    {
        "name": "only_full_batches_until_close",
        "patches": [
            (
                "                    if due <= 0:\n                        break\n"
                "                    self.changed.wait(due)\n",
                "                    self.changed.wait()\n",
            )
        ],
        "loses": {"test_batches_by_size_and_flush_interval": 1},
    },
    {
        "name": "dropped_connections_not_retried",
        "patches": [
            (
                "            except (requests.ConnectionError, requests.Timeout):\n"
                "                status, wait = None, None\n",
                "            except (requests.ConnectionError, requests.Timeout):\n"
                '                self._settle("dropped", len(batch))\n'
                "                return\n",
            )
        ],
        "loses": {"test_network_faults_and_an_outage_lose_nothing": 3},
    },
    {
        "name": "unbounded_buffer",
        "patches": [
            (
                "            if self.queue and len(self.queue) + self.in_flight "
                ">= self.buffer_limit:\n",
                "            if False:\n",
            )
        ],
        "loses": {"test_the_buffer_is_bounded_and_keeps_the_newest": 2},
    },
    {
        "name": "a_full_buffer_drops_the_newest",
        "patches": [
            (
                '                self.queue.popleft()\n                self.stats["dropped"] += 1\n'
                "            self.queue.append((time.monotonic(), line))\n",
                '                self.stats["dropped"] += 1\n                return\n'
                "            self.queue.append((time.monotonic(), line))\n",
            )
        ],
        "loses": {"test_the_buffer_is_bounded_and_keeps_the_newest": 2},
    },
    {
        "name": "written_counted_before_the_answer",
        "patches": [
            (
                "        retries = 0\n        while True:\n",
                "        retries = 0\n"
                '        self._settle("written", len(batch))\n'
                "        while True:\n",
            ),
            (
                "            if status is not None and status < 300:\n"
                '                self._settle("written", len(batch))\n',
                "            if status is not None and status < 300:\n",
            ),
        ],
        # A batch split after a 413 is counted again for each half; a rejected or
        # dropped one too.
        "loses": {
            "test_client_errors_are_not_retried_and_413_splits": 1.5,
            "test_a_413_splits_down_to_the_line_that_is_too_large": 1,
            "test_other_5xx_are_retried_and_other_4xx_are_not": 1,
            "test_a_batch_is_dropped_after_max_retries": 0.5,
        },
    },
    {
        # Reads the HTTP-date but forgets that it may already be past: time.sleep() of a
        # negative number raises, and the sender thread dies with the batch.
        "name": "a_past_retry_after_date_sleeps_a_negative_time",
        "patches": [
            (
                "return max(0.0, when.timestamp() - time.time())",
                "return when.timestamp() - time.time()",
            )
        ],
        "loses": {"test_retry_after_in_seconds_and_as_a_date": 2},
    },
    {
        "name": "only_429_and_503_retried",
        "patches": [
            (
                "            if status is not None and status < 500 and status != 429:",
                "            if status is not None and status not in (429, 503):",
            )
        ],
        "loses": {"test_other_5xx_are_retried_and_other_4xx_are_not": 2},
    },
    {
        # The first send counted among max_retries: one retry short.
        "name": "max_retries_counts_the_first_send",
        "patches": [
            (
                "            if retries == self.max_retries:",
                "            if retries == self.max_retries - 1:",
            )
        ],
        "loses": {"test_a_batch_is_dropped_after_max_retries": 1.5},
    },
    {
        # Splits on every 413, even a batch of one line: it splits into nothing and
        # itself, for ever (until the recursion limit kills the sender).
        "name": "a_413_split_even_for_one_line",
        "patches": [
            ("            if status == 413 and len(batch) > 1:", "            if status == 413:")
        ],
        "loses": {"test_a_413_splits_down_to_the_line_that_is_too_large": 2},
    },
]
