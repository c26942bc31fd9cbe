"""A fresh organization for every check, so checks and submissions never see each other's data.

The submission gets a token scoped to that organization only: it can do what
the lab needs there (buckets, tasks, checks...) and nothing anywhere else. The
grader keeps the admin token for seeding data and for verifying the outcome.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import requests

from influx_labs.services import Endpoints, ServiceError

# What a lab may touch inside its own organization.
_RESOURCES = (
    "buckets",
    "tasks",
    "checks",
    "notificationRules",
    "notificationEndpoints",
    "dashboards",
    "labels",
    "variables",
    "secrets",
    "dbrp",
    "telegrafs",
    "annotations",
)


@dataclass(frozen=True)
class Sandbox:
    """One check's organization, its default bucket and the submission's scoped token."""

    url: str
    org: str
    org_id: str
    bucket: str
    bucket_id: str
    token: str
    mqtt_host: str
    mqtt_port: int
    topic_prefix: str

    def env(self) -> dict[str, str]:
        """The settings a submission reads, in the names the labs use."""
        return {
            "INFLUXDB_V2_URL": self.url,
            "INFLUXDB_V2_ORG": self.org,
            "INFLUXDB_V2_BUCKET": self.bucket,
            "INFLUXDB_V2_TOKEN": self.token,
            "MQTT_HOST": self.mqtt_host,
            "MQTT_PORT": str(self.mqtt_port),
            "MQTT_TOPIC_PREFIX": self.topic_prefix,
        }


class TokenMaker(NamedTuple):
    """A token that may create tokens, its authorization's ID and its own user's ID (the
    tokens it creates belong to that user too)."""

    token: str
    id: str
    user_id: str


class SandboxFactory:
    """Creates and removes sandboxes with the admin token."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {endpoints.influx.token}"
        self._users: dict[str, list[str]] = {}  # by org ID: users made for one check

    def _api(self, method: str, path: str, **kwargs) -> dict:
        url = f"{self.endpoints.influx.url}/api/v2/{path}"
        try:
            response = self.http.request(method, url, timeout=10, **kwargs)
        except requests.RequestException as exc:
            raise ServiceError(f"InfluxDB did not answer {method} /api/v2/{path}: {exc}") from exc
        if response.status_code >= 300:
            raise ServiceError(
                f"InfluxDB refused {method} /api/v2/{path}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else {}

    def create(self, bucket: str = "lab") -> Sandbox:
        """A new organization holding one empty bucket, and a token scoped to it."""
        name = f"check-{uuid.uuid4().hex[:10]}"
        org = self._api("POST", "orgs", json={"name": name})
        created = self._api(
            "POST", "buckets", json={"orgID": org["id"], "name": bucket, "retentionRules": []}
        )
        token = self._token(org["id"], f"{name} submission", _RESOURCES)
        return Sandbox(
            url=self.endpoints.influx.url,
            org=name,
            org_id=org["id"],
            bucket=bucket,
            bucket_id=created["id"],
            token=token,
            mqtt_host=self.endpoints.mqtt.host,
            mqtt_port=self.endpoints.mqtt.port,
            topic_prefix=f"labs/{name}",
        )

    def _authorize(
        self, org_id: str, description: str, kinds: tuple[str, ...], user_id: str = ""
    ) -> dict:
        """A token that reads and writes ``kinds`` in the org, and reads the org itself;
        with ``user_id``, one of that user's, which may also read and write the user."""
        resources = [{"type": kind, "orgID": org_id} for kind in kinds]
        if user_id:
            resources.append({"type": "users", "id": user_id})
        permissions = [
            {"action": action, "resource": resource}
            for resource in resources
            for action in ("read", "write")
        ]
        permissions.append({"action": "read", "resource": {"type": "orgs", "id": org_id}})
        body = {"orgID": org_id, "description": description, "permissions": permissions}
        if user_id:
            body["userID"] = user_id
        return self._api("POST", "authorizations", json=body)

    def _token(self, org_id: str, description: str, kinds: tuple[str, ...]) -> str:
        return self._authorize(org_id, description, kinds)["token"]

    def token_also_for(self, sandbox: Sandbox, *kinds: str) -> str:
        """Another token of the sandbox's org that may also manage ``kinds`` (e.g. remotes
        and replications, which a service token should not have unless its lab needs them)."""
        return self._token(
            sandbox.org_id, f"{sandbox.org} {', '.join(kinds)}", (*_RESOURCES, *kinds)
        )

    def token_making_tokens(self, sandbox: Sandbox) -> TokenMaker:
        """A token of the sandbox's org that may also create tokens there. InfluxDB lets a
        token create a token only for a user the token may write: this one belongs to a
        user of its own, made for the check, never to the grader's admin."""
        user = self._api("POST", "users", json={"name": f"{sandbox.org} tokens"})
        self._users.setdefault(sandbox.org_id, []).append(user["id"])
        kinds = (*_RESOURCES, "authorizations")
        made = self._authorize(sandbox.org_id, f"{sandbox.org} tokens", kinds, user["id"])
        return TokenMaker(made["token"], made["id"], user["id"])

    def remove(self, sandbox: Sandbox) -> None:
        """Delete the organization with its tasks, buckets, tokens and users (best effort)."""
        with contextlib.suppress(ServiceError):
            for user in self._users.pop(sandbox.org_id, []):
                self._api("DELETE", f"users/{user}")
            for task in self._api("GET", "tasks", params={"orgID": sandbox.org_id}).get(
                "tasks", []
            ):
                self._api("DELETE", f"tasks/{task['id']}")
            self._api("DELETE", f"orgs/{sandbox.org_id}")
