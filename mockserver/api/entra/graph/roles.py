"""``/roleManagement/directory``: built-in role definitions, active role assignments, and PIM schedule requests
and schedules (eligible roles grant nothing until ``selfActivate``; activations expire on the tenant clock)."""

from __future__ import annotations

from ....domain.entra import roles as R
from ....domain.errors import NotFound
from . import auth, query
from .blueprint import endpoint
from .errors import GraphError
from .serialize import collection, entity, no_content, pim_request, role_assignment, role_definition
from .users import json_body

BASE = "/roleManagement/directory"
_NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."

ROLE_DEFINITION_COLLECTION = query.Collection(
    type_name="unifiedRoleDefinition",
    resource="unifiedRoleDefinition",
    properties=(
        "id",
        "description",
        "displayName",
        "isBuiltIn",
        "isEnabled",
        "resourceScopes",
        "rolePermissions",
        "templateId",
        "version",
    ),
    supports_advanced=False,
    max_top=999,
)
ROLE_ASSIGNMENT_COLLECTION = query.Collection(
    type_name="unifiedRoleAssignment",
    resource="unifiedRoleAssignment",
    properties=(
        "id",
        "principalId",
        "roleDefinitionId",
        "directoryScopeId",
        "appScopeId",
        "condition",
        "principalOrganizationId",
    ),
    supports_advanced=False,
)
_SCHEDULE_PROPS = (
    "id",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "createdUsing",
    "createdDateTime",
    "modifiedDateTime",
    "status",
    "memberType",
    "scheduleInfo",
)
ELIGIBILITY_SCHEDULES = query.Collection(
    type_name="unifiedRoleEligibilitySchedule",
    resource="unifiedRoleEligibilitySchedule",
    properties=_SCHEDULE_PROPS,
    supports_advanced=False,
)
ASSIGNMENT_SCHEDULES = query.Collection(
    type_name="unifiedRoleAssignmentSchedule",
    resource="unifiedRoleAssignmentSchedule",
    properties=_SCHEDULE_PROPS + ("assignmentType",),
    supports_advanced=False,
)
_REQUEST_PROPS = (
    "id",
    "status",
    "action",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "isValidationOnly",
    "targetScheduleId",
    "justification",
    "scheduleInfo",
    "ticketInfo",
    "createdDateTime",
    "completedDateTime",
    "approvalId",
    "customData",
    "createdBy",
)
_INSTANCE_PROPS = (
    "id",
    "principalId",
    "roleDefinitionId",
    "directoryScopeId",
    "appScopeId",
    "startDateTime",
    "endDateTime",
    "memberType",
)
ELIGIBILITY_INSTANCES = query.Collection(
    type_name="unifiedRoleEligibilityScheduleInstance",
    resource="unifiedRoleEligibilityScheduleInstance",
    properties=_INSTANCE_PROPS + ("roleEligibilityScheduleId",),
    supports_advanced=False,
)
ASSIGNMENT_INSTANCES = query.Collection(
    type_name="unifiedRoleAssignmentScheduleInstance",
    resource="unifiedRoleAssignmentScheduleInstance",
    properties=_INSTANCE_PROPS + ("assignmentType", "roleAssignmentScheduleId", "roleAssignmentOriginId"),
    supports_advanced=False,
)
ELIGIBILITY_REQUESTS = query.Collection(
    type_name="unifiedRoleEligibilityScheduleRequest",
    resource="unifiedRoleEligibilityScheduleRequest",
    properties=_REQUEST_PROPS,
    supports_advanced=False,
)
ASSIGNMENT_REQUESTS = query.Collection(
    type_name="unifiedRoleAssignmentScheduleRequest",
    resource="unifiedRoleAssignmentScheduleRequest",
    properties=_REQUEST_PROPS,
    supports_advanced=False,
)


def _list(fragment: str, coll: query.Collection, views: list[dict]):
    q = query.parse(coll)
    views = query.apply(q, views)
    chunk, next_link = query.page(q, views, coll)
    items = [query.project(v, q.select, coll.properties) for v in chunk]
    return collection(fragment, items, select=q.select, count=len(views) if q.count else None, next_link=next_link)


# ----------------------------------------------------------------- role definitions
@endpoint(f"{BASE}/roleDefinitions", perm=auth.ROLES_READ)
def list_role_definitions(tenant, caller):
    """``GET /roleManagement/directory/roleDefinitions``."""
    return _list(
        "roleManagement/directory/roleDefinitions",
        ROLE_DEFINITION_COLLECTION,
        [role_definition(t) for t in R.BUILTIN_ROLES],
    )


