"""What a list of tenants shows of each one (``GET /_mock/tenants``, the dashboard's tenant list) and what routes an
LDAP bind to it: a card the durable store keeps in its index beside each tenant, so a tenant not loaded since a
restart is listed and routed to without loading it (a 100,000-mailbox tenant takes tens of seconds and GBs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .clock import TenantClock
from .entra.login import jwks

#: Bumped when the card's stored form changes; an index row holding another version is rebuilt from the tenant.
CARD_VERSION = 1


@dataclass
class TenantCard:
    """A tenant's identity, size, clock and Entra Connect schedule, from the live tenant or the store's index."""

    id: str
    name: str
    domain: str
    profile: str
    seed: int
    clock: TenantClock
    #: users, mailboxes, adUsers, apps (the counts ``GET /_mock/tenants/{t}`` answers).
    counts: dict
    #: Whether the Connect scheduler is on (None: the sync engine could not say).
    sync_enabled: bool | None
    next_cycle_at: float | None
    #: The newest sync run record (``tenant.sync.history[-1]``), or None.
    last_run: dict | None
    #: The app ids of its app registrations (``/organizations`` device code requests find the tenant by them).
    client_ids: list[str] = field(default_factory=list)
    #: Its token-signing JWKs (``/common/discovery/v2.0/keys`` lists them); None when not asked for.
    signing_keys: list[dict] | None = None

    def summary(self) -> dict:
        """``GET /_mock/tenants/{t}`` and each item of ``GET /_mock/tenants``: identity and counts, no secrets."""
        return {
            "tenantId": self.id,
            "name": self.name,
            "domain": self.domain,
            "profile": self.profile,
            "seed": self.seed,
            "clock": self.clock.to_dict(),
            "counts": dict(self.counts),
        }

    def to_index(self) -> dict:
        """The JSON-native form the store's index keeps (the clock is not in it: the store keeps the clock's own
        state, which is what a load resumes, so a listed clock and a loaded one read the same)."""
        return {
            "v": CARD_VERSION,
            "name": self.name,
            "domain": self.domain,
            "profile": self.profile,
            "seed": self.seed,
            "counts": self.counts,
            "syncEnabled": self.sync_enabled,
            "nextCycleAt": self.next_cycle_at,
            "lastRun": self.last_run,
            "clientIds": self.client_ids,
            "signingKeys": self.signing_keys,
        }

    @classmethod
    def from_index(cls, tenant_id: str, data: dict, clock: dict) -> TenantCard | None:
        """The card of a stored tenant (``clock``: its stored clock state, resumed as a load resumes it), or None
        when the index row predates cards or holds another version."""
        if not isinstance(data, dict) or data.get("v") != CARD_VERSION or not isinstance(clock, dict):
            return None
        try:
            return cls._from_index(tenant_id, data, clock)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # a damaged card: the tenant is loaded to list it, and its card rewritten

    @classmethod
    def _from_index(cls, tenant_id: str, data: dict, clock: dict) -> TenantCard:
        return cls(
            id=tenant_id,
            name=data["name"],
            domain=data["domain"],
            profile=data["profile"],
            seed=data["seed"],
            clock=TenantClock.resumed(clock),
            counts=dict(data["counts"]),
            sync_enabled=data.get("syncEnabled"),
            next_cycle_at=data.get("nextCycleAt"),
            last_run=data.get("lastRun"),
            client_ids=list(data.get("clientIds") or []),
            signing_keys=data.get("signingKeys"),
        )


def card_of(tenant, *, keys: bool = False) -> TenantCard:
    """The card of a live tenant (call under its lock); ``keys``: with its signing JWKs."""
    sync = tenant.sync
    try:
        enabled: bool | None = bool(sync.settings.get("enabled", True))
        due = sync.next_cycle_at
    except Exception:  # noqa: BLE001 - a damaged sync state shows as "unknown" in the list, never fails it
        enabled, due = None, None
    history = sync.history
    return TenantCard(
        id=tenant.id,
        name=tenant.name,
        domain=tenant.domain,
        profile=tenant.settings["profile"],
        seed=tenant.seed,
        clock=tenant.clock,
        counts={
            "users": len(tenant.users),
            "mailboxes": len(tenant.mailboxes),
            "adUsers": len(tenant.ad_users),
            "apps": len(tenant.apps),
        },
        sync_enabled=enabled,
        next_cycle_at=due,
        last_run=_brief_run(history[-1]) if history else None,
        client_ids=[app.app_id for app in tenant.apps],
        signing_keys=jwks(tenant)["keys"] if keys else None,
    )


def index_form(tenant) -> dict:
    """``card_of(tenant).to_index()``, rebuilt only when something it shows moved (the store asks at every commit
    that writes objects or state: a tuple of counts and schedule is cheaper than the card)."""
    sync = tenant.sync
    history = sync.history
    try:
        schedule = (sync.settings.get("enabled", True), sync.next_cycle_at)
    except Exception:  # noqa: BLE001 - card_of shows it as unknown
        schedule = None
    mark = (
        tenant.settings.get("profile"),
        len(tenant.users),
        len(tenant.mailboxes),
        len(tenant.ad_users),
        len(tenant.apps),
        tenant.apps.current_seq(),  # an app's client id is in the card
        schedule,
        len(history),
        id(history[-1]) if history else None,  # a run record is complete when appended, never changed after
    )
    cached = tenant.index_card_cache
    if cached is None or cached[0] != mark:
        cached = tenant.index_card_cache = (mark, card_of(tenant, keys=True).to_index())
    return cached[1]


def _brief_run(run):
    # A list shows a run's outcome and error count, never its per-object errors (a cycle can carry thousands):
    # they are left out when the record counts them itself.
    if isinstance(run, dict) and isinstance(run.get("errorCount"), int) and run.get("errors"):
        return dict(run, errors=[])
    return run
