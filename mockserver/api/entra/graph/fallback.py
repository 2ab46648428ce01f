"""What Graph says about paths the mock does not serve: 400 ``BadRequest`` "Resource not found for the segment
'...'" for segments the v1.0 schema lacks, 501 ``notImplemented`` for real resources the mock does not emulate,
405 for a known path with the wrong method (all in the Graph error envelope)."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from ....domain.entra.graph import users as U
from .blueprint import bp
from .errors import GraphError

#: Entity sets and singletons of the v1.0 entity container (plus the service's own ``$batch``/``$metadata``).
KNOWN_ROOTS = frozenset(
    {
        "admin",
        "agreementAcceptances",
        "agreements",
        "appCatalogs",
        "appRoleAssignments",
        "applicationTemplates",
        "applications",
        "auditLogs",
        "authenticationMethodConfigurations",
        "authenticationMethodsPolicy",
        "certificateBasedAuthConfiguration",
        "chats",
        "communications",
        "compliance",
        "connections",
        "contacts",
        "contracts",
        "copilot",
        "dataPolicyOperations",
        "deviceAppManagement",
        "deviceManagement",
        "devices",
        "directory",
        "directoryObjects",
        "directoryRoleTemplates",
        "directoryRoles",
        "domainDnsRecords",
        "domains",
        "drive",
        "drives",
        "education",
        "employeeExperience",
        "external",
        "filterOperators",
        "functions",
        "groupLifecyclePolicies",
        "groupSettingTemplates",
        "groupSettings",
        "groups",
        "identity",
        "identityGovernance",
        "identityProtection",
        "identityProviders",
        "informationProtection",
        "invitations",
        "me",
        "oauth2PermissionGrants",
        "organization",
        "permissionGrants",
        "places",
        "planner",
        "policies",
        "print",
        "privacy",
        "reports",
        "roleManagement",
        "schemaExtensions",
        "scopedRoleMemberships",
        "search",
        "security",
        "servicePrincipals",
        "shares",
        "sites",
        "solutions",
        "storage",
        "subscribedSkus",
        "subscriptions",
        "teams",
        "teamsTemplates",
        "teamwork",
        "tenantRelationships",
        "users",
        "$batch",
        "$metadata",
    }
)

#: Operations bound to ``user`` (or to directoryObject) in v1.0.
USER_OPERATIONS = frozenset(
    {
        "assignLicense",
        "changePassword",
        "exportDeviceAndAppManagementData",
        "exportPersonalData",
        "findMeetingTimes",
        "getMailTips",
        "getManagedAppDiagnosticStatuses",
        "getManagedAppPolicies",
        "getManagedDevicesWithAppFailures",
        "reminderView",
        "removeAllDevicesFromManagement",
        "reprocessLicenseAssignment",
        "retryServiceProvisioning",
        "revokeSignInSessions",
        "sendMail",
        "translateExchangeIds",
        "wipeManagedAppRegistrationsByDeviceTag",
        "checkMemberGroups",
        "checkMemberObjects",
        "getMemberGroups",
        "getMemberObjects",
        "restore",
    }
)
#: Navigation properties of ``user`` and operations bound to it.
USER_SEGMENTS = U.NAVIGATION_PROPERTIES | USER_OPERATIONS
#: Navigation properties of the ``directory`` singleton.
DIRECTORY_SEGMENTS = frozenset(
    {
        "administrativeUnits",
        "attributeSets",
        "customSecurityAttributeDefinitions",
        "deletedItems",
        "deviceLocalCredentials",
        "federationConfigurations",
        "onPremisesSynchronization",
        "publicKeyInfrastructure",
        "recovery",
        "remoteTenantGroups",
        "subscriptions",
    }
)
#: ``roleManagement`` providers, and the navigation properties of an ``rbacApplication`` (``/directory``).
ROLE_PROVIDERS = frozenset({"directory", "entitlementManagement"})
RBAC_SEGMENTS = frozenset(
    {
        "resourceNamespaces",
        "roleAssignments",
        "roleAssignmentScheduleInstances",
        "roleAssignmentScheduleRequests",
        "roleAssignmentSchedules",
        "roleDefinitions",
        "roleEligibilityScheduleInstances",
        "roleEligibilityScheduleRequests",
        "roleEligibilitySchedules",
    }
)


def _other_methods(path: str) -> list[str]:
    """The methods a real (non-fallback) route serves at ``path`` (empty when none does)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    found = []
    for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
        if method == request.method:
            continue
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            continue
        if not endpoint.startswith("graph.not_found"):
            found.append(method)
    return found


def _unknown(segment: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def _bare(segment: str) -> str:
    # Bound operations may be namespace-qualified (microsoft.graph.restore) and key segments use parentheses.
    return segment.split("(")[0].removeprefix("microsoft.graph.")


def _resolve(rest: str) -> GraphError:
    segments = [s for s in rest.split("/") if s]
    if not segments:
        return GraphError(400, "BadRequest", "Invalid request.")
    root = _bare(segments[0])
    if root not in KNOWN_ROOTS:
        return _unknown(segments[0])
    if root == "users" and len(segments) >= 3:
        if _bare(segments[2]) not in USER_SEGMENTS:
            return _unknown(segments[2])
        if _bare(segments[2]) == "onPremisesSyncBehavior" and len(segments) >= 4:
            return _unknown(segments[3])
    if root == "directory" and len(segments) >= 2 and _bare(segments[1]) not in DIRECTORY_SEGMENTS:
        return _unknown(segments[1])
    if root == "roleManagement" and len(segments) >= 2:
        if segments[1] not in ROLE_PROVIDERS:
            return _unknown(segments[1])
        if segments[1] == "directory" and len(segments) >= 3 and segments[2] not in RBAC_SEGMENTS:
            return _unknown(segments[2])
    return GraphError(
        501,
        "notImplemented",
        f"The mock does not emulate '/{rest}'. See docs/coverage.md for the emulated Graph surface.",
    )


def not_found(rest: str = "", **_):
    """Catch-all under ``/v1.0`` and ``/beta``."""
    allowed = _other_methods(request.path)
    if allowed:
        raise GraphError(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
            {"Allow": ", ".join(allowed)},
        )
    raise _resolve(rest)


class AnyPathConverter(PathConverter):
    """``path`` that also matches control characters: werkzeug's ``.`` skips a percent-encoded newline, which would
    drop ``/v1.0/a%0A`` out of the Graph blueprint into a non-Graph 404."""

    regex = r"[^/](?s:.)*?"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("graphpath", AnyPathConverter))

for _v in ("v1.0", "beta"):
    bp.add_url_rule(
        f"/{_v}/<graphpath:rest>",
        endpoint=f"not_found_{_v.replace('.', '_')}",
        view_func=not_found,
        methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    )
    bp.add_url_rule(
        f"/{_v}",
        endpoint=f"not_found_root_{_v.replace('.', '_')}",
        view_func=not_found,
        methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    )
    bp.add_url_rule(
        f"/{_v}/",
        endpoint=f"not_found_slash_{_v.replace('.', '_')}",
        view_func=not_found,
        methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    )
