"""``/users``: list with OData queries and paging, ``$count``, get by id or UPN, create, update, soft delete,
``/me``, and the object-level SOA switch ``/users/{id}/onPremisesSyncBehavior``."""
from __future__ import annotations

from flask import Response, request

from ...domain.graph import users as U
from . import auth, endpoint, query
from .errors import GraphError
from .serialize import collection, entity, no_content

USER_COLLECTION = query.Collection(
    type_name="user", resource="User", properties=U.ALL_PROPERTIES,
    filterable=frozenset({
        "id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "mailNickname", "jobTitle",
        "department", "accountEnabled", "userType", "usageLocation", "onPremisesSyncEnabled",
        "onPremisesImmutableId", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
        "onPremisesUserPrincipalName", "proxyAddresses", "employeeId", "employeeType", "companyName", "city",
        "country", "state", "officeLocation", "createdDateTime", "creationType", "preferredLanguage", "otherMails",
        "identities", "businessPhones", "mobilePhone", "imAddresses", "externalUserState", "ageGroup",
        "assignedLicenses", "deletedDateTime",
    }),
    advanced_only=frozenset({
        "onPremisesExtensionAttributes", "onPremisesDistinguishedName", "onPremisesDomainName",
        "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors", "faxNumber", "streetAddress", "postalCode",
        "showInAddressList", "lastPasswordChangeDateTime", "employeeHireDate", "employeeLeaveDateTime",
        "isResourceAccount", "signInSessionsValidFromDateTime", "securityIdentifier", "passwordPolicies",
    }),
    default_orderable=frozenset({"displayName", "userPrincipalName"}),
)
SYNC_BEHAVIOR_PROPERTIES = ("id", "isCloudManaged")


def json_body() -> dict:
    """The JSON object body, or 400 with Graph's message for an unreadable payload."""
    data = request.get_json(silent=True)
    if data is None:
        if not request.data.strip():
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                                            "is set and payload is of valid JSON format.")
    if not isinstance(data, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                                            "is set and payload is of valid JSON format.")
    return data


def live_users(tenant) -> list:
    """Users that are not in the deleted-items container."""
    return [u for u in tenant.users if u.deleted_date_time is None]


def select_only(default: tuple[str, ...] = U.DEFAULT_PROPERTIES) -> list[str] | None:
    """``$select`` of a single-entity request (validated), or None."""
    if "$select" not in request.args:
        return None
    q = query.parse(USER_COLLECTION, {"$select": request.args["$select"]})
    return q.select


@endpoint("/users", perm=auth.USERS_READ)
def list_users(tenant, caller):
    """``GET /users``."""
    q = query.parse(USER_COLLECTION)
    matched = query.run(q, live_users(tenant), U.graph_view)
    chunk, next_link = query.page(q, matched, USER_COLLECTION)
    items = [U.graph_view_in(tenant, u, q.select or U.DEFAULT_PROPERTIES) for u in chunk]
    return collection("users", items, select=q.select, count=len(matched) if q.count else None, next_link=next_link)


@endpoint("/users/$count", perm=auth.USERS_READ)
def count_users(tenant, caller):
    """``GET /users/$count`` (text/plain; an advanced query, so ``ConsistencyLevel: eventual`` is required)."""
    if not query.consistency_eventual():
        raise GraphError(400, query.UNSUPPORTED, "Count is not supported without the 'ConsistencyLevel: eventual' "
                                                 "header (advanced query).")
    args = {k: v for k, v in request.args.items() if k in ("$filter", "$search")}
    args["$count"] = "true"
    q = query.parse(USER_COLLECTION, args)
    total = len(query.run(q, live_users(tenant), U.graph_view))
    return Response(str(total), status=200, content_type="text/plain;charset=utf-8")


@endpoint("/users", methods=("POST",), perm=auth.USERS_WRITE)
def create_user(tenant, caller):
    """``POST /users``: a cloud-only user (201 with the default property set)."""
    user = U.create_user(tenant, json_body(), caller)
    view = query.project(U.graph_view(user), None, U.DEFAULT_PROPERTIES)
    location = f"{request.url_root.rstrip('/')}{request.path}/{user.id}"
    return entity("users/$entity", view, status=201, headers={"Location": location})


@endpoint("/users/<user_key>", perm=auth.USERS_READ)
def get_user(tenant, caller, user_key):
    """``GET /users/{id | userPrincipalName}``."""
    select = select_only()
    user = U.find_user(tenant, user_key)
    return entity("users/$entity", query.project(U.graph_view_in(tenant, user), select, U.DEFAULT_PROPERTIES),
                  select=select)


@endpoint("/me")
def get_me(tenant, caller):
    """``GET /me``: the signed-in user (delegated tokens only)."""
    if caller.is_app:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    auth.require(tenant, caller, auth.ME_READ)
    select = select_only()
    user = U.find_user(tenant, caller.object_id)
    return entity("users/$entity", query.project(U.graph_view(user), select, U.DEFAULT_PROPERTIES), select=select)


@endpoint("/users/<user_key>", methods=("PATCH",), perm=auth.USERS_WRITE)
def update_user(tenant, caller, user_key):
    """``PATCH /users/{id}``: 204; synced users refuse on-premises-mastered properties."""
    body = json_body()
    user = U.find_user(tenant, user_key)
    U.update_user(tenant, user, body, caller)
    return no_content()


@endpoint("/users/<user_key>", methods=("DELETE",), perm=auth.USERS_WRITE)
def delete_user(tenant, caller, user_key):
    """``DELETE /users/{id}``: soft delete (restorable for 30 days from deleted items)."""
    user = U.find_user(tenant, user_key)
    U.delete_user(tenant, user, caller)
    return no_content()


def _sync_behavior_view(user) -> dict:
    return {"id": user.id, "isCloudManaged": bool(user.is_cloud_managed)}


@endpoint("/users/<user_key>/onPremisesSyncBehavior", perm=auth.SOA_READ)
def get_sync_behavior(tenant, caller, user_key):
    """``GET /users/{id}/onPremisesSyncBehavior``."""
    select = None
    if "$select" in request.args:
        select = [p.strip() for p in request.args["$select"].split(",") if p.strip()]
        for name in select:
            if name not in SYNC_BEHAVIOR_PROPERTIES:
                raise GraphError(400, "BadRequest", "Parsing OData Select and Expand failed: Could not find a property "
                                                    f"named '{name}' on type 'microsoft.graph.onPremisesSyncBehavior'.")
    user = U.find_user(tenant, user_key)
    view = _sync_behavior_view(user)
    if select:
        view = {k: view[k] for k in select}
    return entity(f"users('{user.id}')/onPremisesSyncBehavior/$entity", view, select=select)


@endpoint("/users/<user_key>/onPremisesSyncBehavior", methods=("PATCH",), perm=auth.SOA_WRITE)
def update_sync_behavior(tenant, caller, user_key):
    """``PATCH /users/{id}/onPremisesSyncBehavior`` ``{"isCloudManaged": bool}``: 204."""
    body = json_body()
    for name in body:
        if name not in ("isCloudManaged", "id") and not name.startswith("@odata"):
            raise GraphError(400, "BadRequest", f"Property '{name}' does not exist on type "
                                                "'microsoft.graph.onPremisesSyncBehavior'.")
    if "isCloudManaged" not in body:
        raise GraphError(400, "Request_BadRequest", "The isCloudManaged property is required.")
    user = U.find_user(tenant, user_key)
    U.set_sync_behavior(tenant, user, body["isCloudManaged"], caller)
    return no_content()

