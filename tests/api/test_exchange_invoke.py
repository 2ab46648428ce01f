"""The InvokeCommand transport: envelope, headers, paging by nextLink, $select, annotations, $batch, the
401/403/200 token progression and the error envelope."""

from __future__ import annotations

import json

import pytest

from hybridsoa.mock.domain.entra import roles
from hybridsoa.mock.domain.entra.tokens import issue_access_token

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


def body(cmdlet, params=None):
    return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}}


def post(client, path, payload, headers):
    return client.post(path, json=payload, headers=headers)


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="wire", seed=11, mailboxes=12)


@pytest.fixture
def h(tenant, auth_header):
    return auth_header(tenant, "exchange")


def url(tenant, key=None, query=""):
    return f"/adminapi/beta/{key or tenant.domain}/InvokeCommand{query}"


def test_success_body_and_headers(client, tenant, h):
    resp = post(client, url(tenant), body("Get-Mailbox", {"ResultSize": 1}), h)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == JSON_TYPE
    assert resp.headers["OData-Version"] == "4.0"
    assert resp.headers["Rate-Limit-Limit"] == "30000"
    assert int(resp.headers["Rate-Limit-Remaining"]) < 30000
    assert resp.headers["Rate-Limit-Reset"].endswith("Z")
    assert len(resp.headers["request-id"]) == 36
    data = resp.get_json()
    assert data["@odata.context"].endswith(
        f"/adminapi/beta/{tenant.domain}/$metadata#Collection(Exchange.GenericHashTable)"
    )
    assert data["adminapi.warnings@odata.type"] == "#Collection(String)"
    assert json.loads(resp.headers["X-Warnings"]) == data["@adminapi.warnings"] != []
    mbx = data["value"][0]
    assert mbx["Guid@data.type"] == "System.Guid" and mbx["Guid@odata.type"] == "#Guid"
    assert mbx["ExchangeGuid@data.type"] == "System.Guid"
    assert mbx["WhenCreated@data.type"] == "System.DateTime"
    assert mbx["WhenCreated"] == "2026-01-05T09:00:00.0000000+00:00"
    assert mbx["WhenCreatedUTC"] == "2026-01-05T09:00:00.0000000Z"
    assert mbx["EmailAddresses@odata.type"] == "#Collection(String)"
    for name in (
        "Identity",
        "Name",
        "Alias",
        "DisplayName",
        "UserPrincipalName",
        "PrimarySmtpAddress",
        "WindowsEmailAddress",
        "RecipientTypeDetails",
        "ExternalDirectoryObjectId",
        "IsDirSynced",
        "IsExchangeCloudManaged",
        "CustomAttribute1",
        "CustomAttribute15",
        "ExtensionCustomAttribute5",
        "HiddenFromAddressListsEnabled",
        "WhenChanged",
    ):
        assert name in mbx
    assert mbx["IsDirSynced"] is True and mbx["IsExchangeCloudManaged"] is False


def test_tenant_segment_accepts_id_and_domain(client, tenant, h):
    by_id = post(client, url(tenant, tenant.id), body("Get-OrganizationConfig"), h)
    by_domain = post(client, url(tenant), body("Get-OrganizationConfig"), h)
    assert by_id.status_code == by_domain.status_code == 200
    assert by_id.get_json()["value"] == by_domain.get_json()["value"]


def test_unknown_tenant_is_404(client, tenant, h):
    resp = post(client, url(tenant, "nowhere.onmicrosoft.com"), body("Get-Mailbox"), h)
    assert resp.status_code == 404


def test_select_projects_properties_and_keeps_annotations(client, tenant, h):
    resp = post(client, url(tenant, query="?$select=Identity,guid,emailaddresses"), body("Get-Mailbox"), h)
    first = resp.get_json()["value"][0]
    assert set(first) == {
        "Identity",
        "Guid@data.type",
        "Guid@odata.type",
        "Guid",
        "EmailAddresses@odata.type",
        "EmailAddresses",
    }


@pytest.mark.parametrize("header", ["Prefer", "X-Prefer"])
def test_page_size_from_prefer_or_x_prefer(client, tenant, h, header):
    resp = post(client, url(tenant), body("Get-Mailbox"), {**h, header: "odata.maxpagesize=5"})
    data = resp.get_json()
    assert len(data["value"]) == 5 and "@odata.nextLink" in data


def test_page_size_is_capped_at_1000(client, make_tenant, auth_header):
    tenant = make_tenant(name="cap", seed=5, mailboxes=1005)
    h = auth_header(tenant, "exchange")
    resp = post(client, url(tenant), body("Get-Mailbox"), {**h, "Prefer": "odata.maxpagesize=5000"})
    assert len(resp.get_json()["value"]) == 1000


