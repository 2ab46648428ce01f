"""Exchange RBAC domain model: built-in role groups and roles, custom roles, scopes, assignments, service
principals, authorization (PIM-aware) and snapshots — no HTTP."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles
from hybridsoa.mock.domain.entra.tokens import Caller
from hybridsoa.mock.domain.errors import (
    CmdletNotRecognized,
    Conflict,
    InvalidArgument,
    NotFound,
    UnknownParameter,
    WriteScopeViolation,
)
from hybridsoa.mock.domain.exchange.rbac.engine import cmdlet_catalog
from hybridsoa.mock.domain.exchange.rbac.role_cmdlets import RBAC_CMDLETS

#: A pinned catalog of the Exchange cmdlets, so these tests do not depend on the Exchange room's progress.
EXO = {
    "Get-Mailbox": ["Identity", "Filter", "ResultSize", "RecipientTypeDetails"],
    "Set-Mailbox": [
        "Identity",
        "IsExchangeCloudManaged",
        "CustomAttribute1",
        "GrantSendOnBehalfTo",
        "Alias",
        "Confirm",
    ],
    "Get-Recipient": ["Identity", "Filter"],
    "Get-User": ["Identity"],
    "Set-User": ["Identity", "Title"],
    "Get-OrganizationConfig": [],
    "Set-OrganizationConfig": ["ExchangeAttributesCloudManagedByDefault"],
    "Undo-SoftDeletedMailbox": ["SoftDeletedObject"],
}
RBAC_NAMES = {name for name, _, _ in RBAC_CMDLETS}


@pytest.fixture
def tenant(make_tenant):
    t = make_tenant(name="rbacunit", seed=5, mailboxes=6)
    t.rbac.catalog_override = {**{k: v for k, v in cmdlet_catalog().items() if k in RBAC_NAMES}, **EXO}
    return t


def user_caller(tenant, name):
    user = tenant.user_by_upn(f"{name}@{tenant.domain}")
    return Caller(
        tenant_id=tenant.id,
        app_id="public",
        kind="user",
        object_id=user.id,
        user_principal_name=user.user_principal_name,
    )


def app_caller(tenant, name, roles_=("Exchange.ManageAsApp",)):
    app = tenant.app_by_name(name)
    return Caller(
        tenant_id=tenant.id, app_id=app.app_id, kind="app", object_id=app.service_principal_id, roles=list(roles_)
    )


def test_builtin_roles_cover_every_cmdlet_and_org_management_holds_all(tenant):
    rbac = tenant.rbac
    catalog = rbac.catalog()
    held = {c for r in rbac.roles() for c in r.entries}
    assert held == set(catalog)
    org = rbac.group("Organization Management")
    union = {}
    for role_name in org.roles:
        for c, params in rbac.role(role_name).entries.items():
            union.setdefault(c, set()).update(params)
    assert set(union) == set(catalog)
    assert all(union[c] == set(catalog[c]) for c in catalog)
    assert rbac.role("Mail Recipients").entry("set-mailbox")[0] == "Set-Mailbox"
    assert rbac.role("View-Only Recipients").entry("Set-Mailbox") is None
    linked = [name for name, _ in org.linked]
    assert linked[0].startswith("TenantAdmins_") and linked[1].startswith("ExchangeServiceAdmins_")


def test_directory_roles_map_to_role_groups(tenant):
    rbac = tenant.rbac
    for who in ("globaladmin", "exchangeadmin"):
        caller = user_caller(tenant, who)
        assert [g.name for g in rbac.groups_of(caller.object_id)] == ["Organization Management"]
        rbac.authorize(caller, "Set-OrganizationConfig", ["ExchangeAttributesCloudManagedByDefault"])
        rbac.authorize(caller, "New-ManagementRole", ["Name", "Parent"])
    reader = user_caller(tenant, "globalreader")
    rbac.authorize(reader, "Get-Mailbox", ["Identity"])
    rbac.authorize(reader, "Get-ManagementRoleAssignment", [])
    with pytest.raises(CmdletNotRecognized) as exc:
        rbac.authorize(reader, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    assert "The term 'Set-Mailbox' is not recognized as a name of a cmdlet" in exc.value.message


def test_help_desk_has_narrow_set_mailbox_and_hybrid_identity_admin_none(tenant):
    rbac = tenant.rbac
    helpdesk = user_caller(tenant, "helpdesk")
    rbac.authorize(helpdesk, "Set-Mailbox", ["Identity", "GrantSendOnBehalfTo"])
    with pytest.raises(UnknownParameter) as exc:
        rbac.authorize(helpdesk, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    assert exc.value.message == "A parameter cannot be found that matches parameter name 'CustomAttribute1'."
    # Hybrid Identity Administrator links to no role group (Learn's Entra role -> role group table).
    hybrid = user_caller(tenant, "hybridadmin")
    assert not rbac.has_access(hybrid)
    for cmdlet, params in (("Set-Mailbox", ["Identity", "IsExchangeCloudManaged"]), ("Get-Mailbox", ["Identity"])):
        with pytest.raises(CmdletNotRecognized):
            rbac.authorize(hybrid, cmdlet, params)
    assert all("hybrid" not in g.name.lower() for g in rbac.groups())
    assert all(r.name != "Remote Mailbox SOA" for r in rbac.roles())


def test_no_role_callers_have_no_access(tenant):
    rbac = tenant.rbac
    plain = user_caller(tenant, "user")
    assert not rbac.has_access(plain)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(plain, "Get-Mailbox", [])
    assert rbac.has_access(app_caller(tenant, "automation"))
    assert not rbac.has_access(app_caller(tenant, "exchange-approle-only"))
    assert not rbac.has_access(app_caller(tenant, "automation", roles_=()))


def test_new_management_role_copies_parent_and_validates(tenant):
    rbac = tenant.rbac
    role = rbac.new_role("SOA Toggle", "Mail Recipients")
    assert role.entries == rbac.role("Mail Recipients").entries and role.parent == "Mail Recipients"
    assert role.role_type == "MailRecipients" and not role.builtin
    with pytest.raises(Conflict):
        rbac.new_role("soa toggle", "Mail Recipients")
    with pytest.raises(NotFound):
        rbac.new_role("Other", "No Such Role")
    with pytest.raises(InvalidArgument, match='less than or equal to "64"'):
        rbac.new_role("x" * 65, "Mail Recipients")
    rbac.new_role("y" * 64, "Mail Recipients")
    only = rbac.new_role("Only Set", "Mail Recipients", enabled_cmdlets=["Set-Mailbox"])
    assert list(only.entries) == ["Set-Mailbox"]
    with pytest.raises(InvalidArgument):
        rbac.new_role("Bad Enabled", "Mail Recipients", enabled_cmdlets=["Set-OrganizationConfig"])


def test_set_management_role_entry_only_parent_parameters(tenant):
    rbac = tenant.rbac
    rbac.new_role("SOA Toggle", "Mail Recipients")
    rbac.set_role_entry("SOA Toggle\\Set-Mailbox", ["Identity", "isexchangecloudmanaged"])
    assert rbac.role("SOA Toggle").entries["Set-Mailbox"] == ["Identity", "IsExchangeCloudManaged"]
    with pytest.raises(InvalidArgument, match="NoSuchParam"):
        rbac.set_role_entry("SOA Toggle\\Set-Mailbox", ["NoSuchParam"], mode="add")
    rbac.set_role_entry("SOA Toggle\\Set-Mailbox", ["Alias"], mode="add")
    rbac.set_role_entry("SOA Toggle\\Set-Mailbox", ["Alias"], mode="remove")
    assert rbac.role("SOA Toggle").entries["Set-Mailbox"] == ["Identity", "IsExchangeCloudManaged"]
    with pytest.raises(InvalidArgument, match="built-in role"):
        rbac.set_role_entry("Mail Recipients\\Set-Mailbox", ["Identity"])
    with pytest.raises(NotFound):
        rbac.set_role_entry("SOA Toggle\\Set-Nothing", ["Identity"])
    # A grandchild can only regain what its own parent (the trimmed child) still has.
    rbac.new_role("Grandchild", "SOA Toggle")
    rbac.set_role_entry("Grandchild\\Set-Mailbox", ["Identity"])
    with pytest.raises(InvalidArgument):
        rbac.set_role_entry("Grandchild\\Set-Mailbox", ["Alias"], mode="add")
    rbac.set_role_entry("Grandchild\\Set-Mailbox", ["IsExchangeCloudManaged"], mode="add")
    # The parent cannot lose parameters a child still holds.
    with pytest.raises(InvalidArgument, match="child role"):
        rbac.set_role_entry("SOA Toggle\\Set-Mailbox", ["Identity"])


def test_remove_management_role_entry(tenant):
    rbac = tenant.rbac
    rbac.new_role("Trim", "Mail Recipients")
    rbac.new_role("Trim Child", "Trim")
    with pytest.raises(InvalidArgument, match="child role"):
        rbac.remove_role_entry("Trim\\Get-User")
    rbac.remove_role_entry("Trim Child\\Get-User")
    rbac.remove_role_entry("Trim\\Get-User")
    assert rbac.role("Trim").entry("Get-User") is None
    with pytest.raises(NotFound):
        rbac.remove_role_entry("Trim\\Get-User")
    with pytest.raises(InvalidArgument, match="built-in role"):
        rbac.remove_role_entry("Mail Recipients\\Get-User")
    with pytest.raises(InvalidArgument):
        rbac.remove_role_entry("no backslash")
    # Add-ManagementRoleEntry can restore only what the parent has.
    rbac.add_role_entry("Trim\\Get-User")
    with pytest.raises(InvalidArgument):
        rbac.add_role_entry("Trim\\Set-OrganizationConfig")


def _least_privilege_app(tenant, app_name="graph-reader"):
    rbac = tenant.rbac
    app = tenant.app_by_name(app_name)
    app.app_roles = ["Exchange.ManageAsApp"]
    rbac.new_role("SOA Toggle", "Mail Recipients")
    for cmdlet in list(rbac.role("SOA Toggle").entries):
        if cmdlet != "Set-Mailbox":
            rbac.remove_role_entry(f"SOA Toggle\\{cmdlet}")
    rbac.set_role_entry("SOA Toggle\\Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])
    rbac.new_service_principal(app.app_id, app.service_principal_id, "SOA Automation")
    rbac.new_assignment("SOA Toggle", app="SOA Automation")
    return app_caller(tenant, app_name)


def test_least_privilege_app_via_service_principal(tenant):
    rbac = tenant.rbac
    caller = _least_privilege_app(tenant)
    assert tenant.active_role_ids(caller.object_id) == []
    assert rbac.has_access(caller)
    rbac.authorize(caller, "Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])
    with pytest.raises(UnknownParameter, match="'CustomAttribute1'"):
        rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Get-Mailbox", [])
    # The same assignment means nothing to a different app, or to the app without ManageAsApp.
    assert not rbac.has_access(app_caller(tenant, "graph-reader", roles_=()))
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(app_caller(tenant, "exchange-approle-only"), "Set-Mailbox", ["Identity"])


def test_service_principal_validation_and_removal(tenant):
    rbac = tenant.rbac
    app = tenant.app_by_name("graph-reader")
    with pytest.raises(InvalidArgument):
        rbac.new_service_principal("not-a-guid", app.service_principal_id)
    with pytest.raises(NotFound):
        rbac.new_service_principal(app.app_id, app.object_id)  # the app object id is not the SP id
    sp = rbac.new_service_principal(app.app_id, app.service_principal_id)
    assert sp.display_name == "graph-reader"
    with pytest.raises(Conflict):
        rbac.new_service_principal(app.app_id, app.service_principal_id)
    assert rbac.service_principal(app.app_id) is sp
    a = rbac.new_assignment("View-Only Recipients", app=app.app_id)
    assert a.name == "View-Only Recipients-graph-reader" and a.assignee_type == "ServicePrincipal"
    rbac.remove_service_principal(sp.object_id)
    assert a.guid not in rbac.custom_assignments


def test_assignments_names_removal_and_guards(tenant):
    rbac = tenant.rbac
    user = tenant.user_by_upn(f"user@{tenant.domain}")
    a1 = rbac.new_assignment("Mail Recipients", user=user.user_principal_name)
    a2 = rbac.new_assignment("Mail Recipients", user="user")
    assert (a1.name, a2.name) == ("Mail Recipients-user", "Mail Recipients-user1")
    caller = user_caller(tenant, "user")
    assert rbac.has_access(caller)
    rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    with pytest.raises(InvalidArgument):
        rbac.new_assignment("Mail Recipients")
    with pytest.raises(InvalidArgument):
        rbac.new_assignment("Mail Recipients", user="user", app="x")
    with pytest.raises(NotFound):
        rbac.new_assignment("Mail Recipients", user="nobody@nowhere")
    with pytest.raises(NotFound):
        rbac.new_assignment("Mail Recipients", security_group="No Group")
    with pytest.raises(InvalidArgument, match="built-in role group"):
        rbac.remove_assignment("Mail Recipients-Organization Management")
    rbac.new_role("Custom", "Mail Recipients")
    held = rbac.new_assignment("Custom", user="user")
    with pytest.raises(InvalidArgument, match="role assignments"):
        rbac.remove_role("Custom")
    rbac.remove_assignment(held.name)
    rbac.remove_assignment(a1.guid)
    rbac.remove_assignment(a2.name)
    rbac.remove_role("Custom")
    assert not rbac.has_access(caller)
    with pytest.raises(InvalidArgument, match="built-in role"):
        rbac.remove_role("Mail Recipients")


def test_pim_eligible_role_grants_nothing_until_active_and_expires(tenant):
    rbac = tenant.rbac
    user = tenant.user_by_upn(f"user@{tenant.domain}")
    tenant.assign_role(user.id, roles.EXCHANGE_ADMINISTRATOR, kind="eligible")
    caller = user_caller(tenant, "user")
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])
    now = tenant.clock.now()
    tenant.assign_role(
        user.id, roles.EXCHANGE_ADMINISTRATOR, kind="active", start=now, end=now + 3600, member_type="selfActivate"
    )
    rbac.authorize(caller, "Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])
    tenant.advance(61)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])


def test_custom_write_scope_limits_targets(tenant):
    rbac = tenant.rbac
    with pytest.raises(InvalidArgument):
        rbac.new_scope("Broken", "CustomAttribute1 -eq")
    with pytest.raises(InvalidArgument):
        rbac.new_scope("Unknown", "NoSuchProperty -eq 'x'")
    rbac.new_scope("Pilot", "CustomAttribute1 -eq 'pilot'")
    rbac.new_assignment("Mail Recipients", user="user", custom_recipient_write_scope="Pilot")
    caller = user_caller(tenant, "user")
    inside, outside = list(tenant.mailboxes)[:2]
    inside.custom_attributes[0] = "pilot"
    grant = rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    grant.check_target(inside)
    with pytest.raises(WriteScopeViolation, match="out of the current user's write scope"):
        rbac.authorize_target(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"], outside)
    rbac.authorize_target(caller, "Get-Mailbox", ["Identity"], outside)  # reads are not write-scoped
    with pytest.raises(InvalidArgument, match="used by role assignments"):
        rbac.remove_scope("Pilot")
    with pytest.raises(Conflict):
        rbac.new_scope("pilot", "Alias -like '*'")


def test_snapshot_round_trip(tenant, make_tenant):
    rbac = tenant.rbac
    caller = _least_privilege_app(tenant)
    rbac.scopes  # noqa: B018 - scopes are plain dicts
    data = rbac.to_dict()
    assert {r["name"] for r in data["roles"]} == {"SOA Toggle"}
    assert len(data["assignments"]) == 1 and len(data["servicePrincipals"]) == 1
    twin = make_tenant(name="rbacunit2", seed=5, mailboxes=0)
    twin.rbac.catalog_override = rbac.catalog_override
    twin.rbac.load(data)
    assert twin.rbac.to_dict() == data
    app = tenant.app_by_name("graph-reader")
    twin_caller = Caller(
        tenant_id=twin.id,
        app_id=app.app_id,
        kind="app",
        object_id=app.service_principal_id,
        roles=["Exchange.ManageAsApp"],
    )
    twin.rbac.authorize(twin_caller, "Set-Mailbox", ["Identity", "IsExchangeCloudManaged"])
    assert caller.object_id == twin_caller.object_id


def test_malformed_snapshot_section_is_refused_and_changes_nothing(tenant):
    rbac = tenant.rbac
    rbac.new_role("Keep", "Mail Recipients")
    before = rbac.to_dict()
    role = dict(before["roles"][0], entries=["Get-Mailbox"])
    for bad in (
        {"roles": [{"nope": 1}]},
        {"scopes": "x"},
        {"assignments": [1]},
        {"servicePrincipals": [{}]},
        {"roles": [role]},
    ):
        with pytest.raises(InvalidArgument):
            rbac.load(bad)
    assert rbac.to_dict() == before


def test_coverage_doc_lists_every_rbac_cmdlet_and_parameter():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "coverage.md").read_text()
    section = text.split("## Exchange Online RBAC cmdlets\n", 1)[1].split("\n## ", 1)[0]
    assert "`Confirm` is accepted everywhere" in section
    for name, _, params in RBAC_CMDLETS:
        row = next((line for line in section.splitlines() if line.startswith(f"| {name} |")), None)
        assert row is not None, f"{name} missing from docs/coverage.md"
        emulated = row.split("|")[2]
        for param in params:
            if param.name != "Confirm":
                assert param.name in emulated, f"{name} -{param.name} missing from docs/coverage.md"


def test_explicit_role_group_members(tenant):
    rbac = tenant.rbac
    caller = user_caller(tenant, "user")
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    rbac.add_group_member("Recipient Management", "user")
    rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-OrganizationConfig", [])
    with pytest.raises(InvalidArgument, match="already a member"):
        rbac.add_group_member("Recipient Management", f"user@{tenant.domain}")
    assert rbac.to_dict()["groupMembers"] == {"recipient management": [caller.object_id]}
    rbac.remove_group_member("Recipient Management", "user")
    with pytest.raises(InvalidArgument, match="isn't a member"):
        rbac.remove_group_member("Recipient Management", "user")
    with pytest.raises(NotFound):
        rbac.add_group_member("No Such Group", "user")
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
