"""Lab edge_to_cloud: store-and-forward from an edge InfluxDB to the cloud, failing over
to a second region, and InfluxDB's own replication (solution).

Run the grader on your work: `./course check edge_to_cloud`.
Guide: docs/labs/edge_to_cloud.md.

Contract. Settings come from the environment:
- the edge: INFLUXDB_V2_URL, INFLUXDB_V2_ORG, INFLUXDB_V2_TOKEN, and
  INFLUXDB_V2_BUCKET, the bucket the sensors write to: the outbox;
- the cloud: INFLUXDB_CLOUD_URL, INFLUXDB_CLOUD_ORG, INFLUXDB_CLOUD_TOKEN,
  INFLUXDB_CLOUD_BUCKET;
- STATE_DIR: a folder that outlives the program (keep the checkpoint there);
- BATCH_SIZE (default 500), INTERVAL (seconds between two rounds, default 0.5),
  LAG (seconds, default 1.0).

`python forwarder.py` runs until it is stopped. Each round it forwards every
value of the edge bucket whose time is at or after the checkpoint and before
now - LAG (a sensor's reading reaches the edge up to LAG after its time):
- to the cloud bucket, with the same measurement, tags, field, value and type
  and the same time to the nanosecond;
- with no checkpoint yet (the first start), from 1970-01-01;
- oldest first, in POST /api/v2/write requests of at most BATCH_SIZE values,
  one value per line (a batch may hold more only when more values than that
  share one time: values of one time never straddle two batches);
- the checkpoint moves past a batch only once the cloud answered it 204, and
  it is saved in STATE_DIR before the next batch goes: a restart, even after
  a SIGKILL, resends at most the batch that was in flight;
- a cloud that does not answer, or answers 429 or 5xx, is tried again next
  round; the program never stops for it. A batch answered any other 4xx can
  never land: it is reported on stderr and passed;
- after each batch the cloud acknowledged, one JSON line on stdout:
  {"forwarded": values acknowledged since this process started}.

Two regions. When INFLUXDB_SECONDARY_URL, _ORG, _TOKEN and _BUCKET are set,
the cloud is the primary region and that server the secondary (unset: the
cloud alone, as above). FAILOVER_AFTER (seconds, default 2.0) and
PROBE_INTERVAL (seconds, default 1.0):
- a batch the primary did not acknowledge (no answer: connection refused or
  reset, a timeout; or 429 or 5xx) is tried again on the primary;
- only once the primary has failed continuously for FAILOVER_AFTER seconds
  (from the first of the failures in a row; an answer ends the run) do the
  batches go to the secondary: a single failed write is no outage;
- while they do, GET /health on the primary, at most every PROBE_INTERVAL;
  once it answers 200 with {"status": "pass"}, the batches go to the primary
  again;
- one checkpoint for both: it means "acknowledged by one region", so a value
  either region acknowledged is never sent again, to either; a switch neither
  moves it nor resets it;
- {"forwarded": n} counts the values either region acknowledged.

replicate(bucket, cloud_bucket, remote_url) sets up InfluxDB's native
replication of the edge bucket `bucket` into the cloud bucket `cloud_bucket`:
a remote connection (POST /api/v2/remotes) to the cloud at `remote_url` (the
cloud as the edge server reaches it) with the cloud's org and token, then a
replication (POST /api/v2/replications) of the bucket. Returns the
replication's ID.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

import requests
from influxdb_client import InfluxDBClient

TAKEN = {"result", "table", "_start", "_stop", "_time", "_value", "_field", "_measurement", "_ns"}


def settings(prefix: str) -> dict[str, str]:
    names = ("URL", "ORG", "TOKEN", "BUCKET")
    return {n.lower(): os.environ[f"{prefix}_{n}"] for n in names}


def _escape(text: str, special: str) -> str:
    text = text.replace("\\", "\\\\")
    for char in special:
        text = text.replace(char, f"\\{char}")
    return text


def _value(value: object) -> str:
    """A field value as line protocol types it: bool before int (a bool is an int)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_line(record: dict) -> str:
    """One value as a line: the time from ``_ns``, as datetimes stop at microseconds."""
    tags = sorted((k, v) for k, v in record.items() if k not in TAKEN and v is not None)
    head = _escape(record["_measurement"], ", ")
    head += "".join(f",{_escape(k, ',= ')}={_escape(str(v), ',= ')}" for k, v in tags)
    field = f"{_escape(record['_field'], ',= ')}={_value(record['_value'])}"
    return f"{head} {field} {record['_ns']}"


