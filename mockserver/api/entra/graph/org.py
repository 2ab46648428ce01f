"""``/organization`` (sync state from Entra Connect's run history) and ``/directory/onPremisesSynchronization``
(features and accidental-deletion prevention from the tenant's sync settings), with ``$select``."""

from __future__ import annotations

from ....domain.connect.sync_settings import graph_patch
from ....domain.errors import NotFound
from . import auth, query
from .blueprint import endpoint
from .serialize import collection, entity, no_content, on_premises_synchronization, organization
from .users import json_body

ORGANIZATION = query.Collection(
    type_name="organization",
    resource="Organization",
    supports_advanced=False,
    properties=(
        "id",
        "deletedDateTime",
        "assignedPlans",
        "businessPhones",
        "city",
        "country",
        "countryLetterCode",
        "createdDateTime",
        "defaultUsageLocation",
        "displayName",
        "marketingNotificationEmails",
        "mobileDeviceManagementAuthority",
        "onPremisesLastSyncDateTime",
        "onPremisesSyncEnabled",
        "partnerTenantType",
        "postalCode",
        "preferredLanguage",
        "privacyProfile",
        "provisionedPlans",
        "securityComplianceNotificationMails",
        "securityComplianceNotificationPhones",
        "state",
        "street",
        "technicalNotificationMails",
        "tenantType",
        "verifiedDomains",
    ),
)
SYNCHRONIZATION = query.Collection(
    type_name="onPremisesDirectorySynchronization",
    resource="OnPremisesDirectorySynchronization",
    supports_advanced=False,
    properties=("id", "configuration", "features"),
)
_NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."


def _selected(coll: query.Collection, view: dict) -> tuple[dict, list[str] | None]:
    q = query.parse(coll)
    return query.project(view, q.select, coll.properties), q.select


def _as_collection(tenant, fragment: str, coll: query.Collection, render):
    """A per-tenant singleton as Graph lists it: a one-item collection, ``$select`` applied."""
    view, select = _selected(coll, render(tenant))
    return collection(fragment, [view], select=select)


def _as_entity(tenant, key: str, fragment: str, coll: query.Collection, render):
    """The singleton addressed by its id, which is the tenant id (anything else is 404), ``$select`` applied."""
    if key != tenant.id:
        raise NotFound(_NOT_FOUND.format(key))
    view, select = _selected(coll, render(tenant))
    return entity(f"{fragment}/$entity", view, select=select)


@endpoint("/organization", perm=auth.ORG_READ)
def list_organization(tenant, caller):
    """``GET /organization``: a one-item collection."""
    return _as_collection(tenant, "organization", ORGANIZATION, organization)


@endpoint("/organization/<org_id>", perm=auth.ORG_READ)
def get_organization(tenant, caller, org_id):
    """``GET /organization/{tenantId}``."""
    return _as_entity(tenant, org_id, "organization", ORGANIZATION, organization)


@endpoint("/directory/onPremisesSynchronization", perm=auth.SYNC_READ)
def list_on_premises_synchronization(tenant, caller):
    """``GET /directory/onPremisesSynchronization``."""
    return _as_collection(tenant, "directory/onPremisesSynchronization", SYNCHRONIZATION, on_premises_synchronization)


@endpoint("/directory/onPremisesSynchronization/<sync_id>", perm=auth.SYNC_READ)
def get_on_premises_synchronization(tenant, caller, sync_id):
    """``GET /directory/onPremisesSynchronization/{id}`` (the id is the tenant id)."""
    return _as_entity(
        tenant, sync_id, "directory/onPremisesSynchronization", SYNCHRONIZATION, on_premises_synchronization
    )


@endpoint("/directory/onPremisesSynchronization/<sync_id>", methods=("PATCH",), perm=auth.SYNC_WRITE)
def update_on_premises_synchronization(tenant, caller, sync_id):
    """``PATCH /directory/onPremisesSynchronization/{id}``: accidental-deletion prevention (type, threshold) and
    feature flags; 204, and Entra Connect's next cycle runs with them."""
    if sync_id != tenant.id:
        raise NotFound(_NOT_FOUND.format(sync_id))
    body = json_body()
    patch = graph_patch(body)
    before = on_premises_synchronization(tenant)
    tenant.sync.update_settings(patch)
    after = on_premises_synchronization(tenant)
    changes = {k: {"old": before[k], "new": after[k]} for k in ("configuration", "features") if before[k] != after[k]}
    tenant.add_audit_record(
        "graph",
        "Update on-premises directory synchronization",
        caller,
        target=tenant.id,
        parameters=body,
        changes=changes,
    )
    return no_content()
