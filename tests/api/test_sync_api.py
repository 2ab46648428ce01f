"""Entra Connect through the control plane and the Exchange endpoint (issue 4 "Must show"): edit AD -> cycle ->
visible in Exchange; a toggled mailbox keeps its cloud value across cycles; revert -> overwritten; delete ->
soft-deleted -> restore; threshold stop; scheduled cycle after clock/advance."""

from __future__ import annotations

import pytest


def invoke(client, tenant, headers, cmdlet, params):
    resp = client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
        headers=headers,
    )
    return resp


def get_mailbox(client, tenant, headers, identity, **extra):
    resp = invoke(client, tenant, headers, "Get-Mailbox", {"Identity": identity, **extra})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["value"][0]


def cycle(client, tenant, policy="Delta"):
    resp = client.post(f"/_mock/tenants/{tenant.id}/sync/cycles", json={"policyType": policy})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def patch_ad(client, tenant, sam, attrs):
    resp = client.patch(f"/_mock/tenants/{tenant.id}/onprem/users/{sam}", json=attrs)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="syncapi", seed=8, mailboxes=12)


@pytest.fixture
def sam(tenant):
    return next(a.sam_account_name for a in tenant.ad_users if a.attrs["msExchRecipientTypeDetails"] == 2147483648)


@pytest.fixture
def h(tenant, auth_header):
    return auth_header(tenant, "exchange")


def test_edit_ad_then_cycle_is_visible_in_exchange(client, tenant, sam, h):
    patch_ad(client, tenant, sam, {"extensionAttribute7": "FROM-AD", "displayName": "Changed On Prem"})
    assert get_mailbox(client, tenant, h, sam)["CustomAttribute7"] in ("", None)
    run = cycle(client, tenant)
    assert run["status"] == "success" and run["updates"] == 1
    box = get_mailbox(client, tenant, h, sam)
    assert box["CustomAttribute7"] == "FROM-AD" and box["DisplayName"] == "Changed On Prem"


def test_toggled_mailbox_keeps_cloud_value_across_cycles_then_revert_overwrites(client, tenant, sam, h, auth_header):
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": sam, "IsExchangeCloudManaged": True})
    assert resp.status_code == 200, resp.get_json()
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": sam, "CustomAttribute3": "CLOUD"})
    assert resp.status_code == 200, resp.get_json()
    patch_ad(client, tenant, sam, {"extensionAttribute3": "ONPREM"})
    for policy in ("Delta", "Initial"):
        cycle(client, tenant, policy)
        assert get_mailbox(client, tenant, h, sam)["CustomAttribute3"] == "CLOUD"
    client.post(f"/_mock/tenants/{tenant.id}/clock/advance", json={"minutes": 90})
    h = auth_header(tenant, "exchange")  # the first token expired on the tenant clock
    assert get_mailbox(client, tenant, h, sam)["CustomAttribute3"] == "CLOUD"
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": sam, "IsExchangeCloudManaged": False})
    assert resp.status_code == 200
    assert get_mailbox(client, tenant, h, sam)["CustomAttribute3"] == "CLOUD"  # until the next cycle
    run = cycle(client, tenant)
    assert run["updates"] == 1
    box = get_mailbox(client, tenant, h, sam)
    assert box["CustomAttribute3"] == "ONPREM" and box["IsExchangeCloudManaged"] is False


def test_old_connect_version_reverts_cloud_values(client, tenant, sam, h):
    resp = client.patch(f"/_mock/tenants/{tenant.id}/sync", json={"connectVersion": "2.4.131.0"})
    assert resp.status_code == 200 and resp.get_json()["honoursExchangeCloudManaged"] is False
    invoke(client, tenant, h, "Set-Mailbox", {"Identity": sam, "IsExchangeCloudManaged": True})
    invoke(client, tenant, h, "Set-Mailbox", {"Identity": sam, "CustomAttribute3": "CLOUD"})
    cycle(client, tenant)
    box = get_mailbox(client, tenant, h, sam)
    assert box["CustomAttribute3"] != "CLOUD" and box["IsExchangeCloudManaged"] is True


