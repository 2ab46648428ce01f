"""Forward sync (Entra ID -> Exchange Online): what Entra Connect exports, and what changes on Entra users,
reaches the mailbox only after ``tenant.settings["forwardSyncDelayMinutes"]`` of tenant time.

The queue is a timer on the tenant clock. With a zero delay deliveries apply at once, inside the cycle that
produced them, so a manual cycle's effect is visible to the very next Exchange request.

For other helpers: :func:`push_user` queues an Entra user's identity change (e.g. a Graph PATCH of a
cloud-managed user) towards its mailbox."""

from __future__ import annotations

import heapq

from .. import soa_attributes as soa
from ..exchange.mailboxes import Mailbox
from .sync_rules import apply_values


def delay_seconds(tenant) -> float:
    """The configured Entra -> Exchange latency in seconds (bad values count as zero)."""
    try:
        return max(0.0, float(tenant.settings.get("forwardSyncDelayMinutes") or 0) * 60)
    except (TypeError, ValueError):
        return 0.0


class ForwardSync:
    """The queue of pending Entra -> Exchange deliveries, ordered by due time then arrival."""

    def __init__(self, engine):
        self.engine = engine
        self.tenant = engine.tenant
        self.queue: list[tuple[float, int, dict]] = []
        self._seq = 0
        self.delivered = 0

    # --------------------------------------------------------------- timer
    def next_due(self) -> float | None:
        """Due time of the oldest pending delivery."""
        return self.queue[0][0] if self.queue else None

    def run_due(self, now: float) -> int:
        """Apply every delivery due at ``now``; returns how many were applied."""
        count = 0
        if self.queue and self.queue[0][0] <= now:
            self.engine.index.refresh()
        while self.queue and self.queue[0][0] <= now:
            _, _, payload = heapq.heappop(self.queue)
            self._apply(payload)
            count += 1
        return count

    # ------------------------------------------------------------- enqueue
    def submit(self, payload: dict) -> None:
        """Deliver now (zero delay) or queue for ``now + delay``."""
        delay = delay_seconds(self.tenant)
        if delay <= 0:
            self._apply(payload)
            return
        self._seq += 1
        heapq.heappush(self.queue, (self.tenant.clock.now() + delay, self._seq, payload))

    def submit_at(self, due: float, payload: dict) -> None:
        """Queue ``payload`` for tenant time ``due`` (licence provisioning, grace periods, move completion);
        due now or earlier applies at once."""
        if due <= self.tenant.clock.now():
            self._apply(payload)
            return
        self._seq += 1
        heapq.heappush(self.queue, (due, self._seq, payload))

    def pending(self) -> list[dict]:
        """Pending deliveries in due order (for the control plane)."""
        from ..clock import iso

        return [
            {"dueDateTime": iso(due), "kind": p["kind"], "userId": p.get("userId")} for due, _, p in sorted(self.queue)
        ]

    # --------------------------------------------------------------- apply
    def _apply(self, payload: dict) -> None:
        kind = payload["kind"]
        if kind == "upsert":
            self._upsert(payload)
        elif kind == "softDelete":
            self._soft_delete(payload)
        elif kind == "provision":
            from ..entra.licensing import provision_now

            provision_now(self.tenant, payload["userId"])
        elif kind == "delicense":
            from ..entra.licensing import delicense_now

            delicense_now(self.tenant, payload["userId"], payload["since"])
        elif kind == "moveComplete":
            from ..exchange.move_requests import complete_move

            complete_move(self.tenant, payload["requestId"])
        self.delivered += 1

    def _upsert(self, p: dict) -> None:
        t = self.tenant
        index = self.engine.index
        now = t.clock.now()
        mbx = index.mailbox_for(p["userId"])
        create = p.get("create")
        if mbx is None:
            if create:
                self._create(
                    p["userId"],
                    p["identity"],
                    p.get("exchange"),
                    create["exchangeGuid"],
                    create["name"],
                    create.get("immutableId"),
                    create.get("cloudManaged"),
                )
            return
        elif mbx.when_soft_deleted is not None:
            if not p.get("restore"):
                return
            mbx.when_soft_deleted = None
        changed = apply_values(mbx, p["identity"])
        exchange = p.get("exchange")
        exchange_kept_in_cloud = p.get("honour", True) and mbx.is_exchange_cloud_managed
        if exchange and not exchange_kept_in_cloud:
            changed += apply_values(mbx, exchange)
        if changed or mbx.guid not in t.mailboxes:
            mbx.when_changed = now
        t.mailboxes.put(mbx.guid, mbx)
        index.index_mailbox(mbx.guid, mbx)

    def deliver_new_mailbox(
        self,
        user_id: str,
        identity: dict,
        exchange: dict | None,
        exchange_guid: str,
        name: str,
        immutable_id: str | None,
        cloud_managed,
    ) -> None:
        """Apply at once the ``upsert`` delivery that creates a user's first mailbox, without the payload round trip:
        for the sync engine when the delay is zero and the user has no mailbox (an Initial cycle's every user)."""
        self._create(user_id, identity, exchange, exchange_guid, name, immutable_id, cloud_managed)
        self.delivered += 1

    def _create(self, user_id, identity, exchange, exchange_guid, name, immutable_id, cloud_managed) -> None:
        t = self.tenant
        now = t.clock.now()
        upn = identity.get("user_principal_name") or ""
        fields = {
            "name": name,
            "alias": name,
            "display_name": identity.get("display_name") or name,
            "user_principal_name": upn,
            "primary_smtp_address": upn,
        }
        if exchange:
            fields.update(exchange)
        mbx = Mailbox(
            guid=t.ids.guid(),
            exchange_guid=exchange_guid,
            external_directory_object_id=user_id,
            is_dir_synced=True,
            immutable_id=immutable_id,
            is_exchange_cloud_managed=bool(cloud_managed),
            when_created=now,
            when_changed=now,
            **fields,
        )
        t.mailboxes.put(mbx.guid, mbx)
        self.engine.index.index_mailbox(mbx.guid, mbx)

    def _soft_delete(self, p: dict) -> None:
        mbx = self.engine.index.mailbox_for(p["userId"])
        if mbx is not None and mbx.when_soft_deleted is None:
            from .lifecycle import soft_delete_mailbox_now

            soft_delete_mailbox_now(self.tenant, mbx)

    # ------------------------------------------------------------ snapshot
    def to_dict(self) -> dict:
        """Serializable queue."""
        return {"queue": [[due, seq, payload] for due, seq, payload in sorted(self.queue)], "seq": self._seq}

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
        self.queue = [(float(due), int(seq), payload) for due, seq, payload in data.get("queue", [])]
        heapq.heapify(self.queue)
        self._seq = int(data.get("seq", len(self.queue)))


def push_user(tenant, user) -> None:
    """Queue an Entra user's identity attributes (display name, UPN) towards its Exchange mailbox, after the
    forward-sync delay. For Graph edits of users whose object SOA is in the cloud."""
    identity = {a.field: getattr(user, a.entra_field) for a in _IDENTITY_FROM_ENTRA if a.entra_field}
    tenant.sync.forward.submit(
        {"kind": "upsert", "userId": user.id, "exchange": None, "honour": True, "identity": identity}
    )


#: Identity attributes the Entra user and the mailbox share (the SOA table's identity rows Graph shows).
_IDENTITY_FROM_ENTRA = tuple(a for a in soa.IDENTITY if a.entra_field)
