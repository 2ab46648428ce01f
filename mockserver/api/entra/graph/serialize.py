"""Graph JSON responses: ``@odata.context`` URLs, the OData JSON content type, collection pages with
``@odata.count``/``@odata.nextLink``, and entity renderings of the non-user types (role definitions,
role assignments, organization, on-premises synchronization)."""

from __future__ import annotations

import json

from flask import Response, request

from ....domain.clock import iso, parse_iso
from ....domain.entra import roles as R

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

#: Representative resource actions per built-in role (rolePermissions.allowedResourceActions).
_ROLE_ACTIONS = {
    R.GLOBAL_ADMINISTRATOR: [
        "microsoft.directory/users/allProperties/allTasks",
        "microsoft.directory/roleAssignments/allProperties/allTasks",
        "microsoft.directory/onPremisesSynchronization/standard/read",
        "microsoft.office365.exchange/allEntities/basic/allTasks",
    ],
    R.EXCHANGE_ADMINISTRATOR: [
        "microsoft.office365.exchange/allEntities/basic/allTasks",
        "microsoft.directory/groups.unified/basic/update",
    ],
    R.HYBRID_IDENTITY_ADMINISTRATOR: [
        "microsoft.directory/onPremisesSynchronization/standard/read",
        "microsoft.directory/onPremisesSynchronization/basic/update",
        "microsoft.directory/users/onPremisesSyncBehavior/update",
    ],
    R.HELPDESK_ADMINISTRATOR: [
        "microsoft.directory/users/password/update",
        "microsoft.directory/users/invalidateAllRefreshTokens",
    ],
    R.GLOBAL_READER: [
        "microsoft.directory/users/allProperties/read",
        "microsoft.directory/roleAssignments/allProperties/read",
    ],
    R.USER_ADMINISTRATOR: ["microsoft.directory/users/allProperties/allTasks"],
    R.PRIVILEGED_ROLE_ADMINISTRATOR: [
        "microsoft.directory/roleAssignments/allProperties/allTasks",
        "microsoft.directory/privilegedIdentityManagement/allProperties/allTasks",
    ],
    R.EXCHANGE_RECIPIENT_ADMINISTRATOR: ["microsoft.office365.exchange/allRecipients/allProperties/allTasks"],
    R.SECURITY_ADMINISTRATOR: ["microsoft.directory/policies/standard/read"],
    R.COMPLIANCE_ADMINISTRATOR: ["microsoft.office365.complianceManager/allEntities/allTasks"],
}


def version() -> str:
    """``v1.0`` or ``beta``, from the request path."""
    return "beta" if request.path.startswith("/beta") else "v1.0"


def service_root() -> str:
    """``https://<host>/v1.0`` for this request."""
    return f"{request.url_root.rstrip('/')}/{version()}"


def context(fragment: str, select: list[str] | None = None) -> str:
    """An ``@odata.context`` URL such as ``.../$metadata#users(displayName,id)``."""
    if select:
        base, _, suffix = fragment.partition("/$entity")
        fragment = f"{base}({','.join(select)})" + ("/$entity" if _ else "")
    return f"{service_root()}/$metadata#{fragment}"


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response with Graph's OData content type."""
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, content_type=JSON_TYPE)
    resp.headers["OData-Version"] = "4.0"
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def no_content() -> Response:
    """204 No Content (no body, no content type)."""
    resp = Response(status=204)
    resp.headers.pop("Content-Type", None)
    return resp


def collection(
    fragment: str, items: list[dict], *, select=None, count: int | None = None, next_link: str | None = None
) -> Response:
    """A collection page: ``@odata.context``, optional ``@odata.count``, ``value``, optional ``@odata.nextLink``."""
    body = {"@odata.context": context(fragment, select)}
    if count is not None:
        body["@odata.count"] = count
    body["value"] = items
    if next_link:
        body["@odata.nextLink"] = next_link
    return json_response(body)


