"""Checks for lab resilient_writes: the student's writer sends through the grader's fault
proxy to the live InfluxDB. The proxy records every request (its lines and when it came)
and answers the ones a check chose with a fault: 429 and 503 with Retry-After in seconds
or as an HTTP-date, 503 without it, 400, 403, 413, an outage. Toxiproxy in front of it
resets connections, holds them without an answer and adds latency. The grader reads back
what landed: every line a writer should keep must be stored once, with its value and its
time (writes are idempotent, so values and count must be exact).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from grader.check import expect, expect_ok, points_of, stored
from grader.faults import Fault, FaultProxy
from grader.submission import Submission
from influx_labs.services.toxiproxy import Toxiproxy

WRITE = "/api/v2/write"
BASE_NS = 1_700_000_000_000_000_000  # the lines' times: a fixed past, 1 s apart


def _lines(count: int, measurement: str = "load") -> list[str]:
    """Line protocol with a value per line that names it: 'seq=N' at BASE + N seconds."""
    return [f"{measurement},host=h{n % 3} seq={n}i {BASE_NS + n * 10**9}" for n in range(count)]


def _landed(admin, sandbox) -> dict[int, int]:
    """seq -> how many stored points carry it (a duplicate shows as 2 only with a new time)."""
    found: dict[int, int] = {}
    for fields in points_of(stored(admin, sandbox, "load")).values():
        seq = fields.get("seq")
        if isinstance(seq, int):
            found[seq] = found.get(seq, 0) + 1
    return found


def _seqs(body: bytes) -> list[int]:
    """The seq numbers a write request carried, in its order."""
    return [int(line.split("seq=")[1].split("i")[0]) for line in body.decode().splitlines() if line]


def _writes(proxy: FaultProxy) -> list[tuple[float, str, list[int]]]:
    """Every write request, answered or refused, in the order it came: (at, how, seqs)."""
    seen = [(r, "forwarded") for r in proxy.forwarded] + [(r, "refused") for r in proxy.refused]
    seen.sort(key=lambda item: item[0].at)
    return [(r.at, how, _seqs(r.body)) for r, how in seen if r.path.startswith(WRITE)]


@pytest.fixture
def proxy(sandbox) -> Iterator[FaultProxy]:
    with FaultProxy(sandbox.url) as faults:
        yield faults


def _replay(
    submission: Submission,
    proxy: FaultProxy,
    schedule: list[tuple[float, str]],
    duration: float,
    url: str = "",
    **settings: Any,
) -> dict:
    """replay() through the proxy (or ``url``, in front of it); the writer's stats (the
    check fails if it raised)."""
    result = submission.call(
        "replay",
        [list(item) for item in schedule],
        settings,
        duration,
        env={"INFLUXDB_V2_URL": url or proxy.url},
        timeout=duration + 30,
    )
    stats = expect_ok(result)
    expect(
        isinstance(stats, dict),
        "replay() should return the writer's stats",
        expected='{"written": n, "rejected": n, "dropped": n, "retries": n}',
        found=stats,
    )
    return stats


def _exactly(landed: dict[int, int], want: set[int]) -> tuple[bool, str]:
    missing = sorted(want - set(landed))
    extra = sorted(set(landed) - want)
    twice = sorted(s for s, n in landed.items() if n > 1)
    ok = not missing and not extra and not twice
    return ok, (
        f"{len(landed)} distinct lines stored; missing {len(missing)} (e.g. seq {missing[:3]}), "
        f"unexpected {len(extra)} (e.g. {extra[:3]}), stored twice {len(twice)}"
    )


@pytest.mark.points(4)
def test_batches_by_size_and_flush_interval(submission, proxy, admin, sandbox, grade):
    """280 lines (250, then 30 more a moment later) with batch_size 100 and flush_interval
    1 s: two full batches at once, the rest once its oldest line has waited 1 s."""
    lines = _lines(280)
    schedule = [(0.0, line) for line in lines[:250]] + [(0.1, line) for line in lines[250:]]
    started = time.monotonic()
    _replay(submission, proxy, schedule, 3.0, batch_size=100, flush_interval=1.0)
    writes = _writes(proxy)
    sizes = [len(seqs) for _, _, seqs in writes]
    grade.part(
        "full batches of batch_size, oldest lines first",
        1.5,
        sizes == [100, 100, 80] and [s for _, _, b in writes for s in b] == list(range(280)),
        expected="write requests of [100, 100, 80] lines, in the order written",
        found=f"write requests of {sizes[:12]} lines",
        hint="one request per batch: the whole batch in one POST, lines joined by newlines",
    )
    late = [round(at - started, 1) for at, _, seqs in writes if len(seqs) < 100]
    grade.part(
        "the rest goes once its oldest line has waited flush_interval",
        1,
        len(late) == 1 and 0.7 <= late[0] <= 2.3,
        expected="one request of the last 80 lines about 1 s after the first line (not at close)",
        found=f"requests of fewer than 100 lines after {late} s (close was at 3 s)",
        hint="the sender waits for a full batch, or for the oldest line's deadline, "
        "whichever comes first",
    )
    ok, found = _exactly(_landed(admin, sandbox), set(range(280)))
    grade.part("every line stored once", 1.5, ok, expected="seq 0-279, once each", found=found)


@pytest.mark.points(4)
def test_retry_after_in_seconds_and_as_a_date(submission, proxy, admin, sandbox, grade):
    """A 429 with Retry-After: 2, then a 503 with Retry-After as an HTTP-date 3 s ahead: each
    refused batch is sent again, no sooner than the server asked, and lands."""
    proxy.fail_next(Fault(429, "too many requests", "slow down", {"Retry-After": "2"}, path=WRITE))
    proxy.fail_next(Fault(503, "unavailable", "restarting", path=WRITE, retry_date_in=3.0))
    lines = _lines(150)
    stats = _replay(
        submission, proxy, [(0.0, line) for line in lines], 0.5, batch_size=100, base_delay=0.1
    )
    writes = _writes(proxy)
    gaps = [round(b[0] - a[0], 2) for a, b in itertools.pairwise(writes)]
    grade.part(
        "after a 429 with Retry-After: 2, the batch comes again 2 s later",
        1.5,
        len(gaps) >= 1 and 1.95 <= gaps[0] <= 3.5 and writes[1][2] == writes[0][2],
        expected="the same 100 lines again, 2 to 3.5 s after the 429",
        found=f"the next request {gaps[:1]} s later"
        + ("" if len(writes) > 1 and writes[1][2] == writes[0][2] else ", not the same lines"),
        hint="Retry-After is in seconds here; wait that long before sending the batch again",
    )
    # An HTTP-date has whole seconds: 3 s ahead means a wait of 2 to 3 s.
    grade.part(
        "after a 503 with an HTTP-date Retry-After 3 s ahead, it waits until that date",
        1.5,
        len(gaps) >= 2 and 1.95 <= gaps[1] <= 4.5 and writes[2][2] == writes[0][2],
        expected="the same 100 lines again at the date given (2 to 4.5 s after the 503)",
        found=f"the request after the 503 came {gaps[1:2]} s later",
        hint="Retry-After may be an HTTP-date: email.utils.parsedate_to_datetime() reads it",
    )
    ok, found = _exactly(_landed(admin, sandbox), set(range(150)))
    grade.part(
        "every line stored once, and counted as written",
        1,
        ok and stats.get("written") == 150,
        expected='seq 0-149 stored; stats {"written": 150, ...}',
        found=f"{found}; stats {stats}",
    )


def _waits(proxy: FaultProxy) -> list[list[float]]:
    """For each batch, in the order first sent: the seconds before each of its retries."""
    times: dict[tuple[int, ...], list[float]] = {}
    for at, _, seqs in _writes(proxy):
        times.setdefault(tuple(seqs), []).append(at)
    return [[round(b - a, 3) for a, b in itertools.pairwise(ats)] for ats in times.values()]


# Eight batches of 10 lines at once (max_in_flight 8), each refused with 503 four times:
# eight samples of each retry's wait, whatever order the batches come back in.
BATCHES, REFUSALS, BASE, CAP = 8, 4, 0.2, 1.0
EARLY, LATE = 0.05, 0.12  # the clocks' slack: a request is stamped when the proxy reads it


def _window(retry: int) -> tuple[float, float]:
    """Half to all of min(max_delay, base_delay x 2^(retry-1))."""
    delay = min(CAP, BASE * 2 ** (retry - 1))
    return delay / 2, delay


@pytest.mark.points(4)
def test_backoff_grows_and_is_capped_without_retry_after(submission, proxy, admin, sandbox, grade):
    """Eight batches sent at once, each refused with 503 (no Retry-After) four times
    (base_delay 0.2 s, max_delay 1 s): before retry n each waits half to all of
    min(1, 0.2 x 2^(n-1)) s, with jitter that spreads them; then every batch lands."""
    proxy.fail_each(REFUSALS, Fault(503, "unavailable", "overloaded", path=WRITE))
    stats = _replay(
        submission,
        proxy,
        [(0.0, line) for line in _lines(BATCHES * 10)],
        0.2,
        batch_size=10,
        max_in_flight=BATCHES,
        base_delay=BASE,
        max_delay=CAP,
    )
    waits = _waits(proxy)
    # by_retry[n - 1]: every batch's wait before its retry n
    by_retry = [[w[n] for w in waits if len(w) > n] for n in range(REFUSALS)]

    def outside(retry: int) -> list[float]:
        lo, hi = _window(retry)
        found = by_retry[retry - 1]
        return [w for w in found if not lo - EARLY <= w <= hi + LATE] or (
            [] if len(found) == BATCHES else ["missing"]
        )

    def shown(retries: range) -> str:
        return "; ".join(f"retry {n}: {sorted(by_retry[n - 1])}" for n in retries)

    grade.part(
        "waits of half to all of base_delay x 2^(n-1) before retry n",
        1.5,
        not any(outside(n) for n in (1, 2, 3)),
        expected="8 waits each: 0.1-0.2 s before retry 1, 0.2-0.4 s before retry 2, "
        "0.4-0.8 s before retry 3",
        found=shown(range(1, 4)),
        hint="no retry at once, and not at a fixed pace: double the delay each time, "
        "with random jitter inside it",
    )
    grade.part(
        "capped at max_delay",
        0.5,
        not outside(4),
        expected="8 waits of 0.5-1.0 s before retry 4 (0.2 x 2^3 = 1.6 s, capped at 1 s)",
        found=shown(range(4, 5)),
    )
    ok, found = _exactly(_landed(admin, sandbox), set(range(BATCHES * 10)))
    grade.part(
        "every batch lands after its last refusal, and the counts say so",
        1,
        ok and stats.get("retries") == BATCHES * REFUSALS and stats.get("written") == BATCHES * 10,
        expected=f'seq 0-{BATCHES * 10 - 1} stored; stats {{"written": {BATCHES * 10}, '
        f'"retries": {BATCHES * REFUSALS}, ...}}',
        found=f"{found}; stats {stats}",
    )
    # Eight waits drawn from 0.4-0.8 s all within 50 ms of each other come from a fixed
    # share of the delay, not from chance (p < 1e-6).
    third = sorted(by_retry[2])
    grade.part(
        "random jitter: batches refused together do not all come back together",
        1,
        len(third) == BATCHES and third[-1] - third[0] >= 0.05,
        expected="the 8 waits before retry 3 spread by random jitter (more than 50 ms apart)",
        found=f"{third} s",
        hint="delay / 2 + random.uniform(0, delay / 2): each wait drawn anew",
    )


@pytest.mark.points(4)
def test_client_errors_are_not_retried_and_413_splits(submission, proxy, admin, sandbox, grade):
    """Batch 1 gets a 400 and batch 2 a 403: never sent again, counted as rejected. Batch 3
    is too large (413): split in halves, both land. Batch 4 lands."""
    for status, code in ((400, "invalid"), (403, "forbidden"), (413, "request too large")):
        proxy.fail_next(Fault(status, code, "refused by the grader", path=WRITE))
    stats = _replay(
        submission,
        proxy,
        [(0.0, line) for line in _lines(400)],
        0.5,
        batch_size=100,
        base_delay=0.2,
    )
    sent = [seqs for _, _, seqs in _writes(proxy)]
    first, second, third = list(range(100)), list(range(100, 200)), list(range(200, 300))
    again = [s for s in (first, second) if sent.count(s) > 1]
    grade.part(
        "a batch refused with 400 or 403 is never sent again",
        1.5,
        first in sent and second in sent and not again,
        expected="seq 0-99 (400) and 100-199 (403) sent once each",
        found=f"sent again: {[f'seq {s[0]}-{s[-1]}' for s in again]}"
        if again
        else f"requests of {[len(s) for s in sent[:8]]} lines",
        hint="400 (bad data), 401 and 403 (credentials) will fail the same way every time",
    )
    grade.part(
        "a 413 batch is split in two halves, and both land",
        1,
        third[:50] in sent and third[50:] in sent,
        expected="after the 413 for seq 200-299: requests of seq 200-249 and 250-299",
        found=f"requests of {[len(s) for s in sent[:8]]} lines",
        hint="413: the batch is too large for the server; send each half as a batch",
    )
    ok, found = _exactly(_landed(admin, sandbox), set(range(200, 400)))
    counted = stats.get("written") == 200 and stats.get("rejected") == 200
    grade.part(
        "the other lines land, and the counts say so",
        1.5,
        ok and counted,
        expected='seq 200-399 stored; stats {"written": 200, "rejected": 200, ...}',
        found=f"{found}; stats {stats}",
    )


@pytest.fixture
def toxiproxy() -> Iterator[Toxiproxy]:
    with Toxiproxy() as toxi:
        yield toxi


@pytest.mark.points(3)
def test_network_faults_and_an_outage_lose_nothing(
    submission, proxy, toxiproxy, admin, sandbox, grade
):
    """Through Toxiproxy, while lines keep coming for 3 s: requests reset on their way in
    (reset_peer), then answers that never come (timeout), then a 2 s outage (503 to
    everything), with 50 ms of latency throughout. Every line lands once."""
    upstream = proxy.url.removeprefix("http://")
    port = toxiproxy.proxy("influxdb", upstream)
    toxiproxy.add("influxdb", "latency", latency=50)
    # Reset on the way in: the request never reaches the server, only a retry saves it.
    toxiproxy.add("influxdb", "reset_peer", stream="upstream", timeout=0)

    def hang() -> None:
        toxiproxy.remove("influxdb", "reset_peer")
        # No answer on the way out: the server may have written the batch, so the retry
        # writes it again, which idempotent writes make harmless (stored once).
        toxiproxy.add("influxdb", "timeout", timeout=0)

    def outage() -> None:
        toxiproxy.remove("influxdb", "timeout")
        proxy.fail_for(2.0, Fault(503, "unavailable", "down for maintenance", path=WRITE))

    phases = [threading.Timer(1.2, hang), threading.Timer(2.6, outage)]
    for phase in phases:
        phase.start()
    lines = _lines(600)
    try:
        stats = _replay(
            submission,
            proxy,
            [(i * 0.005, line) for i, line in enumerate(lines)],  # 3 s of lines
            3.0,
            url=f"http://127.0.0.1:{port}",
            batch_size=100,
            base_delay=0.2,
            max_delay=0.8,
            max_retries=30,
            timeout=1.0,
        )
    finally:
        for phase in phases:
            phase.join()
    ok, found = _exactly(_landed(admin, sandbox), set(range(600)))
    grade.part(
        "every line stored once after resets, a silent server and an outage",
        2,
        ok,
        expected="seq 0-599, once each",
        found=found,
        hint="a reset connection or a timeout is a failure to retry, like a 503",
    )
    grade.part(
        "counted as written, none dropped",
        1,
        stats.get("written") == 600 and not stats.get("dropped"),
        expected={"written": 600, "dropped": 0},
        found=stats,
    )


@pytest.mark.points(2)
def test_the_buffer_is_bounded_and_keeps_the_newest(submission, proxy, admin, sandbox, grade):
    """While the server is down, 1,000 lines into a writer with buffer_limit 300: it holds
    300 (the batch being retried and the newest 200), drops the rest, and says so."""
    proxy.fail_for(2.5, Fault(503, "unavailable", "down", path=WRITE))
    stats = _replay(
        submission,
        proxy,
        [(0.0, line) for line in _lines(1000)],
        0.5,
        batch_size=100,
        buffer_limit=300,
        base_delay=0.2,
        max_delay=0.5,
        max_retries=30,
    )
    landed = _landed(admin, sandbox)
    newest = set(range(800, 1000))
    grade.part(
        "300 lines kept, the newest among them; 700 dropped and counted",
        2,
        len(landed) == 300 and newest <= set(landed) and stats.get("dropped") == 700,
        expected='300 lines stored, seq 800-999 among them; stats {"dropped": 700, ...}',
        found=f"{len(landed)} stored, {len(newest & set(landed))} of seq 800-999; stats {stats}",
        hint="buffer_limit counts every line not yet settled; when full, drop the oldest "
        "line waiting (not the one being sent) and count it",
    )


@pytest.mark.points(2)
def test_batches_beat_a_request_per_line(submission, proxy, admin, sandbox, grade):
    """20,000 lines with batch_size 5,000 land at least 10 times faster than the grader's
    own line-per-request writer manages on the same server."""
    lines = _lines(20_000)
    _replay(submission, proxy, [(0.0, line) for line in lines], 0.0, batch_size=5000)
    returned = time.monotonic()
    first = min((a for a, _, _ in _writes(proxy)), default=returned)
    seconds = max(returned - first, 1e-3)  # from its first request until close() returned
    landed = len(_landed(admin, sandbox))
    baseline = _per_request_rate(proxy, sandbox)
    rate = landed / seconds
    grade.part(
        "at least 10x the lines per second of one request per line",
        2,
        landed == 20_000 and rate >= 10 * baseline,
        expected=f"20,000 lines stored at >= {10 * baseline:,.0f} lines/s "
        f"(one request per line, through the same proxy: {baseline:,.0f} lines/s)",
        found=f"{landed:,} stored in {seconds:.2f} s: {rate:,.0f} lines/s",
        hint="one Session for the whole run, whole batches per request",
    )


def _per_request_rate(proxy: FaultProxy, sandbox, count: int = 300) -> float:
    """Lines per second of a line-per-request writer (one kept-alive connection)."""
    with requests.Session() as http:
        http.headers["Authorization"] = f"Token {sandbox.token}"
        params = {"org": sandbox.org, "bucket": sandbox.bucket, "precision": "ns"}
        started = time.monotonic()
        for line in _lines(count, measurement="baseline"):
            http.post(f"{proxy.url}{WRITE}", params=params, data=line, timeout=10)
        return count / (time.monotonic() - started)
