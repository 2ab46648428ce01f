"""The Exchange Online RBAC cmdlets (Get-RoleGroup, Get-ManagementRole, New-ManagementRole,
Set-ManagementRoleEntry, New-ManagementScope, New-ManagementRoleAssignment, New-ServicePrincipal, ...)
registered into the Exchange cmdlet registry; output objects carry the real property names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ...errors import NotFound
from ...wildcard import compile_wildcard
from .. import errors as exo_errors
from ..cmdlets import Param, register_cmdlet
from .model import SCOPE_CUSTOM, SCOPE_NONE, SCOPE_ORGANIZATION

SNAPIN = "Microsoft.Exchange.Management.PowerShell.E2010"
_CONFIRM = Param("Confirm", "Switch", no_op=True, description="Accepted; the REST endpoint never prompts.")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _timestamps(obj) -> dict:
    """The WhenCreated/WhenChanged properties (local and UTC) every RBAC output object carries."""
    created, changed = _dt(obj.when_created), _dt(obj.when_changed)
    return {"WhenCreated": created, "WhenChanged": changed, "WhenCreatedUTC": created, "WhenChangedUTC": changed}


def _guid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _names(value) -> list[str]:
    """A -Parameters / -EnabledCmdlets value as a list (a comma-separated string is split)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def _match(pattern: str, value: str) -> bool:
    return compile_wildcard(pattern.lower()).match(value.lower())


# ----------------------------------------------------------------------------------------- renderings
def role_object(rbac, role) -> dict:
    """Get-ManagementRole output object."""
    write = SCOPE_NONE if role.view_only else SCOPE_ORGANIZATION
    return {
        "Name": role.name,
        "Identity": role.name,
        "Id": role.name,
        "Guid": _guid(role.guid),
        "ExchangeObjectId": _guid(role.guid),
        "RoleType": role.role_type,
        "Parent": role.parent,
        "IsRootRole": role.parent is None,
        "IsEndUserRole": False,
        "Description": role.description,
        "ImplicitRecipientReadScope": SCOPE_ORGANIZATION,
        "ImplicitRecipientWriteScope": write,
        "ImplicitConfigReadScope": "OrganizationConfig",
        "ImplicitConfigWriteScope": "None" if role.view_only else "OrganizationConfig",
        "RoleEntries": [
            f"({SNAPIN}) {c} " + " ".join(f"-{p}" for p in params)
            for c, params in sorted(role.entries.items(), key=lambda kv: kv[0].lower())
        ],
        "IsDeprecated": False,
        "MailboxPlanIndex": "",
        "IsValid": True,
        "ObjectState": "Unchanged",
        **_timestamps(role),
    }


def entry_object(role, cmdlet: str, params: list[str]) -> dict:
    """Get-ManagementRoleEntry output object (``Id`` is the role, ``Name`` the cmdlet)."""
    return {
        "Name": cmdlet,
        "Role": role.name,
        "Id": role.name,
        "Identity": f"{role.name}\\{cmdlet}",
        "Parameters": list(params),
        "Type": "Cmdlet",
        "PSSnapInName": SNAPIN,
        "IsValid": True,
        "ObjectState": "Unchanged",
    }


def group_object(rbac, group) -> dict:
    """Get-RoleGroup output object (built-in groups: Members are the linked groups)."""
    assignments = [
        a.name
        for a in rbac.assignments()
        if a.assignee_type == "RoleGroup" and a.assignee_id.lower() == group.name.lower()
    ]
    created = _dt(rbac.created)
    return {
        "Name": group.name,
        "Identity": group.name,
        "Id": group.name,
        "DisplayName": group.name,
        "Guid": _guid(group.guid),
        "ExchangeObjectId": _guid(group.guid),
        "Description": group.description,
        "RoleGroupType": "Standard",
        "Roles": list(group.roles),
        "RoleAssignments": assignments,
        "Members": [name for name, _ in group.linked] + [_user_name(u) for u in _user_members(rbac, group)],
        "ManagedBy": [],
        "LinkedGroup": [],
        "Capabilities": [],
        "IsValid": True,
        "ObjectState": "Unchanged",
        "WhenCreated": created,
        "WhenChanged": created,
        "WhenCreatedUTC": created,
        "WhenChangedUTC": created,
    }


