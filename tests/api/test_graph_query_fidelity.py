"""Graph query options honoured or refused as Graph does (issue 19): ``$expand`` of manager/directReports synced
from AD's ``manager``, ``/$count`` inside ``$filter``, ``$count`` with and without ``ConsistencyLevel``, and every
error (routing 405/501 included) dated on the tenant clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hybridsoa.mock.domain.entra.graph.users import graph_property

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="contoso", seed=42, mailboxes=8)


@pytest.fixture
def gh(t, auth_header):
    return auth_header(t, "graph")


def _synced(t):
    """Synced Entra users with their AD sAMAccountName, in a stable order."""
    out = []
    for sam in sorted(t.ad_users.keys()):
        ad = t.ad_users.get(sam)
        user = next((u for u in t.users if u.on_premises_immutable_id == ad.consistency_guid), None)
        if user is not None and user.deleted_date_time is None:
            out.append((sam, ad, user))
    return out


def _set_manager(client, t, report_sam: str, manager_dn: str | None) -> None:
    base = f"/_mock/tenants/{t.id}"
    assert client.patch(f"{base}/onprem/users/{report_sam}", json={"manager": manager_dn}).status_code == 200
    assert client.post(f"{base}/sync/cycles", json={"policyType": "Delta"}).status_code == 200


@pytest.fixture
def org(client, t):
    """boss <- (alice, bob); bob <- carol, all set in AD and exported by one Delta cycle each."""
    (bs, boss_ad, boss), (as_, alice_ad, alice), (bo, bob_ad, bob), (cs, _, carol) = _synced(t)[:4]
    _set_manager(client, t, as_, boss_ad.distinguished_name)
    _set_manager(client, t, bo, boss_ad.distinguished_name)
    _set_manager(client, t, cs, bob_ad.distinguished_name)
    return {"boss": boss, "alice": alice, "bob": bob, "carol": carol, "sams": (bs, as_, bo, cs)}


def test_manager_is_exported_from_ad_and_expanded_on_a_single_user(client, t, gh, org):
    r = client.get(f"/v1.0/users/{org['alice'].id}?$expand=manager", headers=gh)
    assert r.status_code == 200
    manager = r.get_json()["manager"]
    assert manager["id"] == org["boss"].id and manager["@odata.type"] == "#microsoft.graph.user"
    assert manager["displayName"] == org["boss"].display_name
    r = client.get(f"/v1.0/users/{org['boss'].id}?$select=id&$expand=directReports($select=id,displayName)", headers=gh)
    body = r.get_json()
    assert set(body) == {"@odata.context", "id", "directReports"}
    assert {d["id"] for d in body["directReports"]} == {org["alice"].id, org["bob"].id}
    assert all(set(d) == {"@odata.type", "id", "displayName"} for d in body["directReports"])


def test_manager_without_one_is_left_out_and_its_endpoint_is_404(client, t, gh, org):
    r = client.get(f"/v1.0/users/{org['boss'].id}?$expand=manager", headers=gh)
    assert r.status_code == 200 and "manager" not in r.get_json()
    r = client.get(f"/v1.0/users/{org['boss'].id}/manager", headers=gh)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "Request_ResourceNotFound"
    r = client.get(f"/v1.0/users/{org['carol'].id}/manager?$select=id", headers=gh)
    assert r.get_json()["id"] == org["bob"].id
    r = client.get(f"/v1.0/users/{org['bob'].id}/directReports", headers=gh)
    assert [d["id"] for d in r.get_json()["value"]] == [org["carol"].id]
    r = client.get(
        f"/v1.0/users/{org['boss'].id}/directReports?$count=true&$filter=id eq '{org['bob'].id}'",
        headers={**gh, **EVENTUAL},
    )
    assert r.get_json()["@odata.count"] == 1 and r.get_json()["value"][0]["id"] == org["bob"].id
    assert client.get(f"/v1.0/users/{org['bob'].id}/directReports?$expand=manager", headers=gh).status_code == 501
    raw = client.get(f"/v1.0/users/{org['boss'].id}/directReports/$count", headers={**gh, **EVENTUAL})
    assert raw.status_code == 200 and raw.get_data(as_text=True) == "2"
    assert client.get(f"/v1.0/users/{org['boss'].id}/directReports/$count", headers=gh).status_code == 400


def test_expand_on_the_list_matches_each_users_manager(client, t, gh, org):
    r = client.get("/v1.0/users?$select=id&$expand=manager($select=id)&$top=999", headers=gh)
    assert r.status_code == 200
    got = {v["id"]: v.get("manager", {}).get("id") for v in r.get_json()["value"]}
    expected = {
        u.id: (u.manager_id if u.manager_id and t.users.get(u.manager_id).deleted_date_time is None else None)
        for u in t.users
        if u.deleted_date_time is None
    }
    assert got == expected and got[org["carol"].id] == org["bob"].id


def test_manager_chain_needs_a_single_user_and_the_advanced_parameters(client, t, gh, org):
    url = f"/v1.0/users/{org['carol'].id}?$expand=manager($levels=max;$select=id)&$count=true"
    body = client.get(url, headers={**gh, **EVENTUAL}).get_json()
    assert body["manager"]["id"] == org["bob"].id and body["manager"]["manager"]["id"] == org["boss"].id
    assert "manager" not in body["manager"]["manager"]
    r = client.get(f"/v1.0/users/{org['carol'].id}?$expand=manager($levels=2)", headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "Request_UnsupportedQuery"
    one = client.get(
        f"/v1.0/users/{org['carol'].id}?$expand=manager($levels=1)&$count=true", headers={**gh, **EVENTUAL}
    ).get_json()
    assert one["manager"]["id"] == org["bob"].id and "manager" not in one["manager"]
    r = client.get("/v1.0/users?$expand=manager($levels=max)&$count=true", headers={**gh, **EVENTUAL})
    assert r.status_code == 400 and r.get_json()["error"]["message"].startswith(
        "Transitive manager's list is only supported on a single user"
    )


def test_clearing_and_moving_the_ad_reference_follows_at_the_next_cycle(client, t, gh, org):
    _, alice_sam, _, _ = org["sams"]
    _set_manager(client, t, alice_sam, None)
    assert client.get(f"/v1.0/users/{org['alice'].id}/manager", headers=gh).status_code == 404
    bob_dn = t.ad_users.get(org["sams"][2]).distinguished_name
    _set_manager(client, t, alice_sam, bob_dn)
    r = client.get(f"/v1.0/users/{org['bob'].id}/directReports?$select=id", headers=gh)
    assert {d["id"] for d in r.get_json()["value"]} == {org["alice"].id, org["carol"].id}


def test_a_reference_to_an_object_out_of_sync_scope_stays_pending(client, t, gh):
    (ms, mad, manager), (rs, _, report) = _synced(t)[:2]
    base = f"/_mock/tenants/{t.id}"
    assert client.post(f"{base}/onprem/users/{ms}/move", json={"ou": "OU=Parked,DC=contoso,DC=local"}).status_code in (
        200,
        204,
    )
    client.patch(f"{base}/sync", json={"ouScope": [t.ad_users.get(rs).ou], "deletionThreshold": None})
    parked_dn = t.ad_users.get(ms).distinguished_name
    _set_manager(client, t, rs, parked_dn)
    assert client.get(f"/v1.0/users/{report.id}/manager", headers=gh).status_code == 404
    assert rs in t.sync.pending_references
    # Back in scope: the manager is restored by the hard match and the pending reference resolves.
    client.post(f"{base}/onprem/users/{ms}/move", json={"ou": t.ad_users.get(rs).ou})
    client.patch(f"{base}/onprem/users/{rs}", json={"manager": t.ad_users.get(ms).distinguished_name})
    client.post(f"{base}/sync/cycles", json={"policyType": "Delta"})
    assert client.get(f"/v1.0/users/{report.id}/manager?$select=id", headers=gh).get_json()["id"] == manager.id


@pytest.mark.parametrize(
    "expand,status,code",
    [
        ("bogus", 400, "BadRequest"),
        ("displayName", 400, "BadRequest"),
        ("memberOf", 501, "notImplemented"),
        ("manager($filter=id eq 'x')", 400, "Request_UnsupportedQuery"),
        ("manager(", 400, "BadRequest"),
    ],
)
def test_expand_refusals(client, t, gh, expand, status, code):
    r = client.get(f"/v1.0/users?$expand={expand}", headers=gh)
    assert r.status_code == status and r.get_json()["error"]["code"] == code
    if status == 501:
        assert "hybridsoa" in r.headers["x-hybridsoa-note"]


def test_expand_messages_are_odata_parser_texts(client, t, gh):
    r = client.get("/v1.0/users?$expand=bogus", headers=gh)
    assert r.get_json()["error"]["message"] == (
        "Parsing OData Select and Expand failed: Could not find a property "
        "named 'bogus' on type 'microsoft.graph.user'."
    )
    r = client.get("/v1.0/users?$expand=displayName", headers=gh)
    assert "is not a navigation property" in r.get_json()["error"]["message"]


def test_expand_with_an_advanced_query_is_refused(client, t, gh):
    r = client.get(
        "/v1.0/users?$expand=manager&$filter=accountEnabled ne false&$count=true", headers={**gh, **EVENTUAL}
    )
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "Request_UnsupportedQuery"


def _live(t):
    return [u for u in t.users if u.deleted_date_time is None]


def test_collection_count_in_filter_is_the_real_number(client, t, gh):
    # Issue 19: these answered 0 users with a 200 although every user is unlicensed / six have no addresses.
    r = client.get(
        "/v1.0/users?$filter=assignedLicenses/$count eq 0&$count=true&$top=999&$select=id", headers={**gh, **EVENTUAL}
    )
    body = r.get_json()
    unlicensed = {u.id for u in _live(t) if not graph_property(u, "assignedLicenses")}
    assert body["@odata.count"] == len(unlicensed) and {v["id"] for v in body["value"]} == unlicensed
    for op, test in (
        ("eq 0", lambda n: n == 0),
        ("ne 0", lambda n: n != 0),
        ("eq 1", lambda n: n == 1),
        ("ne 1", lambda n: n != 1),
    ):
        r = client.get(
            f"/v1.0/users?$filter=proxyAddresses/$count {op}&$count=true&$top=999&$select=id",
            headers={**gh, **EVENTUAL},
        )
        expected = {u.id for u in _live(t) if test(len(u.proxy_addresses))}
        assert {v["id"] for v in r.get_json()["value"]} == expected, op
        assert r.get_json()["@odata.count"] == len(expected)
    raw = client.get("/v1.0/users/$count?$filter=proxyAddresses/$count eq 0", headers={**gh, **EVENTUAL})
    assert raw.status_code == 200 and int(raw.get_data(as_text=True)) == len(
        [u for u in _live(t) if not u.proxy_addresses]
    )


@pytest.mark.parametrize(
    "flt",
    [
        "proxyAddresses/$count gt 0",  # only eq/ne 0 and 1 are documented
        "proxyAddresses/$count eq 2",
        "displayName/$count eq 0",  # not a collection
        "proxyAddresses/$count/x eq 0",
    ],
)
def test_unsupported_count_filters_are_refused(client, t, gh, flt):
    r = client.get(f"/v1.0/users?$filter={flt}&$count=true", headers={**gh, **EVENTUAL})
    assert r.status_code == 400, flt
    assert r.get_json()["error"]["code"] in ("Request_UnsupportedQuery", "BadRequest")


def test_count_filter_needs_the_advanced_parameters(client, t, gh):
    r = client.get("/v1.0/users?$filter=assignedLicenses/$count eq 0", headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "Request_UnsupportedQuery"
    r = client.get("/v1.0/users?$filter=assignedLicenses/$count eq 0", headers={**gh, **EVENTUAL})
    assert r.status_code == 400


def test_raw_count_without_the_header_has_graphs_text(client, t, gh):
    r = client.get("/v1.0/users/$count", headers=gh)
    assert r.status_code == 400
    assert r.get_json()["error"] == {**r.get_json()["error"], "code": "Request_UnsupportedQuery"}
    assert r.get_json()["error"]["message"].startswith(
        "Raw count (/$count) is not supported because the 'ConsistencyLevel:eventual' header is missing."
    )


def _tenant_date(t) -> str:
    return datetime.fromtimestamp(t.clock.now(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("put", "/v1.0/users", 405),
        ("get", "/v1.0/groups", 501),
        ("get", "/v1.0/usersx", 400),
        ("get", "/v1.0/users/nobody@nowhere", 404),
        ("get", "/v1.0/users?$top=0", 400),
    ],
)
def test_every_error_is_dated_on_the_tenant_clock(client, t, gh, method, path, status):
    client.post(f"/_mock/tenants/{t.id}/clock/advance", json={"minutes": 50})
    r = getattr(client, method)(path, headers=gh)
    assert r.status_code == status
    assert r.get_json()["error"]["innerError"]["date"] == _tenant_date(t)