def test_delete_soft_deletes_then_undo_restores(client, tenant, sam, h):
    assert client.delete(f"/_mock/tenants/{tenant.id}/onprem/users/{sam}").status_code == 204
    assert client.get(f"/_mock/tenants/{tenant.id}/onprem/users/{sam}").status_code == 404
    run = cycle(client, tenant)
    assert run["deletes"] == 1
    assert invoke(client, tenant, h, "Get-Mailbox", {"Identity": sam}).status_code != 200
    soft = get_mailbox(client, tenant, h, sam, SoftDeletedMailbox=True)
    assert soft["WhenSoftDeleted"]
    resp = invoke(client, tenant, h, "Undo-SoftDeletedMailbox", {"SoftDeletedObject": sam})
    assert resp.status_code == 200, resp.get_json()
    assert get_mailbox(client, tenant, h, sam)["Alias"] == sam
    # Restored in the cloud while AD has no object: the next cycle reports it.
    run = cycle(client, tenant)
    assert run["status"] == "completed-export-errors"
    assert run["errors"][0]["errorType"] == "DeletingCloudOnlyObjectNotAllowed"


def test_threshold_stop_through_control_plane(client, tenant):
    base = f"/_mock/tenants/{tenant.id}"
    assert client.patch(f"{base}/sync", json={"deletionThreshold": 2}).status_code == 200
    users = client.get(f"{base}/onprem/users").get_json()["value"][:3]
    for u in users:
        resp = client.post(
            f"{base}/onprem/users/{u['sAMAccountName']}/move", json={"ou": "OU=Disabled,DC=syncapi,DC=local"}
        )
        assert resp.status_code == 200 and resp.get_json()["inSyncScope"] is False
    run = cycle(client, tenant)
    assert run["status"] == "stopped-deletion-threshold-exceeded" and run["pendingDeletes"] == 3
    assert run["deletes"] == 0
    assert len(tenant.mailboxes) == 12 and all(not m.is_soft_deleted for m in tenant.mailboxes)
    history = client.get(f"{base}/sync/cycles").get_json()
    assert history["value"][-1]["id"] == run["id"]
    assert client.get(f"{base}/sync/cycles/{run['id']}").get_json()["status"] == run["status"]


def test_scheduled_cycle_after_clock_advance(client, tenant, sam, h):
    base = f"/_mock/tenants/{tenant.id}"
    patch_ad(client, tenant, sam, {"extensionAttribute11": "SCHEDULED"})
    sync = client.get(f"{base}/sync").get_json()
    clock = client.get(f"{base}/clock").get_json()
    assert sync["nextSyncCycleStartTime"] == clock["nextDueDateTime"]
    resp = client.post(f"{base}/clock/advance", json={"minutes": 30})
    assert resp.status_code == 200 and resp.get_json()["ran"] >= 1
    assert resp.get_json()["now"] == sync["nextSyncCycleStartTime"]
    runs = client.get(f"{base}/sync/cycles?policyType=Delta").get_json()["value"]
    assert runs[-1]["trigger"] == "Scheduler" and runs[-1]["updates"] == 1
    assert get_mailbox(client, tenant, h, sam)["CustomAttribute11"] == "SCHEDULED"


def test_new_ad_user_appears_in_exchange_after_cycle(client, tenant, h):
    base = f"/_mock/tenants/{tenant.id}"
    resp = client.post(
        f"{base}/onprem/users",
        json={
            "sAMAccountName": "eqp1",
            "displayName": "Projector",
            "msExchRecipientTypeDetails": 17179869184,
            "ou": "OU=Resources,OU=Corp,DC=syncapi,DC=local",
        },
    )
    assert resp.status_code == 201
    assert cycle(client, tenant)["adds"] == 1
    box = get_mailbox(client, tenant, h, "eqp1")
    assert box["RecipientTypeDetails"] == "EquipmentMailbox" and box["IsDirSynced"] is True


def test_writeback_through_control_plane(client, tenant, sam, h):
    base = f"/_mock/tenants/{tenant.id}"
    resp = client.patch(f"{base}/sync", json={"writeback": {"enabled": True}})
    assert resp.status_code == 200 and resp.get_json()["writeback"]["nextRunTime"]
    invoke(client, tenant, h, "Set-Mailbox", {"Identity": sam, "IsExchangeCloudManaged": True})
    invoke(
        client,
        tenant,
        h,
        "Set-Mailbox",
        {"Identity": sam, "CustomAttribute5": "LOB-42", "HiddenFromAddressListsEnabled": True},
    )
    client.post(f"{base}/clock/advance", json={"minutes": 20})
    ad = client.get(f"{base}/onprem/users/{sam}").get_json()
    assert ad["extensionAttribute5"] == "LOB-42" and ad["msExchHideFromAddressLists"] is False
    run = client.get(f"{base}/sync/cycles?policyType=Writeback").get_json()["value"][-1]
    assert {e["attribute"] for e in run["notInScope"]} >= {"msExchHideFromAddressLists"}
    manual = cycle(client, tenant, "Writeback")
    assert manual["policyType"] == "Writeback" and manual["trigger"] == "Manual"


