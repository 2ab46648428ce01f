"""Exchange Online RBAC objects: management roles with their role entries, role groups (with the linked groups
that carry Entra directory roles into Exchange), management scopes, role assignments and the Exchange-side
service principals that let Entra apps take part in RBAC."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from ...entra.directory import Record

#: Maximum length of a management role name (New-ManagementRole -Name).
ROLE_NAME_MAX = 64

#: PowerShell common and risk-mitigation parameters: every cmdlet that has them accepts them whatever its role
#: entries say (clients send ``Confirm: false`` routinely; a trimmed role must not break them).
COMMON_PARAMETERS = frozenset(
    p.lower()
    for p in (
        "Debug",
        "ErrorAction",
        "ErrorVariable",
        "InformationAction",
        "InformationVariable",
        "OutBuffer",
        "OutVariable",
        "PipelineVariable",
        "ProgressAction",
        "Verbose",
        "WarningAction",
        "WarningVariable",
        "Confirm",
        "WhatIf",
    )
)

#: RecipientWriteScope / ConfigWriteScope values Get-ManagementRoleAssignment shows.
SCOPE_ORGANIZATION = "Organization"
SCOPE_CUSTOM = "CustomRecipientScope"
SCOPE_NONE = "NoScope"

_RBAC_NAMESPACE = uuid.UUID("0e5f5a4c-7b1e-4c43-9a55-1b7f0d6c2a90")


def builtin_guid(tenant_id: str, kind: str, name: str) -> str:
    """Stable GUID of a built-in RBAC object: built-ins must not consume the tenant's seeded id stream."""
    return str(uuid.uuid5(_RBAC_NAMESPACE, f"{tenant_id}:{kind}:{name.lower()}"))


def linked_group_suffix(tenant_id: str, prefix: str) -> str:
    """The numeric suffix of a linked role group name (``TenantAdmins_-123456789``), stable per tenant."""
    digest = hashlib.sha256(f"{tenant_id}:{prefix}".encode()).digest()
    value = int.from_bytes(digest[:4], "big", signed=True)
    return str(value)


@dataclass
class ManagementRole(Record):
    """A management role (Get-ManagementRole): a named set of role entries, built-in or a custom child role."""

    name: str
    guid: str
    role_type: str
    #: cmdlet name -> the parameters the role allows for it (a role entry each).
    entries: dict = field(default_factory=dict)
    parent: str | None = None
    description: str = ""
    builtin: bool = True
    #: True for roles that only read (their implicit write scopes are NoScope).
    view_only: bool = False
    when_created: float = 0.0
    when_changed: float = 0.0

    def entry(self, cmdlet: str) -> tuple[str, list[str]] | None:
        """(real cmdlet name, parameters) of the entry for ``cmdlet`` (case-insensitive), or None."""
        params = self.entries.get(cmdlet)
        if params is not None:  # exact spelling (what the dispatcher passes): O(1); names never differ by case only
            return cmdlet, params
        key = cmdlet.lower()
        if self.builtin:  # built-in entries never change in place: index them by lower-case name once
            index = self.__dict__.get("_entry_index")
            if index is None:
                index = self.__dict__["_entry_index"] = {n.lower(): n for n in self.entries}
            name = index.get(key)
            return (name, self.entries[name]) if name is not None else None
        for name, params in self.entries.items():
            if name.lower() == key:
                return name, params
        return None


@dataclass
class RoleGroup(Record):
    """A role group (Get-RoleGroup): roles assigned to the group, members, and for the built-in groups the
    linked groups through which Entra directory roles grant membership."""

    name: str
    guid: str
    description: str
    roles: list[str] = field(default_factory=list)
    #: [(linked group name, directory role template id)]: members of the group that EXO cannot list.
    linked: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ManagementScope(Record):
    """A management scope (New-ManagementScope -RecipientRestrictionFilter): an OPATH filter over recipients."""

    name: str
    guid: str
    recipient_restriction_filter: str
    recipient_root: str | None = None
    exclusive: bool = False
    when_created: float = 0.0
    when_changed: float = 0.0


@dataclass
class RoleAssignment(Record):
    """A management role assignment (Get-ManagementRoleAssignment): a role given to a role group, a user, a
    security group or a service principal, optionally limited by a custom recipient write scope."""

    name: str
    guid: str
    role: str
    #: RoleGroup | User | SecurityGroup | ServicePrincipal
    assignee_type: str
    #: Role group name, Entra user id, group id, or the service principal's object id.
    assignee_id: str
    assignee_name: str
    custom_recipient_write_scope: str | None = None
    enabled: bool = True
    builtin: bool = False
    when_created: float = 0.0
    when_changed: float = 0.0


@dataclass
class ExoServicePrincipal(Record):
    """An Exchange-side registration of an Entra service principal (New-ServicePrincipal) for app RBAC."""

    app_id: str
    object_id: str
    display_name: str
    guid: str
    when_created: float = 0.0
    when_changed: float = 0.0
