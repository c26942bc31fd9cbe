"""The grader's check sandboxes on a live InfluxDB: a token that may make tokens (for the
instrumentation lab) reaches its own organization and its own user, never the admin's."""

from __future__ import annotations

import requests

from grader.sandbox import SandboxFactory
from influx_labs.services import Stack


def _as(token: str) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"
    return http


def test_a_token_making_tokens_has_a_user_of_its_own_removed_with_the_sandbox(
    lab_stack: Stack,
):
    factory = SandboxFactory(lab_stack.endpoints)
    url = lab_stack.endpoints.influx.url
    admin = _as(lab_stack.endpoints.influx.token)
    box = factory.create()
    try:
        maker = factory.token_making_tokens(box)
        http = _as(maker.token)
        write_lab = {"action": "write", "resource": {"type": "buckets", "orgID": box.org_id}}
        made = http.post(
            f"{url}/api/v2/authorizations",
            json={"orgID": box.org_id, "permissions": [write_lab]},
            timeout=10,
        )
        assert made.status_code == 201, made.text
        assert made.json()["userID"] == maker.user_id
        # The admin's user stays out of reach: no token for it, no change to it.
        admin_user = admin.get(f"{url}/api/v2/me", timeout=10).json()["id"]
        assert admin_user != maker.user_id
        for_admin = http.post(
            f"{url}/api/v2/authorizations",
            json={"orgID": box.org_id, "userID": admin_user, "permissions": [write_lab]},
            timeout=10,
        )
        assert for_admin.status_code == 401, for_admin.text
        renamed = http.patch(f"{url}/api/v2/users/{admin_user}", json={"name": "x"}, timeout=10)
        assert renamed.status_code in (401, 403), renamed.text
        # Nor does it reach another organization.
        other = factory.create()
        try:
            elsewhere = http.post(
                f"{url}/api/v2/authorizations",
                json={
                    "orgID": other.org_id,
                    "permissions": [
                        {**write_lab, "resource": {"type": "buckets", "orgID": other.org_id}}
                    ],
                },
                timeout=10,
            )
            assert elsewhere.status_code == 401, elsewhere.text
        finally:
            factory.remove(other)
    finally:
        factory.remove(box)
    gone = admin.get(f"{url}/api/v2/users/{maker.user_id}", timeout=10)
    assert gone.status_code == 404, gone.text
