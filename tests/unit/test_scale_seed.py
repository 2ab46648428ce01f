"""The shortcuts that make big tenants cheap to seed keep the results of the general paths they bypass."""

from __future__ import annotations

import base64
import uuid

import pytest

from hybridsoa.mock.domain.connect.sync_rules import in_scope, scope_filter
from hybridsoa.mock.domain.ids import SeededIds
from hybridsoa.mock.domain.onprem.ad import consistency_guid_for
from hybridsoa.mock.store.collection import Collection


def _via_uuid(text: str) -> str:
    return base64.b64encode(uuid.UUID(text).bytes_le).decode()


def test_consistency_guid_matches_uuid_bytes_le_in_every_form():
    ids = SeededIds(5)
    for _ in range(200):
        guid = ids.guid()
        assert consistency_guid_for(guid) == _via_uuid(guid)
    guid = ids.guid()
    for form in (guid.upper(), "{" + guid + "}", guid.replace("-", ""), "urn:uuid:" + guid):
        assert consistency_guid_for(form) == _via_uuid(guid)


@pytest.mark.parametrize(
    "bad", ["", "not-a-guid", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "0123456 -0123-0123-0123-0123456789ab"]
)
def test_consistency_guid_of_a_malformed_object_guid_raises_as_uuid_does(bad):
    with pytest.raises(ValueError):
        consistency_guid_for(bad)


def test_scope_filter_agrees_with_in_scope():
    ous = [
        "OU=Corp,DC=x,DC=local",
        "ou=users,OU=Corp,DC=X,DC=local",
        "OU=NotCorp,DC=x,DC=local",
        "OU=Corp",
        "OU=Disabled,DC=x,DC=local",
    ]
    for scopes in ([], ["OU=Corp,DC=x,DC=local"], ["OU=corp,dc=x,dc=local", "OU=Disabled,DC=x,DC=local"]):
        test = scope_filter(scopes)
        for ou in ous:
            expected = not scopes or any(
                ou.lower() == s.lower() or ou.lower().endswith("," + s.lower()) for s in scopes
            )
            assert test(ou) is expected and in_scope(ou, scopes) is expected
            assert test(ou) is expected  # answered again from the filter's memory


def test_change_log_survives_compaction_and_restore():
    coll = Collection("things")
    for i in range(3000):
        coll.put(f"k{i % 50}", i)
    coll.delete("k7")
    mark = coll.current_seq()
    coll.touch("k3")
    assert coll.changed_since(mark) == ["k3"]
    assert set(coll.changed_since(0)) == {f"k{i}" for i in range(50)}
    copy = Collection("things")
    items, tombs = coll.export_state()
    copy.restore_state(items, tombs)
    assert copy.changed_since(mark) == ["k3"] and copy.tombstone("k7") == coll.tombstone("k7")
    with pytest.raises(ValueError):
        copy.restore_state([("a", 2**70, 1)], {})
    assert copy.changed_since(mark) == ["k3"]  # a refused restore changes nothing


def test_untracked_building_keeps_the_change_log_but_no_dirty_marks(make_tenant):
    coll = Collection("things")
    with coll.untracked():
        coll.put("a", 1)
    coll.put("b", 2)
    assert coll.dirty == {"b"} and coll.changed_since(0) == ["a", "b"]
    tenant = make_tenant(mailboxes=6)
    assert not tenant.mailboxes.dirty and not tenant.ad_users.dirty
    assert len(tenant.mailboxes.changed_since(0)) == len(tenant.mailboxes) == 6


def test_shared_lists_refuse_in_place_changes_and_copy_as_plain_lists(make_tenant):
    import copy
    import json

    from hybridsoa.mock.domain.memory import EMPTY_LIST

    tenant = make_tenant(mailboxes=4)
    ad = tenant.ad_users.values()[0]
    mbx = tenant.mailboxes.values()[-1]
    assert ad.attrs["publicDelegates"] is EMPTY_LIST and mbx.extension_custom_attributes[0] is EMPTY_LIST
    for change in (
        lambda v: v.append("x"),
        lambda v: v.extend(["x"]),
        lambda v: v.__iadd__(["x"]),
        lambda v: v.__setitem__(slice(0, 0), ["x"]),
        lambda v: v.insert(0, "x"),
    ):
        with pytest.raises(TypeError):
            change(EMPTY_LIST)
    assert EMPTY_LIST == [] and json.dumps(EMPTY_LIST) == "[]"
    for copied in (
        copy.copy(EMPTY_LIST),
        copy.deepcopy(EMPTY_LIST),
        ad.to_dict()["attrs"]["publicDelegates"],
        mbx.to_dict()["extension_custom_attributes"][0],
    ):
        assert type(copied) is list and copied == []
        copied.append("fine")
    assert EMPTY_LIST == []


def test_shared_list_pools_text_values_only():
    from hybridsoa.mock.domain.memory import SharedList, shared_list

    pool: dict = {}
    first = shared_list(["a", None], pool)
    assert isinstance(first, SharedList) and shared_list(["a", None], pool) is first and first == ["a", None]
    mixed = [1, None]
    assert shared_list(mixed, pool) is mixed and shared_list([True, None], pool) == [True, None]
    assert type(shared_list([["x"]], pool)) is list


def test_synced_users_share_equal_extension_attribute_lists(make_tenant):
    tenant = make_tenant(mailboxes=40)
    synced = [u for u in tenant.users if u.on_premises_sync_enabled]
    blank = [u for u in synced if not any(u.on_premises_extension_attributes)]
    assert len(blank) >= 2 and all(
        u.on_premises_extension_attributes is blank[0].on_premises_extension_attributes for u in blank
    )


