"""The Graph permission matrix: every emulated endpoint answers 401 without a (valid) token and 403
Authorization_RequestDenied with a token lacking its permission; delegated privileged calls also need a role."""

from __future__ import annotations

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.entra import roles as R
from hybridsoa.mock.domain.entra.tokens import issue_access_token
from hybridsoa.mock.domain.tenant import TenantRegistry

PLACEHOLDER_USER = "{user}"
RD = "/roleManagement/directory"

#: (method, path, body) for every emulated endpoint; {user}/{tenant} are filled in per tenant.
ENDPOINTS = [
    ("GET", "/users", None),
    ("GET", "/users/$count", None),
    (
        "POST",
        "/users",
        {
            "accountEnabled": True,
            "displayName": "x",
            "mailNickname": "x",
            "userPrincipalName": "x@{domain}",
            "passwordProfile": {"password": "Pw-12345678!"},
        },
    ),
    ("GET", "/users/{user}", None),
    ("PATCH", "/users/{user}", {"jobTitle": "x"}),
    ("DELETE", "/users/{user}", None),
    ("GET", "/users/{synced}/onPremisesSyncBehavior", None),
    ("PATCH", "/users/{synced}/onPremisesSyncBehavior", {"isCloudManaged": True}),
    ("GET", "/directory/deletedItems/microsoft.graph.user", None),
    ("GET", "/directory/deletedItems/{user}", None),
    ("POST", "/directory/deletedItems/{user}/restore", None),
    ("DELETE", "/directory/deletedItems/{user}", None),
    ("GET", "/organization", None),
    ("GET", "/directory/onPremisesSynchronization", None),
    ("GET", f"{RD}/roleDefinitions", None),
    ("GET", f"{RD}/roleAssignments", None),
    (
        "POST",
        f"{RD}/roleAssignments",
        {"principalId": "{user}", "roleDefinitionId": R.GLOBAL_READER, "directoryScopeId": "/"},
    ),
    ("DELETE", f"{RD}/roleAssignments/{{assignment}}", None),
    ("GET", f"{RD}/roleEligibilityScheduleRequests", None),
    (
        "POST",
        f"{RD}/roleEligibilityScheduleRequests",
        {
            "action": "adminAssign",
            "principalId": "{user}",
            "roleDefinitionId": R.GLOBAL_READER,
            "directoryScopeId": "/",
            "justification": "x",
        },
    ),
    ("GET", f"{RD}/roleAssignmentScheduleRequests", None),
    (
        "POST",
        f"{RD}/roleAssignmentScheduleRequests",
        {
            "action": "adminAssign",
            "principalId": "{user}",
            "roleDefinitionId": R.GLOBAL_READER,
            "directoryScopeId": "/",
            "justification": "x",
        },
    ),
    ("GET", f"{RD}/roleEligibilitySchedules", None),
    ("GET", f"{RD}/roleAssignmentSchedules", None),
    ("GET", f"{RD}/roleEligibilityScheduleInstances", None),
    ("GET", f"{RD}/roleAssignmentScheduleInstances", None),
]
WRITES = [e for e in ENDPOINTS if e[0] != "GET"]


@pytest.fixture(scope="module")
def world():
    registry = TenantRegistry(seed=99)
    tenant = registry.create("perms", seed=99, frozen_clock=True, mailboxes=4)
    client = create_app(registry).test_client()
    values = {
        "user": tenant.user_by_upn(f"user@{tenant.domain}").id,
        "synced": next(u.id for u in tenant.users if u.on_premises_sync_enabled),
        "assignment": next(a.id for a in tenant.role_assignments if a.kind == "active"),
        "domain": tenant.domain,
    }
    return tenant, client, values


def fill(value, values):
    if isinstance(value, str):
        for k, v in values.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    return value


def call(client, method, path, body, values, headers, version="v1.0"):
    kwargs = {"headers": dict(headers)}
    if body is not None:
        kwargs["json"] = fill(body, values)
    return client.open(f"/{version}{fill(path, values)}", method=method, **kwargs)


def token(tenant, api="graph", app="automation", user=None):
    application = tenant.app_by_name(app)
    principal = tenant.user_by_upn(f"{user}@{tenant.domain}") if user else None
    tok, _ = issue_access_token(tenant, api, app=application, user=principal)
    return {"Authorization": f"Bearer {tok}"}


def snapshot(tenant):
    return (
        sorted((u.id, u.display_name, u.job_title, u.deleted_date_time, u.is_cloud_managed) for u in tenant.users),
        sorted(a.id for a in tenant.role_assignments),
        len(tenant.pim.requests),
    )


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_no_token_is_401(world, method, path, body, version):
    tenant, client, values = world
    r = call(client, method, path, body, values, {}, version)
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_bad_tokens_are_401(world, method, path, body):
    tenant, client, values = world
    for headers in (
        token(tenant, api="exchange"),
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        r = call(client, method, path, body, values, headers)
        assert r.status_code == 401, (headers, r.get_json())


@pytest.mark.parametrize("method,path,body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_token_without_graph_permissions_is_403(world, method, path, body):
    tenant, client, values = world
    before = snapshot(tenant)
    r = call(client, method, path, body, values, token(tenant, app="exchange-approle-only"))
    assert r.status_code == 403, r.get_json()
    err = r.get_json()["error"]
    assert err["code"] == "Authorization_RequestDenied"
    assert err["message"] == "Insufficient privileges to complete the operation."
    assert snapshot(tenant) == before


@pytest.mark.parametrize("method,path,body", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_read_only_app_cannot_write(world, method, path, body):
    tenant, client, values = world
    before = snapshot(tenant)
    r = call(client, method, path, body, values, token(tenant, app="graph-reader"))
    assert r.status_code == 403
    assert snapshot(tenant) == before


@pytest.mark.parametrize("method,path,body", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_delegated_writes_need_a_directory_role(world, method, path, body):
    tenant, client, values = world
    before = snapshot(tenant)
    # helpdesk holds every default delegated scope but none of the privileged roles these endpoints need.
    r = call(client, method, path, body, values, token(tenant, user="helpdesk"))
    assert r.status_code == 403, r.get_json()
    assert snapshot(tenant) == before


def test_soa_switch_roles_for_delegated_callers(world):
    tenant, client, values = world
    url = f"/v1.0/users/{values['synced']}/onPremisesSyncBehavior"
    for user in ("exchangeadmin", "helpdesk", "user"):
        assert client.patch(url, json={"isCloudManaged": True}, headers=token(tenant, user=user)).status_code == 403
    assert client.get(url, headers=token(tenant, user="globalreader")).status_code == 200
    for user in ("hybridadmin", "globaladmin"):
        r = client.patch(url, json={"isCloudManaged": user == "hybridadmin"}, headers=token(tenant, user=user))
        assert r.status_code == 204


def test_delegated_reads_need_only_the_scope(world):
    tenant, client, values = world
    assert client.get("/v1.0/users?$top=1", headers=token(tenant, user="user")).status_code == 200
    r = client.get("/v1.0/directory/onPremisesSynchronization", headers=token(tenant, user="user"))
    assert r.status_code == 403


def test_expired_token_is_401(world):
    tenant, client, values = world
    headers = token(tenant)
    tenant.advance(61)
    r = client.get("/v1.0/users", headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"]["message"] == "Lifetime validation failed, the token is expired."
