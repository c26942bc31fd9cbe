"""Static checks of the Docker stack: docker-compose.yml and everything under deploy/.

No Docker engine is needed. The files are parsed and cross-checked against each
other and against ``influx_labs.versions`` / ``influx_labs.settings``, because
most stack bugs are two files disagreeing (an image tag, a variable name, a
datasource uid, a mount path). When the ``docker compose`` CLI plugin is
installed, one extra test lets Compose itself validate the file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from influx_labs import settings, versions
from influx_labs.pytest_plugin import docker_missing
from influx_labs.services.native import MAX_QUEUED_MESSAGES

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DEPLOY = REPO / "deploy"
DATASOURCE_FILE = DEPLOY / "grafana" / "provisioning" / "datasources" / "influxdb.yml"
PROVIDER_FILE = DEPLOY / "grafana" / "provisioning" / "dashboards" / "provider.yml"
DASHBOARD_DIR = DEPLOY / "grafana" / "dashboards"
MOSQUITTO_CONF = DEPLOY / "mosquitto" / "mosquitto.conf"
INIT_SCRIPT = DEPLOY / "influxdb" / "init" / "10-grafana-reader.sh"

EXPECTED_IMAGES = {
    "influxdb": versions.INFLUXDB_IMAGE,
    "influxdb-cloud": versions.INFLUXDB_IMAGE,
    "influxdb-secondary": versions.INFLUXDB_IMAGE,
    "mosquitto": versions.MOSQUITTO_IMAGE,
    "grafana": versions.GRAFANA_IMAGE,
    "toxiproxy": versions.TOXIPROXY_IMAGE,
}
# Variables that hold credentials: Compose must refuse to start without them.
SECRET_VARS = {
    "INFLUXDB_V2_TOKEN",
    "INFLUXDB_CLOUD_TOKEN",
    "INFLUXDB_SECONDARY_TOKEN",
    "INFLUXDB_ADMIN_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
}
SECRET_KEY = re.compile(r"TOKEN|PASSWORD|SECRET")
LOOPBACK = "127.0.0.1"

# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
# ${VAR?err} and bare $VAR; `$$` is an escaped literal dollar.
COMPOSE_REF = re.compile(
    r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
# Grafana provisioning: $VAR or ${VAR}; $__file{...} and friends are expanders.
GRAFANA_REF = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
FULL_SECRET_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}")


# --- helpers -----------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _env_keys(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv text, ignoring comments and blank lines."""
    pairs = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a KEY=VALUE line: {line!r}"
        pairs[key.strip()] = value.strip()
    return pairs


def _strings(node: Any) -> list[str]:
    """Every string value (and mapping key) in a parsed YAML tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _volumes(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume entry, short or long syntax."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append(
                (str(entry.get("source", "")), entry["target"], bool(entry.get("read_only")))
            )
            continue
        parts = entry.split(":")
        assert len(parts) in (2, 3), f"unexpected volume syntax {entry!r}"
        mode = parts[2].split(",") if len(parts) == 3 else []
        mounts.append((parts[0], parts[1], "ro" in mode))
    return mounts


def _is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def _mount_target(service: dict[str, Any], source: str) -> tuple[str, bool]:
    matches = [(target, ro) for src, target, ro in _volumes(service) if src == source]
    assert len(matches) == 1, f"expected exactly one mount of {source!r}, got {matches}"
    return matches[0]


def _interpolate(text: str, env: dict[str, str]) -> tuple[str, set[str]]:
    """Expand a Compose string like Compose does; return it and the variables it refused."""
    refused: set[str] = set()

    def expand(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op") or "", match.group("arg") or ""
        value = env.get(name)
        missing = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and missing:
            refused.add(name)
            return ""
        if op.endswith("-") and missing:
            return arg
        return value or ""

    return COMPOSE_REF.sub(expand, text).replace("$$", "$"), refused


def _dashboards() -> list[tuple[Path, dict[str, Any]]]:
    files = sorted(DASHBOARD_DIR.glob("*.json"))
    assert files, f"no dashboard JSON in {DASHBOARD_DIR}"
    return [(path, json.loads(path.read_text(encoding="utf-8"))) for path in files]


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Panels, including the ones nested in collapsed rows."""
    found = []
    for panel in panels:
        found.append(panel)
        found.extend(_panels(panel.get("panels") or []))
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    sources = _load_yaml(DATASOURCE_FILE)["datasources"]
    assert len(sources) == 1
    return sources[0]


