"""Whole-tenant snapshots: dump -> restore gives an identical tenant that behaves identically afterwards."""

from __future__ import annotations

import json

import pytest

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.entra.tokens import issue_access_token, verify_access_token
from hybridsoa.mock.domain.errors import InvalidArgument


def _toggle_one(tenant):
    with tenant.lock:
        mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
        mbx.is_exchange_cloud_managed = True
        tenant.mailboxes.touch(mbx.guid)
        tenant.add_audit_record(
            "exchange",
            "Set-Mailbox",
            None,
            target=mbx.guid,
            changes={"IsExchangeCloudManaged": {"old": False, "new": True}},
        )
        return mbx.guid


def test_round_trip_is_exact(domain_tenant):
    _toggle_one(domain_tenant)
    domain_tenant.faults.add_rule({"api": "exchange", "status": 503, "count": 2})
    doc = snapshot.dump_tenant(domain_tenant)
    json.dumps(doc)  # one JSON document
    assert doc["format"] == snapshot.FORMAT and doc["version"] == snapshot.VERSION
    assert {"users", "apps", "role_assignments", "mailboxes", "ad_users"} <= set(doc["collections"])
    assert {"sync", "rbac", "pim", "faults"} <= set(doc["subsystems"])
    restored = snapshot.restore_tenant(doc)
    assert snapshot.dump_tenant(restored) == doc
    assert restored.id == domain_tenant.id


def test_restored_tenant_behaves_identically(domain_tenant):
    original = domain_tenant
    doc = snapshot.dump_tenant(original)
    copy = snapshot.restore_tenant(doc)
    # The same AD edit followed by the next scheduled cycle gives the same result in both.
    for t in (original, copy):
        with t.lock:
            ad = t.ad_users.values()[3]
            ad.attrs["department"] = "Audit"
            t.ad_users.touch(ad.sam_account_name.lower())
            t.advance(31)

    # The sync engine rebuilds its change marks after a load and compares every object once, so only its
    # "unchanged" counter may differ; what the cycle did (adds, updates, deletes, errors) is the same.
    def run(t):
        return {k: v for k, v in t.sync.history[-1].items() if k != "unchanged"}

    assert run(copy) == run(original)
    assert copy.ids.guid() == original.ids.guid()
    a, b = snapshot.dump_tenant(copy), snapshot.dump_tenant(original)
    for doc in (a, b):
        for entry in doc["subsystems"]["sync"]["history"]:
            entry.pop("unchanged", None)
    assert a == b


def test_tokens_issued_before_a_snapshot_stay_valid_after_restore_in_place(domain_tenant):
    app = domain_tenant.app_by_name("automation")
    token, _ = issue_access_token(domain_tenant, "exchange", app=app)
    copy = snapshot.restore_tenant(snapshot.dump_tenant(domain_tenant))
    assert verify_access_token(copy, token, "exchange").app_id == app.app_id


def test_restore_under_a_new_name_moves_domain_and_id(domain_tenant):
    guid = _toggle_one(domain_tenant)
    clone = snapshot.restore_tenant(snapshot.dump_tenant(domain_tenant), name="fabrikam")
    assert clone.name == "fabrikam" and clone.id != domain_tenant.id
    assert clone.domain == "fabrikam.onmicrosoft.com"
    assert clone.user_by_upn("globaladmin@fabrikam.onmicrosoft.com") is not None
    assert clone.mailboxes.get(guid).is_exchange_cloud_managed is True
    assert all("contoso" not in a.ou.lower() for a in clone.ad_users)
    # The clone is independent of the original.
    clone.mailboxes.get(guid).is_exchange_cloud_managed = False
    assert domain_tenant.mailboxes.get(guid).is_exchange_cloud_managed is True


def test_change_cursors_survive(domain_tenant):
    t = domain_tenant
    mark = t.ad_users.current_seq()
    with t.lock:
        ad = t.ad_users.values()[0]
        t.ad_users.touch(ad.sam_account_name.lower())
        gone = t.ad_users.values()[1].sam_account_name.lower()
        t.ad_users.delete(gone)
    copy = snapshot.restore_tenant(snapshot.dump_tenant(t))
    assert copy.ad_users.changed_since(mark) == t.ad_users.changed_since(mark)
    assert gone in copy.ad_users.changed_since(mark)
    assert copy.ad_users.current_seq() == t.ad_users.current_seq()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="something-else"),
        lambda d: d.update(version=99),
        lambda d: d.pop("collections"),
        lambda d: d["collections"]["users"].update({"class": "os.system"}),
        lambda d: d["collections"]["users"]["items"][0].__setitem__(2, {"nonsense": 1}),
    ],
)
def test_damaged_snapshots_are_refused(domain_tenant, mutate):
    doc = snapshot.dump_tenant(domain_tenant)
    mutate(doc)
    with pytest.raises(InvalidArgument):
        snapshot.restore_tenant(doc)


def test_object_json_writes_each_record_as_its_fields_in_order():
    # The durable store's object rows: one orjson call per record gives the same text as encoding its fields one
    # by one (every collection of a seeded tenant, its audit records too), and a record orjson refuses still
    # gets the standard library's text.
    from hybridsoa.mock.domain.tenant import TenantRegistry

    tenant = TenantRegistry(seed=1).create("fields", mailboxes=40, seed=7, frozen_clock=True)
    tenant.add_audit_record("exchange", "Set-Mailbox", None, target="x", parameters={"Identity": "x"})
    objects = [o for c in snapshot.collections_of(tenant).values() for o in c] + list(tenant.audit.records)
    checked = 0
    for obj in objects:
        names = snapshot._plain_fields(type(obj))
        if names is None:
            continue
        by_field = json.dumps({n: getattr(obj, n) for n in names}, separators=(",", ":"), ensure_ascii=False)
        assert snapshot.object_json(obj) == by_field
        checked += 1
    assert checked > 100
    mbx = next(iter(tenant.mailboxes))
    mbx.display_name = "zz\ud800zz"  # orjson refuses a lone surrogate
    assert json.loads(snapshot.object_json(mbx))["display_name"] == "zz\ud800zz"
