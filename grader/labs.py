"""The labs the grader knows: one name, the same in labs/, solutions/, docs/labs/ and checks/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .runner import JAVASCRIPT, NOTEBOOK

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lab:
    name: str
    title: str
    module: str  # the file the student completes: without ".py", or with its suffix (.mjs)
    seconds: float  # a typical grading's duration on warm services: a class runs long ones first
    servers: tuple[str, ...] = ()  # extra InfluxDB servers the checks need, by name
    # Why `grader mutate` has nothing to change, where the solution is data, not code.
    no_mutation: str = ""

    @property
    def skeleton(self) -> Path:
        return REPO_ROOT / "labs" / self.name

    @property
    def solution(self) -> Path:
        return REPO_ROOT / "solutions" / self.name

    @property
    def file(self) -> str:
        return source_file(self.module)

    @property
    def packages(self) -> Path | None:
        """A JavaScript lab's pinned packages, installed from the skeleton's lockfile by
        ``./course`` (the grader mounts them for the code: a submission brings none)."""
        return self.skeleton / "node_modules" if self.file.endswith(JAVASCRIPT) else None

    @property
    def checks(self) -> Path:
        return Path(__file__).resolve().parent / "checks" / f"{self.name}.py"


LABS: dict[str, Lab] = {
    lab.name: lab
    for lab in (
        Lab("http_api", "The HTTP API with raw requests", "http_api", seconds=2),
        Lab("python_client", "The Python client library", "python_client", seconds=3),
        Lab("iot_pipeline", "An MQTT to InfluxDB bridge", "bridge", seconds=7),
        Lab("tasks", "Flux tasks: retention tiers, downsampling, anomalies", "tasks", seconds=3),
        Lab("monitoring", "A monitoring system: metrics, health, alerts", "monitor", seconds=8),
        Lab("resilient_writes", "Resilient writes: batching and retries", "writer", seconds=25),
        Lab(
            "devops_serverless",
            "DevOps and serverless: CI metrics, a Lambda handler, Docker stats",
            "devops",
            seconds=12,
        ),
        Lab(
            "instrumentation",
            "Instrumentation and security: a metrics decorator, least-privilege tokens",
            "instrument",
            seconds=20,
        ),
        Lab(
            "node_client",
            "The Node.js client library",
            "client.mjs",
            seconds=4,
        ),
        Lab(
            "notebook",
            "Notebook analysis: a join, windows and statistics in Jupyter",
            "analysis.ipynb",
            seconds=15,
        ),
        Lab(
            "grafana_dashboard",
            "A Grafana dashboard as code, proved on live InfluxDB",
            "dashboard",
            seconds=5,
            no_mutation="its solution is a dashboard model (JSON) that dashboard.py only reads",
        ),
        Lab(
            "edge_to_cloud",
            "Edge to cloud: store-and-forward, failover and replication",
            "forwarder",
            seconds=55,
            servers=("cloud", "secondary"),
        ),
    )
}


def source_file(module: str) -> str:
    """The file name of a lab's module: "client.mjs" or "analysis.ipynb" as it is,
    "bridge" as bridge.py."""
    return module if module.endswith((".py", NOTEBOOK, *JAVASCRIPT)) else f"{module}.py"


def get_lab(name: str) -> Lab:
    try:
        return LABS[name.replace("-", "_")]
    except KeyError:
        raise KeyError(f"no lab named {name!r}; labs: {', '.join(LABS)}") from None