def assignment_object(rbac, a) -> dict:
    """Get-ManagementRoleAssignment output object."""
    role = rbac._role_or_none(a.role)
    view_only = bool(role and role.view_only)
    write = SCOPE_CUSTOM if a.custom_recipient_write_scope else (SCOPE_NONE if view_only else SCOPE_ORGANIZATION)
    assignee = a.assignee_name if a.assignee_type in ("RoleGroup", "User") else a.assignee_id
    return {
        "Name": a.name,
        "Identity": a.name,
        "Id": a.name,
        "Guid": _guid(a.guid),
        "ExchangeObjectId": _guid(a.guid),
        "Role": a.role,
        "RoleAssigneeType": a.assignee_type,
        "RoleAssigneeName": a.assignee_name,
        "RoleAssignee": assignee,
        "AssignmentMethod": "Direct",
        "RoleAssignmentDelegationType": "Regular",
        "EffectiveUserName": "All Group Members"
        if a.assignee_type in ("RoleGroup", "SecurityGroup")
        else a.assignee_name,
        "CustomRecipientWriteScope": a.custom_recipient_write_scope,
        "CustomConfigWriteScope": None,
        "CustomResourceScope": None,
        "RecipientReadScope": SCOPE_ORGANIZATION,
        "ConfigReadScope": "OrganizationConfig",
        "RecipientWriteScope": write,
        "ConfigWriteScope": "None" if view_only else "OrganizationConfig",
        "Enabled": a.enabled,
        "IsValid": True,
        "ObjectState": "Unchanged",
        **_timestamps(a),
    }


def scope_object(scope) -> dict:
    """Get-ManagementScope output object."""
    return {
        "Name": scope.name,
        "Identity": scope.name,
        "Id": scope.name,
        "Guid": _guid(scope.guid),
        "ExchangeObjectId": _guid(scope.guid),
        "ScopeRestrictionType": "RecipientScope",
        "Exclusive": scope.exclusive,
        "RecipientRoot": scope.recipient_root,
        "RecipientFilter": scope.recipient_restriction_filter,
        "ServerFilter": None,
        "DatabaseFilter": None,
        "IsValid": True,
        "ObjectState": "Unchanged",
        **_timestamps(scope),
    }


def service_principal_object(sp) -> dict:
    """Get-ServicePrincipal output object."""
    return {
        "DisplayName": sp.display_name,
        "ObjectId": sp.object_id,
        "AppId": sp.app_id,
        "Identity": sp.object_id,
        "Name": sp.object_id,
        "Id": sp.object_id,
        "Guid": _guid(sp.guid),
        "ExchangeObjectId": _guid(sp.guid),
        "IsValid": True,
        "ObjectState": "Unchanged",
        **_timestamps(sp),
    }


def _limit(items: list, params: dict) -> list:
    size = params.get("ResultSize")
    return items[:size] if size else items


# ------------------------------------------------------------------------------------------- readers
def get_role_group(ctx, params):
    """Get-RoleGroup [-Identity]."""
    rbac = ctx.tenant.rbac
    ident = params.get("Identity")
    groups = (
        [rbac.group(ident)]
        if ident and not any(ch in ident for ch in "*?")
        else [g for g in rbac.groups() if not ident or _match(ident, g.name)]
    )
    return _limit([group_object(rbac, g) for g in groups], params)


def _user_members(rbac, group) -> list:
    ids = rbac.group_members.get(group.name.lower(), [])
    return [u for u in (rbac.tenant.users.get(i) for i in ids) if u is not None and u.deleted_date_time is None]


def _user_name(user) -> str:
    return user.mail_nickname or user.user_principal_name.split("@", 1)[0]


def get_role_group_member(ctx, params):
    """Get-RoleGroupMember -Identity: the linked groups (whose own members Exchange cannot list) and the users
    added with Add-RoleGroupMember."""
    rbac = ctx.tenant.rbac
    group = rbac.group(params["Identity"])
    out = []
    for name, _role_id in group.linked:
        guid = _guid(rbac_guid(ctx.tenant, name))
        out.append(
            {
                "Name": name,
                "Identity": name,
                "Id": name,
                "DisplayName": name,
                "Alias": name,
                "RecipientType": "Group",
                "RecipientTypeDetails": "RoleGroup",
                "Guid": guid,
                "ExchangeObjectId": guid,
                "ExternalDirectoryObjectId": None,
                "IsValid": True,
            }
        )
    for user in _user_members(rbac, group):
        out.append(
            {
                "Name": _user_name(user),
                "Identity": _user_name(user),
                "Id": _user_name(user),
                "DisplayName": user.display_name,
                "Alias": user.mail_nickname,
                "RecipientType": "User",
                "RecipientTypeDetails": "User",
                "Guid": _guid(user.id),
                "ExchangeObjectId": _guid(user.id),
                "ExternalDirectoryObjectId": user.id,
                "WindowsLiveID": user.user_principal_name,
                "IsValid": True,
            }
        )
    return _limit(out, params)