def test_seeded_proxies_are_shared_by_user_and_mailbox_and_quarantine_still_applies(make_tenant):
    from hybridsoa.mock.domain.memory import SharedList

    tenant = make_tenant(mailboxes=6)
    ad = tenant.ad_users.values()[0]
    tenant.sync.index.refresh()
    user = tenant.sync.index.user_for_anchor(ad.consistency_guid)
    mbx = tenant.sync.index.mailbox_for(user.id)
    assert type(ad.attrs["proxyAddresses"]) is SharedList
    assert user.proxy_addresses is ad.attrs["proxyAddresses"] is mbx.email_addresses
    other = tenant.ad_users.values()[1]
    other.attrs["proxyAddresses"] = list(other.attrs["proxyAddresses"]) + [ad.attrs["proxyAddresses"][1]]
    tenant.ad_users.touch(other.sam_account_name.lower())
    tenant.sync.run_cycle("Delta")
    tenant.sync.index.refresh()
    quarantined = tenant.sync.index.user_for_anchor(other.consistency_guid)
    assert ad.attrs["proxyAddresses"][1] not in quarantined.proxy_addresses
    assert quarantined.on_premises_provisioning_errors and ad.attrs["proxyAddresses"][1] in user.proxy_addresses


def test_seeded_guids_are_the_uuid4_text_of_the_same_draws():
    import random

    ids, rng = SeededIds(11), random.Random(11)
    for _ in range(2000):
        assert ids.guid() == str(uuid.UUID(int=rng.getrandbits(128), version=4))


def test_new_ad_user_attribute_order_and_extra_values(make_tenant):
    from hybridsoa.mock.domain.seed import new_ad_user

    tenant = make_tenant(mailboxes=1)
    plain = new_ad_user(tenant, "plain", display="Plain User", given="Plain", sn="User", department="Sales")
    names = list(plain.attrs)
    assert names[:4] == ["cn", "sAMAccountName", "userPrincipalName", "displayName"]
    assert names[-1] == "mS-DS-ConsistencyGuid" and len(names) == 39
    assert plain.attrs["extensionAttribute1"].startswith("SAL-") and plain.attrs["mail"] == f"plain@{tenant.domain}"
    assert plain.attrs["proxyAddresses"] == [
        f"SMTP:plain@{tenant.domain}",
        f"smtp:plain@{tenant.name}.mail.onmicrosoft.com",
    ]
    extra = new_ad_user(
        tenant, "extra", display="Extra", extra={"title": "Boss", "company": "Contoso", "mS-DS-ConsistencyGuid": "AAAA"}
    )
    names = list(extra.attrs)
    assert names.index("title") == 7 and names[-2:] == ["company", "mS-DS-ConsistencyGuid"]
    assert extra.attrs["title"] == "Boss"
    assert extra.attrs["mS-DS-ConsistencyGuid"] == "AAAA" and extra.consistency_guid == "AAAA"
    # Each user has its own attribute dict (the template is copied, never shared).
    plain.attrs["title"] = "Changed"
    assert extra.attrs["title"] == "Boss" and new_ad_user(tenant, "third", display="T").attrs["title"] is None


def _mailbox_view(mbx) -> dict:
    data = mbx.to_dict()
    for name in ("guid", "when_created", "when_changed"):
        data.pop(name)
    return data


def test_a_new_users_mailbox_is_the_same_delivered_at_once_or_through_the_queue():
    from hybridsoa.mock.domain.seed import new_ad_user
    from hybridsoa.mock.domain.tenant import TenantRegistry

    views = []
    for delay in (0, 5):
        tenant = TenantRegistry(seed=1).create("fwd", mailboxes=4, seed=21, frozen_clock=True)
        tenant.settings["forwardSyncDelayMinutes"] = delay
        tenant.org_config["ExchangeAttributesCloudManagedByDefault"] = True
        new_ad_user(
            tenant,
            "fresh",
            display="Fresh User",
            given="Fresh",
            sn="User",
            department="Legal",
            extra={"extensionAttribute7": "seven", "msExchExtensionCustomAttribute2": ["a", "b"]},
        )
        before = tenant.sync.forward.delivered
        run = tenant.sync.run_cycle("Delta")
        assert run["adds"] == 1
        if delay:
            assert tenant.sync.forward.pending() and not [m for m in tenant.mailboxes if m.alias == "fresh"]
            tenant.advance(delay)
        assert tenant.sync.forward.delivered == before + 1
        mbx = next(m for m in tenant.mailboxes if m.alias == "fresh")
        assert mbx.is_exchange_cloud_managed and mbx.custom_attributes[6] == "seven"
        assert mbx.extension_custom_attributes[1] == ["a", "b"] and type(mbx.extension_custom_attributes[1]) is list
        views.append(_mailbox_view(mbx))
    assert views[0] == views[1]


def test_flow_rules_read_attributes_missing_from_a_hand_made_ad_object():
    from hybridsoa.mock.domain.connect.sync_rules import entra_identity_values, mailbox_exchange_values
    from hybridsoa.mock.domain.onprem.ad import ADUser

    ad = ADUser(
        sam_account_name="bare",
        object_guid=SeededIds(3).guid(),
        ou="OU=Corp,DC=x,DC=local",
        attrs={"userPrincipalName": "bare@x", "extensionAttribute15": "last", "msExchExtensionCustomAttribute5": ["v"]},
    )
    ident = entra_identity_values(ad, "x.local")
    assert ident["on_premises_extension_attributes"] == [None] * 14 + ["last"]
    values = mailbox_exchange_values(ad)
    assert values["custom_attributes"] == [None] * 14 + ["last"]
    assert values["extension_custom_attributes"] == [[], [], [], [], ["v"]]
