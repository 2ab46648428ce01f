"""Exchange Online RBAC of one tenant: built-in role groups and roles, custom roles with trimmed role entries,
management scopes, role assignments (role groups, users, security groups, service principals) and the
authorization check the Exchange dispatcher runs before every cmdlet."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...entra import roles as dirroles
from ...errors import InvalidArgument, NotFound, WriteScopeViolation
from ...wildcard import compile_wildcard
from .. import cmdlets as registry
from .. import errors as exo_errors
from ..dispatch import all_cmdlets
from . import builtin as rbac_builtin
from .admin import RbacAdministration
from .model import COMMON_PARAMETERS, ExoServicePrincipal, ManagementRole, ManagementScope, RoleAssignment

_CATALOG_CACHE: list = [None, {}]


def _registry_key() -> tuple[int, int]:
    # Registration bumps the version; the size catches a test removing an entry directly.
    return registry.REGISTRY_VERSION, len(registry._REGISTRY)


def cmdlet_catalog() -> dict[str, list[str]]:
    """Every emulated cmdlet with its parameter names, from the Exchange cmdlet registry (RBAC cmdlets included).
    Cached until the registry's contents change (it is consulted on every InvokeCommand)."""
    key = _registry_key()
    if key != _CATALOG_CACHE[0]:
        catalog = {spec.name: [p.name for p in spec.param_list] for spec in all_cmdlets()}
        _CATALOG_CACHE[:] = [key, catalog]
    return _CATALOG_CACHE[1]


def _lowered(role: ManagementRole, entry: tuple[str, list[str]]) -> frozenset[str]:
    """Lower-case parameter names of a role entry; memoized for built-in roles, whose entries never change
    (they are rebuilt, as new objects, when the cmdlet catalog changes)."""
    if not role.builtin:
        return frozenset(p.lower() for p in entry[1])
    memo = role.__dict__.setdefault("_lowered", {})
    found = memo.get(entry[0])
    if found is None:
        found = memo[entry[0]] = frozenset(p.lower() for p in entry[1])
    return found


@dataclass
class Grant:
    """The outcome of :meth:`ExchangeRbac.authorize`: the assignments that let the caller run this call."""

    rbac: ExchangeRbac
    cmdlet: str
    parameters: list[str]
    assignments: list[RoleAssignment] = field(default_factory=list)

    @property
    def is_read(self) -> bool:
        """Get-* cmdlets read; RBAC write scopes do not restrict them."""
        return self.cmdlet.lower().startswith("get-")

    def check_target(self, mailbox, *, display: str | None = None) -> None:
        """Raise :class:`WriteScopeViolation` when ``mailbox`` is outside every granting assignment's write scope."""
        if self.is_read or mailbox is None:
            return
        for assignment in self.assignments:
            if not assignment.custom_recipient_write_scope:
                return
            scope = self.rbac.scopes.get(assignment.custom_recipient_write_scope.lower())
            if scope is not None and self.rbac.scope_matches(scope, mailbox):
                return
        name = display or getattr(mailbox, "name", None) or getattr(mailbox, "display_name", "") or str(mailbox)
        # The text an admin outside a custom write scope sees (a real error report quoted in docs/fidelity.md); its
        # ErrId and .NET type were not published, so the ErrId is empty and the type is the hybrid write-scope one.
        raise WriteScopeViolation(
            f"The operation on Identity \"{name}\" failed because it's out of the current user's write scope. "
            f"'{name}' isn't within your current write scopes. Can't perform save operation.",
            exception_type=exo_errors.TASK_INVALID_TYPE,
            err_id="",
            category="Context",
            cmdlet=self.cmdlet,
            target=name,
            reason="rbac_write_scope",
            note="ErrId and exception type of the custom write-scope refusal have no public source",
        )


