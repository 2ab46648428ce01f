"""Graph role management over HTTP: role definitions, role assignments, PIM schedule requests and schedules,
and the effect of activation on tokens (wids) and on Exchange RBAC at once."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles as R

BASE = "/v1.0/roleManagement/directory"
EXO = R.EXCHANGE_ADMINISTRATOR


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="roles", seed=11, mailboxes=4)


@pytest.fixture
def gh(t, auth_header):
    return auth_header(t, "graph")


def uid(t, name):
    return t.user_by_upn(f"{name}@{t.domain}").id


def eligibility(client, t, headers, user="user", role=EXO):
    return client.post(
        f"{BASE}/roleEligibilityScheduleRequests",
        headers=headers,
        json={
            "action": "adminAssign",
            "principalId": uid(t, user),
            "roleDefinitionId": role,
            "directoryScopeId": "/",
            "justification": "rota",
            "scheduleInfo": {"startDateTime": "2026-01-05T09:00:00Z", "expiration": {"type": "noExpiration"}},
        },
    )


def activation(client, t, headers, user="user", duration="PT1H", action="selfActivate"):
    return client.post(
        f"{BASE}/roleAssignmentScheduleRequests",
        headers=headers,
        json={
            "action": action,
            "principalId": uid(t, user),
            "roleDefinitionId": EXO,
            "directoryScopeId": "/",
            "justification": "INC-1",
            "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}},
        },
    )


def test_role_definitions_use_real_template_ids(client, gh):
    r = client.get(f"{BASE}/roleDefinitions", headers=gh)
    assert r.status_code == 200
    defs = {d["displayName"]: d for d in r.get_json()["value"]}
    assert defs["Global Administrator"]["id"] == "62e90394-69f5-4237-9190-012177145e10"
    assert defs["Exchange Administrator"]["templateId"] == "29232cdf-9323-42fd-ade2-1d097af3e4de"
    assert defs["Hybrid Identity Administrator"]["isBuiltIn"] is True
    one = client.get(f"{BASE}/roleDefinitions/{EXO}", headers=gh)
    assert one.status_code == 200 and one.get_json()["displayName"] == "Exchange Administrator"
    assert client.get(f"{BASE}/roleDefinitions/nope", headers=gh).status_code == 404
    r = client.get(f"{BASE}/roleDefinitions?$filter=displayName eq 'Global Reader'&$select=id", headers=gh)
    assert r.get_json()["value"] == [{"id": R.GLOBAL_READER}]


def test_role_assignments_create_list_delete(client, t, gh):
    r = client.get(f"{BASE}/roleAssignments?$filter=principalId eq '{uid(t, 'globaladmin')}'", headers=gh)
    assert [a["roleDefinitionId"] for a in r.get_json()["value"]] == [R.GLOBAL_ADMINISTRATOR]
    body = {"principalId": uid(t, "user"), "roleDefinitionId": R.HELPDESK_ADMINISTRATOR, "directoryScopeId": "/"}
    r = client.post(f"{BASE}/roleAssignments", json=body, headers=gh)
    assert r.status_code == 201
    created = r.get_json()
    assert created["@odata.context"].endswith("roleAssignments/$entity")
    assert t.active_role_ids(uid(t, "user")) == [R.HELPDESK_ADMINISTRATOR]
    assert client.post(f"{BASE}/roleAssignments", json=body, headers=gh).status_code == 409
    assert client.get(f"{BASE}/roleAssignments/{created['id']}", headers=gh).status_code == 200
    assert client.delete(f"{BASE}/roleAssignments/{created['id']}", headers=gh).status_code == 204
    assert t.active_role_ids(uid(t, "user")) == []
    assert client.delete(f"{BASE}/roleAssignments/{created['id']}", headers=gh).status_code == 404


@pytest.mark.parametrize(
    "body,status",
    [
        ({"principalId": "x"}, 400),
        (
            {"principalId": "00000000-0000-0000-0000-000000000000", "roleDefinitionId": EXO, "directoryScopeId": "/"},
            404,
        ),
        ({"roleDefinitionId": "nope", "principalId": "x", "directoryScopeId": "/"}, 404),
        ({"roleDefinitionId": EXO, "principalId": "x"}, 400),
    ],
)
def test_role_assignment_bad_bodies(client, gh, body, status):
    r = client.post(f"{BASE}/roleAssignments", json=body, headers=gh)
    assert r.status_code == status and "error" in r.get_json()


def test_pim_flow_over_http_reaches_tokens_and_exchange(client, t, gh, auth_header):
    assert eligibility(client, t, gh).status_code == 201
    user_graph = auth_header(t, "graph", user="user")
    user_exo = auth_header(t, "exchange", user="user")
    invoke = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}}
    exo_url = f"/adminapi/beta/{t.id}/InvokeCommand"
    assert client.post(exo_url, json=invoke, headers=user_exo).status_code == 403

    r = client.get(f"{BASE}/roleEligibilitySchedules/filterByCurrentUser(on='principal')", headers=user_graph)
    assert [s["roleDefinitionId"] for s in r.get_json()["value"]] == [EXO]

    r = activation(client, t, user_graph)
    assert r.status_code == 201, r.get_json()
    req = r.get_json()
    assert req["status"] == "Provisioned" and req["scheduleInfo"]["expiration"]["duration"] == "PT1H"
    # Exchange checks the current assignments, so the token issued before activation works at once...
    assert client.post(exo_url, json=invoke, headers=user_exo).status_code == 200
    # ...and a new Graph token carries the role in wids.
    import jwt

    token = auth_header(t, "graph", user="user")["Authorization"].split()[1]
    assert EXO in jwt.decode(token, options={"verify_signature": False})["wids"]

    r = client.get(f"{BASE}/roleAssignmentSchedules?$filter=principalId eq '{uid(t, 'user')}'", headers=gh)
    sched = r.get_json()["value"]
    assert len(sched) == 1 and sched[0]["assignmentType"] == "Activated" and sched[0]["createdUsing"] == req["id"]
    assert client.get(f"{BASE}/roleAssignmentScheduleRequests/{req['id']}", headers=gh).get_json()["id"] == req["id"]

    t.advance(61)
    fresh_exo = auth_header(t, "exchange", user="user")
    assert client.post(exo_url, json=invoke, headers=fresh_exo).status_code == 403
    r = client.get(
        f"{BASE}/roleAssignmentSchedules?$filter=principalId eq '{uid(t, 'user')}'", headers=auth_header(t, "graph")
    )
    assert r.get_json()["value"] == []


def test_policy_failure_shape(client, t, gh, auth_header):
    eligibility(client, t, gh)
    r = activation(client, t, auth_header(t, "graph", user="user"), duration="PT12H")
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["code"] == "RoleAssignmentRequestPolicyValidationFailed"
    assert err["message"] == 'The following policy rules failed: ["ExpirationRule"]'


def test_admin_actions_need_privileged_role_admin_when_delegated(client, t, auth_header):
    # Global Reader holds the scope (default delegated scopes) but not the role.
    r = eligibility(client, t, auth_header(t, "graph", user="globalreader"))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "Authorization_RequestDenied"
    assert eligibility(client, t, auth_header(t, "graph", user="globaladmin")).status_code == 201


def test_self_activate_for_someone_else_is_forbidden(client, t, gh, auth_header):
    eligibility(client, t, gh)
    r = activation(client, t, auth_header(t, "graph", user="helpdesk"))
    assert r.status_code == 403
    assert t.active_role_ids(uid(t, "user")) == []


def test_filter_by_current_user_is_delegated_only(client, gh):
    r = client.get(f"{BASE}/roleAssignmentScheduleRequests/filterByCurrentUser(on='principal')", headers=gh)
    assert r.status_code == 400
    r = client.get(f"{BASE}/roleAssignmentScheduleRequests/nope", headers=gh)
    assert r.status_code == 404


def test_request_lists(client, t, gh):
    eligibility(client, t, gh)
    r = client.get(f"{BASE}/roleEligibilityScheduleRequests", headers=gh)
    assert [x["action"] for x in r.get_json()["value"]] == ["adminAssign"]
    assert client.get(f"{BASE}/roleAssignmentScheduleRequests", headers=gh).get_json()["value"] == []
    r = client.get(f"{BASE}/roleEligibilitySchedules", headers=gh)
    assert r.get_json()["value"][0]["memberType"] == "Direct"


def test_schedule_instances_show_what_is_in_effect_now(client, t, gh, auth_header):
    eligibility(client, t, gh)
    user_graph = auth_header(t, "graph", user="user")
    base = f"{BASE}/roleAssignmentScheduleInstances"
    mine = f"{base}/filterByCurrentUser(on='principal')"
    assert client.get(mine, headers=user_graph).get_json()["value"] == []
    activation(client, t, user_graph, duration="PT2H")
    inst = client.get(mine, headers=user_graph).get_json()["value"]
    assert len(inst) == 1 and inst[0]["assignmentType"] == "Activated"
    assert inst[0]["endDateTime"] == "2026-01-05T11:00:00Z"
    assert client.get(f"{base}/{inst[0]['id']}", headers=gh).status_code == 200
    elig = client.get(
        f"{BASE}/roleEligibilityScheduleInstances?$filter=principalId eq '{uid(t, 'user')}'", headers=gh
    ).get_json()["value"]
    assert [e["roleDefinitionId"] for e in elig] == [EXO] and elig[0]["endDateTime"] is None
    t.advance(121)
    fresh = auth_header(t, "graph", user="user")
    assert client.get(mine, headers=fresh).get_json()["value"] == []
    assert client.get(f"{base}/{inst[0]['id']}", headers=fresh).status_code == 404
