"""Lab resilient_writes: a batching writer that loses nothing and hammers nothing
(skeleton).

Complete the TODOs, then run the grader on your work: `./course check resilient_writes`.
Guide: docs/labs/resilient_writes.md.

Contract (the grader calls replay() in a child process; settings from the
environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG, INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN):

ResilientWriter(url, token, org, bucket, *, batch_size=500, flush_interval=1.0,
max_retries=8, base_delay=0.5, max_delay=30.0, buffer_limit=10_000, timeout=10.0,
max_in_flight=1):
- write(line) queues one line of line protocol (precision ns); background
  threads send the queue in batches of batch_size lines, oldest first, one
  POST /api/v2/write per batch and at most max_in_flight at a time; fewer
  lines go once the oldest of them has waited flush_interval seconds;
- a batch answered 429 or any 5xx, or lost to a dropped connection or a
  timeout, is sent again: after Retry-After when the answer has one (seconds or
  an HTTP-date; a date already past means at once, a value that is neither is
  ignored), else after an exponential backoff with jitter: before retry n
  (1, 2, ...) wait between half of and all of min(max_delay, base_delay x 2^(n-1));
  after max_retries retries (sends 1 + max_retries) its lines are dropped;
- a batch answered 413 (too large) is split in two halves, each sent as a batch;
  a single line answered 413 is rejected;
- a batch answered 400, 401, 403, 404, 422 or any other 4xx but 429 is never
  sent again: its lines are rejected;
- at most buffer_limit lines are held (those being sent included); write() on a
  full buffer drops the oldest line that is not being sent: the newest data is
  the most useful;
- flush() returns once everything written before it is settled; close() flushes
  and stops the thread;
- stats: {"written": lines the server accepted, "rejected": n, "dropped": n,
  "retries": n}.

replay(schedule, settings, duration): a writer from the environment and
``settings`` (keyword arguments above); writes each [offset_seconds, line] of
``schedule`` at its offset from the start, waits until ``duration`` seconds
from the start, closes the writer and returns its stats.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import requests

# The TODOs need more: random, and email.utils.parsedate_to_datetime.


class ResilientWriter:
    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_retries: int = 8,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        buffer_limit: int = 10_000,
        timeout: float = 10.0,
        max_in_flight: int = 1,
    ) -> None:
        self.endpoint = f"{url.rstrip('/')}/api/v2/write"
        self.params = {"org": org, "bucket": bucket, "precision": "ns"}
        self.session = requests.Session()  # one connection pool for the writer's life
        pool = requests.adapters.HTTPAdapter(pool_maxsize=max_in_flight)
        self.session.mount("http://", pool)
        self.session.mount("https://", pool)
        self.session.headers["Authorization"] = f"Token {token}"
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.max_retries, self.base_delay, self.max_delay = max_retries, base_delay, max_delay
        self.buffer_limit, self.timeout = buffer_limit, timeout
        self.stats = {"written": 0, "rejected": 0, "dropped": 0, "retries": 0}
        self.queue: deque[tuple[float, str]] = deque()  # (time written, line), oldest first
        self.in_flight = 0  # lines taken from the queue and not settled yet (all senders)
        self.changed = threading.Condition()  # guards all of the above; notify on changes
        self.closing = False
        self.senders = [
            threading.Thread(target=self._run, daemon=True) for _ in range(max_in_flight)
        ]
        for sender in self.senders:
            sender.start()

    def write(self, line: str) -> None:
        # TODO: under self.changed: when queue + in_flight has reached buffer_limit, drop
        # the oldest queued line (count it); append (time.monotonic(), line); notify_all().
        raise NotImplementedError("not implemented yet: ResilientWriter.write()")

    def flush(self) -> None:
        with self.changed:
            self.changed.wait_for(lambda: not self.queue and not self.in_flight)

    def close(self) -> None:
        with self.changed:
            self.closing = True
            self.changed.notify_all()
        for sender in self.senders:
            sender.join()
        self.session.close()

    # -- the sender threads -----------------------------------------------------

    def _next_batch(self) -> list[str] | None:
        """The next batch once it is due (full, old enough, or closing); None when done."""
        # TODO: wait on self.changed until batch_size lines are queued, or the oldest has
        # waited flush_interval (wait with a timeout until its deadline), or closing;
        # then take up to batch_size lines, oldest first, and add them to self.in_flight.
        raise NotImplementedError("not implemented yet: ResilientWriter._next_batch()")

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._send(batch)
            with self.changed:
                self.in_flight -= len(batch)
                self.changed.notify_all()

    def _send(self, batch: list[str]) -> None:
        """Send one batch until it is settled: written, rejected or dropped."""
        # TODO: POST the lines joined by newlines with self.session (params, timeout);
        # 2xx: written. 413: send each half (one line alone: rejected). Any other
        # 4xx but 429: rejected. 429, 5xx, a ConnectionError or a Timeout: wait
        # (retry_after() of the answer's header, else backoff()) and send again, up to
        # max_retries, then dropped. Count with _settle.
        raise NotImplementedError("not implemented yet: ResilientWriter._send()")

    def backoff(self, retry: int) -> float:
        """Before retry ``retry`` (1, 2, ...): half to all of the capped exponential delay,
        so that writers that failed together do not all come back together."""
        # TODO: min(max_delay, base_delay x 2^(retry-1)), and a random point in its upper half.
        raise NotImplementedError("not implemented yet: ResilientWriter.backoff()")

    def _settle(self, outcome: str, count: int) -> None:
        with self.changed:
            self.stats[outcome] += count


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date."""
    # TODO: None for no header; a number of seconds as it is; an HTTP-date
    # (email.utils.parsedate_to_datetime) as the seconds from now until then, never negative.
    raise NotImplementedError("not implemented yet: retry_after()")


def replay(schedule: list[list], settings: dict, duration: float) -> dict:
    """Write each [offset, line] at its offset, wait out ``duration``, close: the stats."""
    env = os.environ
    writer = ResilientWriter(
        env["INFLUXDB_V2_URL"],
        env["INFLUXDB_V2_TOKEN"],
        env["INFLUXDB_V2_ORG"],
        env["INFLUXDB_V2_BUCKET"],
        **settings,
    )
    start = time.monotonic()
    for offset, line in schedule:
        time.sleep(max(0.0, start + offset - time.monotonic()))
        writer.write(line)
    time.sleep(max(0.0, start + duration - time.monotonic()))
    writer.close()
    return writer.stats