def entity(
    fragment: str,
    item: dict,
    *,
    select=None,
    odata_type: str | None = None,
    status: int = 200,
    headers: dict | None = None,
) -> Response:
    """A single entity with its ``@odata.context`` (and ``@odata.type`` when the set is polymorphic)."""
    body = {"@odata.context": context(fragment, select)}
    if odata_type:
        body["@odata.type"] = odata_type
    body.update(item)
    return json_response(body, status=status, headers=headers)


def role_definition(template_id: str) -> dict:
    """A built-in role as ``unifiedRoleDefinition`` (id = templateId for built-in roles)."""
    name, description = R.BUILTIN_ROLES[template_id]
    return {
        "id": template_id,
        "description": description,
        "displayName": name,
        "isBuiltIn": True,
        "isEnabled": True,
        "resourceScopes": ["/"],
        "templateId": template_id,
        "version": "1",
        "rolePermissions": [
            {
                "allowedResourceActions": list(_ROLE_ACTIONS.get(template_id, [])),
                "condition": None,
                "excludedResourceActions": [],
            }
        ],
    }


def role_assignment(tenant, a) -> dict:
    """An active directory role assignment as ``unifiedRoleAssignment``."""
    return {
        "id": a.id,
        "principalId": a.principal_id,
        "roleDefinitionId": a.role_definition_id,
        "directoryScopeId": a.directory_scope_id,
        "appScopeId": None,
        "condition": None,
        "principalOrganizationId": tenant.id,
    }


def pim_request(req: dict) -> dict:
    """A stored PIM request without the mock's bookkeeping keys."""
    return {k: v for k, v in req.items() if k != "kind"}


def organization(tenant) -> dict:
    """The tenant as ``organization``; sync fields come from Entra Connect's run history."""
    ends = [_run_end(run) for run in tenant.sync.history]
    ends = [e for e in ends if e is not None]
    last = max(ends, default=None)
    synced = bool(ends) and bool(tenant.sync.settings.get("enabled", True))
    created = min((a.created_date_time for a in tenant.apps), default=tenant.clock.now())
    return {
        "id": tenant.id,
        "deletedDateTime": None,
        "displayName": tenant.name.replace("-", " ").title(),
        "businessPhones": [],
        "city": None,
        "country": None,
        "countryLetterCode": "US",
        "createdDateTime": iso(created),
        "defaultUsageLocation": None,
        "marketingNotificationEmails": [],
        "mobileDeviceManagementAuthority": "unknown",
        "onPremisesLastSyncDateTime": iso(last) if last else None,
        "onPremisesSyncEnabled": True if synced else None,
        "partnerTenantType": None,
        "postalCode": None,
        "preferredLanguage": "en",
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": None,
        "street": None,
        "technicalNotificationMails": [],
        "tenantType": "AAD",
        "assignedPlans": [],
        "provisionedPlans": [],
        "privacyProfile": None,
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": True,
                "isInitial": True,
                "name": tenant.domain,
                "type": "Managed",
            }
        ],
    }


def _run_end(run: dict) -> float | None:
    """End time of one Entra Connect run record (ISO string or epoch seconds, whichever the engine keeps)."""
    for key in ("endDateTime", "endedAt", "startDateTime", "startedAt"):
        value = run.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value:
            try:
                return parse_iso(value)
            except ValueError:
                continue
    return None


def on_premises_synchronization(tenant) -> dict:
    """``onPremisesDirectorySynchronization``: Entra Connect features and accidental-deletion prevention, from the
    settings the sync engine runs with (so a Graph PATCH and the engine agree)."""
    from ....domain.connect.sync_settings import FEATURES

    settings = tenant.sync.settings
    threshold = settings.get("deletionThreshold")
    kind = settings.get("deletionPreventionType", "enabledForCount")
    enabled = threshold not in (None, 0, False) and kind != "disabled"
    stored = settings.get("features") or {}
    features = {**FEATURES, **stored}
    if "userWritebackEnabled" not in stored:
        features["userWritebackEnabled"] = bool((settings.get("writeback") or {}).get("enabled", False))
    return {
        "id": tenant.id,
        "configuration": {
            "accidentalDeletionPrevention": {
                "synchronizationPreventionType": kind if enabled else "disabled",
                "alertThreshold": int(threshold) if enabled else None,
            }
        },
        "features": features,
    }