def test_forward_sync_delay_over_the_wire(client, tenant, sam, h, auth_header):
    base = f"/_mock/tenants/{tenant.id}"
    assert client.patch(f"{base}/settings", json={"forwardSyncDelayMinutes": 60}).status_code == 200
    patch_ad(client, tenant, sam, {"extensionAttribute13": "LATE"})
    cycle(client, tenant)
    assert client.get(f"{base}/sync").get_json()["forwardSyncPending"] == 1
    client.post(f"{base}/clock/advance", json={"minutes": 59})
    assert get_mailbox(client, tenant, h, sam)["CustomAttribute13"] in ("", None)
    client.post(f"{base}/clock/advance", json={"minutes": 1})
    assert get_mailbox(client, tenant, auth_header(tenant, "exchange"), sam)["CustomAttribute13"] == "LATE"


def test_proxy_conflict_visible_in_graph(client, tenant, auth_header):
    base = f"/_mock/tenants/{tenant.id}"
    taken = next(iter(tenant.ad_users)).attrs["proxyAddresses"][1]
    resp = client.post(
        f"{base}/onprem/users",
        json={
            "sAMAccountName": "clash",
            "displayName": "Clash",
            "proxyAddresses": [f"SMTP:clash@{tenant.domain}", taken.lower()],
        },
    )
    assert resp.status_code == 201
    run = cycle(client, tenant)
    [err] = run["errors"]
    assert err["errorType"] == "PropertyConflict"
    g = auth_header(tenant, "graph")
    resp = client.get(f"/v1.0/users/{err['userId']}?$select=id,onPremisesProvisioningErrors,proxyAddresses", headers=g)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    [perr] = body["onPremisesProvisioningErrors"]
    assert perr["category"] == "PropertyConflict" and perr["propertyCausingError"] == "ProxyAddress"
    assert taken.lower() not in [p.lower() for p in body["proxyAddresses"]]


def _user_id_for(tenant, sam):
    ad = tenant.ad_users.get(sam.lower())
    tenant.sync.index.refresh()
    return tenant.sync.index.user_for_anchor(ad.consistency_guid).id


def test_graph_restore_while_ad_object_gone_then_cycle_reports_it(client, tenant, sam, auth_header):
    uid = _user_id_for(tenant, sam)
    client.delete(f"/_mock/tenants/{tenant.id}/onprem/users/{sam}")
    cycle(client, tenant)
    g = auth_header(tenant, "graph")
    resp = client.post(f"/v1.0/directory/deletedItems/{uid}/restore", headers=g)
    assert resp.status_code == 200, resp.get_json()
    run = cycle(client, tenant)
    assert [e["errorType"] for e in run["errors"]] == ["DeletingCloudOnlyObjectNotAllowed"]


def test_graph_object_soa_skip_then_rollback_takeover(client, tenant, sam, auth_header):
    uid = _user_id_for(tenant, sam)
    g = auth_header(tenant, "graph")
    url = f"/v1.0/users/{uid}/onPremisesSyncBehavior"
    assert client.patch(url, json={"isCloudManaged": True}, headers=g).status_code == 204
    patch_ad(client, tenant, sam, {"department": "Moved On"})
    run = cycle(client, tenant)
    assert run["skippedCloudManaged"] == 1
    user = client.get(f"/v1.0/users/{uid}?$select=department,onPremisesSyncEnabled", headers=g).get_json()
    assert user["department"] != "Moved On" and user["onPremisesSyncEnabled"] is None
    assert client.patch(url, json={"isCloudManaged": False}, headers=g).status_code == 204
    cycle(client, tenant)
    user = client.get(f"/v1.0/users/{uid}?$select=department,onPremisesSyncEnabled", headers=g).get_json()
    assert user["department"] == "Moved On" and user["onPremisesSyncEnabled"] is True
