"""The SDK and its SOA workflows end to end against the mock over real HTTPS and MSAL (pytest plugin fixtures):
inventory, preflight, enable/disable with read-back, the preview-profile silent failure, throttling faults,
no-overwrite verification after a sync cycle, drift, and revert with reconcile."""

from __future__ import annotations

import pytest

from hybridsoa.sdk import connect_mock
from hybridsoa.sdk.soa import disable, drift, enable, inventory, plan, preflight, revert, verify

pytestmark = pytest.mark.e2e


@pytest.fixture
def conn(tenant):
    c = connect_mock(tenant["url"], tenant["ca"], tenant)
    yield c
    c.close()


def _audit_sets(mock_session, tenant) -> list[dict]:
    r = mock_session.get(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/audit", params={"operation": "Set-Mailbox"}
    )
    assert r.status_code == 200
    return [rec for rec in r.json()["value"] if "IsExchangeCloudManaged" in (rec.get("parameters") or {})]


def test_inventory_lists_every_mailbox_with_eligibility(conn):
    rows = inventory(conn.exchange)
    assert rows and all(r.IsDirSynced and r.Eligible and not r.IsExchangeCloudManaged for r in rows)
    assert {"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"} <= {r.RecipientTypeDetails for r in rows}


def test_preflight_app_only(conn):
    report = preflight(conn.exchange, graph=conn.graph, tokens=conn.tokens)
    status = {c.name: c.status for c in report.checks}
    assert status["sign-in"] == "pass" and status["exchange-app-permission"] == "pass"
    assert status["exchange-access"] == "pass" and status["directory-sync"] == "pass"
    assert report.summary["toEnable"] == len(inventory(conn.exchange))


def test_enable_then_disable_with_read_back_and_one_write_each(conn, mock_session, tenant):
    ids = [r.Identity for r in inventory(conn.exchange)][:6]
    res = enable(conn.exchange, plan(ids, [2, 4]), concurrency=3)
    assert res.counts == {"changed": 6} and res.exit_code == 0
    assert all(conn.exchange.get_mailbox(i)["IsExchangeCloudManaged"] is True for i in ids)
    again = enable(conn.exchange, ids)
    assert again.counts == {"already": 6}
    writes = _audit_sets(mock_session, tenant)
    assert len(writes) == 6 and all(w["succeeded"] and w["changed"] for w in writes)
    back = disable(conn.exchange, ids[:2])
    assert back.counts == {"changed": 2}
    assert conn.exchange.get_mailbox(ids[0])["IsExchangeCloudManaged"] is False


