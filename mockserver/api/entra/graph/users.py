"""``/users``: list with OData queries and paging, ``$count``, get by id or UPN, create, update, soft delete,
``/me``, and the object-level SOA switch ``/users/{id}/onPremisesSyncBehavior``."""

from __future__ import annotations

import dataclasses

from flask import Response, request

from ....domain.entra.graph import relations
from ....domain.entra.graph import users as U
from . import auth, query
from .blueprint import endpoint
from .errors import GraphError
from .serialize import collection, entity, json_response, no_content

USER_COLLECTION = query.Collection(
    type_name="user",
    resource="User",
    properties=U.ALL_PROPERTIES,
    filterable=frozenset(
        {
            "id",
            "userPrincipalName",
            "displayName",
            "givenName",
            "surname",
            "mail",
            "mailNickname",
            "jobTitle",
            "department",
            "accountEnabled",
            "userType",
            "usageLocation",
            "onPremisesSyncEnabled",
            "onPremisesImmutableId",
            "onPremisesSamAccountName",
            "onPremisesSecurityIdentifier",
            "onPremisesUserPrincipalName",
            "proxyAddresses",
            "employeeId",
            "employeeType",
            "companyName",
            "city",
            "country",
            "state",
            "officeLocation",
            "createdDateTime",
            "creationType",
            "preferredLanguage",
            "otherMails",
            "identities",
            "businessPhones",
            "mobilePhone",
            "imAddresses",
            "externalUserState",
            "ageGroup",
            "assignedLicenses",
            "deletedDateTime",
        }
    ),
    advanced_only=frozenset(
        {
            "onPremisesExtensionAttributes",
            "onPremisesDistinguishedName",
            "onPremisesDomainName",
            "onPremisesLastSyncDateTime",
            "onPremisesProvisioningErrors",
            "faxNumber",
            "streetAddress",
            "postalCode",
            "showInAddressList",
            "lastPasswordChangeDateTime",
            "employeeHireDate",
            "employeeLeaveDateTime",
            "isResourceAccount",
            "signInSessionsValidFromDateTime",
            "securityIdentifier",
            "passwordPolicies",
        }
    ),
    default_orderable=frozenset({"displayName", "userPrincipalName"}),
    navigation=frozenset({"manager", "directReports"}),
    unmodelled_navigation=U.NAVIGATION_PROPERTIES - {"manager", "directReports"},
    # Collection-valued filterable properties: ``$filter=proxyAddresses/$count eq 0`` (advanced queries).
    countable=frozenset(
        {"assignedLicenses", "proxyAddresses", "otherMails", "businessPhones", "imAddresses", "identities"}
    ),
)
#: Deleted users: the same vocabulary, no navigation the mock serves (their links are not kept).
DELETED_USER_COLLECTION = dataclasses.replace(USER_COLLECTION, navigation=None)
TRANSITIVE_ON_LIST = (
    "Transitive manager's list is only supported on a single user, send the $expand request on /users/{id} endpoint"
)
SYNC_BEHAVIOR_PROPERTIES = ("id", "isCloudManaged")


def json_body() -> dict:
    """The JSON object body, or 400 with Graph's message for an unreadable payload."""
    data = request.get_json(silent=True)
    if data is None:
        if not request.data.strip():
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header "
            "is set and payload is of valid JSON format.",
        )
    if not isinstance(data, dict):
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header "
            "is set and payload is of valid JSON format.",
        )
    return data


def live_users(tenant) -> list:
    """Users that are not in the deleted-items container."""
    return [u for u in tenant.users if u.deleted_date_time is None]


def select_only(coll: query.Collection = DELETED_USER_COLLECTION) -> list[str] | None:
    """``$select`` of a single-entity request without navigation (validated, ``$expand`` refused), or None."""
    args = {k: v for k, v in request.args.items() if k in ("$select", "$expand")}
    return query.parse(coll, args).select if args else None


def single_query() -> query.Query:
    """``$select``, ``$expand`` and ``$count`` of a single-entity request (validated)."""
    return query.parse(
        USER_COLLECTION, {k: v for k, v in request.args.items() if k in ("$select", "$expand", "$count")}
    )


def _directory_object(user, select) -> dict:
    # An expanded navigation target is a directoryObject: Graph names its concrete type.
    return {
        "@odata.type": "#microsoft.graph.user",
        **{name: U.graph_property(user, name) for name in (select or U.DEFAULT_PROPERTIES)},
    }


def _nest(chain: list, select) -> dict | None:
    """The manager chain as Graph nests it: each manager carries its own ``manager``."""
    out = None
    for manager in reversed(chain):
        item = _directory_object(manager, select)
        if out is not None:
            item["manager"] = out
        out = item
    return out


def render(tenant, user, q: query.Query, reports=None) -> dict:
    """The user's projection plus its ``$expand``ed navigation properties (a manager that is not set is left out,
    as Graph leaves it out)."""
    view = U.graph_view_in(tenant, user, q.select or U.DEFAULT_PROPERTIES)
    for item in q.expand:
        if item.name == "manager":
            chain = relations.manager_chain(tenant, user, item.levels if item.levels is not None else 1)
            nested = _nest(chain, item.select)
            if nested is not None:
                view["manager"] = nested
        elif item.name == "directReports":
            view["directReports"] = [
                _directory_object(r, item.select) for r in relations.direct_reports(tenant, user, reports)
            ]
    return view


