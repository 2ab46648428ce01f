"""After a restart on a data dir, listing tenants (``GET /_mock/tenants``, the dashboard's list) and routing an LDAP
bind answer from the store's index: the answers are those from before the restart, and no tenant the request does
not name is loaded (``registry.tenants`` holds the loaded ones)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.errors import DomainError
from hybridsoa.mock.domain.onprem import ldap_tree as dit
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store import open_store


def _reopen(data_dir):
    registry = TenantRegistry(seed=1234)
    store = open_store(registry, str(data_dir), snapshot)
    return registry, store


def _answers(registry) -> tuple:
    client = create_app(registry).test_client()
    listing = client.get("/_mock/tenants")
    page = client.get("/")
    searched = client.get("/?q=beta")
    assert listing.status_code == page.status_code == searched.status_code == 200
    return listing.get_json(), page.get_data(as_text=True), searched.get_data(as_text=True)


@pytest.fixture
def three(tmp_path):
    """Three tenants on a data dir, each changed after its creation (so their cards come from commits)."""
    registry, store = _reopen(tmp_path)
    tenants = [
        registry.create(name, seed=i + 1, frozen_clock=True, mailboxes=3)
        for i, name in enumerate(("alpha", "beta-two", "gamma"))
    ]
    client = create_app(registry).test_client()
    # A sync cycle (clock, schedule, last run), a new AD user (counts) and a disabled scheduler.
    assert client.post(f"/_mock/tenants/{tenants[0].id}/clock/advance", json={"minutes": 45}).status_code == 200
    made = client.post(f"/_mock/tenants/{tenants[1].id}/onprem/users", json={"sAMAccountName": "newhire"})
    assert made.status_code == 201, made.get_json()
    assert client.patch(f"/_mock/tenants/{tenants[2].id}/sync", json={"enabled": False}).status_code == 200
    for tenant in tenants:
        with tenant.lock:
            store.flush(tenant)
    before = _answers(registry)
    store.close()
    return tmp_path, tenants, before


def test_listing_after_a_restart_loads_no_tenant_and_answers_as_before(three):
    data_dir, tenants, before = three
    assert [t["name"] for t in before[0]["value"]] == ["alpha", "beta-two", "gamma"]
    assert before[0]["value"][1]["counts"]["adUsers"] == len(tenants[1].ad_users)
    registry, store = _reopen(data_dir)
    assert _answers(registry) == before
    assert registry.tenants == {}  # neither the list nor the dashboard loaded a tenant
    # Opening one tenant loads that one; the list still answers the same, the others still unloaded.
    assert create_app(registry).test_client().get("/tenants/beta-two").status_code == 200
    assert list(registry.tenants) == [tenants[1].id]
    assert _answers(registry) == before
    assert list(registry.tenants) == [tenants[1].id]
    store.close()


def test_an_ldap_bind_loads_only_the_tenant_it_names(three):
    data_dir, tenants, _before = three
    registry, store = _reopen(data_dir)
    target = tenants[2]
    password = dit.bind_password(target)
    with pytest.raises(DomainError):
        dit.authenticate(registry, dit.bind_dn(target), password + "x")
    assert list(registry.tenants) == [target.id]  # a wrong password loads the named tenant only
    for name in (dit.bind_dn(target), f"hybridsoa-ldap@{target.domain}".upper(), "GAMMA\\hybridsoa-ldap"):
        assert dit.authenticate(registry, name, password).id == target.id
    with pytest.raises(DomainError):
        dit.authenticate(registry, "CN=hybridsoa-ldap,CN=Users,DC=nobody,DC=local", password)
    assert list(registry.tenants) == [target.id]
    store.close()


def test_cards_follow_each_commit_and_deletes(three):
    data_dir, tenants, before = three
    registry, store = _reopen(data_dir)
    client = create_app(registry).test_client()
    # A change after the restart reaches the index: the next restart lists it without loading anything.
    assert client.post(f"/_mock/tenants/{tenants[0].id}/clock/advance", json={"minutes": 30}).status_code == 200
    with registry.get(tenants[0].id).lock:
        store.flush(registry.get(tenants[0].id))
    assert client.delete(f"/_mock/tenants/{tenants[1].id}").status_code in (200, 204)
    after = client.get("/_mock/tenants").get_json()
    assert [t["name"] for t in after["value"]] == ["alpha", "gamma"]
    assert after["value"][0]["clock"]["now"] == before[0]["value"][0]["clock"]["now"] + 30 * 60
    store.close()
    again, store2 = _reopen(data_dir)
    assert create_app(again).test_client().get("/_mock/tenants").get_json() == after
    assert again.tenants == {}
    store2.close()


def test_a_store_from_before_cards_lists_by_loading_once_then_from_the_index(three):
    data_dir, _tenants, before = three
    db = sqlite3.connect(str(data_dir / "hybridsoa.sqlite3"), isolation_level=None)
    db.execute("UPDATE tenants SET card=NULL")
    db.execute("UPDATE tenants SET card='{\"v\": 1, \"name\": 7}' WHERE name='gamma'")  # a damaged card
    db.close()
    registry, store = _reopen(data_dir)
    assert _answers(registry) == before
    assert len(registry.tenants) == 3  # no cards: the listing loaded them (and wrote their cards)
    store.close()
    again, store2 = _reopen(data_dir)
    assert _answers(again) == before
    assert again.tenants == {}
    store2.close()


def test_a_running_clock_is_listed_running_after_a_restart(tmp_path):
    registry, store = _reopen(tmp_path)
    running = registry.create("runner", seed=5, mailboxes=2)
    listed = create_app(registry).test_client().get("/_mock/tenants").get_json()["value"][0]
    store.close()
    reopened, again = _reopen(tmp_path)
    after = create_app(reopened).test_client().get("/_mock/tenants").get_json()["value"][0]
    assert reopened.tenants == {}
    assert after["clock"]["frozen"] is False and after["clock"]["now"] >= listed["clock"]["now"]
    assert {k: v for k, v in after.items() if k != "clock"} == {k: v for k, v in listed.items() if k != "clock"}
    assert running.id == after["tenantId"]
    again.close()


def test_common_authority_keys_and_app_lookups_read_the_index(three):
    from hybridsoa.mock.domain.entra import authorities
    from hybridsoa.mock.domain.entra.login import jwks

    data_dir, tenants, _before = three
    expected = authorities.audience_jwks([jwks(t)["keys"] for t in tenants])
    target = tenants[2]
    app = next(iter(target.apps))
    registry, store = _reopen(data_dir)
    client = create_app(registry).test_client()
    assert client.get("/common/discovery/v2.0/keys").get_json() == expected
    assert registry.tenants == {}  # every tenant's key, none loaded
    form = {"client_id": app.app_id, "scope": "https://graph.microsoft.com/.default"}
    started = client.post("/organizations/oauth2/v2.0/devicecode", data=form)
    assert started.status_code == 200 and started.get_json()["user_code"]
    assert list(registry.tenants) == [target.id]  # the tenant holding the app, loaded to issue the code
    refused = client.post("/consumers/oauth2/v2.0/token", data={"grant_type": "password", **form}).get_json()
    assert "AADSTS90130" in refused["error_description"] and app.name in refused["error_description"]
    assert list(registry.tenants) == [target.id]
    store.close()


def test_a_reset_tenant_keeps_its_place_in_the_list_across_a_restart(three):
    data_dir, tenants, _before = three
    registry, store = _reopen(data_dir)
    client = create_app(registry).test_client()
    assert client.post(f"/_mock/tenants/{tenants[0].id}/reset").status_code == 200
    listed = client.get("/_mock/tenants").get_json()
    assert [t["name"] for t in listed["value"]] == ["alpha", "beta-two", "gamma"]
    store.close()
    again, store2 = _reopen(data_dir)
    assert create_app(again).test_client().get("/_mock/tenants").get_json() == listed
    assert again.tenants == {}
    store2.close()


def test_deleting_a_tenant_not_loaded_since_a_restart_never_loads_it(three):
    data_dir, tenants, before = three
    registry, store = _reopen(data_dir)
    client = create_app(registry).test_client()
    assert client.delete(f"/_mock/tenants/{tenants[1].name}").status_code == 204
    assert registry.tenants == {} and registry.count() == 2
    assert client.delete(f"/_mock/tenants/{tenants[1].id}").status_code == 404
    assert client.get(f"/_mock/tenants/{tenants[1].id}").status_code == 404
    listed = client.get("/_mock/tenants").get_json()
    assert listed["value"] == [before[0]["value"][0], before[0]["value"][2]]
    # A loaded tenant is deleted as before.
    assert client.get(f"/_mock/tenants/{tenants[0].id}").status_code == 200
    assert client.delete(f"/_mock/tenants/{tenants[0].id}").status_code == 204
    assert registry.tenants == {} and registry.count() == 1
    store.close()
    again, store2 = _reopen(data_dir)
    assert [t["name"] for t in create_app(again).test_client().get("/_mock/tenants").get_json()["value"]] == ["gamma"]
    assert store2.db.execute("SELECT COUNT(*) FROM objects WHERE tenant_id=?", (tenants[1].id,)).fetchone()[0] == 0
    store2.close()


def _stored_counts(data_dir, tenant_id) -> dict:
    db = sqlite3.connect(str(data_dir / "hybridsoa.sqlite3"))
    try:
        (text,) = db.execute("SELECT card FROM tenants WHERE id=?", (tenant_id,)).fetchone()
    finally:
        db.close()
    return json.loads(text)["counts"]


def test_the_card_counts_stay_right_when_rewrites_skip_it_and_inserts_and_deletes_follow(tmp_path):
    registry, store = _reopen(tmp_path)
    tenant = registry.create("delta", seed=5, frozen_clock=True, mailboxes=4)
    boxes = list(tenant.mailboxes)
    for value in (True, False, True):  # objects rewritten in place: the counts cannot move
        with tenant.lock:
            boxes[0].is_exchange_cloud_managed = value
            tenant.mailboxes.touch(boxes[0].guid)
            store.wait_durable(store.request_done(tenant))
    with tenant.lock:
        tenant.mailboxes.delete(boxes[1].guid)
        store.wait_durable(store.request_done(tenant))
    store._drain()  # what the background applier does every round
    assert _stored_counts(tmp_path, tenant.id)["mailboxes"] == len(boxes) - 1
    with tenant.lock:
        boxes[0].is_exchange_cloud_managed = False
        tenant.mailboxes.touch(boxes[0].guid)
        tenant.mailboxes.put(boxes[1].guid, boxes[1])  # back, in the same request as a rewrite
        store.wait_durable(store.request_done(tenant))
    store._drain()  # what the background applier does every round
    assert _stored_counts(tmp_path, tenant.id)["mailboxes"] == len(boxes)
    store.close()
