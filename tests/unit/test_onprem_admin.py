"""On-prem AD administration in the domain: schema-checked attribute writes, whenChanged/uSNChanged bumps,
creation defaults, moves and deletes, deterministic seeding."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.errors import Conflict, InvalidArgument, NotFound
from hybridsoa.mock.domain.onprem import ad_admin
from hybridsoa.mock.domain.onprem.ad import REMOTE_ROOM_MAILBOX


def test_seeded_ad_is_deterministic_and_has_all_types(make_tenant, registry):
    a = make_tenant(name="one", seed=5, mailboxes=8)
    other = type(registry)(seed=1).create("one", seed=5, frozen_clock=True, mailboxes=8, options={"mix": "uniform"})
    assert [u.attrs["displayName"] for u in a.ad_users] == [u.attrs["displayName"] for u in other.ad_users]
    assert [u.object_guid for u in a.ad_users] == [u.object_guid for u in other.ad_users]
    types = {u.attrs["msExchRecipientTypeDetails"] for u in a.ad_users}
    assert len(types) == 4
    assert all(u.ou.endswith("OU=Corp,DC=one,DC=local") for u in a.ad_users)


def test_update_bumps_when_changed_and_change_index(domain_tenant):
    t = domain_tenant
    ad = next(iter(t.ad_users))
    seq = t.ad_users.seq(ad.sam_account_name.lower())
    t.advance(7)
    ad_admin.update_ad_user(t, ad.sam_account_name.upper(), {"extensionAttribute15": "v", "title": None})
    assert ad.attrs["extensionAttribute15"] == "v" and ad.attrs["title"] is None
    assert ad.when_changed == t.clock.now()
    assert t.ad_users.seq(ad.sam_account_name.lower()) > seq
    rendered = ad_admin.render_ad_user(t, ad)
    assert rendered["uSNChanged"] == t.ad_users.seq(ad.sam_account_name.lower())
    assert rendered["whenChanged"] == "2026-01-05T09:07:00Z" and rendered["inSyncScope"] is True


@pytest.mark.parametrize(
    "patch",
    [
        {"notAnAttribute": "x"},
        {"objectGUID": "x"},
        {"whenChanged": "x"},
        {"sAMAccountName": "x"},
        {"displayName": 5},
        {"proxyAddresses": "smtp:a@b.c"},
        {"proxyAddresses": ["no-prefix"]},
        {"proxyAddresses": ["SMTP:a@b.c", "SMTP:d@b.c"]},
        {"msExchHideFromAddressLists": "true"},
        {"msExchRecipientTypeDetails": "2147483648"},
        {"userAccountControl": True},
        {"userPrincipalName": "noat"},
        {"extensionAttribute1": "x" * 1025},
        {"msExchExtensionCustomAttribute1": ["a", "A"]},
    ],
)
def test_bad_patches_are_refused_and_change_nothing(domain_tenant, patch):
    t = domain_tenant
    ad = next(iter(t.ad_users))
    before, seq = dict(ad.attrs), t.ad_users.seq(ad.sam_account_name.lower())
    with pytest.raises(InvalidArgument):
        ad_admin.update_ad_user(t, ad.sam_account_name, patch)
    assert ad.attrs == before and t.ad_users.seq(ad.sam_account_name.lower()) == seq


def test_create_with_defaults_and_conflicts(domain_tenant):
    t = domain_tenant
    ad = ad_admin.create_ad_user(
        t,
        {
            "sAMAccountName": "room42",
            "displayName": "Room 42",
            "msExchRecipientTypeDetails": REMOTE_ROOM_MAILBOX,
            "ou": "OU=Resources,OU=Corp,DC=contoso,DC=local",
        },
    )
    assert ad.attrs["userPrincipalName"] == f"room42@{t.domain}" and ad.attrs["mailNickname"] == "room42"
    assert ad.attrs["msExchRemoteRecipientType"] == 36 and ad.ou.startswith("OU=Resources")
    assert ad.distinguished_name == "CN=Room 42,OU=Resources,OU=Corp,DC=contoso,DC=local"
    with pytest.raises(Conflict):
        ad_admin.create_ad_user(t, {"sAMAccountName": "ROOM42"})
    with pytest.raises(Conflict):
        ad_admin.create_ad_user(t, {"sAMAccountName": "other", "userPrincipalName": f"room42@{t.domain}"})
    for bad in ("", "x" * 21, "a/b", "dot.", None):
        with pytest.raises(InvalidArgument):
            ad_admin.create_ad_user(t, {"sAMAccountName": bad})
    with pytest.raises(InvalidArgument):
        ad_admin.create_ad_user(t, {"sAMAccountName": "ok", "ou": "OU=Elsewhere,DC=fabrikam,DC=local"})
    with pytest.raises(InvalidArgument):
        ad_admin.create_ad_user(t, {"sAMAccountName": "ok2", "mS-DS-ConsistencyGuid": "not-base64!"})


def test_move_and_delete(domain_tenant):
    t = domain_tenant
    ad = next(iter(t.ad_users))
    seq = t.ad_users.seq(ad.sam_account_name.lower())
    ad_admin.move_ad_user(t, ad.sam_account_name, "OU=Disabled,DC=contoso,DC=local")
    assert ad.ou == "OU=Disabled,DC=contoso,DC=local" and t.ad_users.seq(ad.sam_account_name.lower()) > seq
    assert ad_admin.render_ad_user(t, ad)["inSyncScope"] is False
    with pytest.raises(InvalidArgument):
        ad_admin.move_ad_user(t, ad.sam_account_name, "garbage")
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    with pytest.raises(NotFound):
        ad_admin.get_ad_user(t, ad.sam_account_name)


def test_list_filters_by_ou_and_pages(domain_tenant):
    t = domain_tenant
    page, total = ad_admin.list_ad_users(t, top=10, skip=20)
    assert total == 25 and len(page) == 5
    shared, total = ad_admin.list_ad_users(t, ou="OU=Shared,OU=Corp,DC=contoso,DC=local")
    assert total == len(shared) >= 1 and all(u.ou.startswith("OU=Shared") for u in shared)