@pytest.mark.slow
def test_paging_2500_mailboxes_three_pages_each_once(client, make_tenant, auth_header):
    tenant = make_tenant(name="big", seed=3, mailboxes=2500)
    h = {**auth_header(tenant, "exchange"), "Prefer": "odata.maxpagesize=1000"}
    link, pages, seen = url(tenant, query="?$select=Guid,Identity"), 0, []
    while link:
        resp = post(client, link, body("Get-Mailbox", {"ResultSize": "Unlimited"}), h)
        assert resp.status_code == 200
        data = resp.get_json()
        seen += [v["Guid"] for v in data["value"]]
        link = data.get("@odata.nextLink")
        pages += 1
        if link:
            assert "$skiptoken=" in link and "$select=Guid,Identity" in link
    assert pages == 3
    assert len(seen) == 2500 and len(set(seen)) == 2500
    assert set(seen) == {m.guid for m in tenant.mailboxes}


def test_next_link_refused_for_a_different_query(client, tenant, h):
    first = post(client, url(tenant), body("Get-Mailbox"), {**h, "Prefer": "odata.maxpagesize=3"}).get_json()
    link = first["@odata.nextLink"]
    resp = post(client, link, body("Get-Recipient"), {**h, "Prefer": "odata.maxpagesize=3"})
    assert resp.status_code == 400
    assert "skiptoken" in resp.get_json()["error"]["details"][0]["message"]
    garbage = post(client, url(tenant, query="?$skiptoken=%%%"), body("Get-Mailbox"), h)
    assert garbage.status_code == 400


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "text",
        [],
        {"CmdletInput": "x"},
        {"CmdletInput": {"CmdletName": ""}},
        {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": [1]}},
        {"CmdletInput": {"CmdletName": 5}},
    ],
)
def test_malformed_bodies_get_the_error_envelope(client, tenant, h, payload):
    resp = client.post(
        url(tenant),
        data=json.dumps(payload) if payload is not None else "{",
        headers={**h, "Content-Type": "application/json"},
    )
    assert resp.status_code in (400, 403)
    if resp.status_code == 400:
        assert resp.get_json()["error"]["message"] == "Error executing cmdlet"


def test_error_envelope_shape(client, tenant, h):
    resp = post(client, url(tenant), body("Get-Mailbox", {"Identity": "ghost"}), h)
    assert resp.status_code == 404
    data = resp.get_json()
    err = data["error"]
    assert err["code"] == "NotFound" and err["message"] == "Error executing cmdlet"
    err_id, exc_type, text = err["details"][0]["message"].split("|", 2)
    assert err_id and exc_type == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    assert text.startswith("The operation couldn't be performed because object 'ghost' couldn't be found on '")
    assert err["innererror"]["internalexception"]["type"] == exc_type
    assert data["@adminapi.warnings"] == [] and data["adminapi.warnings@odata.type"] == "#Collection(String)"


# ----------------------------------------------------------------------------------------------- auth
def test_no_token_is_401_with_www_authenticate(client, tenant):
    resp = post(client, url(tenant), body("Get-Mailbox"), {})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    assert resp.headers["x-ms-diagnostics"].startswith("2000003;reason=")


def test_graph_token_is_refused(client, tenant, auth_header):
    resp = post(client, url(tenant), body("Get-Mailbox"), auth_header(tenant, "graph"))
    assert resp.status_code == 401


def test_app_only_progression_401_403_200(client, tenant):
    app = tenant.app_by_name("graph-reader")

    def call():
        token, _ = issue_access_token(tenant, "exchange", app=app)
        return post(client, url(tenant), body("Get-Mailbox"), {"Authorization": f"Bearer {token}"}).status_code

    assert call() == 401  # no Exchange.ManageAsApp
    app.app_roles.append(roles.EXCHANGE_MANAGE_AS_APP)
    assert call() == 403  # app role only
    tenant.assign_role(app.service_principal_id, roles.EXCHANGE_ADMINISTRATOR)
    assert call() == 200  # app role and a directory role


@pytest.mark.parametrize(
    "user,status",
    [
        ("globaladmin", 200),
        ("exchangeadmin", 200),
        ("hybridadmin", 403),
        ("globalreader", 200),
        ("helpdesk", 200),
        ("user", 403),
    ],
)
def test_delegated_users_need_an_exchange_role(client, tenant, auth_header, user, status):
    resp = post(client, url(tenant), body("Get-Mailbox", {"ResultSize": 1}), auth_header(tenant, "exchange", user=user))
    assert resp.status_code == status
    if status == 403:
        assert resp.get_data() == b"" and "x-ms-diagnostics" in resp.headers


def test_role_removed_after_token_issued_takes_effect(client, tenant, auth_header):
    h = auth_header(tenant, "exchange", user="exchangeadmin")
    user = tenant.user_by_upn(f"exchangeadmin@{tenant.domain}")
    for assignment in list(tenant.role_assignments):
        if assignment.principal_id == user.id:
            tenant.role_assignments.delete(assignment.id)
    assert post(client, url(tenant), body("Get-Mailbox"), h).status_code == 403


