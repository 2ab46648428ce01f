"""Entra Connect controlled through the real API (issue 19): ``PATCH /directory/onPremisesSynchronization/{id}``
answers 204 and the next cycle obeys the accidental-deletion settings and feature flags; the threshold stops an
export whose deletes meet or exceed it; the scheduler keeps Entra Connect's 30-minute minimum."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.onprem import ad_admin


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="contoso", seed=42, mailboxes=10)


@pytest.fixture
def gh(t, auth_header):
    return auth_header(t, "graph")


def _sync_path(t) -> str:
    return f"/v1.0/directory/onPremisesSynchronization/{t.id}"


def _prevention(client, t, gh, kind: str, threshold) -> None:
    body = {
        "configuration": {
            "accidentalDeletionPrevention": {"synchronizationPreventionType": kind, "alertThreshold": threshold}
        }
    }
    r = client.patch(_sync_path(t), json=body, headers=gh)
    assert r.status_code == 204 and r.get_data() == b""


def _delete_ad_users(t, n: int) -> None:
    for ad in list(t.ad_users)[:n]:
        ad_admin.delete_ad_user(t, ad.sam_account_name)


def _cycle(client, t) -> dict:
    return client.post(f"/_mock/tenants/{t.id}/sync/cycles", json={"policyType": "Delta"}).get_json()


def test_patch_answers_204_and_get_reflects_it(client, t, gh):
    _prevention(client, t, gh, "enabledForCount", 42)
    r = client.patch(
        _sync_path(t), json={"features": {"blockSoftMatchEnabled": True, "groupWriteBackEnabled": True}}, headers=gh
    )
    assert r.status_code == 204
    body = client.get(_sync_path(t), headers=gh).get_json()
    assert body["configuration"]["accidentalDeletionPrevention"] == {
        "synchronizationPreventionType": "enabledForCount",
        "alertThreshold": 42,
    }
    assert body["features"]["blockSoftMatchEnabled"] is True and body["features"]["groupWriteBackEnabled"] is True
    assert body["features"]["passwordSyncEnabled"] is True  # untouched flags keep their values
    assert "allowOnPremUpdateOfOnPremisesObjectIdentifierEnabled" in body["features"]
    assert client.get(f"/_mock/tenants/{t.id}/sync").get_json()["deletionThreshold"] == 42


@pytest.mark.parametrize("deleted,threshold,stopped", [(2, 2, True), (2, 3, False), (3, 2, True)])
def test_a_delete_count_equal_to_the_threshold_stops_the_export(client, t, gh, deleted, threshold, stopped):
    # "This met or exceeded the configured deletion threshold value" (Entra Connect, prevent accidental deletes).
    _prevention(client, t, gh, "enabledForCount", threshold)
    _delete_ad_users(t, deleted)
    run = _cycle(client, t)
    if stopped:
        assert run["status"] == "stopped-deletion-threshold-exceeded" and run["deletes"] == 0
        assert run["pendingDeletes"] == deleted
    else:
        assert run["status"] == "success" and run["deletes"] == deleted


def test_disabled_prevention_lets_every_delete_through(client, t, gh):
    _prevention(client, t, gh, "disabled", None)
    _delete_ad_users(t, 4)
    assert _cycle(client, t)["deletes"] == 4
    body = client.get(_sync_path(t), headers=gh).get_json()
    assert body["configuration"]["accidentalDeletionPrevention"]["synchronizationPreventionType"] == "disabled"


def test_percentage_threshold_is_taken_of_the_synced_objects(client, t, gh):
    synced = len([u for u in t.users if u.on_premises_sync_enabled and u.deleted_date_time is None])
    _prevention(client, t, gh, "enabledForPercentage", 50)
    _delete_ad_users(t, synced // 2 - 1)
    assert _cycle(client, t)["status"] == "success"
    _prevention(client, t, gh, "enabledForPercentage", 1)
    _delete_ad_users(t, 1)
    assert _cycle(client, t)["status"] == "stopped-deletion-threshold-exceeded"


def test_block_soft_match_set_through_graph_is_obeyed(client, t, gh):
    upn = f"cloudy@{t.domain}"
    r = client.post(
        "/v1.0/users",
        headers=gh,
        json={
            "accountEnabled": True,
            "displayName": "Cloudy",
            "mailNickname": "cloudy",
            "userPrincipalName": upn,
            "passwordProfile": {"password": "Pa55word!x"},
        },
    )
    assert r.status_code == 201
    assert (
        client.patch(_sync_path(t), json={"features": {"blockSoftMatchEnabled": True}}, headers=gh).status_code == 204
    )
    ad_admin.create_ad_user(t, {"sAMAccountName": "cloudy", "displayName": "Cloudy On Prem", "userPrincipalName": upn})
    run = _cycle(client, t)
    assert run["softMatched"] == 0 and run["adds"] == 1


@pytest.mark.parametrize(
    "body,message",
    [
        (
            {"features": {"noSuchFlag": True}},
            "Property 'noSuchFlag' does not exist on type 'microsoft.graph.onPremisesDirectorySynchronizationFeature'.",
        ),
        (
            {"features": {"blockSoftMatchEnabled": "yes"}},
            "Cannot convert the literal 'yes' to the expected type 'Edm.Boolean'.",
        ),
        ({"configuration": {"accidentalDeletionPrevention": {"alertThreshold": -1}}}, None),
        ({"configuration": {"accidentalDeletionPrevention": {"synchronizationPreventionType": "sometimes"}}}, None),
        ({"bogus": 1}, None),
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(client, t, gh, body, message):
    before = client.get(_sync_path(t), headers=gh).get_json()
    r = client.patch(_sync_path(t), json=body, headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "BadRequest"
    if message:
        assert r.get_json()["error"]["message"] == message
    assert client.get(_sync_path(t), headers=gh).get_json() == before


def test_patch_needs_the_readwrite_permission_and_role(client, t, auth_header):
    reader = auth_header(t, "graph", user="globaladmin", scopes=["OnPremDirectorySynchronization.Read.All"])
    r = client.patch(_sync_path(t), json={"features": {"blockSoftMatchEnabled": True}}, headers=reader)
    assert r.status_code == 403
    admin = auth_header(t, "graph", user="globaladmin", scopes=["OnPremDirectorySynchronization.ReadWrite.All"])
    assert (
        client.patch(_sync_path(t), json={"features": {"blockSoftMatchEnabled": True}}, headers=admin).status_code
        == 204
    )
    r = client.patch(
        "/v1.0/directory/onPremisesSynchronization/00000000-0000-0000-0000-000000000000", json={}, headers=admin
    )
    assert r.status_code == 404


def test_scheduler_keeps_the_30_minute_minimum_and_names_the_mock_only_override(client, t):
    base = f"/_mock/tenants/{t.id}"
    r = client.patch(f"{base}/sync", json={"intervalMinutes": 5})
    body = r.get_json()
    assert r.status_code == 200 and body["intervalMinutes"] == 5
    assert body["currentlyEffectiveSyncCycleIntervalMinutes"] == 30 == body["allowedSyncCycleIntervalMinutes"]
    assert "mockCycleIntervalMinutes" in r.headers["x-hybridsoa-note"]
    r = client.patch(f"{base}/sync", json={"mockCycleIntervalMinutes": 5})
    assert r.get_json()["currentlyEffectiveSyncCycleIntervalMinutes"] == 5 and "x-hybridsoa-note" not in r.headers
    start = len(t.sync.history)
    client.post(f"{base}/clock/advance", json={"minutes": 16})
    assert len(t.sync.history) - start >= 3


def test_block_hard_match_takeover_gives_invalid_hard_match_until_turned_off(client, t, gh):
    # Set-EntraDirSyncFeature reference: InvalidHardMatch "Another cloud created object with the same source
    # anchor already exists in Microsoft Entra ID" instead of the takeover.
    ad = ad_admin.create_ad_user(
        t,
        {"sAMAccountName": "anchored", "displayName": "Anchored On Prem", "userPrincipalName": f"anchored@{t.domain}"},
    )
    r = client.post(
        "/v1.0/users",
        headers=gh,
        json={
            "accountEnabled": True,
            "displayName": "Anchored Cloud",
            "mailNickname": "anchoredcloud",
            "userPrincipalName": f"anchoredcloud@{t.domain}",
            "onPremisesImmutableId": ad.consistency_guid,
            "passwordProfile": {"password": "Pa55word!x"},
        },
    )
    assert r.status_code == 201
    cloud_id = r.get_json()["id"]
    assert (
        client.patch(
            _sync_path(t), json={"features": {"blockCloudObjectTakeoverThroughHardMatchEnabled": True}}, headers=gh
        ).status_code
        == 204
    )
    run = _cycle(client, t)
    assert run["status"] == "completed-export-errors" and run["adds"] == 0
    assert [e["errorType"] for e in run["errors"]] == ["InvalidHardMatch"]
    assert run["errors"][0]["message"] == (
        "Another cloud created object with the same source anchor already exists in Microsoft Entra ID"
    )
    assert (
        client.get(f"/v1.0/users/{cloud_id}?$select=onPremisesSyncEnabled", headers=gh).get_json()[
            "onPremisesSyncEnabled"
        ]
        is None
    )
    assert _cycle(client, t)["errors"][0]["errorType"] == "InvalidHardMatch"  # retried every cycle
    client.patch(
        _sync_path(t), json={"features": {"blockCloudObjectTakeoverThroughHardMatchEnabled": False}}, headers=gh
    )
    run = _cycle(client, t)
    assert run["errorCount"] == 0
    body = client.get(f"/v1.0/users/{cloud_id}?$select=onPremisesSyncEnabled,displayName", headers=gh).get_json()
    assert body == {**body, "onPremisesSyncEnabled": True, "displayName": "Anchored On Prem"}
