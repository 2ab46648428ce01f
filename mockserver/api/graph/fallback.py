"""What Graph says about paths the mock does not serve: 400 ``BadRequest`` "Resource not found for the segment
'...'" for segments the v1.0 schema lacks, 501 ``notImplemented`` for real resources the mock does not emulate,
405 for a known path with the wrong method (all in the Graph error envelope)."""
from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import HTTPException

from . import bp
from .errors import GraphError

#: Top-level entity sets and singletons of the v1.0 schema that are not emulated.
KNOWN_ROOTS = frozenset({
    "admin", "agreements", "appCatalogs", "applications", "applicationTemplates", "auditLogs", "authenticationMethodConfigurations",
    "authenticationMethodsPolicy", "chats", "communications", "compliance", "connections", "contacts", "contracts",
    "dataPolicyOperations", "deviceAppManagement", "deviceManagement", "devices", "directoryObjects",
    "directoryRoles", "directoryRoleTemplates", "domainDnsRecords", "domains", "drives", "education", "employeeExperience",
    "external", "filteringPolicies", "groupLifecyclePolicies", "groups", "groupSettings", "groupSettingTemplates",
    "identity", "identityGovernance", "identityProtection", "identityProviders", "informationProtection", "invitations",
    "oauth2PermissionGrants", "permissionGrants", "places", "planner", "policies", "print", "privacy", "reports",
    "roleManagement", "schemaExtensions", "search", "security", "servicePrincipals", "shares", "sites", "solutions",
    "storage", "subscribedSkus", "subscriptions", "teams", "teamsTemplates", "teamwork", "tenantRelationships",
    "users", "me", "directory", "organization", "$batch", "$metadata",
})

#: Navigation properties and bound operations of ``user`` that exist in v1.0 but are not emulated.
USER_NAVIGATIONS = frozenset({
    "manager", "directReports", "memberOf", "transitiveMemberOf", "ownedObjects", "ownedDevices",
    "registeredDevices", "createdObjects", "licenseDetails", "appRoleAssignments", "oauth2PermissionGrants",
    "mailFolders", "messages", "events", "calendar", "calendars", "calendarView", "contacts", "contactFolders",
    "drive", "drives", "photo", "photos", "authentication", "extensions", "outlook", "people", "planner",
    "insights", "settings", "onenote", "onlineMeetings", "presence", "teamwork", "todo", "joinedTeams", "chats",
    "mailboxSettings", "sponsors", "employeeExperience", "solutions", "activities", "agreementAcceptances",
    "managedDevices", "deviceManagementTroubleshootingEvents", "managedAppRegistrations", "inferenceClassification",
    "followedSites", "scopedRoleMemberOf", "memberOf", "checkMemberGroups", "getMemberGroups", "getMemberObjects",
    "checkMemberObjects", "assignLicense", "revokeSignInSessions", "changePassword", "reprocessLicenseAssignment",
    "exportPersonalData", "findMeetingTimes", "sendMail", "retryServiceProvisioning", "cloudPCs", "dataSecurityAndGovernance",
    "adhocCalls", "cloudClipboard", "permissionGrants", "serviceProvisioningErrors", "userFlowLanguages",
})


def _other_method_matches(path: str) -> bool:
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in ("GET", "POST", "PATCH", "DELETE", "PUT"):
        if method == request.method:
            continue
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            continue
        if not endpoint.startswith("graph.not_found"):
            return True
    return False


def _resolve(rest: str) -> GraphError:
    segments = [s for s in rest.split("/") if s]
    if not segments:
        return GraphError(400, "BadRequest", "Invalid request.")
    root = segments[0].split("(")[0]
    if root not in KNOWN_ROOTS:
        return GraphError(400, "BadRequest", f"Resource not found for the segment '{segments[0]}'.")
    if root == "users" and len(segments) >= 3:
        nav = segments[2]
        if nav not in USER_NAVIGATIONS and not nav.startswith("microsoft.graph."):
            return GraphError(400, "BadRequest", f"Resource not found for the segment '{nav}'.")
    return GraphError(501, "notImplemented", f"The mock does not emulate '/{rest}'. See docs/coverage.md for the "
                                             "emulated Graph surface.")


def not_found(rest: str = "", **_):
    """Catch-all under ``/v1.0`` and ``/beta``."""
    if _other_method_matches(request.path):
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
    raise _resolve(rest)


for _v in ("v1.0", "beta"):
    bp.add_url_rule(f"/{_v}/<path:rest>", endpoint=f"not_found_{_v.replace('.', '_')}", view_func=not_found,
                    methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    bp.add_url_rule(f"/{_v}", endpoint=f"not_found_root_{_v.replace('.', '_')}", view_func=not_found,
                    methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
    bp.add_url_rule(f"/{_v}/", endpoint=f"not_found_slash_{_v.replace('.', '_')}", view_func=not_found,
                    methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
