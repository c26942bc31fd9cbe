"""Record the Docker stats documents the devops_serverless lab ships (needs a Docker engine).

    python scripts/record-docker-stats.py labs/devops_serverless/recorded

Two containers, each written as {"container": inspect, "image": image inspect,
"samples": [stats documents]}: `api-1` busy on one and a half CPUs, streamed,
restarted and streamed again (each stream's first document has no previous
reading, and the counters start again after the restart); `worker-7` idle, from
an image without a tag. Uses the `docker` package, as the lab's live mode does.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import docker

BUSY = "while :; do :; done & while :; do :; done"


def stream(container, count: int) -> list[dict]:
    """`count` documents of the engine's stats stream (one a second)."""
    return list(itertools.islice(container.stats(stream=True, decode=True), count))


def record(
    client: docker.DockerClient, name: str, image: str, command: list[str], restart: bool, **run
) -> dict:
    container = client.containers.run(image, command, name=name, detach=True, **run)
    try:
        samples = stream(container, 4)
        if restart:
            container.restart(timeout=1)
            samples += stream(container, 3)
        container.reload()
        return {
            "container": container.attrs,
            "image": client.api.inspect_image(container.attrs["Image"]),
            "samples": samples,
        }
    finally:
        container.remove(force=True)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    untagged = next(i for i in client.images.list() if not i.tags)
    recordings = {
        "api-1": record(
            client,
            "api-1",
            "debian:bookworm-slim",
            ["sh", "-c", BUSY],
            True,
            nano_cpus=1_500_000_000,
        ),
        "worker-7": record(client, "worker-7", untagged.id, ["300"], False, entrypoint="sleep"),
    }
    for name, recording in recordings.items():
        (out / f"{name}.json").write_text(json.dumps(recording, indent=1) + "\n")


if __name__ == "__main__":
    main()
