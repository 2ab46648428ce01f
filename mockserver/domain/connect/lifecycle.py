"""Object lifecycle across Entra ID and Exchange Online: soft delete (30-day retention), restore, purge on the
tenant clock, and the object-level SOA switch (Graph ``onPremisesSyncBehavior.isCloudManaged``).

Functions for the other wire layers (all take the tenant; call them under ``tenant.lock``):

- :func:`soft_delete_user` ``(tenant, user)`` - Graph ``DELETE /users/{id}`` and Entra Connect deletes: the user
  goes to deleted items now, its mailbox to the soft-deleted container after the forward-sync delay.
- :func:`restore_user` ``(tenant, user_id) -> EntraUser`` - Graph ``POST /directory/deletedItems/{id}/restore``.
  Also restores the user's soft-deleted mailbox. A synced user restored while its AD object is gone or out of
  scope becomes cloud-only, and every later Connect cycle reports ``DeletingCloudOnlyObjectNotAllowed``.
- :func:`restore_mailbox` ``(tenant, mailbox) -> Mailbox`` - ``Undo-SoftDeletedMailbox``: restores the mailbox
  and, when the owner is in deleted items, the owner too (same rules as :func:`restore_user`).
- :func:`purge_user` ``(tenant, user_id)`` / :func:`purge_mailbox` ``(tenant, guid)`` - permanent delete (Graph
  ``DELETE /directory/deletedItems/{id}``, ``Remove-Mailbox -PermanentlyDelete``); also what retention expiry does.
- :func:`set_object_soa` ``(tenant, user, cloud_managed)`` - Graph ``PATCH /users/{id}/onPremisesSyncBehavior``;
  sets ``is_cloud_managed`` and ``on_premises_sync_enabled`` per the state table (domain-behaviour.md section 2).
  After a rollback the next Connect cycle takes the object over again.
"""

from __future__ import annotations

import heapq

from ..errors import Conflict, InvalidArgument, NotFound

#: Deleted users and soft-deleted mailboxes are kept this long, then purged (Graph deletedItems, EXO).
RETENTION_DAYS = 30
RETENTION_SECONDS = RETENTION_DAYS * 86400


def soft_delete_user(tenant, user, *, mailbox: bool = True) -> None:
    """Move a user to deleted items (restorable for 30 days); its mailbox follows through forward sync."""
    if user.deleted_date_time is not None:
        return
    user.deleted_date_time = tenant.clock.now()
    tenant.users.touch(user.id)
    tenant.sync.index.index_user(user.id, user)
    if mailbox:
        tenant.sync.forward.submit({"kind": "softDelete", "userId": user.id})


def soft_delete_mailbox_now(tenant, mbx) -> None:
    """Put a mailbox in the soft-deleted container (``Get-Mailbox -SoftDeletedMailbox``) at once."""
    if mbx.when_soft_deleted is not None:
        return
    now = tenant.clock.now()
    mbx.when_soft_deleted = now
    mbx.when_changed = now
    tenant.mailboxes.touch(mbx.guid)
    tenant.sync.index.index_mailbox(mbx.guid, mbx)


def restore_user(tenant, user_id: str):
    """Restore a user from deleted items (and its mailbox). Raises NotFound when it is not in deleted items."""
    user = tenant.users.get(user_id)
    if user is None or user.deleted_date_time is None:
        raise NotFound(
            f"Resource '{user_id}' does not exist or one of its queried reference-property objects are not present."
        )
    engine = tenant.sync
    engine.index.refresh()
    if engine.index.upn_taken(user.user_principal_name, user.id):
        raise Conflict(
            "Another object with the same value for property userPrincipalName already exists.",
            property="userPrincipalName",
            value=user.user_principal_name,
        )
    user.deleted_date_time = None
    anchor = user.on_premises_immutable_id
    if anchor and user.on_premises_sync_enabled and not user.is_cloud_managed and not engine.ad_in_scope(anchor):
        # Restored before AD brought the object back: Entra now holds it as a cloud object.
        user.on_premises_sync_enabled = False
        engine.restored_orphans.add(anchor)
    tenant.users.touch(user.id)
    engine.index.index_user(user.id, user)
    mbx = engine.index.mailbox_for(user.id)
    if mbx is not None and mbx.when_soft_deleted is not None:
        _undelete_mailbox(tenant, mbx)
    return user


def restore_mailbox(tenant, mbx):
    """``Undo-SoftDeletedMailbox``: bring a soft-deleted mailbox back, restoring its owner when needed."""
    if mbx.when_soft_deleted is None:
        raise InvalidArgument(f"The mailbox '{mbx.name}' is not soft-deleted.")
    owner = tenant.users.get(mbx.external_directory_object_id)
    if owner is not None and owner.deleted_date_time is not None:
        restore_user(tenant, owner.id)
    if mbx.when_soft_deleted is not None:
        _undelete_mailbox(tenant, mbx)
    return mbx


def _undelete_mailbox(tenant, mbx) -> None:
    mbx.when_soft_deleted = None
    mbx.when_changed = tenant.clock.now()
    tenant.mailboxes.touch(mbx.guid)
    tenant.sync.index.index_mailbox(mbx.guid, mbx)