class ExchangeRbac(RbacAdministration):
    """One tenant's Exchange RBAC state (Get-RoleGroup, Get-ManagementRole, Get-ManagementRoleAssignment ...)."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.created = tenant.clock.now()
        #: Custom roles, scopes, custom assignments and service principals (built-ins are derived).
        self.custom_roles: dict[str, ManagementRole] = {}
        self.scopes: dict[str, ManagementScope] = {}
        self.custom_assignments: dict[str, RoleAssignment] = {}
        self.service_principals: dict[str, ExoServicePrincipal] = {}
        #: Explicit user members of role groups (Add-RoleGroupMember): lowercase group name -> user ids.
        self.group_members: dict[str, list[str]] = {}
        #: Tests may pin the cmdlet catalog (pure domain tests without the Exchange registry).
        self.catalog_override: dict[str, list[str]] | None = None
        self._builtin_key = None
        self._builtin_roles: dict[str, ManagementRole] = {}
        self._groups = rbac_builtin.build_groups(tenant.id)
        self._group_assignments = rbac_builtin.build_group_assignments(tenant.id, self._groups, self.created)
        # The built-in assignments are fixed (only ``enabled`` could change): their assignee keys, lowered once.
        self._builtin_index = [(a, a.assignee_id.lower()) for a in self._group_assignments.values()]
        self._group_index = [(key, g, frozenset(role for _, role in g.linked)) for key, g in self._groups.items()]
        self._decision_cache: dict = {}
        self._decision_stamp = None
        self._decision_until = float("-inf")

    # ------------------------------------------------------------ catalog
    def catalog(self) -> dict[str, list[str]]:
        """Emulated cmdlets and their parameters (what built-in role entries are generated from)."""
        return self.catalog_override if self.catalog_override is not None else cmdlet_catalog()

    def _builtins(self) -> dict[str, ManagementRole]:
        catalog = self.catalog()
        if catalog is not self._builtin_key:  # identity, not equality: the catalog object is replaced on change
            self._builtin_roles = rbac_builtin.build_roles(self.tenant.id, catalog, self.created)
            self._builtin_key = catalog
        return self._builtin_roles

    # -------------------------------------------------------------- reads
    def roles(self) -> list[ManagementRole]:
        """Built-in then custom management roles."""
        return list(self._builtins().values()) + list(self.custom_roles.values())

    def role(self, identity: str) -> ManagementRole:
        """A management role by name or GUID; ManagementObjectNotFound otherwise."""
        key = (identity or "").strip().lower()
        found = self._builtins().get(key) or self.custom_roles.get(key)
        if found is None:
            found = next((r for r in self.roles() if r.guid.lower() == key), None)
        if found is None:
            raise self.not_found(identity)
        return found

    def find_roles(self, pattern: str | None) -> list[ManagementRole]:
        """Roles whose name matches a wildcard pattern (``*`` / ``?``), or a GUID."""
        if not pattern:
            return self.roles()
        if not any(ch in pattern for ch in "*?"):
            return [self.role(pattern)]
        return [r for r in self.roles() if compile_wildcard(pattern.lower()).match(r.name.lower())]

    def children(self, role: ManagementRole) -> list[ManagementRole]:
        """Custom roles whose parent is ``role``."""
        return [r for r in self.custom_roles.values() if (r.parent or "").lower() == role.name.lower()]

    def groups(self) -> list:
        """Role groups (Get-RoleGroup)."""
        return list(self._groups.values())

    def group(self, identity: str):
        """A role group by name or GUID; ManagementObjectNotFound otherwise."""
        key = (identity or "").strip().lower()
        found = self._groups.get(key) or next((g for g in self._groups.values() if g.guid.lower() == key), None)
        if found is None:
            raise self.not_found(identity)
        return found

    def assignments(self) -> list[RoleAssignment]:
        """Every role assignment: the built-in role groups' then the custom ones."""
        return list(self._group_assignments.values()) + list(self.custom_assignments.values())

    def assignment(self, identity: str) -> RoleAssignment:
        """A role assignment by name or GUID; ManagementObjectNotFound otherwise."""
        key = (identity or "").strip().lower()
        for a in self.assignments():
            if a.name.lower() == key or a.guid.lower() == key:
                return a
        raise self.not_found(identity)

    def scope(self, identity: str) -> ManagementScope:
        """A management scope by name or GUID; ManagementObjectNotFound otherwise."""
        key = (identity or "").strip().lower()
        found = self.scopes.get(key) or next((s for s in self.scopes.values() if s.guid.lower() == key), None)
        if found is None:
            raise self.not_found(identity)
        return found

    def service_principal(self, identity: str) -> ExoServicePrincipal:
        """An Exchange service principal by ObjectId, AppId, DisplayName or Identity GUID."""
        key = (identity or "").strip().lower()
        for sp in self.service_principals.values():
            if key in (sp.object_id.lower(), sp.app_id.lower(), sp.display_name.lower(), sp.guid.lower()):
                return sp
        raise self.not_found(identity)

    def not_found(self, identity) -> NotFound:
        """Exchange's ManagementObjectNotFoundException for ``identity``."""
        return exo_errors.object_not_found(self.tenant, str(identity))

    # ---------------------------------------------------- membership model
    def groups_of(self, principal_id: str) -> list:
        """Role groups a principal belongs to: through its directory roles in effect now (PIM-aware) or as an
        explicit member (Add-RoleGroupMember)."""
        active = self.tenant.active_role_ids(principal_id)
        members = self.group_members
        return [
            g
            for key, g, linked_roles in self._group_index
            if not linked_roles.isdisjoint(active) or principal_id in members.get(key, ())
        ]

    def security_groups_of(self, principal_id: str) -> set[str]:
        """Ids of directory security groups the principal is a member of: none, as the mock's Entra directory
        models no groups (so no assignment reaches anyone through one)."""
        return set()

    def caller_assignments(self, caller) -> list[RoleAssignment]:
        """Enabled assignments that reach the caller: via role groups (directory roles), directly, via a
        security group, or (app-only) via the Exchange service principal of the calling app."""
        is_app = caller.is_app
        app_id = caller.app_id if is_app else None
        return self._decided(
            ("assignments", caller.object_id, is_app, app_id),
            self.principal_assignments,
            caller.object_id,
            is_app,
            app_id,
        )

    # ----------------------------------------------------- decision cache
    def _decisions(self) -> dict | None:
        """Authorization decisions valid for the RBAC state and role assignments as they are now (None: do not
        cache). Every InvokeCommand asks the same questions for the same caller; the answers only change when
        RBAC is administered (``generation``), a directory role assignment changes (its change sequence), the
        cmdlet catalog changes, or the clock crosses an assignment's start or end."""
        tenant = self.tenant
        assignments = tenant.role_assignments
        stamp = (
            self.generation,
            assignments.current_seq(),
            len(assignments),
            registry.REGISTRY_VERSION,
            len(registry._REGISTRY),
            id(self.catalog_override),
        )
        now = tenant.clock.now()
        if stamp != self._decision_stamp or now >= self._decision_until:
            self._decision_cache = {}
            self._decision_stamp = stamp
            self._decision_until = min(
                (
                    edge
                    for a in assignments
                    for edge in (a.start_date_time, a.end_date_time)
                    if edge is not None and edge > now
                ),
                default=float("inf"),
            )
        elif len(self._decision_cache) > 4096:  # bounded: callers and parameter sets are client-chosen
            self._decision_cache.clear()
        return self._decision_cache

    def _decided(self, key: tuple, decide, *args):
        """The cached answer to ``key``, or ``decide(*args)`` remembered while the decisions stay valid (errors
        are not remembered: they are raised again by a fresh evaluation)."""
        cache = self._decisions()
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = decide(*args)
            if cache is not None:
                cache[key] = found
        return found

    def principal_assignments(
        self, principal: str, is_app: bool = False, app_id: str | None = None
    ) -> list[RoleAssignment]:
        """Enabled assignments reaching a user (object id) or a service principal (object id / app id)."""
        group_names = {g.name.lower() for g in self.groups_of(principal)}
        sec_groups = self.security_groups_of(principal)
        sp_ids = set()
        if is_app:
            sp_ids = {
                sp.object_id.lower()
                for sp in self.service_principals.values()
                if sp.object_id.lower() == principal.lower() or (app_id and sp.app_id.lower() == app_id.lower())
            }
        out = [a for a, group in self._builtin_index if a.enabled and group in group_names]
        for a in self.custom_assignments.values():
            if not a.enabled:
                continue
            if (
                (a.assignee_type == "RoleGroup" and a.assignee_id.lower() in group_names)
                or (a.assignee_type == "User" and a.assignee_id == principal and not is_app)
                or (a.assignee_type == "SecurityGroup" and a.assignee_id in sec_groups)
                or (a.assignee_type == "ServicePrincipal" and a.assignee_id.lower() in sp_ids)
            ):
                out.append(a)
        return out

    def effective_entries(self, caller) -> dict[str, set[str]]:
        """{cmdlet: parameters} the caller may use now (union over its assignments)."""
        out: dict[str, set[str]] = {}
        for a in self.caller_assignments(caller):
            role = self._role_or_none(a.role)
            if role is None:
                continue
            for cmdlet, params in role.entries.items():
                out.setdefault(cmdlet, set()).update(params)
        return out

    def _role_or_none(self, name: str) -> ManagementRole | None:
        key = name.lower()
        return self._builtins().get(key) or self.custom_roles.get(key)

    # ------------------------------------------------------- authorization
    def authorize(self, caller, cmdlet_name: str, param_names, target_mailbox=None) -> Grant:
        """Exchange RBAC at invocation: the cmdlet must be in the caller's role entries (else 'not recognized'),
        every parameter in the entries that hold it (else 'A parameter cannot be found ...'), and a write's
        target inside a granting assignment's write scope (else the write-scope error)."""
        is_app = caller.is_app
        key = (
            "grant",
            caller.object_id,
            is_app,
            caller.app_id if is_app else None,
            cmdlet_name,
            tuple(param_names or ()),
        )
        grant = self._decided(key, self._authorize, caller, cmdlet_name, param_names)
        if target_mailbox is not None:
            grant.check_target(target_mailbox)
        return grant

    def _authorize(self, caller, cmdlet_name: str, param_names) -> Grant:
        params = list(param_names or [])
        holders = []
        real_name = cmdlet_name
        builtins = self._builtins()  # once per call: the catalog check is not free on the hot path
        custom = self.custom_roles
        for a in self.caller_assignments(caller):
            key = a.role.lower()
            role = builtins.get(key) or custom.get(key)
            entry = role.entry(cmdlet_name) if role is not None else None
            if role is not None and entry is not None:
                real_name = entry[0]
                holders.append((a, _lowered(role, entry)))
        if not holders:
            raise exo_errors.cmdlet_not_recognized(cmdlet_name, emulated=True)
        allowed = set().union(*(ps for _, ps in holders))
        for p in params:
            if p.lower() not in allowed and p.lower() not in COMMON_PARAMETERS:
                raise exo_errors.parameter_not_found(p)
        wanted = {p.lower() for p in params} - COMMON_PARAMETERS
        covering = [a for a, ps in holders if wanted <= ps] or [a for a, _ in holders]
        return Grant(self, real_name, [p for p in params if p.lower() not in COMMON_PARAMETERS], covering)

    def authorize_target(self, caller, cmdlet_name: str, param_names, target) -> None:
        """Write-scope check once a handler has resolved its target (CmdletContext.authorize_target)."""
        self.authorize(caller, cmdlet_name, param_names, target_mailbox=target)

    def has_access(self, caller) -> bool:
        """Whether the caller reaches Exchange at all: some role assignment reaches it, and app-only callers
        also hold Exchange.ManageAsApp (an app with only an RBAC assignment via New-ServicePrincipal counts)."""
        if caller.is_app and dirroles.EXCHANGE_MANAGE_AS_APP not in caller.roles:
            return False
        return bool(self.caller_assignments(caller))

    def holds_directory_role(self, caller, *template_ids: str) -> bool:
        """Whether the caller holds one of these directory roles now (PIM activation and expiry count)."""
        return bool(set(self.tenant.active_role_ids(caller.object_id)).intersection(template_ids))

    # ----------------------------------------------------------- scopes
    def compile_filter(self, text: str):
        """A predicate over recipients for a RecipientRestrictionFilter, using the Exchange layer's OPATH
        evaluator over Get-Mailbox output objects (unknown properties are refused as Exchange does)."""
        from .. import opath
        from ..mailbox_cmdlets import mailbox_object_keys
        from ..objects import mailbox_object

        predicate = opath.compile_filter(text, set(mailbox_object_keys(self.tenant)))
        return lambda mbx: predicate(mbx if isinstance(mbx, dict) else mailbox_object(self.tenant, mbx))

    def scope_matches(self, scope: ManagementScope, mailbox) -> bool:
        """Whether ``mailbox`` is inside a management scope's recipient filter."""
        try:
            predicate = self.compile_filter(scope.recipient_restriction_filter)
        except Exception:  # noqa: BLE001  (a scope whose filter no longer parses covers nothing: fails closed)
            return False
        return bool(predicate(mailbox))

    # ------------------------------------------------------- snapshots
    def to_dict(self) -> dict:
        """Serializable state: custom roles, scopes, custom assignments, service principals."""
        return {
            "roles": [r.to_dict() for r in self.custom_roles.values()],
            "scopes": [s.to_dict() for s in self.scopes.values()],
            "assignments": [a.to_dict() for a in self.custom_assignments.values()],
            "servicePrincipals": [sp.to_dict() for sp in self.service_principals.values()],
            "groupMembers": {k: list(v) for k, v in self.group_members.items() if v},
        }

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output (built-ins are regenerated)."""
        data = data or {}
        try:
            roles = {r["name"].lower(): ManagementRole.from_dict(r) for r in data.get("roles", [])}
            scopes = {s["name"].lower(): ManagementScope.from_dict(s) for s in data.get("scopes", [])}
            assignments = {a["guid"]: RoleAssignment.from_dict(a) for a in data.get("assignments", [])}
            sps = {
                sp["object_id"].lower(): ExoServicePrincipal.from_dict(sp) for sp in data.get("servicePrincipals", [])
            }
            members = {
                k.lower(): [str(m) for m in v]
                for k, v in (data.get("groupMembers") or {}).items()
                if k.lower() in self._groups and isinstance(v, list)
            }
            for role in roles.values():
                if (
                    not isinstance(role.name, str)
                    or not isinstance(role.entries, dict)
                    or not all(
                        isinstance(c, str) and isinstance(p, list) and all(isinstance(x, str) for x in p)
                        for c, p in role.entries.items()
                    )
                ):
                    raise TypeError
            for item in list(scopes.values()) + list(assignments.values()) + list(sps.values()):
                if not all(
                    isinstance(getattr(item, f), str)
                    for f in (
                        "name",
                        "guid",
                        "role",
                        "assignee_type",
                        "assignee_id",
                        "app_id",
                        "object_id",
                        "recipient_restriction_filter",
                    )
                    if hasattr(item, f)
                ):
                    raise TypeError
        except (KeyError, TypeError, AttributeError, ValueError):
            raise InvalidArgument("The snapshot's Exchange RBAC section (subsystems.rbac) is malformed.") from None
        self.custom_roles, self.scopes, self.custom_assignments, self.service_principals = (
            roles,
            scopes,
            assignments,
            sps,
        )
        self.changed()
        self.group_members = members
