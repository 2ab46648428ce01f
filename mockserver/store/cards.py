"""The durable store's copy of each tenant's index card (the counts, profile and Connect schedule that
``GET /_mock/tenants`` lists without loading a tenant, ``tenants.card`` in SQLite): when a change can have moved it,
what was last written, and the card rewritten after a load when the stored one is missing or stale."""

from __future__ import annotations

import json
from typing import Any

from .files import UPDATE_CARD

#: State blobs that no part of a tenant's index card is made of (the card leaves the clock out; see ``to_index``).
_CARDLESS_BLOBS = frozenset({"ids", "ids:pos", "clock"})


class IndexCards:
    """The index-card side of :class:`~.durable.DurableStore`."""

    # Set or defined by DurableStore.
    codec: Any
    db: Any
    _transaction: Any

    def _init_cards(self) -> None:
        #: tenant id -> (card text in the index, its parsed value): what lists show without loading the tenant.
        self._cards: dict[str, tuple[str, dict]] = {}
        # Per tenant, each collection's size when its card was last taken: a change that only rewrites objects
        # already there (no insert, no delete, no state blob) cannot move the card, so it is not recomputed.
        self._card_lens: dict[str, dict[str, int]] = {}

    def _card_written(self, tenant_id: str, text: str, value: dict) -> None:
        # The card in the index now, outside a request's commit: the sizes it was taken at are not known.
        self._cards[tenant_id] = (text, value)
        self._card_lens.pop(tenant_id, None)

    def _forget_card(self, tenant_id: str) -> None:
        self._cards.pop(tenant_id, None)
        self._card_lens.pop(tenant_id, None)

    def _card_change(self, tenant, colls: dict, taken: dict, rows: list, gone: list, changed: dict):
        """Under the tenant's lock, for a collected change: ``(card, card_lens)``, the new card as ``(text,
        value)`` (None when it did not move) and the collection sizes it was taken at (None when not taken)."""
        if not (changed or rows or gone) or self._card_unmoved(tenant.id, colls, taken, rows, gone, changed):
            return None, None
        # The index's card (counts, profile, Connect schedule) changes only with objects or state blobs.
        value = self.codec.index_card(tenant)
        card_lens = {attr: len(c) for attr, c in colls.items()}
        known = self._cards.get(tenant.id)
        if known is None or (known[1] is not value and known[1] != value):
            return (json.dumps(value), value), card_lens
        return None, card_lens

    def _card_unmoved(self, tid: str, colls: dict, taken: dict, rows: list, gone: list, changed: dict) -> bool:
        # Objects rewritten in place, the RNG and the clock only: none of what the card shows can have moved.
        lens = self._card_lens.get(tid)
        if lens is None or gone or "apps" in taken or not changed.keys() <= _CARDLESS_BLOBS:
            return False
        for row in rows:
            if row[5] is None:  # a delete
                return False
        return all(len(colls[attr]) == lens.get(attr) for attr in taken)  # else an insert

    def _card_done(self, tenant_id: str, plan: dict) -> None:
        # A request's change is durable: its card (when it moved) and the sizes it was taken at.
        if plan.get("card") is not None:
            self._cards[tenant_id] = plan["card"]
        if plan.get("card_lens") is not None:
            self._card_lens[tenant_id] = plan["card_lens"]

    def _index_card(self, tenant, stored: str | None) -> None:
        # After a load (under the tenant's lock and ``self.lock``): the index's card as stored, rewritten now when
        # it is missing or stale (a store from before cards, or an older card form), so the next restart lists
        # the tenant without loading it.
        value = self.codec.index_card(tenant)
        if stored is not None and json.loads(stored) == value:
            self._card_written(tenant.id, stored, value)
            return
        text = json.dumps(value)
        with self._transaction():
            self.db.execute(UPDATE_CARD, (text, tenant.id))
        self._card_written(tenant.id, text, value)
