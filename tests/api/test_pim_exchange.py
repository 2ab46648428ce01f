"""PIM and Exchange RBAC together: an eligible Exchange Administrator cannot toggle IsExchangeCloudManaged;
after selfActivate (Graph roleAssignmentScheduleRequests) it can, even with the Exchange token it already had;
after the activation expires on the tenant clock it cannot. All through the Flask test client."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles

from .test_rbac_cmdlets import invoke, synced_mailbox

GRAPH = "/v1.0/roleManagement/directory"


def _eligible(client, tenant, auth_header, user, role_id):
    resp = client.post(
        f"{GRAPH}/roleEligibilityScheduleRequests",
        headers=auth_header(tenant, "graph", user="globaladmin"),
        json={
            "action": "adminAssign",
            "principalId": user.id,
            "roleDefinitionId": role_id,
            "directoryScopeId": "/",
            "justification": "on-call rota",
            "scheduleInfo": {"expiration": {"type": "noExpiration"}},
        },
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)


def _self_activate(client, tenant, auth_header, user, role_id, duration="PT1H"):
    return client.post(
        f"{GRAPH}/roleAssignmentScheduleRequests",
        headers=auth_header(tenant, "graph", user="user"),
        json={
            "action": "selfActivate",
            "principalId": user.id,
            "roleDefinitionId": role_id,
            "directoryScopeId": "/",
            "justification": "SOA wave 3",
            "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}},
        },
    )


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="pimexo", seed=31, mailboxes=6)


def test_eligible_exchange_admin_toggles_only_while_active(client, tenant, auth_header):
    user = tenant.user_by_upn(f"user@{tenant.domain}")
    mbx = synced_mailbox(tenant)
    _eligible(client, tenant, auth_header, user, roles.EXCHANGE_ADMINISTRATOR)
    exo = auth_header(tenant, "exchange", user="user")

    eligible_only = invoke(client, tenant, exo, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=True)
    assert eligible_only.status_code == 403
    assert "insufficient_role" in eligible_only.headers["x-ms-diagnostics"]
    assert mbx.is_exchange_cloud_managed is False

    activated = _self_activate(client, tenant, auth_header, user, roles.EXCHANGE_ADMINISTRATOR)
    assert activated.status_code == 201, activated.get_data(as_text=True)
    # The Exchange token minted before activation now works: Exchange evaluates current role assignments.
    toggled = invoke(client, tenant, exo, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=True)
    assert toggled.status_code == 200, toggled.get_data(as_text=True)
    assert mbx.is_exchange_cloud_managed is True
    groups = invoke(client, tenant, exo, "Get-ManagementRoleAssignment", RoleAssignee="user")
    assert {a["RoleAssigneeName"] for a in groups.get_json()["value"]} == {"Organization Management"}

    tenant.advance(61)  # the one-hour activation has expired (and so has the old token)
    exo = auth_header(tenant, "exchange", user="user")
    expired = invoke(client, tenant, exo, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=False)
    assert expired.status_code == 403
    assert mbx.is_exchange_cloud_managed is True
    record = [r for r in tenant.audit.records if r.operation == "Set-Mailbox"]
    assert [(r.succeeded, r.changed) for r in record] == [(True, True)]


def test_activated_exchange_admin_in_preview_gets_the_silent_failure(client, make_tenant, auth_header):
    tenant = make_tenant(name="pimpreview", seed=32, mailboxes=6, profile="preview")
    user = tenant.user_by_upn(f"user@{tenant.domain}")
    mbx = synced_mailbox(tenant)
    _eligible(client, tenant, auth_header, user, roles.EXCHANGE_ADMINISTRATOR)
    _eligible(client, tenant, auth_header, user, roles.HYBRID_IDENTITY_ADMINISTRATOR)
    assert _self_activate(client, tenant, auth_header, user, roles.EXCHANGE_ADMINISTRATOR).status_code == 201
    exo = auth_header(tenant, "exchange", user="user")
    silent = invoke(client, tenant, exo, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=True)
    assert silent.status_code == 200
    assert silent.get_json()["value"] == [] and silent.get_json()["@adminapi.warnings"] == []
    assert mbx.is_exchange_cloud_managed is False
    last = [r for r in tenant.audit.records if r.operation == "Set-Mailbox"][-1]
    assert (last.succeeded, last.changed) == (True, False)
    # Activating Hybrid Identity Administrator as well makes the same call stick.
    assert _self_activate(client, tenant, auth_header, user, roles.HYBRID_IDENTITY_ADMINISTRATOR).status_code == 201
    done = invoke(client, tenant, exo, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=True)
    assert done.status_code == 200 and done.get_json() == {
        **silent.get_json(),
        "@odata.context": done.get_json()["@odata.context"],
    }
    assert mbx.is_exchange_cloud_managed is True
    last = [r for r in tenant.audit.records if r.operation == "Set-Mailbox"][-1]
    assert (last.succeeded, last.changed) == (True, True)
