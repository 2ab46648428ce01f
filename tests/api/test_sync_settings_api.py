"""Entra Connect settings and cycle requests over the control plane: validation, all-or-nothing patches."""

from __future__ import annotations

import pytest


@pytest.fixture
def base(make_tenant):
    t = make_tenant(name="syncset", seed=3, mailboxes=4)
    return f"/_mock/tenants/{t.id}"


def test_get_and_patch_settings(client, base):
    sync = client.get(f"{base}/sync").get_json()
    assert (sync["intervalMinutes"], sync["enabled"], sync["deletionThreshold"]) == (30, True, 500)
    assert sync["writeback"] == {"enabled": False, "intervalMinutes": 20, "nextRunTime": None}
    assert sync["ouScope"] == ["OU=Corp,DC=syncset,DC=local"]
    resp = client.patch(
        f"{base}/sync", json={"intervalMinutes": 40, "writeback": {"enabled": True, "intervalMinutes": 10}}
    )
    body = resp.get_json()
    assert resp.status_code == 200 and body["intervalMinutes"] == 40
    assert body["nextSyncCycleStartTime"] == "2026-01-05T09:40:00Z"
    assert body["writeback"]["nextRunTime"] == "2026-01-05T09:10:00Z"


@pytest.mark.parametrize(
    "body",
    [
        {"intervalMinutes": "30"},
        {"intervalMinutes": 0},
        {"enabled": "true"},
        {"deletionThreshold": -3},
        {"connectVersion": "new"},
        {"ouScope": "OU=Corp"},
        {"ouScope": ["nonsense"]},
        {"writeback": {"enabled": 1}},
        {"unknown": True},
        {"intervalMinutes": 45, "connectVersion": "bad"},
    ],
)
def test_bad_patch_changes_nothing(client, base, body):
    before = client.get(f"{base}/sync").get_json()
    resp = client.patch(f"{base}/sync", json=body)
    assert resp.status_code == 400 and "error" in resp.get_json()
    assert client.get(f"{base}/sync").get_json() == before


def test_cycle_request_validation(client, base):
    for body in ({"policyType": "Full"}, {"policyType": 1}):
        resp = client.post(f"{base}/sync/cycles", json=body)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "ValidationError"
    assert client.post(f"{base}/sync/cycles", json={}).get_json()["policyType"] == "Delta"
    assert client.get(f"{base}/sync/cycles?policyType=Bogus").status_code == 400
    assert client.get(f"{base}/sync/cycles?top=0").status_code == 400
    assert client.get(f"{base}/sync/cycles/nope").status_code == 404
    assert client.get(f"{base}/sync/cycles?top=1").get_json()["count"] == 1


def test_openapi_documents_sync_routes(client):
    doc = client.get("/_mock/openapi.json").get_json()
    for path in (
        "/_mock/tenants/{tenant_key}/sync",
        "/_mock/tenants/{tenant_key}/sync/cycles",
        "/_mock/tenants/{tenant_key}/clock/advance",
        "/_mock/tenants/{tenant_key}/onprem/users/{sam}/move",
    ):
        assert any(p.endswith(path.split("/_mock", 1)[1]) for p in doc["paths"]), path