def purge_user(tenant, user_id: str) -> None:
    """Permanently delete a user from deleted items, with its soft-deleted mailbox."""
    user = tenant.users.get(user_id)
    if user is None or user.deleted_date_time is None:
        raise NotFound(
            f"Resource '{user_id}' does not exist or one of its queried reference-property objects are not present."
        )
    engine = tenant.sync
    mbx = engine.index.mailbox_for(user_id)
    if mbx is not None and mbx.when_soft_deleted is not None:
        purge_mailbox(tenant, mbx.guid)
    tenant.users.delete(user_id)
    engine.index.index_user(user_id, None)
    if user.on_premises_immutable_id:
        engine.connector_deletes.pop(user.on_premises_immutable_id, None)
        engine.restored_orphans.discard(user.on_premises_immutable_id)


def purge_mailbox(tenant, guid: str) -> None:
    """Permanently remove a soft-deleted mailbox."""
    mbx = tenant.mailboxes.get(guid)
    if mbx is None or mbx.when_soft_deleted is None:
        raise NotFound(f"The soft-deleted mailbox '{guid}' was not found.")
    tenant.mailboxes.delete(guid)
    tenant.sync.index.index_mailbox(guid, None)


def set_object_soa(tenant, user, cloud_managed: bool) -> None:
    """Object-level SOA switch. Transfer: isCloudManaged true, onPremisesSyncEnabled null. Rollback:
    isCloudManaged false, onPremisesSyncEnabled stays null until the next Connect cycle takes the object over."""
    cloud_managed = bool(cloud_managed)
    if user.is_cloud_managed == cloud_managed:
        return
    user.is_cloud_managed = cloud_managed
    if cloud_managed:
        user.on_premises_sync_enabled = None
    tenant.users.touch(user.id)
    tenant.sync.index.index_user(user.id, user)


def _changed(collection, seq: int):
    """(key, object or None) for what changed after ``seq``. From 0 that is every live object: walk the
    collection itself rather than deduplicate its whole change log (a cost the first request after a big seed pays)."""
    if seq == 0:
        return zip(collection.keys(), collection.values(), strict=True)
    return ((key, collection.get(key)) for key in collection.changed_since(seq))


class PurgeScheduler:
    """Timer that purges deleted users and soft-deleted mailboxes when their retention ends. It discovers
    deletions from the collections' change logs, so objects deleted by any layer are covered."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.reset()

    def reset(self) -> None:
        """Forget the schedule; the next call rebuilds it from the collections."""
        self.heap: list[tuple[float, str, str, float]] = []
        self.users_seq = 0
        self.mailboxes_seq = 0
        self.purged = 0
        #: Tenant time of the last look at the change logs (None: never looked).
        self.refreshed_at: float | None = None

    def _refresh(self) -> None:
        t = self.tenant
        self.refreshed_at = t.clock.now()
        if t.users.current_seq() != self.users_seq:
            for key, u in _changed(t.users, self.users_seq):
                if u is not None and u.deleted_date_time is not None:
                    heapq.heappush(
                        self.heap, (u.deleted_date_time + RETENTION_SECONDS, "user", key, u.deleted_date_time)
                    )
            self.users_seq = t.users.current_seq()
        if t.mailboxes.current_seq() != self.mailboxes_seq:
            for key, m in _changed(t.mailboxes, self.mailboxes_seq):
                if m is not None and m.when_soft_deleted is not None:
                    heapq.heappush(
                        self.heap, (m.when_soft_deleted + RETENTION_SECONDS, "mailbox", key, m.when_soft_deleted)
                    )
            self.mailboxes_seq = t.mailboxes.current_seq()

    def _valid(self, entry) -> bool:
        _, kind, key, deleted_at = entry
        if kind == "user":
            obj = self.tenant.users.get(key)
            return obj is not None and obj.deleted_date_time == deleted_at
        obj = self.tenant.mailboxes.get(key)
        return obj is not None and obj.when_soft_deleted == deleted_at

    def next_due(self) -> float | None:
        """When the next retention period ends."""
        self._refresh()
        while self.heap and not self._valid(self.heap[0]):
            heapq.heappop(self.heap)
        return self.heap[0][0] if self.heap else None

    def due_by(self, now: float) -> bool:
        """Whether a purge is due at ``now``: the per-request question, answered without reading the change logs
        while that cannot change the answer. A deletion not yet seen happened after the last look, at a tenant
        time no earlier than it (the clock never goes back), so it cannot come due within a retention period of
        that look."""
        if self.refreshed_at is None or now >= self.refreshed_at + RETENTION_SECONDS:
            due = self.next_due()
            return due is not None and due <= now
        return bool(self.heap) and self.heap[0][0] <= now

    def run_due(self, now: float) -> None:
        """Purge everything whose retention has ended."""
        self._refresh()
        while self.heap and self.heap[0][0] <= now:
            entry = heapq.heappop(self.heap)
            if not self._valid(entry):
                continue
            if entry[1] == "user":
                purge_user(self.tenant, entry[2])
            else:
                purge_mailbox(self.tenant, entry[2])
            self.purged += 1
