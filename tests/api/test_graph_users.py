"""Graph /users over the Flask test client: queries, paging, $count, errors, create/update/delete and the
object-level SOA switch (onPremisesSyncBehavior)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.entra.graph.users import DEFAULT_PROPERTIES, SYNCED_MESSAGE
from hybridsoa.mock.domain.entra.tokens import issue_access_token
from hybridsoa.mock.domain.tenant import TenantRegistry

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="contoso", seed=42)


@pytest.fixture
def gh(t, auth_header):
    return auth_header(t, "graph")


@pytest.fixture(scope="module")
def shared():
    """One tenant for the read-only tests of this module (tenant creation dominates their cost)."""
    registry = TenantRegistry(seed=1234)
    tenant = registry.create(name="contoso", seed=42, frozen_clock=True, mailboxes=25)
    token, _ = issue_access_token(tenant, "graph", app=tenant.app_by_name("automation"))
    return tenant, create_app(registry).test_client(), {"Authorization": f"Bearer {token}"}


def synced_user(t):
    return next(u for u in t.users if u.on_premises_sync_enabled and u.deleted_date_time is None)


def cloud_user(t):
    return t.user_by_upn(f"user@{t.domain}")


def follow(client, url, headers):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}", headers=headers)


def test_list_returns_default_property_set_and_context(shared):
    t, client, gh = shared
    r = client.get("/v1.0/users", headers=gh)
    assert r.status_code == 200
    body = r.get_json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#users")
    assert len(body["value"]) == len([u for u in t.users if u.deleted_date_time is None])
    assert set(body["value"][0]) == set(DEFAULT_PROPERTIES)
    assert r.headers["request-id"] and r.headers["client-request-id"]


def test_beta_serves_the_same_handlers(shared):
    t, client, gh = shared
    r = client.get("/beta/users?$top=1", headers=gh)
    assert r.status_code == 200
    assert "/beta/$metadata#users" in r.get_json()["@odata.context"]


def test_client_request_id_is_echoed(shared):
    t, client, gh = shared
    r = client.get("/v1.0/users?$top=1", headers={**gh, "client-request-id": "abc-123"})
    assert r.headers["client-request-id"] == "abc-123"


def test_select_returns_hybrid_properties_only_when_asked(shared):
    t, client, gh = shared
    u = synced_user(t)
    r = client.get(
        f"/v1.0/users/{u.id}?$select=id,onPremisesSyncEnabled,onPremisesImmutableId,"
        "onPremisesSamAccountName,onPremisesDistinguishedName,onPremisesExtensionAttributes,proxyAddresses",
        headers=gh,
    )
    body = r.get_json()
    assert r.status_code == 200
    assert body["onPremisesSyncEnabled"] is True
    assert body["onPremisesImmutableId"] == u.on_premises_immutable_id
    assert body["onPremisesSamAccountName"] == u.on_premises_sam_account_name
    assert body["onPremisesDistinguishedName"].startswith("CN=")
    assert body["onPremisesExtensionAttributes"]["extensionAttribute1"] == u.on_premises_extension_attributes[0]
    assert any(p.startswith("SMTP:") for p in body["proxyAddresses"])
    assert "displayName" not in body
    assert body["@odata.context"].endswith(
        "#users(id,onPremisesSyncEnabled,onPremisesImmutableId,"
        "onPremisesSamAccountName,onPremisesDistinguishedName,"
        "onPremisesExtensionAttributes,proxyAddresses)/$entity"
    )
    default = client.get(f"/v1.0/users/{u.id}", headers=gh).get_json()
    assert "onPremisesSyncEnabled" not in default


def test_get_by_upn_and_unknown_user(shared):
    t, client, gh = shared
    r = client.get(f"/v1.0/users/globaladmin@{t.domain}", headers=gh)
    assert r.status_code == 200 and r.get_json()["userPrincipalName"] == f"globaladmin@{t.domain}"
    r = client.get("/v1.0/users/00000000-0000-0000-0000-000000000000", headers=gh)
    assert r.status_code == 404
    err = r.get_json()["error"]
    assert err["code"] == "Request_ResourceNotFound"
    assert set(err["innerError"]) == {"date", "request-id", "client-request-id"}


@pytest.mark.parametrize(
    "flt,expect",
    [
        ("onPremisesSyncEnabled eq true", lambda u: u.on_premises_sync_enabled is True),
        ("startswith(userPrincipalName,'global')", lambda u: u.user_principal_name.startswith("global")),
        (
            "userPrincipalName in ('USER@contoso.onmicrosoft.com','helpdesk@contoso.onmicrosoft.com')",
            lambda u: u.user_principal_name.split("@")[0] in ("user", "helpdesk"),
        ),
        (
            "startswith(displayName,'Shared') or startswith(displayName,'Room')",
            lambda u: u.display_name.startswith(("Shared", "Room")),
        ),
        (
            "onPremisesSyncEnabled eq true and startswith(displayName,'Shared')",
            lambda u: u.on_premises_sync_enabled and u.display_name.startswith("Shared"),
        ),
        ("proxyAddresses/any(p:startswith(p,'smtp:'))", lambda u: bool(u.proxy_addresses)),
    ],
)
def test_default_filters(shared, flt, expect):
    t, client, gh = shared
    r = client.get(f"/v1.0/users?$filter={flt}&$select=id", headers=gh)
    assert r.status_code == 200, r.get_json()
    got = {v["id"] for v in r.get_json()["value"]}
    want = {u.id for u in t.users if u.deleted_date_time is None and expect(u)}
    assert got == want and want


@pytest.mark.parametrize(
    "query",
    [
        "$filter=accountEnabled ne false&$count=true",
        "$filter=not(startswith(displayName,'a'))&$count=true",
        "$filter=endswith(userPrincipalName,'.com')&$count=true",
        "$filter=onPremisesExtensionAttributes/extensionAttribute1 eq 'x'&$count=true",
        "$filter=proxyAddresses/$count eq 0&$count=true",
        "$orderby=displayName&$filter=accountEnabled eq true&$count=true",
        '$search="displayName:Shared"',
    ],
)
def test_advanced_queries_need_consistency_level(shared, query):
    t, client, gh = shared
    r = client.get(f"/v1.0/users?{query}", headers=gh)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "Request_UnsupportedQuery"
    assert client.get(f"/v1.0/users?{query}", headers={**gh, **EVENTUAL}).status_code == 200


def test_count_true_without_consistency_level_is_ignored(shared):
    # Advanced-queries page: without the header "?$count=true" is silently ignored (no @odata.count), never wrong.
    t, client, gh = shared
    r = client.get("/v1.0/users?$count=true&$top=2", headers=gh)
    assert r.status_code == 200 and "@odata.count" not in r.get_json()
    r = client.get("/v1.0/users?$count=true&$top=2", headers={**gh, **EVENTUAL})
    assert r.get_json()["@odata.count"] == len([u for u in t.users if u.deleted_date_time is None])


def test_search_without_consistency_level_has_the_documented_text(shared):
    t, client, gh = shared
    r = client.get('/v1.0/users?$search="displayName:Shared"', headers=gh)
    assert r.get_json()["error"]["message"] == (
        "Request with $search query parameter only works through MSGraph "
        "with a special request header: 'ConsistencyLevel: eventual'"
    )


def test_advanced_filter_needs_count_too(shared):
    t, client, gh = shared
    r = client.get("/v1.0/users?$filter=accountEnabled ne false", headers={**gh, **EVENTUAL})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "Request_UnsupportedQuery"


def test_advanced_results_and_count(shared):
    t, client, gh = shared
    r = client.get(
        "/v1.0/users?$filter=onPremisesSyncEnabled ne true&$count=true&$select=id", headers={**gh, **EVENTUAL}
    )
    body = r.get_json()
    cloud = [u for u in t.users if u.deleted_date_time is None and u.on_premises_sync_enabled is not True]
    assert body["@odata.count"] == len(cloud) == len(body["value"])


def test_orderby_and_search(shared):
    t, client, gh = shared
    r = client.get("/v1.0/users?$orderby=displayName desc&$select=displayName", headers=gh)
    names = [v["displayName"] for v in r.get_json()["value"]]
    assert names == sorted(names, key=str.casefold, reverse=True)
    r = client.get('/v1.0/users?$search="displayName:shared"&$select=displayName', headers={**gh, **EVENTUAL})
    assert r.status_code == 200
    assert r.get_json()["value"] and all("shared" in v["displayName"].lower() for v in r.get_json()["value"])


def test_paging_by_absolute_next_link(shared):
    t, client, gh = shared
    seen, url, pages = [], "/v1.0/users?$top=7&$select=id,displayName", 0
    r = client.get(url, headers=gh)
    while True:
        body = r.get_json()
        pages += 1
        seen += [v["id"] for v in body["value"]]
        assert len(body["value"]) <= 7
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith("http://localhost/v1.0/users?") and "$skiptoken=" in link and "$top=7" in link
        r = follow(client, link, gh)
    live = [u.id for u in t.users if u.deleted_date_time is None]
    assert seen == live and pages == -(-len(live) // 7)


def test_advanced_paging_keeps_working_without_header_on_next_pages(shared):
    t, client, gh = shared
    r = client.get("/v1.0/users?$filter=accountEnabled ne false&$count=true&$top=5", headers={**gh, **EVENTUAL})
    link = r.get_json()["@odata.nextLink"]
    assert follow(client, link, gh).status_code == 200


@pytest.mark.parametrize(
    "query,code",
    [
        ("$top=1000", "Request_UnsupportedQuery"),
        ("$top=0", "Request_UnsupportedQuery"),
        ("$top=abc", "Request_UnsupportedQuery"),
        ("$select=nope", "BadRequest"),
        ("$filter=nope eq 1", "BadRequest"),
        ("$filter=displayName eq", "BadRequest"),
        ("$filter=displayName eq 'x' and (", "BadRequest"),
        ("$filter=startswith(displayName", "BadRequest"),
        ("$filter=@@@", "BadRequest"),
        ("$filter=mailboxSettings eq null", "Request_UnsupportedQuery"),
        ("$count=maybe", "BadRequest"),
        ("$skip=5", "Request_BadRequest"),
        ("$skiptoken=garbage!!", "Directory_ExpiredPageToken"),
        ("$orderby=displayName sideways", "BadRequest"),
        ("$bogus=1", "BadRequest"),
    ],
)
def test_bad_queries_get_graph_errors(shared, query, code):
    t, client, gh = shared
    r = client.get(f"/v1.0/users?{query}", headers=gh)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] == code


def test_count_endpoint(shared):
    t, client, gh = shared
    r = client.get("/v1.0/users/$count", headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "Request_UnsupportedQuery"
    r = client.get("/v1.0/users/$count?$filter=onPremisesSyncEnabled eq true", headers={**gh, **EVENTUAL})
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert int(r.get_data(as_text=True)) == sum(1 for u in t.users if u.on_premises_sync_enabled)


def test_patch_synced_user_is_refused_and_changes_nothing(client, t, gh):
    u = synced_user(t)
    before = u.display_name
    r = client.patch(f"/v1.0/users/{u.id}", json={"displayName": "Changed"}, headers=gh)
    assert r.status_code == 400
    assert r.get_json()["error"] == {**r.get_json()["error"], "code": "Request_BadRequest", "message": SYNCED_MESSAGE}
    assert u.display_name == before


def test_patch_synced_user_cloud_mastered_property_is_allowed(client, t, gh):
    u = synced_user(t)
    r = client.patch(f"/v1.0/users/{u.id}", json={"usageLocation": "DE"}, headers=gh)
    assert r.status_code == 204 and u.usage_location == "DE"


def test_patch_cloud_user(client, t, gh):
    u = cloud_user(t)
    r = client.patch(
        f"/v1.0/users/{u.id}",
        json={
            "jobTitle": "Boss",
            "mobilePhone": "+1 555",
            "onPremisesExtensionAttributes": {"extensionAttribute3": "E3"},
        },
        headers=gh,
    )
    assert r.status_code == 204 and not r.get_data()
    body = client.get(
        f"/v1.0/users/{u.id}?$select=jobTitle,mobilePhone,onPremisesExtensionAttributes", headers=gh
    ).get_json()
    assert body["jobTitle"] == "Boss" and body["mobilePhone"] == "+1 555"
    assert body["onPremisesExtensionAttributes"]["extensionAttribute3"] == "E3"
    rec = t.audit.query(api="graph", operation="Update user")[-1]
    assert rec.target == u.id and rec.changes["jobTitle"]["new"] == "Boss"


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"nope": 1}, "does not exist"),
        ({"proxyAddresses": ["SMTP:x@y"]}, "read-only"),
        ({"accountEnabled": "yes"}, "Invalid value"),
        ({"businessPhones": ["1", "2"]}, "Invalid value"),
        ({"userPrincipalName": "x@not-verified.example"}, "domain portion"),
        ({"userPrincipalName": "a?b@contoso.onmicrosoft.com"}, "userPrincipalName is invalid"),
        ({"userPrincipalName": ".ab@contoso.onmicrosoft.com"}, "userPrincipalName is invalid"),
        ({"userPrincipalName": "globaladmin@contoso.onmicrosoft.com"}, "already exists"),
    ],
)
def test_patch_validation(client, t, gh, body, fragment):
    u = cloud_user(t)
    r = client.patch(f"/v1.0/users/{u.id}", json=body, headers=gh)
    assert r.status_code == 400 and fragment in r.get_json()["error"]["message"]


def test_patch_needs_json(client, t, gh):
    u = cloud_user(t)
    r = client.patch(f"/v1.0/users/{u.id}", data="{not json", headers={**gh, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "BadRequest"
    r = client.patch(f"/v1.0/users/{u.id}", json=[1, 2], headers=gh)
    assert r.status_code == 400


def test_create_and_delete_cloud_user(client, t, gh):
    body = {
        "accountEnabled": True,
        "displayName": "Ada",
        "mailNickname": "ada",
        "userPrincipalName": f"ada@{t.domain}",
        "passwordProfile": {"password": "Str0ng-Pass!"},
    }
    r = client.post("/v1.0/users", json=body, headers=gh)
    assert r.status_code == 201
    created = r.get_json()
    assert created["@odata.context"].endswith("#users/$entity") and created["displayName"] == "Ada"
    assert client.post("/v1.0/users", json=body, headers=gh).status_code == 400
    r = client.delete(f"/v1.0/users/{created['id']}", headers=gh)
    assert r.status_code == 204
    assert client.get(f"/v1.0/users/{created['id']}", headers=gh).status_code == 404
    assert t.users.get(created["id"]).deleted_date_time is not None


def test_create_requires_properties(client, t, gh):
    r = client.post("/v1.0/users", json={"displayName": "x"}, headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "Request_BadRequest"


def test_delete_synced_user_refused(client, t, gh):
    u = synced_user(t)
    r = client.delete(f"/v1.0/users/{u.id}", headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["message"] == SYNCED_MESSAGE
    assert u.deleted_date_time is None


def test_me_is_delegated_only(client, t, gh, auth_header):
    assert client.get("/v1.0/me", headers=gh).status_code == 400
    r = client.get("/v1.0/me", headers=auth_header(t, "graph", user="helpdesk"))
    assert r.status_code == 200 and r.get_json()["userPrincipalName"] == f"helpdesk@{t.domain}"


# ------------------------------------------------------------------ onPremisesSyncBehavior
def test_sync_behavior_state_table(client, t, gh):
    u = synced_user(t)
    url = f"/v1.0/users/{u.id}/onPremisesSyncBehavior"
    r = client.get(url + "?$select=isCloudManaged", headers=gh)
    assert r.status_code == 200 and r.get_json()["isCloudManaged"] is False
    assert r.get_json()["@odata.context"].endswith("/onPremisesSyncBehavior(isCloudManaged)/$entity")
    # Synced -> transfer: (true, null), editable in the cloud.
    assert client.patch(url, json={"isCloudManaged": True}, headers=gh).status_code == 204
    sel = client.get(f"/v1.0/users/{u.id}?$select=onPremisesSyncEnabled", headers=gh).get_json()
    assert client.get(url, headers=gh).get_json()["isCloudManaged"] is True and sel["onPremisesSyncEnabled"] is None
    assert client.patch(f"/v1.0/users/{u.id}", json={"displayName": "Cloud name"}, headers=gh).status_code == 204
    assert t.audit.query(operation="Change Source of Authority from AD to cloud")
    # Rollback: (false, null) until the next cycle takes the object over, still editable meanwhile.
    assert client.patch(url, json={"isCloudManaged": False}, headers=gh).status_code == 204
    assert u.is_cloud_managed is False and u.on_premises_sync_enabled is None
    assert client.patch(f"/v1.0/users/{u.id}", json={"jobTitle": "Interim"}, headers=gh).status_code == 204
    t.sync.run_cycle("Delta")
    assert u.on_premises_sync_enabled is True
    assert client.patch(f"/v1.0/users/{u.id}", json={"jobTitle": "Blocked"}, headers=gh).status_code == 400


def test_sync_behavior_on_beta_and_errors(client, t, gh):
    u = synced_user(t)
    url = f"/beta/users/{u.id}/onPremisesSyncBehavior"
    assert client.patch(url, json={"isCloudManaged": "yes"}, headers=gh).status_code == 400
    assert client.patch(url, json={"other": True}, headers=gh).status_code == 400
    assert client.patch(url, json={}, headers=gh).status_code == 400
    assert client.get(url + "?$select=nope", headers=gh).status_code == 400
    cloud = cloud_user(t)
    r = client.patch(f"/beta/users/{cloud.id}/onPremisesSyncBehavior", json={"isCloudManaged": True}, headers=gh)
    assert r.status_code == 400 and cloud.is_cloud_managed is False
    assert "no public source" in r.headers["x-hybridsoa-note"]  # the refusal's text is the mock's, and it says so
    assert not u.is_cloud_managed


def test_unknown_segments_and_not_emulated_resources(shared):
    t, client, gh = shared
    r = client.get("/v1.0/usersx", headers=gh)
    assert r.status_code == 400 and r.get_json()["error"]["message"] == "Resource not found for the segment 'usersx'."
    u = cloud_user(t)
    assert client.get(f"/v1.0/users/{u.id}/bogus", headers=gh).status_code == 400
    r = client.get(f"/v1.0/users/{u.id}/memberOf", headers=gh)
    assert r.status_code == 501 and r.get_json()["error"]["code"] == "notImplemented"
    assert client.get("/v1.0/groups", headers=gh).status_code == 501
    r = client.put("/v1.0/users", headers=gh)
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "Request_BadRequest"
    assert client.get("/v1.0/users?$expand=memberOf", headers=gh).status_code == 501


@pytest.mark.parametrize(
    "path,status,segment",
    [
        ("/v1.0/directory/nope", 400, "nope"),
        ("/v1.0/directory/administrativeUnits", 501, None),
        ("/v1.0/roleManagement/nope", 400, "nope"),
        ("/v1.0/roleManagement/directory/nope", 400, "nope"),
        ("/v1.0/roleManagement/directory/resourceNamespaces", 501, None),
        ("/v1.0/users/{uid}/onPremisesSyncBehavior/extra", 400, "extra"),
        ("/v1.0/users/{uid}/microsoft.graph.revokeSignInSessions", 501, None),
        ("/beta/servicePrincipals", 501, None),
    ],
)
def test_schema_aware_fallback(shared, path, status, segment):
    t, client, gh = shared
    r = client.get(path.replace("{uid}", cloud_user(t).id), headers=gh)
    assert r.status_code == status
    if segment:
        assert r.get_json()["error"]["message"] == f"Resource not found for the segment '{segment}'."


def test_identity_edit_of_transferred_user_reaches_exchange_after_forward_sync(client, t, gh):
    u = synced_user(t)
    mbx = next(m for m in t.mailboxes if m.external_directory_object_id == u.id)
    t.settings["forwardSyncDelayMinutes"] = 10
    client.patch(f"/v1.0/users/{u.id}/onPremisesSyncBehavior", json={"isCloudManaged": True}, headers=gh)
    assert client.patch(f"/v1.0/users/{u.id}", json={"displayName": "Renamed In Cloud"}, headers=gh).status_code == 204
    assert mbx.display_name != "Renamed In Cloud"
    t.advance(11)
    assert mbx.display_name == "Renamed In Cloud"


def test_a_doubled_slash_in_a_graph_path_is_read_as_one(shared):
    # msgraph-core before 1.5.2 sends /v1.0//users; Graph answers it as /v1.0/users (no redirect).
    t, client, gh = shared
    plain = client.get("/v1.0/users?$select=id", headers=gh)
    for path in ("/v1.0//users?$select=id", "/beta///users?$select=id"):
        r = client.get(path, headers=gh)
        assert r.status_code == 200, path
        assert [u["id"] for u in r.get_json()["value"]] == [u["id"] for u in plain.get_json()["value"]]


def test_a_doubled_slash_elsewhere_is_routed_as_sent_never_redirected(shared):
    _t, client, _gh = shared
    for path in ("/_mock//health", "//_mock/health"):
        r = client.get(path)
        assert r.status_code == 404 and r.is_json and "Location" not in r.headers, path