Rows = list[tuple[int, str]]  # (time in ns, line)


def read_window(client: InfluxDBClient, bucket: str, start: int, stop: int) -> Rows:
    """Every value in [start, stop) (nanoseconds) as (time, line), oldest first."""
    flux = (
        f'from(bucket: "{bucket}")\n'
        f"  |> range(start: time(v: {start}), stop: time(v: {stop}))\n"
        "  |> map(fn: (r) => ({r with _ns: int(v: r._time)}))\n"
    )
    rows = [
        (int(r["_ns"]), to_line(r.values))
        for table in client.query_api().query(flux)
        for r in table.records
    ]
    return sorted(rows)


def batches(rows: Rows, size: int) -> list[Rows]:
    """Whole times packed oldest first into batches of at most ``size`` rows (a time with
    more values than that goes alone)."""
    out: list[Rows] = []
    for _, group in itertools.groupby(rows, key=lambda row: row[0]):
        values = list(group)
        if not out or len(out[-1]) + len(values) > size:
            out.append([])
        out[-1].extend(values)
    return out


class Checkpoint:
    """The time (ns) from which nothing was acknowledged yet, kept on disk."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "checkpoint.json"
        try:
            self.at = int(json.loads(self.path.read_text())["next_ns"])
        except (OSError, ValueError, KeyError, TypeError):
            self.at = 0

    def save(self, at: int) -> None:
        """Write, flush to disk, then rename: a kill leaves the old file or the new one."""
        self.at = at
        partial = self.path.with_suffix(".tmp")
        with partial.open("w") as fh:
            json.dump({"next_ns": at}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, self.path)


class RegionDown(Exception):
    """The region did not acknowledge; try again later."""


def send(session: requests.Session, region: dict[str, str], lines: list[str]) -> bool:
    """True when the region acknowledged; False for a batch it can never take."""
    try:
        answer = session.post(
            f"{region['url'].rstrip('/')}/api/v2/write",
            params={"org": region["org"], "bucket": region["bucket"], "precision": "ns"},
            data="\n".join(lines).encode(),
            headers={"Authorization": f"Token {region['token']}"},
            timeout=10,
        )
    except requests.RequestException as exc:
        raise RegionDown(f"{region['url']}: {exc}") from exc
    if answer.status_code == 204:
        return True
    if answer.status_code == 429 or answer.status_code >= 500:
        raise RegionDown(f"{region['url']}: {answer.status_code} {answer.text[:200]}")
    print(
        f"{region['url']} refused a batch: {answer.status_code} {answer.text[:200]}",
        file=sys.stderr,
    )
    return False


def healthy(session: requests.Session, region: dict[str, str]) -> bool:
    """Whether the region's GET /health answers 200 with {"status": "pass"}."""
    try:
        answer = session.get(f"{region['url'].rstrip('/')}/health", timeout=2)
        return answer.status_code == 200 and answer.json().get("status") == "pass"
    except (requests.RequestException, ValueError, AttributeError):
        return False


class Regions:
    """Where the batches go: the primary region (the cloud), or the secondary one (if
    set) while the primary stays down."""

    def __init__(
        self,
        primary: dict[str, str],
        secondary: dict[str, str] | None,
        failover_after: float,
        probe_interval: float,
    ) -> None:
        self.session = requests.Session()
        self.primary, self.secondary = primary, secondary
        self.failover_after, self.probe_interval = failover_after, probe_interval
        self.active = primary
        self.failing_since: float | None = None  # the first of the primary's failures in a row
        self.next_probe = 0.0

    def send(self, lines: list[str]) -> bool:
        """True when the active region acknowledged; False for a batch it can never take;
        RegionDown when it did not answer (the batch is tried again next round)."""
        if self.active is not self.primary:
            self.probe()
        try:
            taken = send(self.session, self.active, lines)
        except RegionDown:
            if self.active is self.primary:
                self.primary_failed()
            raise
        if self.active is self.primary:
            self.failing_since = None  # it answered: a run of failures ends
        return taken

    def primary_failed(self) -> None:
        """A try on the primary failed: fail over once they all have for FAILOVER_AFTER."""
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        if self.secondary is not None and now - self.failing_since >= self.failover_after:
            self.switch(self.secondary)
            self.next_probe = now + self.probe_interval

    def probe(self) -> None:
        """On the secondary: at most every PROBE_INTERVAL, back to the primary once its
        /health passes."""
        now = time.monotonic()
        if now < self.next_probe:
            return
        self.next_probe = now + self.probe_interval
        if healthy(self.session, self.primary):
            self.failing_since = None
            self.switch(self.primary)

    def switch(self, region: dict[str, str]) -> None:
        """The next batches go to ``region``. The checkpoint stays where it is: what either
        region acknowledged is never sent again, to either."""
        print(f"switching to {region['url']}", file=sys.stderr, flush=True)
        self.active = region


