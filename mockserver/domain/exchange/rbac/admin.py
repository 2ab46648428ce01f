"""Exchange RBAC administration: the rules of New-ManagementRole, Add-/Remove-/Set-ManagementRoleEntry,
New-/Remove-ManagementScope, New-/Remove-ServicePrincipal and New-/Remove-ManagementRoleAssignment, mixed into
:class:`~.rbac.ExchangeRbac` (which supplies the lookups: ``role``, ``scope``, ``assignment``, ...)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import Conflict, InvalidArgument, NotFound
from . import builtin as rbac_builtin
from .model import ROLE_NAME_MAX, ExoServicePrincipal, ManagementRole, ManagementScope, RoleAssignment

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """Whether ``value`` is a GUID string."""
    return bool(_GUID_RE.match(value or ""))


def mutates(method):
    """Mark an RBAC administration method as a change: cached authorization decisions are dropped after it."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            self.changed()

    return wrapper


class RbacAdministration:
    """Changes to custom roles, role entries, scopes, service principals and assignments (built-ins are fixed)."""

    generation = 0

    if TYPE_CHECKING:
        # What the host class (ExchangeRbac in engine.py) supplies; declared so the type checker sees the mixin's
        # contract rather than an attribute it cannot find.
        tenant: Any
        custom_roles: dict[str, ManagementRole]
        scopes: dict[str, ManagementScope]
        custom_assignments: dict[str, RoleAssignment]
        service_principals: dict[str, ExoServicePrincipal]
        group_members: dict[str, list[str]]

        def role(self, identity: str) -> ManagementRole: ...
        def _role_or_none(self, name: str) -> ManagementRole | None: ...
        def children(self, role: ManagementRole) -> list[ManagementRole]: ...
        def group(self, identity: str) -> Any: ...
        def assignments(self) -> list[RoleAssignment]: ...
        def assignment(self, identity: str) -> RoleAssignment: ...
        def scope(self, identity: str) -> ManagementScope: ...
        def service_principal(self, identity: str) -> ExoServicePrincipal: ...
        def not_found(self, identity: Any) -> NotFound: ...
        def compile_filter(self, text: str) -> Callable[[Any], bool]: ...

    def changed(self) -> None:
        """Record that Exchange RBAC state changed (cached authorization decisions are stale)."""
        self.generation += 1

    def _check_name(self, name, parameter: str = "Name") -> str:
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgument(
                f"Cannot validate argument on parameter '{parameter}'. The argument is null or "
                "empty. Provide an argument that is not null or empty, and then try the command "
                "again.",
                parameter=parameter,
            )
        name = name.strip()
        if len(name) > ROLE_NAME_MAX:
            raise InvalidArgument(
                f"Cannot validate argument on parameter '{parameter}'. The length of the argument "
                f"is too long. Shorten the length of the argument to less than or equal to "
                f'"{ROLE_NAME_MAX}" and then try the command again.',
                parameter=parameter,
            )
        if "\\" in name:
            raise InvalidArgument(f"The name '{name}' contains an invalid character '\\'.", parameter=parameter)
        return name

    @mutates
    def new_role(
        self, name: str, parent: str, *, description: str | None = None, enabled_cmdlets: list[str] | None = None
    ) -> ManagementRole:
        """New-ManagementRole -Name -Parent [-EnabledCmdlets]: a child role with (a subset of) the parent's entries."""
        name = self._check_name(name)
        if self._role_or_none(name) is not None:
            raise Conflict(
                f'The role "{name}" already exists. Specify a different name.',
                exception_type="Microsoft.Exchange.Management.Tasks.ADObjectAlreadyExistsException",
            )
        source = self.role(parent)
        entries = {c: list(p) for c, p in source.entries.items()}
        if enabled_cmdlets:
            wanted = {c.lower() for c in enabled_cmdlets}
            missing = [c for c in enabled_cmdlets if source.entry(c) is None]
            if missing:
                raise InvalidArgument(
                    f"The cmdlet '{missing[0]}' isn't present on the parent role "
                    f"'{source.name}', so it can't be enabled on role '{name}'.",
                    parameter="EnabledCmdlets",
                )
            entries = {c: p for c, p in entries.items() if c.lower() in wanted}
        now = self.tenant.clock.now()
        role = ManagementRole(
            name=name,
            guid=self.tenant.ids.guid(),
            role_type=source.role_type,
            entries=entries,
            parent=source.name,
            description=description or "",
            builtin=False,
            view_only=source.view_only,
            when_created=now,
            when_changed=now,
        )
        self.custom_roles[name.lower()] = role
        return role

    @mutates
    def remove_role(self, identity: str, *, recursive: bool = False) -> list[ManagementRole]:
        """Remove-ManagementRole [-Recursive]: custom roles only, not while assigned or while it has children."""
        role = self.role(identity)
        self._require_custom(role, "removed")
        doomed = self._descendants(role) if recursive else []
        if not recursive and self.children(role):
            raise InvalidArgument(
                f'The role "{role.name}" can\'t be removed because it has child roles. Use the '
                "Recursive parameter to remove the role and its children."
            )
        for r in [role] + doomed:
            used = [a.name for a in self.custom_assignments.values() if a.role.lower() == r.name.lower()]
            if used:
                raise InvalidArgument(
                    f'The role "{r.name}" can\'t be removed because it has role assignments: '
                    f"{', '.join(used)}. Remove the role assignments first."
                )
        for r in [role] + doomed:
            self.custom_roles.pop(r.name.lower(), None)
        return [role] + doomed

    def _descendants(self, role: ManagementRole) -> list[ManagementRole]:
        out = []
        for child in self.children(role):
            out.append(child)
            out.extend(self._descendants(child))
        return out

    def _require_custom(self, role: ManagementRole, verb: str) -> None:
        if role.builtin:
            raise InvalidArgument(
                f'The role "{role.name}" is a built-in role and can\'t be {verb}. Create a '
                "custom role with New-ManagementRole -Parent and change the custom role instead.",
                exception_type="System.InvalidOperationException",
            )

    def split_entry_identity(self, identity: str) -> tuple[ManagementRole, str]:
        """Resolve ``Role\\Cmdlet`` to (role, cmdlet)."""
        if not isinstance(identity, str) or "\\" not in identity:
            raise InvalidArgument(
                f"The role entry identity '{identity}' isn't valid. Use the form '<role name>\\<cmdlet name>'.",
                parameter="Identity",
            )
        role_name, _, cmdlet = identity.rpartition("\\")
        return self.role(role_name), cmdlet.strip()

    def _parent_entry(self, role: ManagementRole, cmdlet: str) -> tuple[str, list[str]] | None:
        parent = self._role_or_none(role.parent or "")
        return parent.entry(cmdlet) if parent is not None else None

    @mutates
    def add_role_entry(self, identity: str, parameters: list[str] | None = None) -> tuple[ManagementRole, str]:
        """Add-ManagementRoleEntry ``Role\\Cmdlet`` [-Parameters]: only entries (and parameters) of the parent."""
        role, cmdlet = self.split_entry_identity(identity)
        self._require_custom(role, "changed")
        parent_entry = self._parent_entry(role, cmdlet)
        if parent_entry is None:
            raise InvalidArgument(
                f"The role entry '{cmdlet}' can't be added to role \"{role.name}\" because it "
                f'isn\'t present on the parent role "{role.parent}".',
                parameter="Identity",
            )
        if role.entry(cmdlet) is not None:
            raise Conflict(f'The role entry "{role.name}\\{parent_entry[0]}" already exists.')
        params = self._from_parent(role, parent_entry, parameters) if parameters is not None else list(parent_entry[1])
        role.entries[parent_entry[0]] = sorted(params, key=str.lower)
        role.when_changed = self.tenant.clock.now()
        return role, parent_entry[0]

    def _from_parent(self, role: ManagementRole, parent_entry, parameters: list[str]) -> list[str]:
        by_lower = {p.lower(): p for p in parent_entry[1]}
        out = []
        for p in parameters:
            if p.lower() not in by_lower:
                raise InvalidArgument(
                    f"The parameter '{p}' can't be added to the role entry "
                    f'"{role.name}\\{parent_entry[0]}" because it isn\'t present on the entry '
                    f'of the parent role "{role.parent}".',
                    parameter="Parameters",
                )
            if by_lower[p.lower()] not in out:
                out.append(by_lower[p.lower()])
        return out

    @mutates
    def remove_role_entry(self, identity: str) -> tuple[ManagementRole, str]:
        """Remove-ManagementRoleEntry ``Role\\Cmdlet``: custom roles only; children must lose it first."""
        role, cmdlet = self.split_entry_identity(identity)
        entry = role.entry(cmdlet)
        if entry is None:
            raise self.not_found(identity)
        self._require_custom(role, "changed")
        holders = [c.name for c in self.children(role) if c.entry(cmdlet) is not None]
        if holders:
            raise InvalidArgument(
                f'The role entry "{role.name}\\{entry[0]}" can\'t be removed because child role '
                f'"{holders[0]}" still has it. Remove it from the child roles first.'
            )
        del role.entries[entry[0]]
        role.when_changed = self.tenant.clock.now()
        return role, entry[0]

    @mutates
    def set_role_entry(
        self, identity: str, parameters: list[str], *, mode: str = "replace"
    ) -> tuple[ManagementRole, str]:
        """Set-ManagementRoleEntry ``Role\\Cmdlet`` -Parameters [-AddParameter | -RemoveParameter]: replace, add
        or remove parameters; only parameters the parent's entry has; never on built-in roles."""
        role, cmdlet = self.split_entry_identity(identity)
        entry = role.entry(cmdlet)
        if entry is None:
            raise self.not_found(identity)
        self._require_custom(role, "changed")
        real, current = entry
        parent_entry = self._parent_entry(role, real) or (real, list(current))
        if mode == "remove":
            drop = {p.lower() for p in parameters}
            unknown = [p for p in parameters if p.lower() not in {c.lower() for c in current}]
            if unknown:
                raise InvalidArgument(
                    f"The parameter '{unknown[0]}' isn't on the role entry "
                    f'"{role.name}\\{real}", so it can\'t be removed.',
                    parameter="Parameters",
                )
            new = [p for p in current if p.lower() not in drop]
        else:
            given = self._from_parent(role, parent_entry, parameters)
            new = (
                list(current) + [p for p in given if p.lower() not in {c.lower() for c in current}]
                if mode == "add"
                else given
            )
        lost = {p.lower() for p in current} - {p.lower() for p in new}
        for child in self.children(role):
            child_entry = child.entry(real)
            if child_entry and lost.intersection(p.lower() for p in child_entry[1]):
                raise InvalidArgument(
                    f'The parameters can\'t be removed from "{role.name}\\{real}" because child '
                    f'role "{child.name}" still has them. Change the child roles first.'
                )
        role.entries[real] = sorted(new, key=str.lower)
        role.when_changed = self.tenant.clock.now()
        return role, real

    @mutates
    def new_scope(
        self, name: str, recipient_filter: str, *, recipient_root: str | None = None, exclusive: bool = False
    ) -> ManagementScope:
        """New-ManagementScope -Name -RecipientRestrictionFilter (the filter must parse as OPATH)."""
        name = self._check_name(name)
        if name.lower() in self.scopes:
            raise Conflict(f'The management scope "{name}" already exists. Specify a different name.')
        if not isinstance(recipient_filter, str) or not recipient_filter.strip():
            raise InvalidArgument(
                "Cannot validate argument on parameter 'RecipientRestrictionFilter'. The argument "
                "is null or empty. Provide an argument that is not null or empty, and then try "
                "the command again.",
                parameter="RecipientRestrictionFilter",
            )
        self.compile_filter(recipient_filter)  # raises the OPATH evaluator's InvalidArgument on a bad filter
        now = self.tenant.clock.now()
        scope = ManagementScope(
            name=name,
            guid=self.tenant.ids.guid(),
            recipient_restriction_filter=recipient_filter,
            recipient_root=recipient_root,
            exclusive=exclusive,
            when_created=now,
            when_changed=now,
        )
        self.scopes[name.lower()] = scope
        return scope

    @mutates
    def remove_scope(self, identity: str) -> ManagementScope:
        """Remove-ManagementScope: not while an assignment uses it."""
        scope = self.scope(identity)
        used = [
            a.name
            for a in self.custom_assignments.values()
            if (a.custom_recipient_write_scope or "").lower() == scope.name.lower()
        ]
        if used:
            raise InvalidArgument(
                f"The management scope \"{scope.name}\" can't be removed because it's used by role "
                f"assignments: {', '.join(used)}."
            )
        return self.scopes.pop(scope.name.lower())

    @mutates
    def new_service_principal(
        self, app_id: str, object_id: str, display_name: str | None = None
    ) -> ExoServicePrincipal:
        """New-ServicePrincipal -AppId -ObjectId [-DisplayName]: register an Entra service principal in Exchange."""
        for value, param in ((app_id, "AppId"), (object_id, "ObjectId")):
            if not isinstance(value, str) or not is_guid(value):
                raise InvalidArgument(
                    f"Cannot process argument transformation on parameter '{param}'. '{value}' isn't a valid GUID.",
                    parameter=param,
                )
        app = self.tenant.app_by_service_principal(object_id)
        if app is None or app.app_id.lower() != app_id.lower():
            raise NotFound(
                f"The service principal with ObjectId '{object_id}' and AppId '{app_id}' couldn't be "
                "found in Microsoft Entra ID.",
                identity=object_id,
            )
        if object_id.lower() in self.service_principals:
            raise Conflict(f"A service principal with ObjectId '{object_id}' already exists.")
        now = self.tenant.clock.now()
        sp = ExoServicePrincipal(
            app_id=app.app_id,
            object_id=object_id.lower(),
            display_name=(display_name or app.name),
            guid=self.tenant.ids.guid(),
            when_created=now,
            when_changed=now,
        )
        self.service_principals[sp.object_id] = sp
        return sp

    @mutates
    def remove_service_principal(self, identity: str) -> ExoServicePrincipal:
        """Remove-ServicePrincipal: its role assignments go with it."""
        sp = self.service_principal(identity)
        for guid, a in list(self.custom_assignments.items()):
            if a.assignee_type == "ServicePrincipal" and a.assignee_id == sp.object_id:
                del self.custom_assignments[guid]
        return self.service_principals.pop(sp.object_id)

    def resolve_user(self, identity: str):
        """A live Entra user by UPN, object id, mail nickname or display name (-User)."""
        key = (identity or "").strip().lower()
        for u in self.tenant.users:
            if u.deleted_date_time is not None:
                continue
            if key in (
                u.id.lower(),
                u.user_principal_name.lower(),
                (u.mail_nickname or "").lower(),
                (u.display_name or "").lower(),
                (u.mail or "").lower(),
            ):
                return u
        raise self.not_found(identity)

    def resolve_security_group(self, identity: str):
        """A directory group by id or display name (-SecurityGroup): the mock's Entra directory models no groups,
        so every name is not found."""
        raise self.not_found(identity)

    @mutates
    def new_assignment(
        self,
        role: str,
        *,
        user: str | None = None,
        security_group: str | None = None,
        app: str | None = None,
        name: str | None = None,
        custom_recipient_write_scope: str | None = None,
    ) -> RoleAssignment:
        """New-ManagementRoleAssignment -Role (-User | -SecurityGroup | -App) [-CustomRecipientWriteScope] [-Name]."""
        given = [p for p, v in (("User", user), ("SecurityGroup", security_group), ("App", app)) if v]
        if len(given) != 1:
            raise InvalidArgument(
                "Parameter set cannot be resolved using the specified named parameters. Specify "
                "exactly one of User, SecurityGroup or App.",
                exception_type="System.Management.Automation.ParameterBindingException",
            )
        target_role = self.role(role)
        if user:
            u = self.resolve_user(user)
            kind, assignee_id, assignee_name = "User", u.id, u.mail_nickname or u.user_principal_name
        elif security_group:
            g = self.resolve_security_group(security_group)
            kind, assignee_id, assignee_name = "SecurityGroup", g.id, g.display_name
        else:
            assert app is not None  # exactly one of the three was given (checked above)
            sp = self.service_principal(app)
            kind, assignee_id, assignee_name = "ServicePrincipal", sp.object_id, sp.display_name
        scope_name = None
        if custom_recipient_write_scope:
            scope_name = self.scope(custom_recipient_write_scope).name
        if name is not None:
            name = self._check_name(name)
            if any(a.name.lower() == name.lower() for a in self.assignments()):
                raise Conflict(f'The role assignment "{name}" already exists. Specify a different name.')
        else:
            name = self._unique_assignment_name(rbac_builtin.assignment_name(target_role.name, assignee_name))
        now = self.tenant.clock.now()
        assignment = RoleAssignment(
            name=name,
            guid=self.tenant.ids.guid(),
            role=target_role.name,
            assignee_type=kind,
            assignee_id=assignee_id,
            assignee_name=assignee_name,
            custom_recipient_write_scope=scope_name,
            builtin=False,
            when_created=now,
            when_changed=now,
        )
        self.custom_assignments[assignment.guid] = assignment
        return assignment

    def _unique_assignment_name(self, base: str) -> str:
        taken = {a.name.lower() for a in self.assignments()}
        if base.lower() not in taken:
            return base
        n = 1
        while True:
            suffix = str(n)
            candidate = base[: ROLE_NAME_MAX - len(suffix)] + suffix
            if candidate.lower() not in taken:
                return candidate
            n += 1

    @mutates
    def remove_assignment(self, identity: str) -> RoleAssignment:
        """Remove-ManagementRoleAssignment (the built-in role groups' assignments are fixed in the mock)."""
        assignment = self.assignment(identity)
        if assignment.builtin:
            raise InvalidArgument(
                f'The role assignment "{assignment.name}" belongs to built-in role group '
                f'"{assignment.assignee_name}" and can\'t be removed in this emulator.'
            )
        return self.custom_assignments.pop(assignment.guid)

    @mutates
    def add_group_member(self, group: str, member: str):
        """Add-RoleGroupMember -Identity -Member: a user joins a role group (linked groups stay directory-managed)."""
        target = self.group(group)
        user = self.resolve_user(member)
        members = self.group_members.setdefault(target.name.lower(), [])
        if user.id in members:
            raise InvalidArgument(
                f'The recipient "{member}" is already a member of the group "{target.name}".',
                exception_type="Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException",
            )
        members.append(user.id)
        return target, user

    @mutates
    def remove_group_member(self, group: str, member: str):
        """Remove-RoleGroupMember -Identity -Member."""
        target = self.group(group)
        user = self.resolve_user(member)
        members = self.group_members.get(target.name.lower(), [])
        if user.id not in members:
            raise InvalidArgument(
                f'The recipient "{member}" isn\'t a member of the group "{target.name}".',
                exception_type="Microsoft.Exchange.Management.Tasks.MemberNotFoundException",
            )
        members.remove(user.id)
        return target, user
