"""Graph deleted items (30-day retention), organization and onPremisesSynchronization over HTTP."""

from __future__ import annotations

import pytest


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="dir", seed=5, mailboxes=4)


@pytest.fixture
def gh(t, auth_header):
    return auth_header(t, "graph")


def create(client, t, gh, nick="temp"):
    r = client.post(
        "/v1.0/users",
        headers=gh,
        json={
            "accountEnabled": True,
            "displayName": nick,
            "mailNickname": nick,
            "userPrincipalName": f"{nick}@{t.domain}",
            "passwordProfile": {"password": "Pw-12345678!"},
        },
    )
    assert r.status_code == 201
    return r.get_json()["id"]


def test_deleted_items_list_get_restore(client, t, gh):
    uid = create(client, t, gh)
    assert client.delete(f"/v1.0/users/{uid}", headers=gh).status_code == 204
    r = client.get("/v1.0/directory/deletedItems/microsoft.graph.user", headers=gh)
    body = r.get_json()
    assert body["@odata.context"].endswith("#directory/deletedItems/microsoft.graph.user")
    assert [v["id"] for v in body["value"]] == [uid] and body["value"][0]["deletedDateTime"]
    one = client.get(f"/v1.0/directory/deletedItems/{uid}", headers=gh).get_json()
    assert one["@odata.type"] == "#microsoft.graph.user" and one["id"] == uid
    r = client.post(f"/v1.0/directory/deletedItems/{uid}/restore", headers=gh)
    assert r.status_code == 200
    assert r.get_json()["@odata.type"] == "#microsoft.graph.user" and r.get_json()["deletedDateTime"] is None
    assert client.get(f"/v1.0/users/{uid}", headers=gh).status_code == 200
    assert client.post(f"/v1.0/directory/deletedItems/{uid}/restore", headers=gh).status_code == 404


def test_hard_delete_and_retention_on_the_clock(client, t, gh, auth_header):
    a, b = create(client, t, gh, "one"), create(client, t, gh, "two")
    client.delete(f"/v1.0/users/{a}", headers=gh)
    client.delete(f"/v1.0/users/{b}", headers=gh)
    assert client.delete(f"/v1.0/directory/deletedItems/{a}", headers=gh).status_code == 204
    assert client.get(f"/v1.0/directory/deletedItems/{a}", headers=gh).status_code == 404
    t.advance(30 * 24 * 60 + 1)
    fresh = auth_header(t, "graph")
    assert client.get("/v1.0/directory/deletedItems/microsoft.graph.user", headers=fresh).get_json()["value"] == []
    assert client.post(f"/v1.0/directory/deletedItems/{b}/restore", headers=fresh).status_code == 404


def test_restore_with_taken_upn_is_refused(client, t, gh):
    first = create(client, t, gh, "dup")
    client.delete(f"/v1.0/users/{first}", headers=gh)
    create(client, t, gh, "dup")
    r = client.post(f"/v1.0/directory/deletedItems/{first}/restore", headers=gh)
    assert r.status_code == 400 and "already exists" in r.get_json()["error"]["message"]


def test_deleted_item_of_live_user_is_not_found(client, t, gh):
    live = t.user_by_upn(f"user@{t.domain}").id
    assert client.get(f"/v1.0/directory/deletedItems/{live}", headers=gh).status_code == 404
    assert client.delete(f"/v1.0/directory/deletedItems/{live}", headers=gh).status_code == 404


def test_organization_reports_sync_state(client, t, gh):
    r = client.get("/v1.0/organization", headers=gh)
    assert r.status_code == 200
    org = r.get_json()["value"][0]
    assert org["id"] == t.id and org["onPremisesSyncEnabled"] is True
    assert org["onPremisesLastSyncDateTime"] == "2026-01-05T09:00:00Z"
    assert org["verifiedDomains"][0]["name"] == t.domain
    t.advance(31)  # the scheduled Delta cycle runs
    org = client.get(f"/v1.0/organization/{t.id}", headers=gh).get_json()
    assert org["onPremisesLastSyncDateTime"] == "2026-01-05T09:30:00Z"
    assert client.get("/v1.0/organization/other", headers=gh).status_code == 404


def test_on_premises_synchronization_reflects_threshold(client, t, gh):
    r = client.get("/v1.0/directory/onPremisesSynchronization", headers=gh)
    item = r.get_json()["value"][0]
    prevention = item["configuration"]["accidentalDeletionPrevention"]
    assert prevention == {"synchronizationPreventionType": "enabledForCount", "alertThreshold": 500}
    assert item["features"]["passwordSyncEnabled"] is True
    t.sync.settings["deletionThreshold"] = 25
    one = client.get(f"/v1.0/directory/onPremisesSynchronization/{t.id}", headers=gh).get_json()
    assert one["configuration"]["accidentalDeletionPrevention"]["alertThreshold"] == 25


def test_organization_select(client, t, gh):
    r = client.get("/v1.0/organization?$select=id,onPremisesSyncEnabled,onPremisesLastSyncDateTime", headers=gh)
    body = r.get_json()
    assert body["@odata.context"].endswith("#organization(id,onPremisesSyncEnabled,onPremisesLastSyncDateTime)")
    assert set(body["value"][0]) == {"id", "onPremisesSyncEnabled", "onPremisesLastSyncDateTime"}
    assert client.get("/v1.0/organization?$select=nope", headers=gh).status_code == 400
    r = client.get("/v1.0/directory/onPremisesSynchronization?$select=configuration", headers=gh)
    assert set(r.get_json()["value"][0]) == {"configuration"}