def rbac_guid(tenant, name: str) -> str:
    """Stable GUID of a linked group."""
    from .model import builtin_guid

    return builtin_guid(tenant.id, "linked", name)


def get_management_role(ctx, params):
    """Get-ManagementRole [-Identity] [-Cmdlet [-CmdletParameters]] [-RoleType] [-GetChildren | -Recurse]."""
    rbac = ctx.tenant.rbac
    ident = params.get("Identity")
    if params.get("GetChildren") or params.get("Recurse"):
        if not ident:
            raise exo_errors.missing_mandatory(["Identity"])
        base = rbac.role(ident)
        roles = rbac._descendants(base) if params.get("Recurse") else rbac.children(base)
    else:
        roles = rbac.find_roles(ident)
    if params.get("Cmdlet"):
        cmdlet = params["Cmdlet"]
        wanted = {p.lower() for p in _names(params.get("CmdletParameters"))}
        roles = [r for r in roles if r.entry(cmdlet) is not None and wanted <= {p.lower() for p in r.entry(cmdlet)[1]}]
    if params.get("RoleType"):
        roles = [r for r in roles if r.role_type.lower() == params["RoleType"].lower()]
    return _limit([role_object(rbac, r) for r in roles], params)


def get_management_role_entry(ctx, params):
    """Get-ManagementRoleEntry -Identity ``Role\\Cmdlet`` (wildcards in either part) [-Parameters]."""
    rbac = ctx.tenant.rbac
    ident = params["Identity"]
    if "\\" not in ident:
        raise exo_errors.task_invalid(
            f"The role entry identity '{ident}' isn't valid. Use the form '<role name>\\<cmdlet name>'."
        )
    role_part, _, cmdlet_part = ident.rpartition("\\")
    roles = rbac.find_roles(role_part)
    wanted = {p.lower() for p in _names(params.get("Parameters"))}
    out = []
    for role in roles:
        for cmdlet, plist in sorted(role.entries.items(), key=lambda kv: kv[0].lower()):
            if _match(cmdlet_part or "*", cmdlet) and wanted <= {p.lower() for p in plist}:
                out.append(entry_object(role, cmdlet, plist))
    if not out and not any(ch in ident for ch in "*?"):
        raise rbac.not_found(ident)
    return _limit(out, params)


def get_management_role_assignment(ctx, params):
    """Get-ManagementRoleAssignment [-Identity] [-Role] [-RoleAssignee] [-RoleAssigneeType] [-Enabled]
    [-CustomRecipientWriteScope]; -RoleAssignee of a user or app includes what reaches it through groups."""
    rbac = ctx.tenant.rbac
    items = rbac.assignments()
    ident = params.get("Identity")
    if ident:
        items = (
            [rbac.assignment(ident)]
            if not any(ch in ident for ch in "*?")
            else [a for a in items if _match(ident, a.name)]
        )
    if params.get("Role"):
        role_pattern = params["Role"]
        if not any(ch in role_pattern for ch in "*?"):
            role_pattern = rbac.role(role_pattern).name
        items = [a for a in items if _match(role_pattern, a.role)]
    if params.get("RoleAssignee"):
        reach = {a.guid for a in _assignee_assignments(rbac, params["RoleAssignee"])}
        items = [a for a in items if a.guid in reach]
    if params.get("RoleAssigneeType"):
        items = [a for a in items if a.assignee_type.lower() == params["RoleAssigneeType"].lower()]
    if "Enabled" in params:
        items = [a for a in items if a.enabled == params["Enabled"]]
    if params.get("CustomRecipientWriteScope"):
        scope = rbac.scope(params["CustomRecipientWriteScope"])
        items = [a for a in items if (a.custom_recipient_write_scope or "").lower() == scope.name.lower()]
    return _limit([assignment_object(rbac, a) for a in items], params)