def test_preview_profile_silent_failure_is_detected(tenant, mock_session):
    r = mock_session.patch(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/settings", json={"profile": "preview"})
    assert r.status_code == 200
    admin = connect_mock(tenant["url"], tenant["ca"], tenant, user="exchangeadmin")
    ids = [r.Identity for r in inventory(admin.exchange)][:5]
    res = enable(admin.exchange, plan(ids, [2, 3]))
    assert res.counts == {"pending": 3, "silently_ignored": 2}  # pilot wave caught it; later waves not started
    assert res.exit_code == 1 and res.halted
    # The service really did nothing (its audit says so), although Set-Mailbox answered 200.
    writes = _audit_sets(mock_session, tenant)
    assert len(writes) == 2 and all(w["succeeded"] and not w["changed"] for w in writes)
    # A Global Administrator under the same profile succeeds.
    ga = connect_mock(tenant["url"], tenant["ca"], tenant, user="globaladmin")
    assert enable(ga.exchange, ids).counts == {"changed": 5}


@pytest.mark.parametrize("batch_size", [1, 10])
def test_throttling_fault_is_honoured(conn, mock_session, tenant, batch_size):
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/faults"
    ids = [r.Identity for r in inventory(conn.exchange)][:3]
    # A cmdlet rule matches single InvokeCommand calls; a $batch is one request to the fault engine.
    rule = {"cmdlet": "Set-Mailbox"} if batch_size == 1 else {"method": "POST"}
    r = mock_session.post(base, json={"api": "exchange", **rule, "status": 429, "retryAfter": 2, "count": 2})
    assert r.status_code in (200, 201), r.text
    sleeps: list = []
    conn.transport.sleep = sleeps.append
    res = enable(conn.exchange, ids, concurrency=1, sleep=sleeps.append, batch_size=batch_size)
    assert res.counts == {"changed": 3}
    assert sleeps.count(2.0) >= 2


def test_set_mailbox_is_not_replayed_after_a_500(conn, mock_session, tenant):
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    ident = inventory(conn.exchange)[0].Identity
    mock_session.delete(f"{base}/requests")
    r = mock_session.post(
        f"{base}/faults", json={"api": "exchange", "cmdlet": "Set-Mailbox", "status": 500, "count": 1}
    )
    assert r.status_code in (200, 201), r.text
    sleeps: list = []
    conn.transport.sleep = sleeps.append
    res = enable(conn.exchange, [ident], sleep=sleeps.append)
    assert res.counts == {"failed": 1} and res.records[0]["error"]["type"] == "Transient"
    sets = mock_session.get(f"{base}/requests", params={"cmdlet": "Set-Mailbox"}).json()
    assert len(sets["value"]) == 1  # sent once, never replayed
    assert conn.exchange.get_mailbox(ident)["IsExchangeCloudManaged"] is False
    assert sleeps == []


def test_no_overwrite_after_sync_cycle(conn):
    ids = [r.Identity for r in inventory(conn.exchange)][:4]
    run = enable(conn.exchange, ids[:3])
    assert run.counts == {"changed": 3}
    # On-prem tools keep writing AD; the cycle must not carry that into cloud-managed mailboxes.
    index = conn.onprem.index()
    for ident in ids:
        ad = conn.onprem.find_for_mailbox(conn.exchange.get_mailbox(ident), index)
        conn.onprem.update_user(ad["sAMAccountName"], {"extensionAttribute9": "written-on-prem"})
    conn.onprem.run_sync_cycle("Delta")
    assert verify(run, conn.exchange).counts == {"ok": 3}
    # The control mailbox (still AD-managed) did take the on-prem value: the check can fail.
    assert conn.exchange.get_mailbox(ids[3])["CustomAttribute9"] == "written-on-prem"
    # Flipping one back without reconcile makes the next cycle overwrite it, and verify reports it.
    conn.exchange.set_cloud_managed(ids[0], False)
    conn.onprem.run_sync_cycle("Delta")
    after = {i["identity"]: i["status"] for i in verify(run, conn.exchange).items}
    assert after[ids[0]] == "flag_lost" and after[ids[1]] == "ok"


def test_drift_and_revert_with_reconcile_loses_no_cloud_edit(conn):
    ids = [r.Identity for r in inventory(conn.exchange) if r.RecipientTypeDetails == "UserMailbox"][:2]
    assert enable(conn.exchange, ids).counts == {"changed": 2}
    for ident in ids:
        mbx = conn.exchange.get_mailbox(ident)
        conn.exchange.set_mailbox(
            ident,
            CustomAttribute3="cloud-edit",
            EmailAddresses=list(mbx["EmailAddresses"])
            + [f"smtp:extra-{mbx['Alias']}@{mbx['PrimarySmtpAddress'].split('@')[1]}"],
        )
    report = drift(conn.exchange, conn.onprem, ids)
    assert report.drifted == 2
    assert {d["attribute"] for d in report.items[0]["differences"]} == {"CustomAttribute3", "EmailAddresses"}
    kept, lost = ids
    res = revert(conn.exchange, conn.onprem, [kept], reconcile=True)
    assert res.records[0]["status"] == "changed"
    assert set(res.records[0]["reconciled"]) == {"extensionAttribute3", "proxyAddresses"}
    warn = revert(conn.exchange, conn.onprem, [lost], reconcile=False)
    assert any("CustomAttribute3" in w for w in warn.records[0]["overwriteWarnings"])
    conn.onprem.run_sync_cycle("Delta")
    k, lo = conn.exchange.get_mailbox(kept), conn.exchange.get_mailbox(lost)
    assert k["IsExchangeCloudManaged"] is False and k["CustomAttribute3"] == "cloud-edit"
    assert any(a.startswith("smtp:extra-") for a in k["EmailAddresses"])
    assert lo["CustomAttribute3"] != "cloud-edit"  # the warned-about overwrite happened


def test_graph_client_users_sync_behavior_roles_batch_and_deleted_items(conn, mock_session, tenant):
    users = list(
        conn.graph.iter_users(
            filter="onPremisesSyncEnabled eq true",
            select=["id", "userPrincipalName", "onPremisesSyncEnabled"],
            advanced=True,
        )
    )
    assert users and all(u["onPremisesSyncEnabled"] for u in users)
    uid = users[0]["id"]
    assert conn.graph.get_sync_behavior(uid)["isCloudManaged"] is False
    conn.graph.set_sync_behavior(uid, True)
    assert conn.graph.get_sync_behavior(uid)["isCloudManaged"] is True
    sp = next(a for a in tenant["apps"] if a["name"] == "automation")["servicePrincipalId"]
    roles = {a["roleDefinitionId"] for a in conn.graph.iter_role_assignments(sp)}
    assert "29232cdf-9323-42fd-ade2-1d097af3e4de" in roles
    ids = [u["id"] for u in users][:25] + ["00000000-0000-0000-0000-000000000000"]
    out = conn.graph.batch([{"method": "GET", "url": f"/users/{i}?$select=id"} for i in ids])
    assert [o["status"] for o in out] == [200] * (len(ids) - 1) + [404]
    assert [o["body"]["id"] for o in out[:-1]] == ids[:-1]
    # A user deleted on-prem lands in deletedItems after the next cycle.
    sam = conn.graph.get_user(users[1]["id"])["onPremisesSamAccountName"]
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    assert mock_session.delete(f"{base}/onprem/users/{sam}").status_code in (200, 204)
    mock_session.post(f"{base}/sync/cycles", json={"policyType": "Delta"})
    assert users[1]["id"] in {d["id"] for d in conn.graph.iter_deleted_users()}


def test_adaptive_rate_against_the_mock_token_bucket(conn, mock_session, tenant):
    """The mock's per-app token bucket (tenant clock) throttles; the SDK waits out Retry-After on virtual time
    (its sleep advances the tenant clock), slows down, and still changes every mailbox exactly once."""
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    ids = [r.Identity for r in inventory(conn.exchange)][:12]
    waited: list = []

    def virtual_sleep(seconds: float) -> None:
        waited.append(seconds)
        r = mock_session.post(f"{base}/clock/advance", json={"minutes": seconds / 60})
        assert r.status_code == 200, r.text

    r = mock_session.post(f"{base}/faults", json={"throttle": {"api": "exchange", "rate": 1, "burst": 4}})
    assert r.status_code in (200, 201), r.text
    conn.transport.sleep = virtual_sleep
    from hybridsoa.sdk.soa import AdaptiveRate

    rate = AdaptiveRate(initial=50, sleep=virtual_sleep)
    res = enable(conn.exchange, ids, concurrency=2, rate=rate, sleep=virtual_sleep)
    assert res.counts == {"changed": 12}
    assert rate.events["throttled"] >= 1 and rate.rate < 50
    assert conn.transport.stats["throttled"] >= 1 and any(w >= 1 for w in waited)
    assert len(_audit_sets(mock_session, tenant)) == 12
