"""The grader's fault proxy: the real InfluxDB behind it answers as it would directly, except
for the requests a check queued a fault for (live server)."""

from __future__ import annotations

import pytest
import requests

from grader.faults import Fault, FaultProxy, cut


def test_requests_reach_the_real_server_unchanged(influx):
    with FaultProxy(influx.url) as proxy:
        direct = requests.get(f"{influx.url}/api/v2/buckets", headers=_auth(influx), timeout=5)
        through = requests.get(f"{proxy.url}/api/v2/buckets", headers=_auth(influx), timeout=5)
        refused = requests.get(f"{proxy.url}/api/v2/buckets", timeout=5)  # no token
        assert through.status_code == 200 and through.json() == direct.json()
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
        assert [(r.method, r.path) for r in proxy.forwarded] == [
            ("GET", "/api/v2/buckets"),
            ("GET", "/api/v2/buckets"),
        ]


def test_a_queued_fault_answers_the_next_request_once(influx):
    with FaultProxy(influx.url) as proxy:
        proxy.fail_next(Fault(429, "too many requests", "slow down", {"Retry-After": "7"}))
        limited = requests.post(f"{proxy.url}/api/v2/write", data=b"m v=1", timeout=5)
        after = requests.get(f"{proxy.url}/health", timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json() == {"code": "too many requests", "message": "slow down"}
    assert after.status_code == 200 and after.json()["status"] == "pass"
    assert [r.path for r in proxy.forwarded] == ["/health"]
    refused = [(r.method, r.path, r.body) for r in proxy.refused]
    assert refused == [("POST", "/api/v2/write", b"m v=1")]


def test_faults_can_pick_their_request_by_its_lines_or_its_size(influx):
    """A queued fault waits for a body that carries its lines; a size limit answers every
    body longer than it, however often it comes."""
    with FaultProxy(influx.url) as proxy:
        proxy.fail_next(Fault(404, "not found", "no bucket", path="/api/v2/write", carrying=b"b"))
        proxy.refuse_larger(10, Fault(413, "request too large", "too large"))

        def post(body: bytes) -> int:
            return requests.post(f"{proxy.url}/api/v2/write", data=body, timeout=5).status_code

        # Unauthorized on the server (no token): passed on, not answered by the proxy.
        statuses = [post(b"a v=1"), post(b"b v=1"), post(b"b v=1"), post(b"c v=" + b"1" * 20)]
    assert statuses == [401, 404, 401, 413]
    assert [r.body for r in proxy.refused] == [b"b v=1", b"c v=" + b"1" * 20]


def test_a_cut_hangs_up_before_or_after_the_server_got_the_request(influx, fresh_bucket):
    """``before``: the write never lands; ``after``: it lands, and the client never hears."""
    write = f"{{}}/api/v2/write?org={influx.org}&bucket={fresh_bucket}&precision=s"
    with FaultProxy(influx.url) as proxy:
        proxy.fail_next(cut("before"))
        proxy.fail_next(cut("after"))
        for value in (1, 2):
            with pytest.raises(requests.ConnectionError):
                requests.post(
                    write.format(proxy.url), data=f"m v={value} 1700000000", headers=_auth(influx)
                )
    query = requests.post(
        f"{influx.url}/api/v2/query?org={influx.org}",
        json={"query": f'from(bucket: "{fresh_bucket}") |> range(start: 0)'},
        headers=_auth(influx),
        timeout=5,
    )
    values = [line.split(",")[6] for line in query.text.splitlines()[1:] if line.strip()]
    assert values == ["2"]
    assert [r.body for r in proxy.refused] == [b"m v=1 1700000000"]


def _auth(influx) -> dict[str, str]:
    return {"Authorization": f"Token {influx.token}"}