def _assignee_assignments(rbac, identity: str) -> list:
    key = identity.strip().lower()
    group = next((g for g in rbac.groups() if g.name.lower() == key), None)
    if group is not None:
        return [a for a in rbac.assignments() if a.assignee_type == "RoleGroup" and a.assignee_id == group.name]
    try:
        sp = rbac.service_principal(identity)
    except NotFound:  # not a service principal: try users next
        sp = None
    if sp is not None:
        return rbac.principal_assignments(sp.object_id, is_app=True, app_id=sp.app_id)
    user = rbac.resolve_user(identity)
    return rbac.principal_assignments(user.id)


def get_management_scope(ctx, params):
    """Get-ManagementScope [-Identity]."""
    rbac = ctx.tenant.rbac
    ident = params.get("Identity")
    if ident and not any(ch in ident for ch in "*?"):
        scopes = [rbac.scope(ident)]
    else:
        scopes = [s for s in rbac.scopes.values() if not ident or _match(ident, s.name)]
    return _limit([scope_object(s) for s in scopes], params)


def get_service_principal(ctx, params):
    """Get-ServicePrincipal [-Identity]."""
    rbac = ctx.tenant.rbac
    ident = params.get("Identity")
    sps = [rbac.service_principal(ident)] if ident else list(rbac.service_principals.values())
    return _limit([service_principal_object(sp) for sp in sps], params)


# ------------------------------------------------------------------------------------------- writers
def _changed(ctx, target: str, prop: str, old, new) -> None:
    ctx.target = target
    ctx.changes[prop] = {"old": old, "new": new}


def new_management_role(ctx, params):
    """New-ManagementRole -Name -Parent [-Description] [-EnabledCmdlets]."""
    rbac = ctx.tenant.rbac
    ctx.target = params.get("Name")
    enabled = _names(params.get("EnabledCmdlets")) or None
    role = rbac.new_role(
        params["Name"], params["Parent"], description=params.get("Description"), enabled_cmdlets=enabled
    )
    _changed(ctx, role.name, "Role", None, {"Parent": role.parent, "Entries": sorted(role.entries)})
    return [role_object(rbac, role)]


def remove_management_role(ctx, params):
    """Remove-ManagementRole -Identity [-Recursive]."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    removed = rbac.remove_role(params["Identity"], recursive=bool(params.get("Recursive")))
    for role in removed:
        _changed(ctx, removed[0].name, f"Role:{role.name}", {"Parent": role.parent}, None)
    return []


def add_management_role_entry(ctx, params):
    """Add-ManagementRoleEntry ``Role\\Cmdlet`` [-Parameters]."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    given = _names(params["Parameters"]) if "Parameters" in params else None
    role, cmdlet = rbac.add_role_entry(params["Identity"], given)
    _changed(ctx, f"{role.name}\\{cmdlet}", "Parameters", None, list(role.entries[cmdlet]))
    return [entry_object(role, cmdlet, role.entries[cmdlet])]


def remove_management_role_entry(ctx, params):
    """Remove-ManagementRoleEntry ``Role\\Cmdlet``."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    role_obj, cmdlet = rbac.split_entry_identity(params["Identity"])
    before = list((role_obj.entry(cmdlet) or (None, []))[1])
    role, real = rbac.remove_role_entry(params["Identity"])
    _changed(ctx, f"{role.name}\\{real}", "Parameters", before, None)
    return []


def set_management_role_entry(ctx, params):
    """Set-ManagementRoleEntry ``Role\\Cmdlet`` -Parameters [-AddParameter | -RemoveParameter]."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    if "Parameters" not in params:
        raise exo_errors.missing_mandatory(["Parameters"])
    mode = "add" if params.get("AddParameter") else "remove" if params.get("RemoveParameter") else "replace"
    role_obj, cmdlet = rbac.split_entry_identity(params["Identity"])
    before = list((role_obj.entry(cmdlet) or (None, []))[1])
    role, real = rbac.set_role_entry(params["Identity"], _names(params["Parameters"]), mode=mode)
    after = list(role.entries[real])
    ctx.target = f"{role.name}\\{real}"
    if [p.lower() for p in before] != [p.lower() for p in after]:
        _changed(ctx, ctx.target, "Parameters", before, after)
    else:
        ctx.warn(f"The command completed successfully but no settings of '{ctx.target}' have been modified.")
    return []


