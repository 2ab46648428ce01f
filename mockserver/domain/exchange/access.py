"""Who may reach Exchange Online at all: an Exchange role assignment, or a directory role linked to an Exchange
role group (the Entra role -> Exchange role group mapping, simplified); which cmdlets a caller may run is
Exchange RBAC's (``rbac/engine.py``).

The connection rule follows the live-measured progression for app-only callers: no Exchange.ManageAsApp
-> 401; the app role without a directory role -> 403; both -> 200. Roles are read from the tenant's *current*
assignments so PIM activation and expiry take effect without a new token."""

from __future__ import annotations

from ..entra import roles
from ..errors import Forbidden, Unauthenticated

#: Directory roles that surface in Exchange as Organization Management (full Exchange admin).
ORG_ADMIN_ROLES = frozenset({roles.GLOBAL_ADMINISTRATOR, roles.EXCHANGE_ADMINISTRATOR})
#: Recipient Management: recipient cmdlets but not organization configuration.
RECIPIENT_ADMIN_ROLES = frozenset({roles.EXCHANGE_RECIPIENT_ADMINISTRATOR})
#: View-only role groups (Global Reader -> View-Only Organization Management, Helpdesk -> Help Desk).
READ_ONLY_ROLES = frozenset(
    {roles.GLOBAL_READER, roles.HELPDESK_ADMINISTRATOR, roles.SECURITY_ADMINISTRATOR, roles.COMPLIANCE_ADMINISTRATOR}
)
#: Hybrid Identity Administrator is not among them: Learn's Entra-role -> role-group table links it to no Exchange
#: role group, so on its own it reaches no Exchange cmdlet (domain-behaviour.md §1.4).
EXCHANGE_ROLES = ORG_ADMIN_ROLES | RECIPIENT_ADMIN_ROLES | READ_ONLY_ROLES


#: The mock's explanation of a 403 for a caller no Exchange role assignment reaches (x-hybridsoa-note).
NO_ROLE_NOTE = (
    "no Exchange role assignment reaches the caller: only directory roles linked to a role group count "
    "(Global Administrator, Exchange Administrator, Exchange Recipient Administrator, Global Reader, "
    "Helpdesk, Security and Compliance Administrator; Hybrid Identity Administrator is not one)"
)


def active_roles(tenant, caller) -> set[str]:
    """Directory role template ids in effect for the caller now (not just the token's ``wids``)."""
    return set(tenant.active_role_ids(caller.object_id))


def connection_check(tenant, caller) -> None:
    """Refuse callers the real service refuses before any cmdlet runs (401 / 403 progression)."""
    if tenant.rbac.has_access(caller):
        return
    if caller.is_app and roles.EXCHANGE_MANAGE_AS_APP not in caller.roles:
        raise Unauthenticated(
            "The application does not hold the Exchange.ManageAsApp application permission.",
            reason="missing_app_role",
            diagnostics_code="2000008",
            diagnostics_category="insufficient_auth",
        )
    if not (active_roles(tenant, caller) & EXCHANGE_ROLES):
        who = "service principal" if caller.is_app else "user"
        raise Forbidden(
            f"The {who} holds no directory role that grants access to Exchange Online.",
            diagnostics_code="2000010",
            diagnostics_category="insufficient_role",
            note=NO_ROLE_NOTE,
        )
