"""Write the live stats of every running container through your write_container_stats().

    python labs/devops_serverless/live_stats.py [--samples 3]

Needs a Docker engine (DOCKER_HOST, or the local socket) and the lab's InfluxDB settings
in the environment. It reads what scripts/record-docker-stats.py recorded for the
grader: each container's inspect document, its image's, and a few documents of the
engine's stats stream.
"""

from __future__ import annotations

import argparse
import itertools

import docker
from devops import write_container_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="stats documents per container")
    samples = parser.parse_args().samples
    engine = docker.from_env()
    for container in engine.containers.list():
        stream = container.stats(stream=True, decode=True)
        docs = list(itertools.islice(stream, samples))
        image = engine.api.inspect_image(container.attrs["Image"])
        written = write_container_stats(container.attrs, image, docs)
        print(f"{container.name}: {written} points")


if __name__ == "__main__":
    main()
