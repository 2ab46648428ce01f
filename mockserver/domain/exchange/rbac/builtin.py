"""Built-in Exchange Online RBAC data: the management roles, role groups and role-group assignments a new
tenant has. Role entries are generated from the emulated cmdlets' parameter lists (the Exchange cmdlet
registry), so every emulated cmdlet is held by some role and the entries never drift from what the
dispatcher accepts."""

from __future__ import annotations

from dataclasses import dataclass

from ...entra import roles as dirroles
from .model import ROLE_NAME_MAX, ManagementRole, RoleAssignment, RoleGroup, builtin_guid, linked_group_suffix

#: Nouns of recipient cmdlets (Mail Recipients family) and of RBAC cmdlets (Role Management family); every
#: other noun is organization configuration.
RECIPIENT_NOUNS = frozenset(
    n.lower()
    for n in (
        "Mailbox",
        "Recipient",
        "User",
        "MailUser",
        "SoftDeletedMailbox",
        "MailContact",
        "RemoteMailbox",
        "CASMailbox",
        "MailboxPermission",
        "RecipientPermission",
        "MailboxStatistics",
        "MailboxFolderPermission",
        "DistributionGroupMember",
        "DynamicDistributionGroupMember",
    )
)
RBAC_NOUNS = frozenset(
    n.lower()
    for n in (
        "RoleGroup",
        "RoleGroupMember",
        "ManagementRole",
        "ManagementRoleEntry",
        "ManagementRoleAssignment",
        "ManagementScope",
        "ServicePrincipal",
    )
)

#: The one Set-Mailbox entry of the User Options role (help desk): a mock choice, see docs/fidelity.md.
USER_OPTIONS_SET_MAILBOX = ("Identity", "GrantSendOnBehalfTo")


def split_cmdlet(cmdlet: str) -> tuple[str, str]:
    """(verb, noun) of a cmdlet name, lowercase."""
    verb, _, noun = cmdlet.partition("-")
    return verb.lower(), noun.lower()


def _family(cmdlet: str) -> str:
    noun = split_cmdlet(cmdlet)[1]
    if noun in RBAC_NOUNS:
        return "rbac"
    if noun in RECIPIENT_NOUNS:
        return "recipient"
    return "config"


@dataclass(frozen=True)
class RoleDef:
    """A built-in management role: its EXO name and RoleType, and which cmdlets (with which parameters) it holds."""

    name: str
    role_type: str
    description: str
    view_only: bool = False

    def select(self, cmdlet: str, params: list[str]) -> list[str] | None:
        """Parameters this role grants on ``cmdlet`` (None: the role has no entry for it)."""
        verb, noun = split_cmdlet(cmdlet)
        family = _family(cmdlet)
        rule = _RULES[self.name]
        return rule(verb, noun, family, cmdlet, params)


def _only(params: list[str], allowed: tuple[str, ...]) -> list[str]:
    wanted = {a.lower() for a in allowed}
    return [p for p in params if p.lower() in wanted]


def _mail_recipients(verb, noun, family, cmdlet, params):
    return params if family == "recipient" and verb in ("get", "set", "add", "enable", "disable") else None


def _mail_recipient_creation(verb, noun, family, cmdlet, params):
    return params if family == "recipient" and verb in ("get", "new", "remove", "undo") else None


def _view_only_recipients(verb, noun, family, cmdlet, params):
    return params if family == "recipient" and verb == "get" else None


def _user_options(verb, noun, family, cmdlet, params):
    if family == "recipient" and verb == "get" and noun in ("mailbox", "recipient", "user"):
        return params
    if cmdlet.lower() == "set-mailbox":
        return _only(params, USER_OPTIONS_SET_MAILBOX)
    return None


def _org_configuration(verb, noun, family, cmdlet, params):
    return params if family == "config" else None


def _view_only_configuration(verb, noun, family, cmdlet, params):
    return params if family in ("config", "rbac") and verb == "get" else None


def _role_management(verb, noun, family, cmdlet, params):
    return params if family == "rbac" else None


_RULES = {
    "Mail Recipients": _mail_recipients,
    "Mail Recipient Creation": _mail_recipient_creation,
    "View-Only Recipients": _view_only_recipients,
    "User Options": _user_options,
    "Organization Configuration": _org_configuration,
    "View-Only Configuration": _view_only_configuration,
    "Role Management": _role_management,
}

ROLE_DEFS: tuple[RoleDef, ...] = (
    RoleDef(
        "Mail Recipients",
        "MailRecipients",
        "Lets administrators read and change existing mailboxes, mail users and their user objects.",
    ),
    RoleDef(
        "Mail Recipient Creation",
        "MailRecipientCreation",
        "Lets administrators create, remove and restore mailboxes and mail users.",
    ),
    RoleDef(
        "View-Only Recipients",
        "ViewOnlyRecipients",
        "Lets administrators view recipients and their configuration.",
        view_only=True,
    ),
    RoleDef("User Options", "UserOptions", "Lets help desk staff view recipients and change a few per-user options."),
    RoleDef(
        "Organization Configuration",
        "OrganizationConfiguration",
        "Lets administrators view and change organization-wide Exchange settings.",
    ),
    RoleDef(
        "View-Only Configuration",
        "ViewOnlyConfiguration",
        "Lets administrators view organization configuration, including RBAC configuration.",
        view_only=True,
    ),
    RoleDef(
        "Role Management",
        "RoleManagement",
        "Lets administrators manage management roles, role entries, scopes, assignments and role groups.",
    ),
)
ROLE_DEF_BY_NAME = {r.name.lower(): r for r in ROLE_DEFS}