def run() -> None:
    edge, cloud = settings("INFLUXDB_V2"), settings("INFLUXDB_CLOUD")
    secondary = settings("INFLUXDB_SECONDARY") if os.environ.get("INFLUXDB_SECONDARY_URL") else None
    size = int(os.environ.get("BATCH_SIZE", "500"))
    interval = float(os.environ.get("INTERVAL", "0.5"))
    lag = int(float(os.environ.get("LAG", "1.0")) * 1e9)
    failover_after = float(os.environ.get("FAILOVER_AFTER", "2.0"))
    probe_interval = float(os.environ.get("PROBE_INTERVAL", "1.0"))
    regions = Regions(cloud, secondary, failover_after, probe_interval)
    checkpoint = Checkpoint(Path(os.environ["STATE_DIR"]))
    forwarded = 0
    with InfluxDBClient(edge["url"], edge["token"], org=edge["org"], timeout=10_000) as client:
        while True:
            stop = time.time_ns() - lag
            try:
                rows = read_window(client, edge["bucket"], checkpoint.at, stop)
                for batch in batches(rows, size):
                    if regions.send([line for _, line in batch]):
                        forwarded += len(batch)
                        print(json.dumps({"forwarded": forwarded}), flush=True)
                    checkpoint.save(batch[-1][0] + 1)
                checkpoint.save(max(stop, checkpoint.at))
            except RegionDown as exc:
                print(f"not acknowledged, trying again: {exc}", file=sys.stderr)
            except Exception as exc:  # the edge server restarting, say: next round
                print(f"reading the edge failed, trying again: {exc!r}", file=sys.stderr)
            time.sleep(interval)


def _org_id(url: str, token: str, org: str) -> str:
    answer = requests.get(
        f"{url.rstrip('/')}/api/v2/orgs",
        params={"org": org},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["orgs"][0]["id"]


def replicate(bucket: str, cloud_bucket: str, remote_url: str) -> str:
    edge, cloud = settings("INFLUXDB_V2"), settings("INFLUXDB_CLOUD")
    api = f"{edge['url'].rstrip('/')}/api/v2"
    auth = {"Authorization": f"Token {edge['token']}"}
    org_id = _org_id(edge["url"], edge["token"], edge["org"])
    found = requests.get(
        f"{api}/buckets", params={"orgID": org_id, "name": bucket}, headers=auth, timeout=10
    )
    found.raise_for_status()
    bucket_id = found.json()["buckets"][0]["id"]
    remote = requests.post(
        f"{api}/remotes",
        json={
            "name": "cloud",
            "orgID": org_id,
            "remoteURL": remote_url,
            "remoteAPIToken": cloud["token"],
            "remoteOrgID": _org_id(cloud["url"], cloud["token"], cloud["org"]),
            "allowInsecureTLS": False,
        },
        headers=auth,
        timeout=10,
    )
    remote.raise_for_status()
    replication = requests.post(
        f"{api}/replications",
        json={
            "name": f"{bucket} to the cloud",
            "orgID": org_id,
            "remoteID": remote.json()["id"],
            "localBucketID": bucket_id,
            "remoteBucketName": cloud_bucket,
            "maxQueueSizeBytes": 67_108_860,
        },
        headers=auth,
        timeout=10,
    )
    replication.raise_for_status()
    return replication.json()["id"]


if __name__ == "__main__":
    run()