@endpoint(f"{BASE}/roleDefinitions/<role_id>", perm=auth.ROLES_READ)
def get_role_definition(tenant, caller, role_id):
    """``GET /roleManagement/directory/roleDefinitions/{id}``."""
    if role_id not in R.BUILTIN_ROLES:
        raise NotFound(_NOT_FOUND.format(role_id))
    return entity("roleManagement/directory/roleDefinitions/$entity", role_definition(role_id))


# ----------------------------------------------------------------- role assignments
def _active(tenant) -> list:
    now = tenant.clock.now()
    return [a for a in tenant.role_assignments if a.in_effect(now)]


@endpoint(f"{BASE}/roleAssignments", perm=auth.ROLES_READ)
def list_role_assignments(tenant, caller):
    """``GET /roleManagement/directory/roleAssignments`` (active assignments in effect now)."""
    return _list(
        "roleManagement/directory/roleAssignments",
        ROLE_ASSIGNMENT_COLLECTION,
        [role_assignment(tenant, a) for a in _active(tenant)],
    )


@endpoint(f"{BASE}/roleAssignments/<assignment_id>", perm=auth.ROLES_READ)
def get_role_assignment(tenant, caller, assignment_id):
    """``GET /roleManagement/directory/roleAssignments/{id}``."""
    a = tenant.role_assignments.get(assignment_id)
    if a is None or not a.in_effect(tenant.clock.now()):
        raise NotFound(_NOT_FOUND.format(assignment_id))
    return entity("roleManagement/directory/roleAssignments/$entity", role_assignment(tenant, a))


@endpoint(f"{BASE}/roleAssignments", methods=("POST",), perm=auth.ROLES_WRITE)
def create_role_assignment(tenant, caller):
    """``POST /roleManagement/directory/roleAssignments`` {principalId, roleDefinitionId, directoryScopeId}: 201."""
    body = json_body()
    principal_id, role_id = body.get("principalId"), body.get("roleDefinitionId")
    scope = body.get("directoryScopeId")
    if not isinstance(principal_id, str) or not isinstance(role_id, str):
        raise GraphError(400, "Request_BadRequest", "principalId and roleDefinitionId are required.")
    if scope is None and body.get("appScopeId") is None:
        raise GraphError(400, "Request_BadRequest", "Either directoryScopeId or appScopeId must be specified.")
    if scope not in (None, "/"):
        raise GraphError(501, "notImplemented", "Only the tenant-wide directory scope '/' is emulated.")
    if role_id not in R.BUILTIN_ROLES:
        raise NotFound(_NOT_FOUND.format(role_id))
    principal = tenant.users.get(principal_id)
    if (principal is None or principal.deleted_date_time is not None) and tenant.app_by_service_principal(
        principal_id
    ) is None:
        raise NotFound(_NOT_FOUND.format(principal_id))
    if any(a.principal_id == principal_id and a.role_definition_id == role_id for a in _active(tenant)):
        raise GraphError(
            409,
            "Request_BadRequest",
            "A conflicting object with one or more of the specified property values is present in the directory.",
        )
    a = tenant.assign_role(principal_id, role_id)
    tenant.add_audit_record(
        "graph",
        "Add member to role",
        caller,
        target=principal_id,
        parameters={"roleDefinitionId": role_id},
        changes={"role": {"old": None, "new": role_id}},
    )
    return entity("roleManagement/directory/roleAssignments/$entity", role_assignment(tenant, a), status=201)


@endpoint(f"{BASE}/roleAssignments/<assignment_id>", methods=("DELETE",), perm=auth.ROLES_WRITE)
def delete_role_assignment(tenant, caller, assignment_id):
    """``DELETE /roleManagement/directory/roleAssignments/{id}``: 204."""
    a = tenant.role_assignments.get(assignment_id)
    if a is None or a.kind != "active":
        raise NotFound(_NOT_FOUND.format(assignment_id))
    tenant.role_assignments.delete(a.id)
    tenant.pim.schedule_meta.pop(a.id, None)
    tenant.add_audit_record(
        "graph",
        "Remove member from role",
        caller,
        target=a.principal_id,
        parameters={"roleDefinitionId": a.role_definition_id},
        changes={"role": {"old": a.role_definition_id, "new": None}},
    )
    return no_content()


# ----------------------------------------------------------------- PIM schedule requests
_KINDS = {
    "roleEligibilityScheduleRequests": ("eligibility", ELIGIBILITY_REQUESTS),
    "roleAssignmentScheduleRequests": ("assignment", ASSIGNMENT_REQUESTS),
}
_SCHEDULES = {
    "roleEligibilitySchedules": ("eligible", ELIGIBILITY_SCHEDULES),
    "roleAssignmentSchedules": ("active", ASSIGNMENT_SCHEDULES),
}


def _read_perm(segment: str):
    return auth.ELIGIBILITY_READ if "Eligibility" in segment else auth.ASSIGNMENT_SCHEDULE_READ


