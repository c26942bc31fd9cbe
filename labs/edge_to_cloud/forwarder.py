"""Lab edge_to_cloud: store-and-forward from an edge InfluxDB to the cloud, failing over
to a second region, and InfluxDB's own replication (skeleton).

Complete the TODOs, then run the grader on your work: `./course check edge_to_cloud`.
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
  share one time: values of one time never straddle two batches), each as
  full as that allows: a batch ends only when the next time's values would
  not fit, or nothing older than now - LAG is left;
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

import os

# The TODOs need more: json, sys, time, pathlib, requests, and influxdb_client's
# InfluxDBClient to read the edge.


def settings(prefix: str) -> dict[str, str]:
    """{"url", "org", "token", "bucket"} from PREFIX_URL and so on (INFLUXDB_V2 is the
    edge, INFLUXDB_CLOUD the cloud, the primary region; INFLUXDB_SECONDARY the
    secondary region, when INFLUXDB_SECONDARY_URL is set)."""
    names = ("URL", "ORG", "TOKEN", "BUCKET")
    return {n.lower(): os.environ[f"{prefix}_{n}"] for n in names}


def run() -> None:
    # TODO: load the checkpoint from STATE_DIR (none yet: 0, the epoch), then each
    # INTERVAL: read the edge bucket's values in [checkpoint, now - LAG) with their
    # times as integer nanoseconds, turn each into one line of line protocol, and send
    # them oldest first in batches of at most BATCH_SIZE; after each batch the cloud
    # answered 204, print {"forwarded": n} and save the checkpoint (atomically) past it.
    # TODO (two regions): with INFLUXDB_SECONDARY_URL set, send to the secondary only once
    # the primary has failed for FAILOVER_AFTER seconds in a row; while there, probe the
    # primary's /health every PROBE_INTERVAL and go back once it says "pass". One
    # checkpoint for both regions: never send again what either acknowledged.
    raise NotImplementedError("not implemented yet")


def replicate(bucket: str, cloud_bucket: str, remote_url: str) -> str:
    # TODO: the edge's org ID and the bucket's ID, the cloud's org ID (with the cloud's
    # token), then POST /api/v2/remotes and POST /api/v2/replications on the edge.
    raise NotImplementedError("not implemented yet")


if __name__ == "__main__":
    run()
