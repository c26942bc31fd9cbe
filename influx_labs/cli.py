"""``influx-labs``: start, stop and inspect the lab services.

``up`` uses Docker Compose where an engine answers and the native processes
otherwise; either way the settings the labs read are in ``.env``.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .services import ServiceError, choose_backend
from .services.external import settings_endpoints
from .services.native import NativeStack, detached_state, stop_detached
from .settings import REPO_ROOT, Settings, env_file, load_settings, write_env_file
from .versions import GRAFANA_IMAGE

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console()
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
# The extra InfluxDB servers `up --cloud` starts: the edge_to_cloud lab's two regions.
CLOUD_SERVERS = ("cloud", "secondary")


class UpBackend(StrEnum):
    auto = "auto"
    docker = "docker"
    native = "native"


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def native_dir() -> Path:
    """Data, logs and process state of the detached native stack, beside the settings file."""
    return env_file().parent / ".influx-labs" / "native"


def _settings() -> Settings:
    if write_env_file():
        console.print(f"wrote {env_file()} with fresh random secrets")
    return load_settings()


def _show(settings: Settings, backend: str, grafana: bool = False, cloud: bool = False) -> None:
    table = Table(title=f"lab services ({backend})", show_header=False)
    table.add_row("InfluxDB", settings.influx_url)
    table.add_row("org / bucket", f"{settings.influx_org} / {settings.influx_bucket}")
    table.add_row("token", settings.influx_token.get_secret_value())
    if cloud:
        table.add_row("cloud InfluxDB", settings.cloud_url)
        table.add_row("cloud token", settings.cloud_token.get_secret_value())
        table.add_row("secondary InfluxDB", settings.secondary_url)
        table.add_row("secondary token", settings.secondary_token.get_secret_value())
    table.add_row("MQTT broker", f"{settings.mqtt_host}:{settings.mqtt_port}")
    if grafana:
        table.add_row("Grafana", f"http://127.0.0.1:{settings.grafana_port}")
    console.print(table)
    console.print(
        f"The labs read these from [bold]{env_file()}[/]; "
        "`influx-labs env` prints them as shell exports."
    )


def _compose(*args: str) -> int:
    """``docker compose`` on the course's file and settings (COMPOSE_PROJECT_NAME is honoured)."""
    if shutil.which("docker") is None:
        _fail("the docker command is not installed")
    return subprocess.call(
        ["docker", "compose", "--env-file", str(env_file()), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO_ROOT,
    )


def _grafana_image_available() -> bool:
    """Whether the engine has Grafana's pinned image or can pull it (not on offline machines)."""
    for command in (["image", "inspect"], ["pull", "--quiet"]):
        try:
            found = subprocess.run(
                ["docker", *command, GRAFANA_IMAGE], capture_output=True, timeout=300
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        if found.returncode == 0:
            return True
    return False


@app.command("init-env")
def init_env(
    force: Annotated[bool, typer.Option(help="Overwrite an existing .env")] = False,
) -> None:
    """Write .env with random passwords and token (kept if it exists)."""
    if write_env_file(force=force):
        console.print(f"wrote {env_file()} (mode 600)")
    else:
        console.print(f"{env_file()} exists; keeping it (use --force to replace)")


@app.command()
def up(
    backend: Annotated[UpBackend, typer.Option(help="Where to run the servers")] = UpBackend.auto,
    cloud: Annotated[
        bool,
        typer.Option(
            "--cloud", help="also the cloud and secondary InfluxDB of the edge_to_cloud lab"
        ),
    ] = False,
) -> None:
    """Start InfluxDB and Mosquitto (plus Grafana with Docker, two more InfluxDB with --cloud)."""
    settings = _settings()
    try:
        chosen = choose_backend(backend.value)
    except ServiceError as exc:
        _fail(str(exc))
    if chosen == "docker":
        grafana = _grafana_image_available()
        if not grafana:
            console.print(
                f"[yellow]{GRAFANA_IMAGE} cannot be had here (no registry answers): "
                "starting InfluxDB and Mosquitto without Grafana[/]"
            )
        profile = ["--profile", "grafana"] if grafana else []
        profile += ["--profile", "cloud"] if cloud else []
        if _compose(*profile, "up", "--detach", "--wait") != 0:
            _fail("docker compose up failed; see its output above (`docker compose logs`)")
        _show(settings, "docker", grafana=grafana, cloud=cloud)
        return
    state = detached_state(native_dir())
    regions = {f"influxd-{name}" for name in CLOUD_SERVERS}
    if state and (not cloud or regions <= set(state["processes"])):
        console.print("the native stack is already running")
        _show(settings, "native", cloud=regions <= set(state["processes"]))
        return
    if state:
        _fail(
            "the native stack runs without the cloud and secondary: `influx-labs down`, "
            "then `up --cloud`"
        )
    stack = NativeStack(
        workdir=native_dir(),
        influx_port=settings.influx_port,
        mqtt_port=settings.mqtt_port,
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        token=settings.influx_token.get_secret_value(),
        username=settings.admin_user,
        password=settings.admin_password.get_secret_value(),
        retention=settings.retention,
        detached=True,
        log_level="info",
        servers={
            "cloud": (settings.cloud_port, settings.cloud_token.get_secret_value()),
            "secondary": (settings.secondary_port, settings.secondary_token.get_secret_value()),
        },
    )
    try:
        with console.status("starting influxd and mosquitto"):
            stack.start()
            for name in CLOUD_SERVERS if cloud else ():
                stack.influx_server(name)
    except ServiceError as exc:
        stop_detached(native_dir())
        _fail(str(exc))
    _show(settings, "native", cloud=cloud)
    console.print(f"logs and data: {native_dir()}; stop with `influx-labs down`")


@app.command()
def down(
    volumes: Annotated[bool, typer.Option(help="Also delete the data (a fresh start)")] = False,
) -> None:
    """Stop the lab services started by `up`."""
    stopped = stop_detached(native_dir())
    if stopped:
        console.print(f"stopped the native stack: {', '.join(stopped)}")
    if volumes and native_dir().exists():
        shutil.rmtree(native_dir())
        console.print(f"deleted {native_dir()}")
    if not stopped:
        try:
            docker_running = choose_backend("auto") == "docker"
        except ServiceError:
            docker_running = False
        if docker_running:
            # Every profile: whatever of the stack was started, it stops.
            profiles = ["--profile", "grafana", "--profile", "faults", "--profile", "cloud"]
            _compose(*profiles, "down", *(["--volumes"] if volumes else []))
        else:
            console.print("nothing to stop")


@app.command()
def status() -> None:
    """Say whether the services in .env answer and whether the token works."""
    endpoints = settings_endpoints(load_settings())
    influx, broker = endpoints.influx, endpoints.mqtt
    checks = [
        ("InfluxDB health", lambda: influx.health() and f"{influx.url} pass"),
        ("InfluxDB token", lambda: f"opens org {influx.org} ({influx.check_token()})"),
        ("MQTT broker", lambda: broker.check() or f"{broker.host}:{broker.port} accepts"),
    ]
    table = Table(title="lab services", show_header=False)
    healthy = True
    for name, check in checks:
        try:
            table.add_row(name, "[green]ok[/]", str(check()))
        except ServiceError as exc:
            healthy = False
            table.add_row(name, "[red]failed[/]", str(exc))
    if detached_state(native_dir()):
        table.add_row("native stack", "running", str(native_dir()))
    console.print(table)
    raise typer.Exit(0 if healthy else 1)


@app.command("load-examples")
def load_examples() -> None:
    """Load the course site's example data into the bucket of .env, and say what it is.

    The same data the site's examples were run on: two hours of readings, one a
    minute, ending now. Loading again writes the two hours up to the new now (points
    at the same times are replaced).
    """
    # Imported here: the client library would add half a second to every other command.
    from influxdb_client import InfluxDBClient
    from influxdb_client.rest import ApiException
    from urllib3.exceptions import HTTPError

    from . import examples

    settings = load_settings()
    token = settings.influx_token.get_secret_value()
    if not token:
        _fail(f"no INFLUXDB_V2_TOKEN in {env_file()}: run ./course up first")
    url, org, bucket = settings.influx_url, settings.influx_org, settings.influx_bucket
    try:
        with InfluxDBClient(url=url, token=token, org=org, timeout=10_000) as client:
            if client.buckets_api().find_bucket_by_name(bucket) is None:
                _fail(f"InfluxDB at {url} has no bucket {bucket!r}: ./course up creates it")
            newest = examples.seed(client, org, bucket)
    except ApiException as exc:
        _fail(f"InfluxDB at {url} refused: {exc.status} {exc.reason} ({exc.body})")
    except (HTTPError, OSError) as exc:
        _fail(f"InfluxDB at {url} does not answer ({type(exc).__name__}): ./course up?")
    table = Table(title=f"loaded into bucket {bucket!r} of {org!r} at {url}")
    for column in ("measurement", "series (tags)", "fields", "points"):
        table.add_column(column)
    for name, series, fields, count in examples.summary():
        table.add_row(name, series.replace("; ", "\n"), fields, str(count))
    console.print(table)
    first = newest - timedelta(minutes=examples.MINUTES - 1)
    console.print(
        f"one point a minute per series, from {first:%Y-%m-%d %H:%M} to {newest:%H:%M} UTC "
        "(the last two hours), the data the site's examples read."
    )


@app.command()
def env() -> None:
    """Print the lab settings as shell exports: eval "$(influx-labs env)"."""
    for key, value in settings_endpoints(load_settings()).as_env().items():
        typer.echo(f"export {key}={value}")