def new_management_scope(ctx, params):
    """New-ManagementScope -Name -RecipientRestrictionFilter [-RecipientRoot]."""
    rbac = ctx.tenant.rbac
    ctx.target = params.get("Name")
    scope = rbac.new_scope(
        params["Name"], params["RecipientRestrictionFilter"], recipient_root=params.get("RecipientRoot")
    )
    _changed(ctx, scope.name, "RecipientFilter", None, scope.recipient_restriction_filter)
    return [scope_object(scope)]


def remove_management_scope(ctx, params):
    """Remove-ManagementScope -Identity."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    scope = rbac.remove_scope(params["Identity"])
    _changed(ctx, scope.name, "RecipientFilter", scope.recipient_restriction_filter, None)
    return []


def new_management_role_assignment(ctx, params):
    """New-ManagementRoleAssignment -Role (-User | -SecurityGroup | -App) [-Name] [-CustomRecipientWriteScope]."""
    rbac = ctx.tenant.rbac
    ctx.target = params.get("Name") or params.get("Role")
    a = rbac.new_assignment(
        params["Role"],
        user=params.get("User"),
        security_group=params.get("SecurityGroup"),
        app=params.get("App"),
        name=params.get("Name"),
        custom_recipient_write_scope=params.get("CustomRecipientWriteScope"),
    )
    _changed(
        ctx,
        a.name,
        "RoleAssignment",
        None,
        {
            "Role": a.role,
            "RoleAssigneeType": a.assignee_type,
            "RoleAssignee": a.assignee_id,
            "CustomRecipientWriteScope": a.custom_recipient_write_scope,
        },
    )
    return [assignment_object(rbac, a)]


def remove_management_role_assignment(ctx, params):
    """Remove-ManagementRoleAssignment -Identity."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    a = rbac.remove_assignment(params["Identity"])
    _changed(ctx, a.name, "RoleAssignment", {"Role": a.role, "RoleAssignee": a.assignee_id}, None)
    return []


def new_service_principal(ctx, params):
    """New-ServicePrincipal -AppId -ObjectId [-DisplayName]."""
    rbac = ctx.tenant.rbac
    ctx.target = params.get("ObjectId")
    sp = rbac.new_service_principal(params["AppId"], params["ObjectId"], params.get("DisplayName"))
    _changed(ctx, sp.object_id, "ServicePrincipal", None, {"AppId": sp.app_id, "DisplayName": sp.display_name})
    return [service_principal_object(sp)]


def add_role_group_member(ctx, params):
    """Add-RoleGroupMember -Identity -Member."""
    ctx.target = params["Identity"]
    group, user = ctx.tenant.rbac.add_group_member(params["Identity"], params["Member"])
    _changed(ctx, group.name, "Members", None, user.user_principal_name)
    return []


def remove_role_group_member(ctx, params):
    """Remove-RoleGroupMember -Identity -Member."""
    ctx.target = params["Identity"]
    group, user = ctx.tenant.rbac.remove_group_member(params["Identity"], params["Member"])
    _changed(ctx, group.name, "Members", user.user_principal_name, None)
    return []


def remove_service_principal(ctx, params):
    """Remove-ServicePrincipal -Identity (its role assignments are removed with it)."""
    rbac = ctx.tenant.rbac
    ctx.target = params["Identity"]
    sp = rbac.remove_service_principal(params["Identity"])
    _changed(ctx, sp.object_id, "ServicePrincipal", {"AppId": sp.app_id, "DisplayName": sp.display_name}, None)
    return []


# ------------------------------------------------------------------------------------------ registry
_ID0: dict[str, Any] = {"type": "Identity", "position": 0}
_RESULT = Param("ResultSize", "Unlimited")

