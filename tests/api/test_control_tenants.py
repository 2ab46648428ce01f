"""Control plane: health, tenants CRUD and reset, device codes, the control token and the OpenAPI document
(Flask test client)."""

from __future__ import annotations

import openapi_spec_validator
import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.entra import roles


def _create(client, **body):
    body.setdefault("mailboxes", 2)
    body.setdefault("frozenClock", True)
    return client.post("/_mock/tenants", json=body)


def test_health(client):
    response = client.get("/_mock/health")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_create_answers_with_everything_needed_to_sign_in(client):
    response = _create(client, name="contoso", seed=42)
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/_mock/tenants/{body['tenantId']}")
    assert body["domain"] == "contoso.onmicrosoft.com" and body["profile"] == "ga"
    apps = {a["name"]: a for a in body["apps"]}
    assert set(apps) >= {"automation", "graph-reader", "exchange-approle-only"}
    for app in apps.values():
        assert {
            "name",
            "clientId",
            "servicePrincipalId",
            "clientSecret",
            "certificatePem",
            "privateKeyPem",
            "thumbprint",
            "appRoles",
            "directoryRoles",
        } <= set(app)
    assert apps["automation"]["directoryRoles"] == ["Exchange Administrator"]
    assert apps["exchange-approle-only"]["appRoles"] == ["Exchange.ManageAsApp"]
    assert apps["exchange-approle-only"]["directoryRoles"] == []
    assert apps["graph-reader"]["appRoles"] == ["User.Read.All"]
    users = {u["userPrincipalName"].split("@")[0]: u for u in body["users"]}
    assert users["globaladmin"]["directoryRoles"] == [roles.role_name(roles.GLOBAL_ADMINISTRATOR)]
    assert users["hybridadmin"]["directoryRoles"] == ["Hybrid Identity Administrator"]
    assert users["user"]["directoryRoles"] == [] and users["user"]["password"]


def test_same_seed_gives_same_tenant(client, app):
    first = _create(client, name="same", seed=5).get_json()
    other = create_app().test_client()
    second = _create(other, name="same", seed=5).get_json()
    assert first == second


def test_profile_and_mailboxes_are_applied(client, registry):
    body = _create(client, name="strictco", profile="strict", mailboxes=4).get_json()
    tenant = registry.get(body["tenantId"])
    assert tenant.settings["profile"] == "strict" and len(tenant.ad_users) == 4


def test_frozen_clock_and_clock_start(client):
    body = _create(client, name="clocked", clockStart="2026-03-01T08:00:00Z").get_json()
    summary = client.get(f"/_mock/tenants/{body['tenantId']}").get_json()
    assert summary["clock"]["frozen"] is True
    assert summary["clock"]["now"] == pytest.approx(1772352000.0)


