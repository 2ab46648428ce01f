"""Graph's permission model: the tenant comes from the token's ``tid``; application callers need one of the
endpoint's application permissions (``roles``), delegated callers one of its delegated permissions (``scp``)
and, for privileged operations, a directory role they hold *now* (so PIM activation and expiry count at once)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

from ....domain.entra import roles as R
from ....domain.entra.tokens import peek_claims, verify_access_token
from ....domain.errors import Forbidden, Unauthenticated
from ...common import bearer_token, find_tenant_running_due_cycles

INSUFFICIENT = "Insufficient privileges to complete the operation."

#: Directory roles that may write users / read them all in delegated calls.
USER_WRITERS = (R.GLOBAL_ADMINISTRATOR, R.USER_ADMINISTRATOR)
SOA_ROLES = (R.GLOBAL_ADMINISTRATOR, R.HYBRID_IDENTITY_ADMINISTRATOR)
ROLE_WRITERS = (R.GLOBAL_ADMINISTRATOR, R.PRIVILEGED_ROLE_ADMINISTRATOR)
SYNC_READERS = (R.GLOBAL_ADMINISTRATOR, R.HYBRID_IDENTITY_ADMINISTRATOR, R.GLOBAL_READER)


@dataclass(frozen=True)
class Permission:
    """What an endpoint needs: any of ``app`` (application permissions), any of ``delegated`` (scopes), and for
    delegated callers any of ``roles`` (directory role template ids; empty = no role needed)."""

    app: tuple[str, ...]
    delegated: tuple[str, ...]
    roles: tuple[str, ...] = ()


def _p(app, delegated=None, roles=()):
    return Permission(tuple(app), tuple(delegated if delegated is not None else app), tuple(roles))


_READ_DIR = ("Directory.Read.All", "Directory.ReadWrite.All")
USERS_READ = _p(
    ("User.Read.All", "User.ReadWrite.All") + _READ_DIR,
    ("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All") + _READ_DIR,
)
USERS_WRITE = _p(("User.ReadWrite.All", "Directory.ReadWrite.All"), roles=USER_WRITERS)
SOA_READ = _p(("User-OnPremisesSyncBehavior.ReadWrite.All",), roles=SOA_ROLES + (R.GLOBAL_READER,))
SOA_WRITE = _p(("User-OnPremisesSyncBehavior.ReadWrite.All",), roles=SOA_ROLES)
ROLES_READ = _p(
    ("RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory") + _READ_DIR
)
ROLES_WRITE = _p(("RoleManagement.ReadWrite.Directory",), roles=ROLE_WRITERS)
ELIGIBILITY_READ = _p(
    (
        "RoleEligibilitySchedule.Read.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagement.ReadWrite.Directory",
    )
)
ELIGIBILITY_WRITE = _p(
    ("RoleEligibilitySchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory"), roles=ROLE_WRITERS
)
ASSIGNMENT_SCHEDULE_READ = _p(
    (
        "RoleAssignmentSchedule.Read.Directory",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagement.ReadWrite.Directory",
    )
)
ASSIGNMENT_SCHEDULE_WRITE = _p(
    ("RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory"), roles=ROLE_WRITERS
)
#: Self activation/deactivation: the scope, no admin role (the eligibility is the permission).
ASSIGNMENT_SCHEDULE_SELF = _p(("RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory"))
#: ``POST /users/{id}/revokeSignInSessions`` (Graph permissions reference: User.RevokeSessions.All; the user
#: administration roles, Helpdesk Administrator included, may revoke in delegated calls).
USERS_REVOKE = _p(
    ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),
    roles=USER_WRITERS + (R.HELPDESK_ADMINISTRATOR,),
)
DELETED_READ = USERS_READ
DELETED_WRITE = USERS_WRITE
ORG_READ = _p(
    ("Organization.Read.All", "Organization.ReadWrite.All") + _READ_DIR,
    ("User.Read", "Organization.Read.All", "Organization.ReadWrite.All") + _READ_DIR,
)
SYNC_READ = _p(
    ("OnPremDirectorySynchronization.Read.All", "OnPremDirectorySynchronization.ReadWrite.All") + _READ_DIR,
    roles=SYNC_READERS,
)
#: PATCH onPremisesSynchronization: the ReadWrite permission; delegated callers need Hybrid Identity Administrator
#: or Global Administrator.
SYNC_WRITE = _p(
    ("OnPremDirectorySynchronization.ReadWrite.All",), roles=(R.GLOBAL_ADMINISTRATOR, R.HYBRID_IDENTITY_ADMINISTRATOR)
)
ME_READ = _p(
    (), ("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All") + _READ_DIR
)


def _unverified_tid(token: str) -> str | None:
    claims = peek_claims(token)
    if claims is None:
        return None
    tid = claims.get("tid")
    return tid if isinstance(tid, str) else None


def authenticate():
    """Resolve the tenant and the verified caller of this request (401 on any token problem).
    Returns ``(tenant, caller)``; the request holds the tenant's lock (``middleware.begin``)."""
    token = bearer_token()
    if not token:
        raise Unauthenticated("Access token is empty.", reason="missing_token")
    tid = _unverified_tid(token)
    if tid is None:
        raise Unauthenticated("The access token is malformed.", reason="invalid_token")
    tenant = find_tenant_running_due_cycles(tid)
    if tenant is None:
        raise Unauthenticated("The token was issued for a different tenant.", reason="invalid_tenant")
    g.graph_tenant = tenant
    caller = verify_access_token(tenant, token, "graph")
    g.graph_caller = caller
    return tenant, caller


def allowed(tenant, caller, perm: Permission) -> bool:
    """Whether the caller passes ``perm`` right now."""
    if caller.is_app:
        return bool(set(caller.roles).intersection(perm.app))
    if not set(caller.scopes).intersection(perm.delegated):
        return False
    if perm.roles:
        return bool(set(tenant.active_role_ids(caller.object_id)).intersection(perm.roles))
    return True


def require(tenant, caller, perm: Permission) -> None:
    """403 ``Authorization_RequestDenied`` unless the caller passes ``perm``."""
    if not allowed(tenant, caller, perm):
        raise Forbidden(INSUFFICIENT)