RBAC_CMDLETS = (
    (
        "Get-RoleGroup",
        get_role_group,
        [Param("Identity", **_ID0), _RESULT, Param("ShowPartnerLinked", "Switch", no_op=True)],
    ),
    ("Get-RoleGroupMember", get_role_group_member, [Param("Identity", required=True, **_ID0), _RESULT]),
    (
        "Add-RoleGroupMember",
        add_role_group_member,
        [
            Param("Identity", required=True, **_ID0),
            Param("Member", "Identity", required=True),
            Param("BypassSecurityGroupManagerCheck", "Switch", no_op=True),
            _CONFIRM,
        ],
    ),
    (
        "Remove-RoleGroupMember",
        remove_role_group_member,
        [
            Param("Identity", required=True, **_ID0),
            Param("Member", "Identity", required=True),
            Param("BypassSecurityGroupManagerCheck", "Switch", no_op=True),
            _CONFIRM,
        ],
    ),
    (
        "Get-ManagementRole",
        get_management_role,
        [
            Param("Identity", **_ID0),
            Param("Cmdlet"),
            Param("CmdletParameters", "Strings"),
            Param("RoleType"),
            Param("GetChildren", "Switch", group="GetChildren"),
            Param("Recurse", "Switch", group="Recurse"),
        ],
    ),
    (
        "Get-ManagementRoleEntry",
        get_management_role_entry,
        [Param("Identity", required=True, **_ID0), Param("Parameters", "Strings"), _RESULT],
    ),
    (
        "Get-ManagementRoleAssignment",
        get_management_role_assignment,
        [
            Param("Identity", **_ID0),
            Param("Role"),
            Param("RoleAssignee"),
            Param("RoleAssigneeType", "Enum", enum=("User", "SecurityGroup", "RoleGroup", "ServicePrincipal")),
            Param("Enabled", "Boolean"),
            Param("CustomRecipientWriteScope"),
            Param("GetEffectiveUsers", "Switch", no_op=True),
            _RESULT,
        ],
    ),
    ("Get-ManagementScope", get_management_scope, [Param("Identity", **_ID0)]),
    ("Get-ServicePrincipal", get_service_principal, [Param("Identity", **_ID0)]),
    (
        "New-ManagementRole",
        new_management_role,
        [
            Param("Name", required=True, position=0),
            Param("Parent", "Identity", required=True),
            Param("Description"),
            Param("EnabledCmdlets", "Strings"),
            _CONFIRM,
        ],
    ),
    (
        "Remove-ManagementRole",
        remove_management_role,
        [Param("Identity", required=True, **_ID0), Param("Recursive", "Switch"), _CONFIRM],
    ),
    (
        "Add-ManagementRoleEntry",
        add_management_role_entry,
        [Param("Identity", required=True, **_ID0), Param("Parameters", "Strings"), _CONFIRM],
    ),
    ("Remove-ManagementRoleEntry", remove_management_role_entry, [Param("Identity", required=True, **_ID0), _CONFIRM]),
    (
        "Set-ManagementRoleEntry",
        set_management_role_entry,
        [
            Param("Identity", required=True, **_ID0),
            Param("Parameters", "Strings"),
            Param("AddParameter", "Switch", group="AddParameter"),
            Param("RemoveParameter", "Switch", group="RemoveParameter"),
            _CONFIRM,
        ],
    ),
    (
        "New-ManagementScope",
        new_management_scope,
        [
            Param("Name", required=True, position=0),
            Param("RecipientRestrictionFilter", required=True),
            Param("RecipientRoot"),
            _CONFIRM,
        ],
    ),
    ("Remove-ManagementScope", remove_management_scope, [Param("Identity", required=True, **_ID0), _CONFIRM]),
    (
        "New-ManagementRoleAssignment",
        new_management_role_assignment,
        [
            Param("Name", position=0),
            Param("Role", "Identity", required=True),
            Param("User", "Identity", group="User"),
            Param("SecurityGroup", "Identity", group="SecurityGroup"),
            Param("App", "Identity", group="App"),
            Param("CustomRecipientWriteScope"),
            _CONFIRM,
        ],
    ),
    (
        "Remove-ManagementRoleAssignment",
        remove_management_role_assignment,
        [Param("Identity", required=True, **_ID0), _CONFIRM],
    ),
    (
        "New-ServicePrincipal",
        new_service_principal,
        [Param("AppId", required=True), Param("ObjectId", required=True), Param("DisplayName"), _CONFIRM],
    ),
    ("Remove-ServicePrincipal", remove_service_principal, [Param("Identity", required=True, **_ID0), _CONFIRM]),
)

for _name, _handler, _params in RBAC_CMDLETS:
    register_cmdlet(_name, _handler, _params, description=(_handler.__doc__ or "").strip().splitlines()[0])