def _current_user_only(caller, fn: str) -> None:
    if fn.replace("%27", "'").replace(" ", "") != "filterByCurrentUser(on='principal')":
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{fn}'.")
    if caller.is_app:
        raise GraphError(400, "BadRequest", "filterByCurrentUser is only valid with delegated authentication flow.")


def _register_reads(segment: str, coll: query.Collection, rows, find, view, list_note: str = "") -> None:
    """Register ``GET /{segment}`` and ``GET /{segment}/{id}`` (with ``filterByCurrentUser(on='principal')``) for
    one PIM resource: ``rows(tenant, principal_id)`` lists, ``find(tenant, id)`` is one row or None (404), and
    ``view(tenant, row)`` renders a row."""
    read = _read_perm(segment)
    fragment = f"roleManagement/directory/{segment}"

    def listing(tenant, principal_id=None):
        return _list(fragment, coll, [view(tenant, r) for r in rows(tenant, principal_id)])

    def list_items(tenant, caller):
        return listing(tenant)

    list_items.__name__ = f"list_{segment}"
    list_items.__doc__ = f"``GET /roleManagement/directory/{segment}``{list_note}."
    endpoint(f"{BASE}/{segment}", perm=read)(list_items)

    def get_item(tenant, caller, item):
        if item.startswith("filterByCurrentUser"):
            _current_user_only(caller, item)
            return listing(tenant, caller.object_id)
        row = find(tenant, item)
        if row is None:
            raise NotFound(_NOT_FOUND.format(item))
        return entity(f"{fragment}/$entity", view(tenant, row))

    get_item.__name__ = f"get_{segment}"
    get_item.__doc__ = f"``GET /roleManagement/directory/{segment}/{{id}}`` and ``filterByCurrentUser``."
    endpoint(f"{BASE}/{segment}/<item>", perm=read)(get_item)


def _register_requests(segment: str):
    """``roleEligibilityScheduleRequests`` / ``roleAssignmentScheduleRequests``: the reads plus ``POST``."""
    kind, coll = _KINDS[segment]
    _register_reads(
        segment,
        coll,
        rows=lambda tenant, principal_id: tenant.pim.list_requests(kind, principal_id),
        find=lambda tenant, item: tenant.pim.get_request(kind, item),  # raises NotFound itself
        view=lambda tenant, req: pim_request(req),
    )

    def post_request(tenant, caller):
        body = json_body()
        action = body.get("action")
        if isinstance(action, str) and action.startswith("self"):
            auth.require(tenant, caller, auth.ASSIGNMENT_SCHEDULE_SELF)
        else:
            auth.require(
                tenant, caller, auth.ELIGIBILITY_WRITE if kind == "eligibility" else auth.ASSIGNMENT_SCHEDULE_WRITE
            )
        req = tenant.pim.submit(kind, body, caller)
        return entity(f"roleManagement/directory/{segment}/$entity", pim_request(req), status=201)

    post_request.__name__ = f"post_{segment}"
    post_request.__doc__ = f"``POST /roleManagement/directory/{segment}``: 201 with the request."
    endpoint(f"{BASE}/{segment}", methods=("POST",))(post_request)


def _register_schedules(segment: str):
    """``roleEligibilitySchedules`` / ``roleAssignmentSchedules``: one row per eligible or active assignment."""
    kind, coll = _SCHEDULES[segment]

    def rows(tenant, principal_id):
        return tenant.pim.eligibilities(principal_id) if kind == "eligible" else tenant.pim.assignments(principal_id)

    def find(tenant, item):
        a = tenant.role_assignments.get(item)
        return a if a is not None and a.kind == kind else None

    _register_reads(segment, coll, rows, find, view=lambda tenant, a: tenant.pim.schedule_view(a))


_INSTANCES = {
    "roleEligibilityScheduleInstances": ("eligible", ELIGIBILITY_INSTANCES),
    "roleAssignmentScheduleInstances": ("active", ASSIGNMENT_INSTANCES),
}


def _register_instances(segment: str):
    """``roleEligibilityScheduleInstances`` / ``roleAssignmentScheduleInstances``: the schedules in effect now."""
    kind, coll = _INSTANCES[segment]
    _register_reads(
        segment,
        coll,
        rows=lambda tenant, principal_id: tenant.pim.instances(kind, principal_id),
        find=lambda tenant, item: next((x for x in tenant.pim.instances(kind) if x.id == item), None),
        view=lambda tenant, a: tenant.pim.instance_view(a),
        list_note=" (schedules in effect now)",
    )


for _segment in _KINDS:
    _register_requests(_segment)
for _segment in _INSTANCES:
    _register_instances(_segment)
for _segment in _SCHEDULES:
    _register_schedules(_segment)
