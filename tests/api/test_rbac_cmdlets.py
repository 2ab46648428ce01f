"""Exchange RBAC cmdlets through the real InvokeCommand envelope (Flask test client): the built-in role groups
and roles, custom roles, scopes, assignments and service principals, and the least-privilege recipe."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra.directory import Application


def invoke(client, tenant, headers, cmdlet, **params):
    """POST one cmdlet in the CmdletInput envelope."""
    return client.post(
        f"/adminapi/beta/{tenant.domain}/InvokeCommand",
        headers=headers,
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
    )


def error_text(resp) -> str:
    """The human text of the ErrId|ExceptionType|text triple."""
    return resp.get_json()["error"]["details"][0]["message"].split("|", 2)[2]


def error_type(resp) -> str:
    return resp.get_json()["error"]["details"][0]["message"].split("|", 2)[1]


def add_app(tenant, name: str, app_roles=("Exchange.ManageAsApp",)) -> Application:
    """An extra app registration + service principal with no directory role."""
    with tenant.lock:
        return tenant.add_app(
            Application(
                name=name,
                app_id=tenant.ids.guid(),
                object_id=tenant.ids.guid(),
                service_principal_id=tenant.ids.guid(),
                client_secret=tenant.ids.secret(40),
                certificate_pem="",
                private_key_pem="",
                thumbprint="",
                thumbprint_sha256="",
                app_roles=list(app_roles),
                created_date_time=tenant.clock.now(),
            )
        )


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="rbacapi", seed=11, mailboxes=8)


@pytest.fixture
def admin(tenant, auth_header):
    return auth_header(tenant, "exchange", user="globaladmin")


def synced_mailbox(tenant, cloud_managed=False):
    for mbx in tenant.mailboxes:
        if mbx.is_dir_synced and mbx.recipient_type_details == "UserMailbox" and not mbx.is_soft_deleted:
            with tenant.lock:
                mbx.is_exchange_cloud_managed = cloud_managed
                tenant.mailboxes.touch(mbx.guid)
            return mbx
    raise AssertionError("no synced user mailbox")


def test_get_role_group_and_members(client, tenant, admin):
    resp = invoke(client, tenant, admin, "Get-RoleGroup")
    assert resp.status_code == 200
    groups = {g["Name"]: g for g in resp.get_json()["value"]}
    assert {"Organization Management", "View-Only Organization Management", "Recipient Management", "Help Desk"} <= set(
        groups
    )
    org = groups["Organization Management"]
    assert "Mail Recipients" in org["Roles"] and "Role Management" in org["Roles"]
    assert "Mail Recipients-Organization Management" in org["RoleAssignments"]
    assert org["Guid@data.type"] == "System.Guid"
    members = invoke(client, tenant, admin, "Get-RoleGroupMember", Identity="Organization Management").get_json()
    names = [m["Name"] for m in members["value"]]
    assert len(names) == 2 and names[0].startswith("TenantAdmins_") and names[1].startswith("ExchangeServiceAdmins_")
    missing = invoke(client, tenant, admin, "Get-RoleGroupMember", Identity="No Such Group")
    assert missing.status_code == 404
    assert "couldn't be found on" in error_text(missing)
    bad = invoke(client, tenant, admin, "Get-RoleGroupMember")
    assert bad.status_code == 400 and "missing mandatory parameters: Identity" in error_text(bad)


def test_get_management_role_and_entries(client, tenant, admin):
    roles = invoke(
        client, tenant, admin, "Get-ManagementRole", Cmdlet="Set-Mailbox", CmdletParameters=["IsExchangeCloudManaged"]
    ).get_json()["value"]
    names = {r["Name"] for r in roles}
    assert "Mail Recipients" in names and "View-Only Recipients" not in names
    mr = next(r for r in roles if r["Name"] == "Mail Recipients")
    assert mr["RoleType"] == "MailRecipients" and mr["IsRootRole"] is True and mr["Parent"] is None
    entries = invoke(
        client, tenant, admin, "Get-ManagementRoleEntry", Identity="Mail Recipients\\Set-Mailbox"
    ).get_json()["value"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["Name"] == "Set-Mailbox" and entry["Role"] == "Mail Recipients" and entry["Type"] == "Cmdlet"
    assert {"Identity", "IsExchangeCloudManaged", "CustomAttribute1"} <= set(entry["Parameters"])
    wildcard = invoke(client, tenant, admin, "Get-ManagementRoleEntry", Identity="*\\Set-Mailbox").get_json()["value"]
    assert {e["Role"] for e in wildcard} >= {"Mail Recipients", "User Options"}
    none = invoke(client, tenant, admin, "Get-ManagementRoleEntry", Identity="Mail Recipients\\Set-Nothing")
    assert none.status_code == 404


def test_get_management_role_assignment_by_assignee(client, tenant, admin):
    resp = invoke(client, tenant, admin, "Get-ManagementRoleAssignment", RoleAssignee="helpdesk")
    assert resp.status_code == 200
    got = {a["Name"] for a in resp.get_json()["value"]}
    assert got == {"User Options-Help Desk", "View-Only Recipients-Help Desk"}
    one = resp.get_json()["value"][0]
    for prop in (
        "Role",
        "RoleAssigneeType",
        "RoleAssigneeName",
        "RecipientWriteScope",
        "ConfigWriteScope",
        "CustomRecipientWriteScope",
        "Enabled",
        "AssignmentMethod",
    ):
        assert prop in one
    assert one["RoleAssigneeType"] == "RoleGroup" and one["RoleAssigneeName"] == "Help Desk"
    by_role = invoke(client, tenant, admin, "Get-ManagementRoleAssignment", Role="Role Management").get_json()
    assert [a["RoleAssigneeName"] for a in by_role["value"]] == ["Organization Management"]


def _least_privilege(client, tenant, admin, app):
    """The documented recipe, as an admin would run it."""
    steps = [
        ("New-ManagementRole", {"Name": "SOA Toggle Only", "Parent": "Mail Recipients"}),
        (
            "Set-ManagementRoleEntry",
            {"Identity": "SOA Toggle Only\\Set-Mailbox", "Parameters": ["Identity", "IsExchangeCloudManaged"]},
        ),
    ]
    for cmdlet, params in steps:
        resp = invoke(client, tenant, admin, cmdlet, **params)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    entries = invoke(client, tenant, admin, "Get-ManagementRoleEntry", Identity="SOA Toggle Only\\*").get_json()
    for entry in entries["value"]:
        if entry["Name"] != "Set-Mailbox":
            resp = invoke(
                client,
                tenant,
                admin,
                "Remove-ManagementRoleEntry",
                Identity=f"{entry['Id']}\\{entry['Name']}",
                Confirm=False,
            )
            assert resp.status_code == 200, resp.get_data(as_text=True)
    resp = invoke(
        client,
        tenant,
        admin,
        "New-ServicePrincipal",
        AppId=app.app_id,
        ObjectId=app.service_principal_id,
        DisplayName="SOA automation",
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["value"][0]["AppId"] == app.app_id
    resp = invoke(
        client, tenant, admin, "New-ManagementRoleAssignment", Role="SOA Toggle Only", App=app.service_principal_id
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["value"][0]["RoleAssigneeType"] == "ServicePrincipal"


def test_least_privilege_recipe_end_to_end(client, tenant, admin, auth_header):
    app = add_app(tenant, "soa-least-privilege")
    before = auth_header(tenant, "exchange", app="soa-least-privilege")
    assert invoke(client, tenant, before, "Get-Mailbox").status_code == 403  # no role at all yet
    _least_privilege(client, tenant, admin, app)
    entries = invoke(client, tenant, admin, "Get-ManagementRoleEntry", Identity="SOA Toggle Only\\*").get_json()
    assert [(e["Name"], e["Parameters"]) for e in entries["value"]] == [
        ("Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])
    ]
    headers = auth_header(tenant, "exchange", app="soa-least-privilege")
    mbx = synced_mailbox(tenant)
    ok = invoke(client, tenant, headers, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=True)
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert mbx.is_exchange_cloud_managed is True
    denied = invoke(client, tenant, headers, "Set-Mailbox", Identity=mbx.alias, CustomAttribute1="x")
    assert denied.status_code == 400
    assert error_text(denied) == "A parameter cannot be found that matches parameter name 'CustomAttribute1'."
    assert mbx.custom_attributes[0] != "x"
    for cmdlet in ("Get-Mailbox", "Set-User", "Get-ManagementRole"):
        resp = invoke(client, tenant, headers, cmdlet)
        assert resp.status_code == 403 and resp.get_data() == b""
        assert "not recognized" in resp.headers["x-ms-diagnostics"]
    # Confirm:$false as the module sends it does not trip the trimmed entry.
    again = invoke(
        client, tenant, headers, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=False, Confirm=False
    )
    assert again.status_code == 200 and mbx.is_exchange_cloud_managed is False
    # Removing the assignment takes the access away on the next call.
    name = invoke(client, tenant, admin, "Get-ManagementRoleAssignment", Role="SOA Toggle Only").get_json()
    assert (
        invoke(client, tenant, admin, "Remove-ManagementRoleAssignment", Identity=name["value"][0]["Name"]).status_code
        == 200
    )
    assert (
        invoke(client, tenant, headers, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=True).status_code
        == 403
    )


def test_custom_role_rules_and_errors(client, tenant, admin):
    too_long = invoke(client, tenant, admin, "New-ManagementRole", Name="x" * 65, Parent="Mail Recipients")
    assert too_long.status_code == 400 and "64" in error_text(too_long)
    no_parent = invoke(client, tenant, admin, "New-ManagementRole", Name="Orphan", Parent="Nope")
    assert no_parent.status_code == 404
    assert (
        invoke(client, tenant, admin, "New-ManagementRole", Name="Child", Parent="Mail Recipients").status_code == 200
    )
    dup = invoke(client, tenant, admin, "New-ManagementRole", Name="Child", Parent="Mail Recipients")
    assert dup.status_code in (400, 409) and "already exists" in error_text(dup)
    builtin = invoke(
        client,
        tenant,
        admin,
        "Set-ManagementRoleEntry",
        Identity="Mail Recipients\\Set-Mailbox",
        Parameters=["Identity"],
    )
    assert builtin.status_code == 400 and "built-in role" in error_text(builtin)
    assert (
        invoke(
            client, tenant, admin, "Set-ManagementRoleEntry", Identity="Child\\Set-Mailbox", Parameters="Identity,Alias"
        ).status_code
        == 200
    )
    foreign = invoke(client, tenant, admin, "New-ManagementRole", Name="Grandchild", Parent="Child")
    assert foreign.status_code == 200
    regain = invoke(
        client,
        tenant,
        admin,
        "Set-ManagementRoleEntry",
        Identity="Grandchild\\Set-Mailbox",
        Parameters=["CustomAttribute1"],
        AddParameter=True,
    )
    assert regain.status_code == 400 and "parent role" in error_text(regain)
    both = invoke(
        client,
        tenant,
        admin,
        "Set-ManagementRoleEntry",
        Identity="Grandchild\\Set-Mailbox",
        Parameters=["Alias"],
        AddParameter=True,
        RemoveParameter=True,
    )
    assert both.status_code == 400 and "Parameter set cannot be resolved" in error_text(both)
    removed = invoke(
        client,
        tenant,
        admin,
        "Set-ManagementRoleEntry",
        Identity="Grandchild\\Set-Mailbox",
        Parameters=["Alias"],
        RemoveParameter=True,
    )
    assert removed.status_code == 200
    entry = invoke(client, tenant, admin, "Get-ManagementRoleEntry", Identity="Grandchild\\Set-Mailbox").get_json()
    assert entry["value"][0]["Parameters"] == ["Identity"]
    children = invoke(client, tenant, admin, "Get-ManagementRole", Identity="Mail Recipients", Recurse=True)
    assert [r["Name"] for r in children.get_json()["value"]] == ["Child", "Grandchild"]
    audit = [r for r in tenant.audit.records if r.operation == "Set-ManagementRoleEntry"]
    assert [r.succeeded for r in audit] == [False, True, False, False, True]
    assert audit[1].changed and audit[1].changes["Parameters"]["new"] == ["Alias", "Identity"]


def test_write_scope_through_invoke(client, tenant, admin, auth_header):
    resp = invoke(
        client,
        tenant,
        admin,
        "New-ManagementScope",
        Name="Pilot wave",
        RecipientRestrictionFilter="CustomAttribute5 -eq 'wave1'",
    )
    assert resp.status_code == 200 and resp.get_json()["value"][0]["RecipientFilter"] == "CustomAttribute5 -eq 'wave1'"
    bad = invoke(client, tenant, admin, "New-ManagementScope", Name="Bad", RecipientRestrictionFilter="Nope -eq 1")
    assert bad.status_code == 400
    assign = invoke(
        client,
        tenant,
        admin,
        "New-ManagementRoleAssignment",
        Role="Mail Recipients",
        User="user",
        CustomRecipientWriteScope="Pilot wave",
    )
    assert assign.status_code == 200
    got = assign.get_json()["value"][0]
    assert got["RecipientWriteScope"] == "CustomRecipientScope" and got["CustomRecipientWriteScope"] == "Pilot wave"
    inside, outside = [m for m in tenant.mailboxes if m.is_dir_synced and m.recipient_type_details == "UserMailbox"][:2]
    with tenant.lock:
        for mbx in (inside, outside):
            mbx.is_exchange_cloud_managed = True
        inside.custom_attributes[4] = "wave1"
    headers = auth_header(tenant, "exchange", user="user")
    ok = invoke(client, tenant, headers, "Set-Mailbox", Identity=inside.alias, CustomAttribute1="in scope")
    assert ok.status_code == 200 and inside.custom_attributes[0] == "in scope"
    denied = invoke(client, tenant, headers, "Set-Mailbox", Identity=outside.alias, CustomAttribute1="out of scope")
    assert denied.status_code == 400
    assert error_text(denied) == (
        f'The operation on Identity "{outside.name}" failed because it\'s out of the '
        f"current user's write scope. '{outside.name}' isn't within your current write "
        "scopes. Can't perform save operation."
    )
    assert "no public source" in denied.headers["x-hybridsoa-note"]
    assert outside.custom_attributes[0] != "out of scope"
    reads = invoke(client, tenant, headers, "Get-Mailbox", Identity=outside.alias)
    assert reads.status_code == 200
    in_use = invoke(client, tenant, admin, "Remove-ManagementScope", Identity="Pilot wave")
    assert in_use.status_code == 400
    record = [r for r in tenant.audit.records if r.operation == "Set-Mailbox"][-1]
    assert record.succeeded is False and "write scope" in record.error


def test_service_principal_cmdlets(client, tenant, admin):
    app = tenant.app_by_name("graph-reader")
    bad = invoke(client, tenant, admin, "New-ServicePrincipal", AppId="nope", ObjectId=app.service_principal_id)
    assert bad.status_code == 400
    wrong = invoke(client, tenant, admin, "New-ServicePrincipal", AppId=app.app_id, ObjectId=app.object_id)
    assert wrong.status_code == 404
    ok = invoke(client, tenant, admin, "New-ServicePrincipal", AppId=app.app_id, ObjectId=app.service_principal_id)
    assert ok.status_code == 200
    listed = invoke(client, tenant, admin, "Get-ServicePrincipal").get_json()["value"]
    assert [(s["AppId"], s["ObjectId"], s["DisplayName"]) for s in listed] == [
        (app.app_id, app.service_principal_id, "graph-reader")
    ]
    assert invoke(client, tenant, admin, "Get-ServicePrincipal", Identity=app.app_id).status_code == 200
    assert invoke(client, tenant, admin, "Remove-ServicePrincipal", Identity=app.app_id).status_code == 200
    assert invoke(client, tenant, admin, "Get-ServicePrincipal").get_json()["value"] == []


def test_rbac_state_survives_snapshot(client, tenant, admin, auth_header):
    app = add_app(tenant, "soa-least-privilege")
    _least_privilege(client, tenant, admin, app)
    invoke(client, tenant, admin, "New-ManagementScope", Name="S", RecipientRestrictionFilter="Alias -like 'a*'")
    data = tenant.rbac.to_dict()
    assert {r["name"] for r in data["roles"]} == {"SOA Toggle Only"}
    assert [s["name"] for s in data["scopes"]] == ["S"]
    assert [sp["app_id"] for sp in data["servicePrincipals"]] == [app.app_id]
    snap = client.get(f"/_mock/tenants/{tenant.id}/snapshot")
    assert snap.status_code == 200, snap.get_data(as_text=True)
    client.post(f"/_mock/tenants/{tenant.id}/reset")
    fresh = client.application.extensions["hybridsoa"].get(tenant.id)
    assert fresh.rbac.to_dict()["roles"] == []
    put = client.put(f"/_mock/tenants/{tenant.id}/snapshot", json=snap.get_json())
    assert put.status_code in (200, 201, 204), put.get_data(as_text=True)
    restored = client.application.extensions["hybridsoa"].get(tenant.id)
    assert restored.rbac.to_dict() == data


def test_role_group_membership_grants_and_revokes(client, tenant, admin, auth_header):
    headers = auth_header(tenant, "exchange", user="user")
    mbx = synced_mailbox(tenant, cloud_managed=True)
    assert invoke(client, tenant, headers, "Get-Mailbox").status_code == 403
    added = invoke(
        client,
        tenant,
        admin,
        "Add-RoleGroupMember",
        Identity="Recipient Management",
        Member="user",
        BypassSecurityGroupManagerCheck=True,
    )
    assert added.status_code == 200, added.get_data(as_text=True)
    members = invoke(client, tenant, admin, "Get-RoleGroupMember", Identity="Recipient Management").get_json()
    assert [(m["Name"], m["RecipientType"]) for m in members["value"]][-1] == ("user", "User")
    ok = invoke(client, tenant, headers, "Set-Mailbox", Identity=mbx.alias, CustomAttribute3="recipient admin")
    assert ok.status_code == 200 and mbx.custom_attributes[2] == "recipient admin"
    assert (
        invoke(
            client, tenant, headers, "Set-OrganizationConfig", ExchangeAttributesCloudManagedByDefault=True
        ).status_code
        == 403
    )
    again = invoke(client, tenant, admin, "Add-RoleGroupMember", Identity="Recipient Management", Member="user")
    assert again.status_code == 400 and "already a member" in error_text(again)
    assert (
        invoke(
            client, tenant, admin, "Remove-RoleGroupMember", Identity="Recipient Management", Member="user"
        ).status_code
        == 200
    )
    assert invoke(client, tenant, headers, "Get-Mailbox").status_code == 403
    ops = [(r.operation, r.succeeded, r.changed) for r in tenant.audit.records if "RoleGroupMember" in r.operation]
    assert ops == [
        ("Add-RoleGroupMember", True, True),
        ("Add-RoleGroupMember", False, False),
        ("Remove-RoleGroupMember", True, True),
    ]
