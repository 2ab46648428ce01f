"""``/directory/deletedItems``: soft-deleted users (30-day retention on the tenant clock), get, restore and
permanent delete."""

from __future__ import annotations

from ....domain.entra.graph import users as U
from . import auth, query
from .blueprint import endpoint
from .serialize import collection, entity, no_content
from .users import DELETED_USER_COLLECTION as USER_COLLECTION
from .users import select_only

#: Deleted users are listed with their deletion time next to Graph's default user properties.
DELETED_DEFAULT = U.DEFAULT_PROPERTIES + ("deletedDateTime",)
USER_TYPE = "#microsoft.graph.user"


@endpoint("/directory/deletedItems/microsoft.graph.user", perm=auth.DELETED_READ)
def list_deleted_users(tenant, caller):
    """``GET /directory/deletedItems/microsoft.graph.user``."""
    q = query.parse(USER_COLLECTION)
    matched = query.run(q, U.deleted_users(tenant), U.graph_view)
    chunk, next_link = query.page(q, matched, USER_COLLECTION)
    items = [U.graph_view(u, q.select or DELETED_DEFAULT) for u in chunk]
    return collection(
        "directory/deletedItems/microsoft.graph.user",
        items,
        select=q.select,
        count=len(matched) if q.count else None,
        next_link=next_link,
    )


@endpoint("/directory/deletedItems/graph.user", perm=auth.DELETED_READ)
def list_deleted_users_alias(tenant, caller):
    """``GET /directory/deletedItems/graph.user``: the type cast by schema alias (what msgraph-sdk sends)."""
    return list_deleted_users.__wrapped__(tenant, caller)


@endpoint("/directory/deletedItems/<item_id>", perm=auth.DELETED_READ)
def get_deleted_item(tenant, caller, item_id):
    """``GET /directory/deletedItems/{id}``."""
    select = select_only()
    user = U.find_deleted(tenant, item_id)
    return entity(
        "directory/deletedItems/$entity",
        query.project(U.graph_view(user), select, DELETED_DEFAULT),
        select=select,
        odata_type=USER_TYPE,
    )


@endpoint("/directory/deletedItems/<item_id>/restore", methods=("POST",), perm=auth.DELETED_WRITE)
def restore_deleted_item(tenant, caller, item_id):
    """``POST /directory/deletedItems/{id}/restore``: 200 with the restored directoryObject."""
    user = U.find_deleted(tenant, item_id)
    U.restore_deleted(tenant, user, caller)
    return entity(
        "directoryObjects/$entity", query.project(U.graph_view(user), None, DELETED_DEFAULT), odata_type=USER_TYPE
    )


@endpoint("/directory/deletedItems/<item_id>/microsoft.graph.restore", methods=("POST",), perm=auth.DELETED_WRITE)
def restore_deleted_item_qualified(tenant, caller, item_id):
    """``POST /directory/deletedItems/{id}/microsoft.graph.restore`` (the namespace-qualified action name)."""
    return restore_deleted_item.__wrapped__(tenant, caller, item_id)


@endpoint("/directory/deletedItems/<item_id>", methods=("DELETE",), perm=auth.DELETED_WRITE)
def purge_deleted_item(tenant, caller, item_id):
    """``DELETE /directory/deletedItems/{id}``: permanent deletion, 204."""
    user = U.find_deleted(tenant, item_id)
    U.purge_deleted(tenant, user, caller)
    return no_content()
