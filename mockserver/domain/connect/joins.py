"""How Entra Connect joins an AD object to objects in the cloud: soft match of a new AD object to a cloud-only
user, a quarantined UPN when the synced one is taken, and AD ``manager`` references exported as the Entra
user's manager once the referenced object is synced."""

from __future__ import annotations

from .sync_index import SyncIndex
from .sync_rules import in_scope, primary_smtp


def soft_match(tenant, index: SyncIndex, settings: dict, ad):
    """Soft match: a new AD object joins an existing cloud-only user with the same UPN or primary SMTP
    address, unless the tenant blocks it or that user holds a directory role (admins never soft-match)."""
    features = settings.get("features") or {}
    if features.get("blockSoftMatchEnabled"):
        return None
    upn = (ad.attrs.get("userPrincipalName") or "").lower()
    by_upn = index.user_by_upn.get(upn) if upn else None
    primary = primary_smtp(ad.attrs)
    by_addr = index.users_by_addr.get(primary.lower(), ()) if primary else ()
    if by_upn is None and not by_addr:
        return None  # nobody to join (every object of a new tenant's Initial cycle)
    candidates = [by_upn] if upn else []
    candidates += sorted(by_addr)
    for uid in candidates:
        user = tenant.users.get(uid) if uid else None
        if (
            user is not None
            and user.deleted_date_time is None
            and not user.on_premises_immutable_id
            and user.on_premises_sync_enabled is None
            and not user.is_cloud_managed
            and not tenant.active_role_ids(user.id)
        ):
            return user
    return None


def quarantine_upn(tenant, index: SyncIndex, upn: str) -> str:
    """The UPN Entra Connect gives an object whose UPN is taken: the prefix, four random digits, the tenant's
    initial domain."""
    prefix = (upn or "user").split("@", 1)[0]
    while True:
        candidate = f"{prefix}{tenant.ids.rng.randrange(1000, 10000)}@{tenant.domain}"
        if not index.upn_taken(candidate, None):
            return candidate


def resolve_managers(tenant, index: SyncIndex, ou_scope, pending_before: set[str], keys: list[str]) -> set[str]:
    """Export AD's ``manager`` reference (a DN) as the Entra user's manager: the metaverse joins it to the
    referenced object by anchor, so a reference to an object not (yet) synced stays pending and is retried
    every cycle until that object arrives. Returns the keys still pending."""
    fresh = set(keys)
    pending = [k for k in pending_before if k not in fresh] + keys
    still_pending: set[str] = set()
    if not pending:
        return still_pending
    by_dn: dict[str, str] | None = None
    for key in pending:
        ad = tenant.ad_users.get(key)
        if ad is None or not in_scope(ad.ou, ou_scope):
            continue
        user = index.user_for_anchor(ad.consistency_guid)
        if user is None or user.deleted_date_time is not None or user.is_cloud_managed:
            continue
        dn = ad.attrs.get("manager")
        manager_id = None
        if dn:
            if by_dn is None:
                # One pass over AD per cycle that has a reference to resolve (DNs are not indexed).
                by_dn = {}
                for k in tenant.ad_users.keys():
                    by_dn[tenant.ad_users.get(k).distinguished_name.lower()] = k
            mkey = by_dn.get(dn.strip().lower())
            mad = tenant.ad_users.get(mkey) if mkey else None
            manager = index.user_for_anchor(mad.consistency_guid) if mad is not None else None
            if (
                mad is None
                or manager is None
                or manager.deleted_date_time is not None
                or not in_scope(mad.ou, ou_scope)
            ):
                still_pending.add(key)
            else:
                manager_id = manager.id
        if user.manager_id != manager_id:
            user.manager_id = manager_id
            tenant.users.touch(user.id)
    return still_pending