@endpoint("/users", perm=auth.USERS_READ)
def list_users(tenant, caller):
    """``GET /users``."""
    q = query.parse(USER_COLLECTION)
    if any(item.levels is not None for item in q.expand):
        raise GraphError(400, query.UNSUPPORTED, TRANSITIVE_ON_LIST)
    matched = query.run(q, live_users(tenant), U.graph_view)
    chunk, next_link = query.page(q, matched, USER_COLLECTION)
    reports = relations.reports_index(tenant) if any(i.name == "directReports" for i in q.expand) else None
    items = [render(tenant, u, q, reports) for u in chunk]
    return collection("users", items, select=q.select, count=len(matched) if q.count else None, next_link=next_link)


def _require_eventual_for_raw_count() -> None:
    if not query.consistency_eventual():
        raise GraphError(
            400,
            query.UNSUPPORTED,
            "Raw count (/$count) is not supported because the "
            "'ConsistencyLevel:eventual' header is missing. Refer to "
            "https://aka.ms/graph-docs/advanced-queries for more information",
        )


def _count_query(coll: query.Collection) -> query.Query:
    """The options a raw ``/$count`` honours (``$filter``, ``$search``), parsed as an advanced query."""
    args = {k: v for k, v in request.args.items() if k in ("$filter", "$search")}
    args["$count"] = "true"
    return query.parse(coll, args)


@endpoint("/users/$count", perm=auth.USERS_READ)
def count_users(tenant, caller):
    """``GET /users/$count`` (text/plain; an advanced query, so ``ConsistencyLevel: eventual`` is required)."""
    _require_eventual_for_raw_count()
    q = _count_query(USER_COLLECTION)
    total = len(query.run(q, live_users(tenant), U.graph_view))
    return Response(str(total), status=200, content_type="text/plain;charset=utf-8")


@endpoint("/users/<user_key>/directReports/$count", perm=auth.USERS_READ)
def count_direct_reports(tenant, caller, user_key):
    """``GET /users/{id}/directReports/$count`` (text/plain; ``ConsistencyLevel: eventual`` required)."""
    _require_eventual_for_raw_count()
    q = _count_query(DELETED_USER_COLLECTION)
    user = U.find_user(tenant, user_key)
    total = len(query.run(q, relations.direct_reports(tenant, user), U.graph_view))
    return Response(str(total), status=200, content_type="text/plain;charset=utf-8")


@endpoint("/users", methods=("POST",), perm=auth.USERS_WRITE)
def create_user(tenant, caller):
    """``POST /users``: a cloud-only user (201 with the default property set)."""
    user = U.create_user(tenant, json_body(), caller)
    view = query.project(U.graph_view_in(tenant, user), None, U.DEFAULT_PROPERTIES)
    location = f"{request.url_root.rstrip('/')}{request.path}/{user.id}"
    return entity("users/$entity", view, status=201, headers={"Location": location})


@endpoint("/users/<user_key>", perm=auth.USERS_READ)
def get_user(tenant, caller, user_key):
    """``GET /users/{id | userPrincipalName}``."""
    q = single_query()
    user = U.find_user(tenant, user_key)
    return entity("users/$entity", render(tenant, user, q), select=q.select)


@endpoint("/me")
def get_me(tenant, caller):
    """``GET /me``: the signed-in user (delegated tokens only)."""
    if caller.is_app:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    auth.require(tenant, caller, auth.ME_READ)
    q = single_query()
    user = U.find_user(tenant, caller.object_id)
    return entity("users/$entity", render(tenant, user, q), select=q.select)


@endpoint("/users/<user_key>/manager", perm=auth.USERS_READ)
def get_manager(tenant, caller, user_key):
    """``GET /users/{id}/manager``: the manager as a directoryObject, 404 when none is set."""
    user = U.find_user(tenant, user_key)
    manager = relations.manager_of(tenant, user)
    if manager is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            "Resource 'manager' does not exist or one of its queried reference-property objects are not present.",
        )
    select = select_only()
    return entity("directoryObjects/$entity", _directory_object(manager, select))


@endpoint("/users/<user_key>/directReports", perm=auth.USERS_READ)
def list_direct_reports(tenant, caller, user_key):
    """``GET /users/{id}/directReports``: the users whose manager this user is."""
    q = query.parse(DELETED_USER_COLLECTION)
    user = U.find_user(tenant, user_key)
    matched = query.run(q, relations.direct_reports(tenant, user), U.graph_view)
    chunk, next_link = query.page(q, matched, USER_COLLECTION)
    return collection(
        "directoryObjects",
        [_directory_object(r, q.select) for r in chunk],
        count=len(matched) if q.count else None,
        next_link=next_link,
    )


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


@endpoint("/users/<user_key>/revokeSignInSessions", methods=("POST",), perm=auth.USERS_REVOKE)
def revoke_sign_in_sessions(tenant, caller, user_key):
    """``POST /users/{id}/revokeSignInSessions``: refresh tokens and CAE-capable access tokens issued before now
    stop working (``signInSessionsValidFromDateTime`` = now); answers ``{"value": true}``."""
    user = U.find_user(tenant, user_key)
    U.revoke_sign_in_sessions(tenant, user, caller)
    return json_response(
        {"@odata.context": f"{request.url_root.rstrip('/')}/v1.0/$metadata#Edm.Boolean", "value": True}
    )


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
                raise GraphError(
                    400,
                    "BadRequest",
                    "Parsing OData Select and Expand failed: Could not find a property "
                    f"named '{name}' on type 'microsoft.graph.onPremisesSyncBehavior'.",
                )
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
            raise GraphError(
                400, "BadRequest", f"Property '{name}' does not exist on type 'microsoft.graph.onPremisesSyncBehavior'."
            )
    if "isCloudManaged" not in body:
        raise GraphError(400, "Request_BadRequest", "The isCloudManaged property is required.")
    user = U.find_user(tenant, user_key)
    U.set_sync_behavior(tenant, user, body["isCloudManaged"], caller)
    return no_content()