@pytest.fixture(scope="module")
def generated_env() -> dict[str, str]:
    return _env_keys(settings.new_env_text())


# --- images and services -----------------------------------------------------


def test_no_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_exactly_the_expected_services(services: dict[str, Any]) -> None:
    assert set(services) == set(EXPECTED_IMAGES)


@pytest.mark.parametrize("name", sorted(EXPECTED_IMAGES))
def test_image_is_pinned_to_versions_module(services: dict[str, Any], name: str) -> None:
    image = services[name]["image"]
    _, sep, tag = image.rpartition("/")[2].partition(":")
    assert sep and tag, f"{name}: image {image!r} has no tag"
    assert tag != "latest", f"{name}: image {image!r} uses the moving latest tag"
    assert "$" not in image, f"{name}: image must not be chosen by a variable"
    assert image == EXPECTED_IMAGES[name], f"{name}: out of sync with influx_labs.versions"


@pytest.mark.parametrize("name", sorted(EXPECTED_IMAGES))
def test_every_service_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    check = services[name].get("healthcheck") or {}
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert isinstance(test, list), f"{name}: healthcheck.test should be an exec-form list"
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: empty test {test}"
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check, f"{name}: healthcheck has no {key}"


def test_every_published_port_is_loopback_only(services: dict[str, Any]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports") or []:
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == LOOPBACK, f"{name}: {port}"
            else:
                assert str(port).startswith(f"{LOOPBACK}:"), f"{name}: port {port!r}"
    # One port each; Toxiproxy publishes its API and its proxy to InfluxDB.
    assert published == len(services) + 1


def test_only_grafana_the_fault_proxy_and_the_cloud_are_optional(
    services: dict[str, Any],
) -> None:
    # Grafana's image cannot be had everywhere: the rest of the stack must run without it.
    # Toxiproxy is for the resilience lab's faults, the cloud and the secondary for
    # edge_to_cloud: on demand (the cloud's profile starts both regions).
    profiles = {name: service.get("profiles") for name, service in services.items()}
    assert profiles == {
        "influxdb": None,
        "influxdb-cloud": ["cloud"],
        "influxdb-secondary": ["cloud", "secondary"],
        "mosquitto": None,
        "grafana": ["grafana"],
        "toxiproxy": ["faults"],
    }


def test_grafana_waits_for_healthy_dependencies(services: dict[str, Any]) -> None:
    depends = services["grafana"].get("depends_on")
    assert isinstance(depends, dict), "use the long depends_on syntax with conditions"
    for dependency in ("influxdb", "mosquitto"):
        assert depends.get(dependency, {}).get("condition") == "service_healthy", dependency


def test_influxdb_uses_the_2x_data_and_config_paths(services: dict[str, Any]) -> None:
    mounts = {target: source for source, target, _ in _volumes(services["influxdb"])}
    assert not any("influxdbv2" in target for target in mounts), "the path is /var/lib/influxdb2"
    for target in ("/var/lib/influxdb2", "/etc/influxdb2"):
        assert target in mounts, f"no volume for {target}"
        assert not _is_bind(mounts[target]), f"{target} should be a named volume"


def test_influxdb_onboarding_environment(services: dict[str, Any]) -> None:
    env = _environment(services["influxdb"])
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    expected = {
        "DOCKER_INFLUXDB_INIT_USERNAME": "INFLUXDB_ADMIN_USER",
        "DOCKER_INFLUXDB_INIT_PASSWORD": "INFLUXDB_ADMIN_PASSWORD",
        "DOCKER_INFLUXDB_INIT_ORG": "INFLUXDB_V2_ORG",
        "DOCKER_INFLUXDB_INIT_BUCKET": "INFLUXDB_V2_BUCKET",
        "DOCKER_INFLUXDB_INIT_RETENTION": "INFLUXDB_RETENTION",
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": "INFLUXDB_V2_TOKEN",
    }
    for key, variable in expected.items():
        refs = [m.group("braced") or m.group("bare") for m in COMPOSE_REF.finditer(env[key])]
        assert refs == [variable], f"{key} should come from ${{{variable}}}, got {env[key]!r}"


@pytest.mark.parametrize("name", ["cloud", "secondary"])
def test_each_region_is_another_server_with_its_own_token_data_and_port(
    services: dict[str, Any], generated_env: dict[str, str], name: str
) -> None:
    region, prefix = services[f"influxdb-{name}"], f"INFLUXDB_{name.upper()}_"
    env = _environment(region)
    token = env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert [m.group("braced") for m in COMPOSE_REF.finditer(token)] == [f"{prefix}TOKEN"]
    for key in ("ORG", "BUCKET"):
        refs = [m.group("braced") for m in COMPOSE_REF.finditer(env[f"DOCKER_INFLUXDB_INIT_{key}"])]
        assert refs == [f"{prefix}{key}"]
    volumes = {source for source, _, _ in _volumes(region)}
    others = {
        source
        for other in ("influxdb", "influxdb-cloud", "influxdb-secondary")
        if other != f"influxdb-{name}"
        for source, _, _ in _volumes(services[other])
    }
    assert volumes and not volumes & others
    port, _ = _interpolate(region["ports"][0], generated_env)
    assert port == f"{LOOPBACK}:{generated_env[f'{prefix}PORT']}:8086"
    assert generated_env[f"{prefix}URL"].endswith(f":{generated_env[f'{prefix}PORT']}")


def test_the_servers_have_ports_of_their_own(generated_env: dict[str, str]) -> None:
    ports = [
        generated_env[f"{n}PORT"] for n in ("INFLUXDB_", "INFLUXDB_CLOUD_", "INFLUXDB_SECONDARY_")
    ]
    assert len(set(ports)) == 3
    tokens = [
        generated_env[f"{n}TOKEN"]
        for n in ("INFLUXDB_V2_", "INFLUXDB_CLOUD_", "INFLUXDB_SECONDARY_")
    ]
    assert len(set(tokens)) == 3


# --- secrets and variables ---------------------------------------------------


def test_secrets_are_required_references_not_literals(services: dict[str, Any]) -> None:
    checked = set()
    for name, service in services.items():
        for key, value in _environment(service).items():
            if not SECRET_KEY.search(key):
                continue
            match = FULL_SECRET_REF.fullmatch(value)
            assert match, f"{name}: {key} must be a ${{VAR:?message}} reference, not {value!r}"
            checked.add(match.group("name"))
    assert checked == SECRET_VARS


def test_every_referenced_variable_is_in_both_env_files(
    compose: dict[str, Any], generated_env: dict[str, str]
) -> None:
    referenced = {
        m.group("braced") or m.group("bare")
        for text in _strings(compose)
        for m in COMPOSE_REF.finditer(text)
    }
    assert referenced >= SECRET_VARS
    example = _env_keys(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert referenced <= set(example), f"missing in .env.example: {referenced - set(example)}"
    missing = referenced - set(generated_env)
    assert not missing, f"missing in settings.new_env_text(): {missing}"


def test_env_example_has_the_generated_keys_and_placeholder_secrets(
    generated_env: dict[str, str],
) -> None:
    example = _env_keys(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert list(example) == list(generated_env)
    for key in SECRET_VARS:
        assert example[key].startswith("change-me-"), f"{key} must be a placeholder"
        assert example[key] != generated_env[key]


def test_compose_resolves_with_a_generated_env(
    compose: dict[str, Any], generated_env: dict[str, str]
) -> None:
    for text in _strings(compose):
        expanded, refused = _interpolate(text, generated_env)
        assert not refused, f"{text!r} refused {refused}"
        assert "${" not in expanded
    port, _ = _interpolate(compose["services"]["influxdb"]["ports"][0], generated_env)
    assert port == f"{LOOPBACK}:{generated_env['INFLUXDB_PORT']}:8086"


def test_compose_refuses_to_start_without_secrets(compose: dict[str, Any]) -> None:
    refused: set[str] = set()
    for text in _strings(compose):
        refused |= _interpolate(text, {})[1]
    assert refused == SECRET_VARS


# --- mounts ------------------------------------------------------------------


def test_bind_mounts_exist_with_the_right_kind(services: dict[str, Any]) -> None:
    binds = set()
    for name, service in services.items():
        for source, _target, read_only in _volumes(service):
            if not _is_bind(source):
                continue
            binds.add(source)
            # Configuration from ./deploy; the one lab folder a service shows is the
            # dashboard lab's, so that the student's Grafana loads their dashboard.json.
            inside = source.startswith("./deploy/") or source == "./labs/grafana_dashboard"
            assert inside, f"{name}: bind {source!r} outside ./deploy"
            assert read_only, f"{name}: config bind {source!r} should be :ro"
            path = REPO / source
            # A missing file is silently created as a *directory* by Docker.
            if path.suffix:
                assert path.is_file(), f"{name}: {source} should be a file"
            else:
                assert path.is_dir(), f"{name}: {source} should be a directory"
    assert binds == {
        "./deploy/influxdb/init",
        "./deploy/mosquitto/mosquitto.conf",
        "./deploy/grafana/provisioning",
        "./deploy/grafana/dashboards",
        "./deploy/toxiproxy/toxiproxy.json",
        "./labs/grafana_dashboard",
    }


def test_toxiproxy_proxies_influxdb_on_the_published_port(services: dict[str, Any]) -> None:
    proxies = json.loads((REPO / "deploy" / "toxiproxy" / "toxiproxy.json").read_text())
    assert [(p["name"], p["upstream"]) for p in proxies] == [("influxdb", "influxdb:8086")]
    listen = proxies[0]["listen"].rsplit(":", 1)[1]
    published = [str(port).rsplit(":", 1)[1] for port in services["toxiproxy"]["ports"]]
    assert sorted(published) == sorted(["8474", listen])


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {src for s in services.values() for src, _, _ in _volumes(s) if not _is_bind(src)}
    assert used == declared


def test_grafana_token_is_shared_at_the_path_the_datasource_reads(
    services: dict[str, Any], datasource: dict[str, Any]
) -> None:
    token_ref = datasource["secureJsonData"]["token"]
    match = re.fullmatch(r"\$__file\{(?P<path>/[^}]+)\}", token_ref)
    assert match, f"token should be read with $__file{{...}}, got {token_ref!r}"
    token_path = Path(match.group("path"))

    writer_target, writer_ro = _mount_target(services["influxdb"], "grafana-token")
    reader_target, reader_ro = _mount_target(services["grafana"], "grafana-token")
    assert Path(writer_target) == Path(reader_target) == token_path.parent
    assert not writer_ro and reader_ro

    script = INIT_SCRIPT.read_text(encoding="utf-8")
    assert str(token_path.parent) in script and token_path.name in script


# --- grafana provisioning ----------------------------------------------------


def test_datasource_is_flux_with_a_fixed_uid(datasource: dict[str, Any]) -> None:
    assert datasource["uid"] == "influxdb-flux"
    assert datasource["type"] == "influxdb"
    assert datasource["access"] == "proxy"
    assert datasource["url"] == "http://influxdb:8086"
    assert datasource["jsonData"]["version"] == "Flux"


def test_datasource_variables_are_in_grafana_environment(
    services: dict[str, Any], datasource: dict[str, Any]
) -> None:
    referenced = {
        braced or bare
        for text in _strings(datasource)
        for braced, bare in GRAFANA_REF.findall(text)
        if not (braced or bare).startswith("__")
    }
    assert referenced >= {"INFLUXDB_V2_ORG", "INFLUXDB_V2_BUCKET"}
    missing = referenced - set(_environment(services["grafana"]))
    assert not missing, f"grafana's environment lacks {missing}"


def test_dashboards_use_the_provisioned_datasource_uid(datasource: dict[str, Any]) -> None:
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    uids = []
    for path, dashboard in _dashboards():
        uids.append(dashboard["uid"])
        query_panels = [p for p in _panels(dashboard["panels"]) if p.get("type") != "row"]
        assert query_panels, f"{path.name}: no panels"
        for panel in query_panels:
            assert panel.get("datasource") == expected, f"{path.name}: panel {panel.get('title')}"
            assert panel.get("targets"), f"{path.name}: panel {panel.get('title')} has no query"
            for target in panel["targets"]:
                assert target.get("datasource") == expected, f"{path.name}: {target}"
    assert len(uids) == len(set(uids)), "dashboard uids must be unique"


def test_iot_overview_queries_the_readings_measurement() -> None:
    dashboard = json.loads((DASHBOARD_DIR / "iot-overview.json").read_text(encoding="utf-8"))
    assert dashboard["uid"] == "iot-overview"
    panels = [p for p in _panels(dashboard["panels"]) if p["type"] == "timeseries"]
    assert len(panels) == 2
    fields = set()
    for panel in panels:
        for target in panel["targets"]:
            query = target["query"]
            for needle in (
                "from(bucket: v.defaultBucket)",
                "v.timeRangeStart",
                "v.timeRangeStop",
                "every: v.windowPeriod",
                "fn: mean",
                'r._measurement == "readings"',
            ):
                assert needle in query, f"{panel['title']}: {needle!r} not in query"
            fields.update(re.findall(r'r\._field == "(\w+)"', query))
    assert fields == {"temperature", "humidity"}


def test_dashboard_providers_read_the_mounted_directories(services: dict[str, Any]) -> None:
    providers = _load_yaml(PROVIDER_FILE)["providers"]
    sources = ["./deploy/grafana/dashboards", "./labs/grafana_dashboard"]
    assert len(providers) == len(sources)
    for provider, source in zip(providers, sources, strict=True):
        assert provider["type"] == "file"
        assert provider["allowUiUpdates"] is False
        target, read_only = _mount_target(services["grafana"], source)
        assert read_only
        assert Path(provider["options"]["path"]) == Path(target)


# --- mosquitto and the init script -------------------------------------------


def test_mosquitto_listens_and_persists_into_its_volume(services: dict[str, Any]) -> None:
    directives = [
        line.split()
        for line in MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ["listener", "1883"] in directives
    assert ["persistence", "true"] in directives
    assert ["allow_anonymous", "true"] in directives
    # The native broker's queue bound (the file explains it).
    assert ["max_queued_messages", str(MAX_QUEUED_MESSAGES)] in directives
    locations = [d[1] for d in directives if d[0] == "persistence_location"]
    assert len(locations) == 1
    data_target, read_only = _mount_target(services["mosquitto"], "mosquitto-data")
    assert not read_only
    assert Path(locations[0]) == Path(data_target)


def test_init_script_is_an_executable_strict_shell_script() -> None:
    mode = INIT_SCRIPT.stat().st_mode
    # The entrypoint only runs files that are executable (run-parts).
    assert mode & stat.S_IXUSR, f"{INIT_SCRIPT.name} is not executable: {oct(mode)}"
    text = INIT_SCRIPT.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh\n") or text.startswith("#!/bin/bash\n")
    assert re.search(r"^set -eu\b", text, re.MULTILINE)
    assert "--read-buckets" in text
    for broad in ("--all-access", "--operator", "--write-"):
        assert broad not in text, f"grafana's token must stay read-only ({broad})"
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\bjq\b", code), "jq is not in the influxdb image"


# --- the real Compose parser, where available --------------------------------


# Compose v2 (the `docker compose` plugin the README uses) and Compose v1.29
# (Debian's docker-compose): the file must be valid for both.
COMPOSE_CLIS = {"compose-v2": ["docker", "compose"], "compose-v1": ["docker-compose"]}


def _compose_cli_missing(cli: list[str]) -> str | None:
    if shutil.which(cli[0]) is None:
        return f"{cli[0]} is not installed"
    try:
        probe = subprocess.run([*cli, "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(cli)} not usable: {exc}"
    if probe.returncode != 0:
        return f"{' '.join(cli)} is not installed"
    return None


@pytest.mark.parametrize("implementation", sorted(COMPOSE_CLIS))
def test_docker_compose_config_accepts_the_file(
    tmp_path: Path, generated_env: dict[str, str], implementation: str
) -> None:
    cli = COMPOSE_CLIS[implementation]
    reason = _compose_cli_missing(cli)
    if reason:
        docker_missing(reason)
    shutil.copy2(COMPOSE_FILE, tmp_path / COMPOSE_FILE.name)
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    # Variables from the caller's shell would override .env and hide mistakes.
    clean_env = {
        key: value
        for key, value in os.environ.items()
        if key not in generated_env and not key.startswith("COMPOSE_")
    }
    command = [*cli, "--project-name", "influx-labs-check", "config", "-q"]

    refused = subprocess.run(
        command, cwd=tmp_path, env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0, "compose must refuse to run without .env"

    (tmp_path / ".env").write_text(settings.new_env_text(), encoding="utf-8")
    accepted = subprocess.run(
        command, cwd=tmp_path, env=clean_env, capture_output=True, text=True, timeout=60
    )
    assert accepted.returncode == 0, accepted.stderr