@dataclass(frozen=True)
class RoleGroupDef:
    """A built-in role group: its roles and the linked groups (prefix, directory role) that make members. The
    directory role -> role group links follow Learn's "Microsoft Entra roles in Exchange Online" table
    (https://learn.microsoft.com/exchange/permissions-exo/permissions-exo); a directory role absent from that table
    (Hybrid Identity Administrator among them) links to no role group and so grants no Exchange cmdlet."""

    name: str
    description: str
    roles: tuple[str, ...]
    linked: tuple[tuple[str, str], ...]


ROLE_GROUP_DEFS: tuple[RoleGroupDef, ...] = (
    RoleGroupDef(
        "Organization Management",
        "Members of this management role group have permissions to manage Exchange objects and their "
        "properties in the Exchange organization.",
        (
            "Mail Recipients",
            "Mail Recipient Creation",
            "View-Only Recipients",
            "User Options",
            "Organization Configuration",
            "View-Only Configuration",
            "Role Management",
        ),
        (("TenantAdmins", dirroles.GLOBAL_ADMINISTRATOR), ("ExchangeServiceAdmins", dirroles.EXCHANGE_ADMINISTRATOR)),
    ),
    RoleGroupDef(
        "View-Only Organization Management",
        "Members of this management role group can view recipient and configuration objects and their "
        "properties in the Exchange organization.",
        ("View-Only Configuration", "View-Only Recipients"),
        (("GlobalReaders", dirroles.GLOBAL_READER),),
    ),
    RoleGroupDef(
        "Recipient Management",
        "Members of this management role group have rights to create, manage, and remove Exchange "
        "recipient objects in the Exchange organization.",
        ("Mail Recipients", "Mail Recipient Creation"),
        (("MailboxAdmins", dirroles.EXCHANGE_RECIPIENT_ADMINISTRATOR),),
    ),
    RoleGroupDef(
        "Help Desk",
        "Members of this management role group can view and manage the configuration for individual "
        "recipients and view recipients in an Exchange organization.",
        ("User Options", "View-Only Recipients"),
        (("HelpdeskAdmins", dirroles.HELPDESK_ADMINISTRATOR),),
    ),
    RoleGroupDef(
        "Security Administrator",
        "Linked to the Security Administrator directory role; members can view recipients and "
        "configuration in the Exchange organization.",
        ("View-Only Recipients", "View-Only Configuration"),
        (("SecurityAdmins", dirroles.SECURITY_ADMINISTRATOR),),
    ),
    RoleGroupDef(
        "Compliance Management",
        "Members of this management role group can view recipients and configuration for compliance purposes.",
        ("View-Only Recipients", "View-Only Configuration"),
        (("ComplianceAdmins", dirroles.COMPLIANCE_ADMINISTRATOR),),
    ),
)


def assignment_name(role: str, assignee: str) -> str:
    """Default role assignment name as Exchange makes it: ``<role>-<assignee>``, cut to 64 characters."""
    return f"{role}-{assignee}"[:ROLE_NAME_MAX]


def build_roles(tenant_id: str, cmdlet_params: dict[str, list[str]], now: float) -> dict[str, ManagementRole]:
    """Built-in management roles keyed by lowercase name, with one entry per emulated cmdlet they hold."""
    out: dict[str, ManagementRole] = {}
    for rdef in ROLE_DEFS:
        entries = {}
        for cmdlet in sorted(cmdlet_params, key=str.lower):
            params = rdef.select(cmdlet, list(cmdlet_params[cmdlet]))
            if params is not None:
                entries[cmdlet] = sorted(params, key=str.lower)
        out[rdef.name.lower()] = ManagementRole(
            name=rdef.name,
            guid=builtin_guid(tenant_id, "role", rdef.name),
            role_type=rdef.role_type,
            entries=entries,
            description=rdef.description,
            builtin=True,
            view_only=rdef.view_only,
            when_created=now,
            when_changed=now,
        )
    return out


def build_groups(tenant_id: str) -> dict[str, RoleGroup]:
    """Built-in role groups keyed by lowercase name, linked groups named ``<Prefix>_<n>`` stable per tenant."""
    out = {}
    for gdef in ROLE_GROUP_DEFS:
        linked = [(f"{prefix}_{linked_group_suffix(tenant_id, prefix)}", role) for prefix, role in gdef.linked]
        out[gdef.name.lower()] = RoleGroup(
            name=gdef.name,
            guid=builtin_guid(tenant_id, "group", gdef.name),
            description=gdef.description,
            roles=list(gdef.roles),
            linked=linked,
        )
    return out


def build_group_assignments(tenant_id: str, groups: dict[str, RoleGroup], now: float) -> dict[str, RoleAssignment]:
    """The role assignments of the built-in role groups, keyed by guid."""
    out = {}
    for group in groups.values():
        for role in group.roles:
            name = assignment_name(role, group.name)
            guid = builtin_guid(tenant_id, "assignment", name)
            out[guid] = RoleAssignment(
                name=name,
                guid=guid,
                role=role,
                assignee_type="RoleGroup",
                assignee_id=group.name,
                assignee_name=group.name,
                builtin=True,
                when_created=now,
                when_changed=now,
            )
    return out