def test_fixed_tenant_id(client, registry):
    tid = "12345678-1234-4234-8234-123456789abc"
    body = _create(client, name="fixedid", tenantId=tid).get_json()
    assert body["tenantId"] == tid and registry.get(tid).name == "fixedid"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"profile": "nope"}, "profile"),
        ({"mailboxes": -1}, "mailboxes"),
        ({"mailboxes": "5"}, "mailboxes"),
        ({"seed": 1.5}, "seed"),
        ({"tenantId": "not-a-guid"}, "tenantId"),
        ({"clockStart": "yesterday"}, "clockStart"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_create_bodies_are_400_and_create_nothing(client, registry, body, field):
    response = client.post("/_mock/tenants", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "ValidationError" and field in error["details"]
    assert registry.list() == []


def test_bad_names_and_non_json_bodies(client, registry):
    assert _create(client, name="Not Valid!").status_code == 400
    assert client.post("/_mock/tenants", data="{", content_type="application/json").status_code == 400
    assert client.post("/_mock/tenants", json=[1, 2]).status_code == 400
    assert registry.list() == []


def test_duplicate_name_is_409(client):
    assert _create(client, name="dup").status_code == 201
    response = _create(client, name="dup")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "Conflict"


def test_list_get_credentials_delete(client):
    body = _create(client, name="lifecycle").get_json()
    tid = body["tenantId"]
    listed = client.get("/_mock/tenants").get_json()["value"]
    assert [t["tenantId"] for t in listed] == [tid]
    assert "clientSecret" not in str(listed)
    for key in (tid, "lifecycle.onmicrosoft.com", "lifecycle"):
        assert client.get(f"/_mock/tenants/{key}").get_json()["tenantId"] == tid
    assert client.get(f"/_mock/tenants/{tid}/credentials").get_json() == body
    assert client.delete(f"/_mock/tenants/{tid}").status_code == 204
    assert client.get(f"/_mock/tenants/{tid}").status_code == 404
    assert client.delete(f"/_mock/tenants/{tid}").status_code == 404


def test_unknown_tenant_is_404_everywhere(client):
    for method, path in (
        ("get", "/_mock/tenants/ghost"),
        ("post", "/_mock/tenants/ghost/reset"),
        ("get", "/_mock/tenants/ghost/credentials"),
        ("get", "/_mock/tenants/ghost/devicecodes"),
        ("post", "/_mock/tenants/ghost/devicecodes/ABC/approve"),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "TenantNotFound"


def test_reset_restores_the_seeded_state(client, registry):
    body = _create(client, name="resetme", seed=9).get_json()
    tenant = registry.get(body["tenantId"])
    with tenant.lock:
        tenant.users.delete(tenant.user_by_upn(f"helpdesk@{tenant.domain}").id)
        tenant.settings["profile"] = "preview"
    assert len(client.post("/_mock/tenants", json={"name": "x", "mailboxes": 0}).get_json()["users"]) == 6
    response = client.post(f"/_mock/tenants/{body['tenantId']}/reset")
    assert response.status_code == 200 and response.get_json() == body
    fresh = registry.get(body["tenantId"])
    assert fresh is not tenant and fresh.settings["profile"] == "ga"
    assert fresh.user_by_upn(f"helpdesk@{fresh.domain}") is not None


def test_device_code_control_routes(client, registry):
    body = _create(client, name="devices").get_json()
    tenant = registry.get(body["tenantId"])
    app = next(a for a in body["apps"] if a["name"] == "automation")
    started = client.post(
        f"/{tenant.id}/oauth2/v2.0/devicecode",
        data={"client_id": app["clientId"], "scope": "https://graph.microsoft.com/.default"},
    ).get_json()
    listed = client.get(f"/_mock/tenants/{tenant.id}/devicecodes").get_json()["value"]
    assert [d["userCode"] for d in listed] == [started["user_code"]] and listed[0]["status"] == "pending"
    assert "deviceCode" not in listed[0]
    missing_user = client.post(
        f"/_mock/tenants/{tenant.id}/devicecodes/{started['user_code']}/approve", json={"userPrincipalName": "ghost"}
    )
    assert missing_user.status_code == 404
    declined = client.post(f"/_mock/tenants/{tenant.id}/devicecodes/{started['user_code']}/decline")
    assert declined.get_json()["status"] == "declined"
    again = client.post(f"/_mock/tenants/{tenant.id}/devicecodes/{started['user_code']}/approve", json={})
    assert again.status_code == 400
    assert client.post(f"/_mock/tenants/{tenant.id}/devicecodes/NOPE/approve", json={}).status_code == 404


@pytest.fixture
def guarded(registry):
    return create_app(registry, control_token="s3cret").test_client()


def test_control_token_guards_every_control_route(guarded):
    for path in ("/_mock/health", "/_mock/tenants", "/_mock/openapi.json"):
        response = guarded.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = guarded.get("/_mock/tenants", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "InvalidControlToken"
    assert guarded.post("/_mock/tenants", json={}).status_code == 401
    ok = guarded.get("/_mock/tenants", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_control_token_does_not_guard_emulated_services(guarded, registry):
    tenant = registry.create("open", seed=1, mailboxes=0, frozen_clock=True)
    response = guarded.get(f"/{tenant.id}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200


def test_openapi_documents_every_control_route(client, app):
    document = client.get("/_mock/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    control_rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("control.")}
    documented = set(document["paths"])
    assert len(documented) == len(control_rules) >= 10
    assert "/_mock/tenants/{t}/devicecodes/{user_code}/approve" in documented
    create = document["paths"]["/_mock/tenants"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/TenantCreate"
    assert {"TenantCreate", "TenantCredentials", "DeviceCode"} <= set(document["components"]["schemas"])
    assert "mailboxes" in document["components"]["schemas"]["TenantCreate"]["properties"]
    assert document["components"]["securitySchemes"]["controlToken"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert operation["summary"] and operation["responses"], (path, method)


def test_scenario_must_be_a_name_or_an_object(client, registry):
    response = _create(client, name="badscenario", scenario=[1])
    assert response.status_code == 400 and "scenario" in response.get_json()["error"]["details"]
    assert registry.list() == []


def test_openapi_document_is_valid_openapi(client):
    openapi_spec_validator.validate(client.get("/_mock/openapi.json").get_json())


def test_openapi_names_every_refusal_and_required_field(client):
    # Issue 21: the document omitted 400/404 answers and the required `minutes`, `ou` and `limit`, so schemathesis
    # (docs/fidelity.md) reported correct refusals as failures.
    document = client.get("/_mock/openapi.json").get_json()
    schemas = document["components"]["schemas"]

    def resolve(schema):
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            query = any(p.get("in") == "query" for p in operation.get("parameters", []))
            if "{" in path:
                assert "404" in codes, (method, path)
            if operation.get("requestBody") or query:
                assert "400" in codes, (method, path)
                error = operation["responses"]["400"]["content"]["application/json"]["schema"]
                assert "error" in resolve(error)["properties"], (method, path)
    for method, path, field in (
        ("post", "/_mock/tenants/{tenant_key}/clock/advance", "minutes"),
        ("post", "/_mock/tenants/{tenant_key}/onprem/users/{sam}/move", "ou"),
        ("patch", "/_mock/tenants/{t}/requests", "limit"),
    ):
        body = document["paths"][path][method]["requestBody"]
        assert body["required"] and field in resolve(body["content"]["application/json"]["schema"])["required"]
