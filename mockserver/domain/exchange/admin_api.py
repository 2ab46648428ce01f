"""The Exchange Online Admin API v2.0 (``POST /adminapi/v2.0/{tenant}/{Endpoint}``, Learn:
exchange/reference/admin-api-endpoints-reference): which endpoints exist, which cmdlets each accepts and which of
their parameters are "available through the REST endpoint", and the permission the v2.0 surface asks of a token.
The cmdlets themselves run through the ordinary registry (same tenant state and RBAC as InvokeCommand)."""

from __future__ import annotations

from ..errors import Forbidden, InvalidArgument, NotFound, Unauthenticated
from . import access
from . import errors as exo_errors

#: App-only and delegated permissions of the v2.0 surface (Learn: admin-api-authentication, Step 2).
MANAGE_AS_APP_V2 = "Exchange.ManageAsAppV2"
MANAGE_V2 = "Exchange.ManageV2"

_FOLDER_WRITE = ("Identity", "User", "AccessRights", "SharingPermissionFlags", "SendNotificationToUser")
#: Endpoint -> {cmdlet: parameters the endpoint page lists}. Exact endpoint spelling, as the pages give it.
ENDPOINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "AcceptedDomain": {"Get-AcceptedDomain": ("Identity", "ResultSize")},
    "DistributionGroupMember": {"Get-DistributionGroupMember": ("Identity", "ResultSize")},
    "DynamicDistributionGroupMember": {"Get-DynamicDistributionGroupMember": ("Identity", "ResultSize")},
    "Mailbox": {
        "Get-Mailbox": ("Identity", "ResultSize", "IncludeGrantSendOnBehalfToWithDisplayNames"),
        "Set-Mailbox": ("Identity", "GrantSendOnBehalfTo"),
    },
    "MailboxFolderPermission": {
        "Get-MailboxFolderPermission": ("Identity", "ResultSize"),
        "Add-MailboxFolderPermission": _FOLDER_WRITE,
        "Set-MailboxFolderPermission": _FOLDER_WRITE,
        "Remove-MailboxFolderPermission": ("Identity", "User", "SendNotificationToUser"),
    },
    "OrganizationConfig": {"Get-OrganizationConfig": ()},
}
#: Endpoints whose cmdlet returns one object: "Pagination isn't available" (OrganizationConfig page).
UNPAGED = frozenset({"OrganizationConfig"})
_ODATA_PATH_TYPE = "Microsoft.OData.UriParser.ODataUnrecognizedPathException"
_UNSOURCED = "no public source for this refusal: text is hybridsoa's, shaped as the Exchange error envelope"


def endpoint_cmdlets(endpoint: str) -> dict[str, tuple[str, ...]]:
    """The cmdlets of a documented endpoint, or the OData 'Resource not found for the segment' refusal."""
    found = ENDPOINTS.get(endpoint)
    if found is None:
        raise NotFound(
            f"Resource not found for the segment '{endpoint}'.",
            exception_type=_ODATA_PATH_TYPE,
            err_id="",
            category="Client",
        )
    return found


def check_call(endpoint: str, cmdlet_name, params: dict) -> str:
    """The canonical cmdlet name for a v2.0 call, refusing a cmdlet the endpoint does not list ("Any other cmdlet
    in the body of this endpoint results in an error") and a parameter outside the endpoint's table."""
    cmdlets = endpoint_cmdlets(endpoint)
    by_lower = {name.lower(): name for name in cmdlets}
    name = by_lower.get(cmdlet_name.strip().lower()) if isinstance(cmdlet_name, str) else None
    if name is None:
        raise InvalidArgument(
            f"The cmdlet '{cmdlet_name}' isn't supported by the '{endpoint}' endpoint. Supported "
            f"cmdlets: {', '.join(cmdlets)}.",
            exception_type=exo_errors.TASK_INVALID_TYPE,
            err_id="",
            category="Client",
            note=_UNSOURCED,
        )
    allowed = {p.lower() for p in cmdlets[name]}
    for key in params:
        if isinstance(key, str) and not key.startswith("@") and key.lower() not in allowed:
            raise exo_errors.parameter_not_found(key)
    return name


def connection_check(tenant, caller) -> None:
    """The v2.0 token and RBAC gate: Exchange.ManageAsAppV2 (app-only) or Exchange.ManageV2 (delegated), then some
    Exchange role assignment reaching the caller ("Without the appropriate RBAC role assignments, even valid
    tokens fail with the error: 403 Forbidden", admin-api-authentication)."""
    if caller.is_app and MANAGE_AS_APP_V2 not in caller.roles:
        raise Unauthenticated(
            f"The application does not hold the {MANAGE_AS_APP_V2} application permission.",
            reason="missing_app_role",
            diagnostics_code="2000008",
            diagnostics_category="insufficient_auth",
        )
    if not caller.is_app and MANAGE_V2 not in caller.scopes:
        raise Unauthenticated(
            f"The token does not hold the {MANAGE_V2} delegated permission.",
            reason="missing_scope",
            diagnostics_code="2000008",
            diagnostics_category="insufficient_auth",
        )
    if not tenant.rbac.caller_assignments(caller):
        who = "service principal" if caller.is_app else "user"
        raise Forbidden(
            f"The {who} holds no Exchange role assignment.",
            diagnostics_code="2000010",
            diagnostics_category="insufficient_role",
            note=access.NO_ROLE_NOTE,
        )
