"""Lab resilient_writes: a batching writer that loses nothing and hammers nothing
(reference solution).

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
import random
import threading
import time
from collections import deque
from email.utils import parsedate_to_datetime

import requests


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
        self.changed = threading.Condition()
        self.closing = False
        self.senders = [
            threading.Thread(target=self._run, daemon=True) for _ in range(max_in_flight)
        ]
        for sender in self.senders:
            sender.start()

    def write(self, line: str) -> None:
        with self.changed:
            if self.queue and len(self.queue) + self.in_flight >= self.buffer_limit:
                self.queue.popleft()
                self.stats["dropped"] += 1
            self.queue.append((time.monotonic(), line))
            self.changed.notify_all()

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
        with self.changed:
            while True:
                if len(self.queue) >= self.batch_size or (self.queue and self.closing):
                    break
                if self.queue:
                    due = self.queue[0][0] + self.flush_interval - time.monotonic()
                    if due <= 0:
                        break
                    self.changed.wait(due)
                elif self.closing:
                    return None
                else:
                    self.changed.wait()
            count = min(self.batch_size, len(self.queue))
            batch = [self.queue.popleft()[1] for _ in range(count)]
            self.in_flight += count
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._send(batch)
            with self.changed:
                self.in_flight -= len(batch)
                self.changed.notify_all()

    def _send(self, batch: list[str]) -> None:
        """Send one batch until it is settled: written, rejected or dropped."""
        retries = 0
        while True:
            try:
                answer = self.session.post(
                    self.endpoint,
                    params=self.params,
                    data="\n".join(batch).encode(),
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                    timeout=self.timeout,
                )
                status, wait = answer.status_code, retry_after(answer.headers.get("Retry-After"))
            except (requests.ConnectionError, requests.Timeout):
                status, wait = None, None
            if status is not None and status < 300:
                self._settle("written", len(batch))
                return
            if status == 413 and len(batch) > 1:
                half = len(batch) // 2
                self._send(batch[:half])
                self._send(batch[half:])
                return
            if status is not None and status < 500 and status != 429:  # no retry helps
                self._settle("rejected", len(batch))
                return
            if retries == self.max_retries:
                self._settle("dropped", len(batch))
                return
            retries += 1
            self._settle("retries", 1)
            time.sleep(wait if wait is not None else self.backoff(retries))

    def backoff(self, retry: int) -> float:
        """Before retry ``retry`` (1, 2, ...): half to all of the capped exponential delay,
        so that writers that failed together do not all come back together."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    def _settle(self, outcome: str, count: int) -> None:
        with self.changed:
            self.stats[outcome] += count


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
