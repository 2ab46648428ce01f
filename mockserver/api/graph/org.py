"""``/organization`` (sync state from Entra Connect's run history) and ``/directory/onPremisesSynchronization``
(features and accidental-deletion prevention from the tenant's sync settings), with ``$select``."""
from __future__ import annotations

from ...domain.errors import NotFound
from . import auth, endpoint, query
from .serialize import collection, entity, on_premises_synchronization, organization

ORGANIZATION = query.Collection(
    type_name="organization", resource="Organization", supports_advanced=False,
    properties=("id", "deletedDateTime", "assignedPlans", "businessPhones", "city", "country", "countryLetterCode",
                "createdDateTime", "defaultUsageLocation", "displayName", "marketingNotificationEmails",
                "mobileDeviceManagementAuthority", "onPremisesLastSyncDateTime", "onPremisesSyncEnabled",
                "partnerTenantType", "postalCode", "preferredLanguage", "privacyProfile", "provisionedPlans",
                "securityComplianceNotificationMails", "securityComplianceNotificationPhones", "state", "street",
                "technicalNotificationMails", "tenantType", "verifiedDomains"))
SYNCHRONIZATION = query.Collection(type_name="onPremisesDirectorySynchronization",
                                   resource="OnPremisesDirectorySynchronization", supports_advanced=False,
                                   properties=("id", "configuration", "features"))
_NOT_FOUND = "Resource '{}' does not exist or one of its queried reference-property objects are not present."


def _selected(coll: query.Collection, view: dict) -> tuple[dict, list[str] | None]:
    q = query.parse(coll)
    return query.project(view, q.select, coll.properties), q.select


@endpoint("/organization", perm=auth.ORG_READ)
def list_organization(tenant, caller):
    """``GET /organization``: a one-item collection."""
    view, select = _selected(ORGANIZATION, organization(tenant))
    return collection("organization", [view], select=select)


@endpoint("/organization/<org_id>", perm=auth.ORG_READ)
def get_organization(tenant, caller, org_id):
    """``GET /organization/{tenantId}``."""
    if org_id != tenant.id:
        raise NotFound(_NOT_FOUND.format(org_id))
    view, select = _selected(ORGANIZATION, organization(tenant))
    return entity("organization/$entity", view, select=select)


@endpoint("/directory/onPremisesSynchronization", perm=auth.SYNC_READ)
def list_on_premises_synchronization(tenant, caller):
    """``GET /directory/onPremisesSynchronization``."""
    view, select = _selected(SYNCHRONIZATION, on_premises_synchronization(tenant))
    return collection("directory/onPremisesSynchronization", [view], select=select)


@endpoint("/directory/onPremisesSynchronization/<sync_id>", perm=auth.SYNC_READ)
def get_on_premises_synchronization(tenant, caller, sync_id):
    """``GET /directory/onPremisesSynchronization/{id}`` (the id is the tenant id)."""
    if sync_id != tenant.id:
        raise NotFound(_NOT_FOUND.format(sync_id))
    view, select = _selected(SYNCHRONIZATION, on_premises_synchronization(tenant))
    return entity("directory/onPremisesSynchronization/$entity", view, select=select)
