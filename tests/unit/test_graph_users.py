"""Graph user rules in the domain (no HTTP): synced users are read-only, object-level SOA, cloud-only lifecycle
and the deleted-items retention."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra.graph import users as U
from hybridsoa.mock.domain.errors import InvalidArgument, NotFound, SyncedObjectReadOnly


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="graphdom", seed=3, mailboxes=4)


def synced(t):
    return next(u for u in t.users if u.on_premises_sync_enabled)


def new_user(t, nick="cloudy"):
    return U.create_user(
        t,
        {
            "accountEnabled": True,
            "displayName": nick.title(),
            "mailNickname": nick,
            "userPrincipalName": f"{nick}@{t.domain}",
            "passwordProfile": {"password": "Pw!12345x"},
        },
    )


def test_graph_view_covers_every_csdl_property(t):
    view = U.graph_view(synced(t))
    assert set(view) == set(U.ALL_PROPERTIES)
    assert view["onPremisesSyncEnabled"] is True and view["proxyAddresses"]


def test_synced_user_refuses_mastered_properties_but_not_cloud_ones(t):
    u = synced(t)
    with pytest.raises(SyncedObjectReadOnly):
        U.update_user(t, u, {"displayName": "x", "usageLocation": "FR"})
    assert u.usage_location != "FR"
    U.update_user(t, u, {"usageLocation": "FR"})
    assert u.usage_location == "FR"


def test_soa_transfer_makes_user_editable_and_sync_skips_it(t):
    u = synced(t)
    ad = next(a for a in t.ad_users if a.consistency_guid == u.on_premises_immutable_id)
    U.set_sync_behavior(t, u, True)
    assert (u.is_cloud_managed, u.on_premises_sync_enabled) == (True, None)
    U.update_user(t, u, {"displayName": "Cloud Owned"})
    ad.attrs["displayName"] = "From AD"
    t.ad_users.touch(ad.sam_account_name.lower())
    t.sync.run_cycle("Delta")
    assert u.display_name == "Cloud Owned"
    U.set_sync_behavior(t, u, False)
    assert (u.is_cloud_managed, u.on_premises_sync_enabled) == (False, None)
    t.sync.run_cycle("Delta")
    assert u.on_premises_sync_enabled is True and u.display_name == "From AD"


def test_soa_switch_needs_an_on_premises_object(t):
    u = new_user(t)
    with pytest.raises(InvalidArgument):
        U.set_sync_behavior(t, u, True)
    with pytest.raises(InvalidArgument):
        U.set_sync_behavior(t, synced(t), "true")


def test_delete_restore_and_retention(t):
    u = new_user(t)
    U.delete_user(t, u)
    assert [d.id for d in U.deleted_users(t)] == [u.id]
    with pytest.raises(NotFound):
        U.find_user(t, u.id)
    U.restore_deleted(t, U.find_deleted(t, u.id))
    assert U.find_user(t, u.id) is u
    U.delete_user(t, u)
    t.advance(29 * 24 * 60)
    assert U.find_deleted(t, u.id) is u
    t.advance(2 * 24 * 60)
    assert U.deleted_users(t) == [] and t.users.get(u.id) is None


def test_restore_refuses_a_taken_upn(t):
    u = new_user(t)
    U.delete_user(t, u)
    new_user(t)  # same UPN, now live
    with pytest.raises(Exception) as exc:
        U.restore_deleted(t, u)
    assert "already exists" in str(exc.value)
    assert u.deleted_date_time is not None


def test_synced_user_cannot_be_deleted_in_the_cloud(t):
    u = synced(t)
    with pytest.raises(SyncedObjectReadOnly):
        U.delete_user(t, u)
    assert u.deleted_date_time is None


@pytest.mark.parametrize(
    "body",
    [
        {"displayName": "x"},
        {
            "accountEnabled": True,
            "displayName": "x",
            "mailNickname": "bad nick",
            "userPrincipalName": "a@graphdom.onmicrosoft.com",
            "passwordProfile": {"password": "Pw!12345x"},
        },
        {
            "accountEnabled": True,
            "displayName": "x",
            "mailNickname": "a",
            "userPrincipalName": "a@graphdom.onmicrosoft.com",
            "passwordProfile": {},
        },
        {
            "accountEnabled": True,
            "displayName": "x",
            "mailNickname": "a",
            "userPrincipalName": "a@elsewhere.com",
            "passwordProfile": {"password": "Pw!12345x"},
        },
    ],
)
def test_create_validation(t, body):
    before = len(t.users)
    with pytest.raises(InvalidArgument):
        U.create_user(t, body)
    assert len(t.users) == before
