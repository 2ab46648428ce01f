"""The registry's view of tenants recovered from the durable store and not loaded yet: what spans every tenant
(lists, the LDAP directory of names, app and key lookups of the multi-tenant authorities, a delete) reads each
one's card from the store's index instead of loading it (``serve --data-dir``; docs/architecture.md)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .tenant_card import TenantCard, card_of


@dataclass
class GoneTenant:
    """What the delete hooks see of a tenant deleted without being loaded: its id, name and domain."""

    id: str
    name: str
    domain: str


class RecoveredTenants:
    """:class:`~.tenant.TenantRegistry`'s part for tenants known from the store's index (``unloaded``, their
    ``_cards``) beside the loaded ones (``tenants``)."""

    lock: Any
    tenants: dict
    unloaded: dict
    on_tenant_deleted: list
    _cards: dict
    _load_locks: dict
    _position_of: dict
    _load: Any
    _unloaded_id: Any

    def recovered(self, tenant_id: str, name: str, domain: str, position: int, card=None, clock=None) -> None:
        """Register a stored tenant without loading it (the durable store's index row: ``card`` and ``clock`` are
        its stored card and clock state, None for a row from before cards, which a listing then loads)."""
        built = TenantCard.from_index(tenant_id, card, clock) if card is not None else None
        with self.lock:
            self.unloaded[tenant_id] = (name.lower(), domain.lower(), position)
            if built is not None:
                self._cards[tenant_id] = built

    def _in_order(self) -> list[tuple[str, Any]]:
        # Every tenant id in creation order, with the tenant when it is loaded: recovered tenants by their stored
        # position, tenants created since the restart last in their own order (what list() gives).
        with self.lock:
            ranked: list[tuple[float, int, str, Any]] = [
                (self._position_of.get(tid, float("inf")), i, tid, t) for i, (tid, t) in enumerate(self.tenants.items())
            ]
            ranked += [(entry[2], -1, tid, None) for tid, entry in self.unloaded.items()]
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [(tid, t) for _pos, _i, tid, t in ranked]

    def cards(self, *, keys: bool = False) -> list[TenantCard]:
        """What ``GET /_mock/tenants`` and the dashboard list show of every tenant, in creation order, loading none
        (a recovered tenant's card comes from the store's index; only a row from before cards loads). ``keys``:
        with each tenant's signing JWKs (``/common`` key sets)."""
        out = []
        for tenant_id, tenant in self._in_order():
            if tenant is None:
                card = self._cards.get(tenant_id)
                if card is not None:
                    out.append(card)
                    continue
                tenant = self._load(tenant_id) or self.tenants.get(tenant_id)
                if tenant is None:
                    continue  # deleted meanwhile
            with tenant.lock:
                out.append(card_of(tenant, keys=keys))
        return out

    def loaded_with_client(self, client_id: str | None) -> list[Any]:
        """The tenants in memory in creation order, after loading each recovered one whose card lists the app id
        ``client_id`` (``/common`` and ``/organizations`` requests find their tenants by the app)."""
        wanted = (client_id or "").strip().lower()
        for tenant_id, tenant in self._in_order():
            card = self._cards.get(tenant_id) if tenant is None and wanted else None
            if card is not None and wanted in (c.lower() for c in card.client_ids):
                self._load(tenant_id)
        return [t for _tid, t in self._in_order() if t is not None]

    def directory(self) -> list[tuple[str, str, str]]:
        """(id, name, domain) of every tenant in creation order, loading none (what routes an LDAP bind)."""
        out = []
        for tenant_id, tenant in self._in_order():
            if tenant is not None:
                out.append((tenant.id, tenant.name, tenant.domain))
            else:
                entry = self.unloaded.get(tenant_id)
                if entry is not None:
                    out.append((tenant_id, entry[0], entry[1]))
        return out

    def drop_unloaded(self, key: str) -> bool:
        """``DELETE /_mock/tenants/{t}`` of a recovered tenant not loaded yet: delete it from the store without
        loading it (a 100,000-mailbox tenant's load takes tens of seconds and GBs). False when ``key`` names no
        such tenant (a loaded one is deleted by :meth:`delete`)."""
        if len(key) > 200:
            return False
        tenant_id = self._unloaded_id(key) or self._unloaded_id(key.lower())
        if tenant_id is None:
            return False
        with self.lock:
            lock = self._load_locks.setdefault(tenant_id, threading.Lock())
        with lock:  # a load of the same tenant under way finishes first; then it is a loaded tenant's delete
            with self.lock:
                if tenant_id not in self.unloaded or tenant_id in self.tenants:
                    return False
                name, domain, _position = self.unloaded.pop(tenant_id)
                self._cards.pop(tenant_id, None)
                self._load_locks.pop(tenant_id, None)
            gone = GoneTenant(tenant_id, name, domain)
            for hook in self.on_tenant_deleted:
                hook(gone)
        return True
