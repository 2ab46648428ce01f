"""``/organization`` (sync state from Entra Connect's run history) and ``/directory/onPremisesSynchronization``
(features and accidental-deletion prevention from the tenant's sync settings)."""
from __future__ import annotations

from ...domain.errors import NotFound
from . import auth, endpoint
from .serialize import collection, entity, on_premises_synchronization, organization


@endpoint("/organization", perm=auth.ORG_READ)
def list_organization(tenant, caller):
    """``GET /organization``: a one-item collection."""
    return collection("organization", [organization(tenant)])


@endpoint("/organization/<org_id>", perm=auth.ORG_READ)
def get_organization(tenant, caller, org_id):
    """``GET /organization/{tenantId}``."""
    if org_id != tenant.id:
        raise NotFound(f"Resource '{org_id}' does not exist or one of its queried reference-property objects are not "
                       "present.")
    return entity("organization/$entity", organization(tenant))


@endpoint("/directory/onPremisesSynchronization", perm=auth.SYNC_READ)
def list_on_premises_synchronization(tenant, caller):
    """``GET /directory/onPremisesSynchronization``."""
    return collection("directory/onPremisesSynchronization", [on_premises_synchronization(tenant)])


@endpoint("/directory/onPremisesSynchronization/<sync_id>", perm=auth.SYNC_READ)
def get_on_premises_synchronization(tenant, caller, sync_id):
    """``GET /directory/onPremisesSynchronization/{id}`` (the id is the tenant id)."""
    if sync_id != tenant.id:
        raise NotFound(f"Resource '{sync_id}' does not exist or one of its queried reference-property objects are not "
                       "present.")
    return entity("directory/onPremisesSynchronization/$entity", on_premises_synchronization(tenant))
