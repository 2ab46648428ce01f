"""Graph licensing: ``GET /subscribedSkus``, ``POST /users/{id}/assignLicense`` and
``GET /users/{id}/licenseDetails`` (domain rules in ``domain/entra/licensing.py``)."""

from __future__ import annotations

from flask import request

from ....domain.entra import licensing
from ....domain.entra.graph import users as U
from . import auth, query
from .blueprint import endpoint
from .errors import GraphError
from .serialize import collection, entity
from .users import json_body

#: subscribedSku: Organization.Read.All (least privileged), LicenseAssignment.Read.All or the directory scopes.
SKUS_READ = auth._p(
    (
        "Organization.Read.All",
        "Organization.ReadWrite.All",
        "LicenseAssignment.Read.All",
        "LicenseAssignment.ReadWrite.All",
    )
    + auth._READ_DIR
)
#: assignLicense: LicenseAssignment.ReadWrite.All or User/Directory.ReadWrite.All; delegated callers need a
#: licence-capable role (License, User or Global Administrator).
LICENSE_WRITE = auth._p(
    ("LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"), roles=auth.USER_WRITERS
)
DETAILS_READ = auth._p(("LicenseAssignment.Read.All", "User.Read.All", "User.ReadWrite.All") + auth._READ_DIR)


def _select(props: tuple[str, ...], type_name: str):
    raw = request.args.get("$select")
    if raw is None:
        return None
    names = [p.strip() for p in raw.split(",") if p.strip()]
    for name in names:
        if name not in props:
            raise GraphError(
                400,
                "BadRequest",
                "Parsing OData Select and Expand failed: Could not find a property "
                f"named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
    return names


_SKU_PROPS = (
    "id",
    "accountId",
    "accountName",
    "appliesTo",
    "capabilityStatus",
    "consumedUnits",
    "prepaidUnits",
    "servicePlans",
    "skuId",
    "skuPartNumber",
    "subscriptionIds",
)
_DETAIL_PROPS = ("id", "servicePlans", "skuId", "skuPartNumber")


def _project(items: list[dict], select) -> list[dict]:
    return [{k: v for k, v in item.items() if k in select} for item in items] if select else items


@endpoint("/subscribedSkus", perm=SKUS_READ)
def list_subscribed_skus(tenant, caller):
    """``GET /subscribedSkus``: the tenant's SKUs with consumed and prepaid units."""
    select = _select(_SKU_PROPS, "subscribedSku")
    return collection("subscribedSkus", _project(licensing.subscribed_skus(tenant), select), select=select)


@endpoint("/subscribedSkus/<sku_key>", perm=SKUS_READ)
def get_subscribed_sku(tenant, caller, sku_key):
    """``GET /subscribedSkus/{id}`` (id is ``{tenantId}_{skuId}``)."""
    select = _select(_SKU_PROPS, "subscribedSku")
    for sku in licensing.subscribed_skus(tenant):
        if sku["id"].lower() == sku_key.lower():
            return entity("subscribedSkus/$entity", _project([sku], select)[0], select=select)
    raise GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{sku_key}' does not exist or one of its queried reference-property objects are not present.",
    )


@endpoint("/users/<user_key>/assignLicense", methods=("POST",), perm=LICENSE_WRITE)
def assign_license(tenant, caller, user_key):
    """``POST /users/{id}/assignLicense``: 200 with the user (default properties)."""
    body = json_body()
    user = U.find_user(tenant, user_key)
    licensing.assign_license(tenant, user, body, caller)
    view = query.project(U.graph_view(user), None, U.DEFAULT_PROPERTIES)
    return entity("users/$entity", view)


@endpoint("/users/<user_key>/licenseDetails", perm=DETAILS_READ)
def list_license_details(tenant, caller, user_key):
    """``GET /users/{id}/licenseDetails``."""
    select = _select(_DETAIL_PROPS, "licenseDetails")
    user = U.find_user(tenant, user_key)
    return collection(
        f"users('{user.id}')/licenseDetails", _project(licensing.license_details(tenant, user), select), select=select
    )


@endpoint("/users/<user_key>/licenseDetails/<detail_id>", perm=DETAILS_READ)
def get_license_details(tenant, caller, user_key, detail_id):
    """``GET /users/{id}/licenseDetails/{id}``."""
    select = _select(_DETAIL_PROPS, "licenseDetails")
    user = U.find_user(tenant, user_key)
    for item in licensing.license_details(tenant, user):
        if item["id"] == detail_id:
            return entity(f"users('{user.id}')/licenseDetails/$entity", _project([item], select)[0], select=select)
    raise GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{detail_id}' does not exist or one of its queried reference-property objects are not present.",
    )