def test_read_only_role_cannot_write(client, tenant, auth_header):
    mbx = next(iter(tenant.mailboxes))
    resp = post(
        client,
        url(tenant),
        body("Set-Mailbox", {"Identity": mbx.alias, "IsExchangeCloudManaged": True}),
        auth_header(tenant, "exchange", user="globalreader"),
    )
    assert resp.status_code == 403 and resp.get_data() == b""
    assert mbx.is_exchange_cloud_managed is False


# ---------------------------------------------------------------------------------------------- $batch
def test_batch_runs_each_request(client, tenant, h):
    mbx = next(iter(tenant.mailboxes))
    payload = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": f"https://outlook.office365.com/adminapi/beta/{tenant.id}/InvokeCommand?$select=Identity",
                "body": body("Get-Mailbox", {"Identity": mbx.alias}),
            },
            {
                "id": "2",
                "method": "POST",
                "url": "InvokeCommand",
                "body": body("Set-Mailbox", {"Identity": mbx.alias, "IsExchangeCloudManaged": True}),
            },
            {"id": "3", "method": "POST", "url": "InvokeCommand", "body": body("Get-Nothing")},
            {"id": "4", "method": "GET", "url": "InvokeCommand", "body": body("Get-Mailbox")},
        ]
    }
    resp = client.post(f"/adminapi/beta/{tenant.id}/$batch", json=payload, headers=h)
    assert resp.status_code == 200
    out = {r["id"]: r for r in resp.get_json()["responses"]}
    assert out["1"]["status"] == 200 and out["1"]["body"]["value"] == [{"Identity": mbx.alias}]
    assert out["2"]["status"] == 200 and mbx.is_exchange_cloud_managed is True
    assert out["3"]["status"] == 403 and out["3"]["body"] is None
    assert "x-ms-diagnostics" in out["3"]["headers"]
    assert out["4"]["status"] == 400


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"requests": []},
        {"requests": [1]},
        {
            "requests": [
                {"id": str(i), "method": "POST", "url": "InvokeCommand", "body": body("Get-OrganizationConfig")}
                for i in range(11)
            ]
        },
    ],
)
def test_batch_rejects_malformed_or_oversized(client, tenant, h, payload):
    resp = client.post(f"/adminapi/beta/{tenant.id}/$batch", json=payload, headers=h)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"] == "Error executing cmdlet"


def test_batch_needs_a_token(client, tenant):
    resp = client.post(f"/adminapi/beta/{tenant.id}/$batch", json={"requests": []})
    assert resp.status_code == 401


def test_continuation_pages_see_changes_made_between_pages(client, tenant, h):
    """Pages after the first reuse the first page's result only while recipients and users are unchanged."""
    h3 = {**h, "Prefer": "odata.maxpagesize=3"}
    first = post(client, url(tenant, query="?$select=Guid,CustomAttribute2"), body("Get-Mailbox"), h3).get_json()
    later = list(tenant.mailboxes)[4]
    with tenant.lock:
        later.custom_attributes[1] = "edited"
        tenant.mailboxes.touch(later.guid)
    second = post(client, first["@odata.nextLink"], body("Get-Mailbox"), h3).get_json()
    assert {"Guid": later.guid, "CustomAttribute2": "edited"} == {
        k: v for k, v in second["value"][1].items() if "@" not in k
    }


MINE = (
    "Get-Mailbox",
    "Set-Mailbox",
    "Get-Recipient",
    "Get-User",
    "Set-User",
    "Get-OrganizationConfig",
    "Set-OrganizationConfig",
    "Undo-SoftDeletedMailbox",
)


def test_no_parameter_value_produces_a_5xx(client, tenant, h):
    """Every parameter of every emulated cmdlet, fed odd JSON values, answers 2xx/4xx in the real shapes."""
    from hybridsoa.mock.domain.exchange.dispatch import get_cmdlet

    alias = next(iter(tenant.mailboxes)).alias
    odd = [None, "", ["a", None], {"Add": None, "Remove": {"x": 1}}, 1.5, "*"]
    for name in MINE:
        for param in get_cmdlet(name).param_list:
            for value in odd:
                params = {param.name: value}
                if param.name != "Identity" and name.startswith("Set-M"):
                    params["Identity"] = alias
                resp = post(client, url(tenant), body(name, params), h)
                assert resp.status_code < 500, (name, params, resp.get_data(as_text=True))
                if resp.status_code >= 400 and resp.status_code not in (401, 403):
                    assert resp.get_json()["error"]["message"] == "Error executing cmdlet"


def test_v1_gateway_answers_405_and_lowercase_path_works(client, tenant, h):
    assert (
        client.post(f"/adminapi/v1.0/{tenant.id}/InvokeCommand", json=body("Get-Mailbox"), headers=h).status_code == 405
    )
    resp = client.post(f"/adminapi/beta/{tenant.id}/invokecommand", json=body("Get-OrganizationConfig"), headers=h)
    assert resp.status_code == 200
