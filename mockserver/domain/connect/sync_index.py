"""Lookup indexes the sync engine keeps so a cycle costs O(changed objects), not O(tenant): source anchor ->
Entra user, owner -> mailbox, UPN and SMTP address -> owners, anchor <-> AD key.

They follow the tenant's collections through each collection's change log (``changed_since``), so edits made
by anyone (Graph, Exchange, the control plane, snapshot restore) are picked up without the engine being told."""

from __future__ import annotations

from .sync_rules import smtp_address_tuple


class SyncIndex:
    """Incrementally maintained indexes over ``tenant.users``, ``tenant.mailboxes`` and ``tenant.ad_users``."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next :meth:`refresh` rebuilds from the collections (snapshot restore)."""
        self.users_seq = 0
        self.mailboxes_seq = 0
        self.ad_seq = 0
        self.user_by_anchor: dict[str, str] = {}
        self.user_by_upn: dict[str, str] = {}
        # Address -> owner keys as a tuple, not a set: an address almost always has one owner, and there are four
        # addresses per synced user and mailbox.
        self.users_by_addr: dict[str, tuple[str, ...]] = {}
        self._user_keys: dict[str, tuple] = {}
        self.mailbox_by_owner: dict[str, str] = {}
        self.mailboxes_by_addr: dict[str, tuple[str, ...]] = {}
        self.cloud_managed_mailboxes: set[str] = set()
        self._mailbox_keys: dict[str, tuple] = {}
        self.ad_key_by_anchor: dict[str, str] = {}
        self.anchor_by_ad_key: dict[str, str] = {}

    # ------------------------------------------------------------ refresh
    def refresh(self) -> None:
        """Fold in every change made to the three collections since the last refresh."""
        t = self.tenant
        for key in t.users.changed_since(self.users_seq):
            self.index_user(key, t.users.get(key))
        self.users_seq = t.users.current_seq()
        for key in t.mailboxes.changed_since(self.mailboxes_seq):
            self.index_mailbox(key, t.mailboxes.get(key))
        self.mailboxes_seq = t.mailboxes.current_seq()
        for key in t.ad_users.changed_since(self.ad_seq):
            ad = t.ad_users.get(key)
            if ad is not None:
                self.index_ad(key, ad.consistency_guid)
        self.ad_seq = t.ad_users.current_seq()

    def mark_seen(self) -> None:
        """Declare the collections' current state indexed (the caller indexed its own writes as it made them)."""
        t = self.tenant
        self.users_seq = t.users.current_seq()
        self.mailboxes_seq = t.mailboxes.current_seq()
        self.ad_seq = t.ad_users.current_seq()

    # --------------------------------------------------------------- users
    def index_user(self, key: str, user) -> None:
        """(Re)index one Entra user; ``user`` None means it was hard-deleted (purged)."""
        old = self._user_keys.pop(key, None)
        if old is not None:
            anchor, upn, addrs = old
            if anchor and self.user_by_anchor.get(anchor) == key:
                del self.user_by_anchor[anchor]
            if upn and self.user_by_upn.get(upn) == key:
                del self.user_by_upn[upn]
            for addr in addrs:
                _remove_owner(self.users_by_addr, addr, key)
        if user is None:
            return
        anchor = user.on_premises_immutable_id
        live = user.deleted_date_time is None
        upn = _lower(user.user_principal_name) if live and user.user_principal_name else None
        addrs = smtp_address_tuple(user.proxy_addresses) if live else ()
        if upn in addrs:
            # The primary address is usually the UPN: one string for both.
            addrs = tuple([upn if a == upn else a for a in addrs])
        if anchor:
            # A live object wins the anchor over a soft-deleted one that carries the same anchor.
            current = self.user_by_anchor.get(anchor)
            if current is None or live or self._is_deleted(current):
                self.user_by_anchor[anchor] = key
        if upn:
            self.user_by_upn[upn] = key
        _add_owners(self.users_by_addr, addrs, key)
        self._user_keys[key] = (anchor, upn, addrs)

    def _is_deleted(self, user_id: str) -> bool:
        user = self.tenant.users.get(user_id)
        return user is None or user.deleted_date_time is not None

    # ----------------------------------------------------------- mailboxes
    def index_mailbox(self, key: str, mbx) -> None:
        """(Re)index one mailbox; ``mbx`` None means it was purged."""
        old = self._mailbox_keys.pop(key, None)
        if old is not None:
            owner, addrs = old
            if owner and self.mailbox_by_owner.get(owner) == key:
                del self.mailbox_by_owner[owner]
            for addr in addrs:
                _remove_owner(self.mailboxes_by_addr, addr, key)
            self.cloud_managed_mailboxes.discard(key)
        if mbx is None:
            return
        owner = mbx.external_directory_object_id
        live = mbx.when_soft_deleted is None
        addrs = smtp_address_tuple(mbx.email_addresses) if live else ()
        if owner:
            current = self.mailbox_by_owner.get(owner)
            if current is None or live:
                self.mailbox_by_owner[owner] = key
            # A synced mailbox almost always has its owner's addresses: share those strings (and the tuple).
            owned = self._user_keys.get(owner)
            if owned is not None and owned[2] == addrs:
                addrs = owned[2]
        _add_owners(self.mailboxes_by_addr, addrs, key)
        if live and mbx.is_exchange_cloud_managed and mbx.is_dir_synced:
            self.cloud_managed_mailboxes.add(key)
        self._mailbox_keys[key] = (owner, addrs)

    # ------------------------------------------------------------------ AD
    def index_ad(self, key: str, anchor: str) -> None:
        """Remember which AD object carries which source anchor (kept after the AD object is deleted)."""
        old = self.anchor_by_ad_key.get(key)
        if old and old != anchor and self.ad_key_by_anchor.get(old) == key:
            del self.ad_key_by_anchor[old]
        self.anchor_by_ad_key[key] = anchor
        self.ad_key_by_anchor[anchor] = key

    # -------------------------------------------------------------- lookups
    def user_for_anchor(self, anchor: str):
        """The Entra user (live, else soft-deleted) carrying this onPremisesImmutableId, or None."""
        key = self.user_by_anchor.get(anchor)
        return self.tenant.users.get(key) if key else None

    def mailbox_for(self, user_id: str):
        """The mailbox owned by this Entra user (live preferred), or None."""
        key = self.mailbox_by_owner.get(user_id)
        return self.tenant.mailboxes.get(key) if key else None

    def address_conflicts(self, addresses, user_id: str) -> list[str]:
        """Those of ``addresses`` (lower-cased SMTP) held by a live object other than this user or its mailbox."""
        conflicts = []
        for addr in addresses:
            users = self.users_by_addr.get(addr)
            if users and any(u != user_id for u in users):
                conflicts.append(addr)
                continue
            mbxs = self.mailboxes_by_addr.get(addr)
            if mbxs and any(self._mailbox_keys.get(m, (None,))[0] != user_id for m in mbxs):
                conflicts.append(addr)
        return conflicts

    def upn_taken(self, upn: str | None, user_id: str | None) -> bool:
        """Whether a different live Entra user already has this UPN."""
        if not upn:
            return False
        holder = self.user_by_upn.get(upn.lower())
        return holder is not None and holder != user_id


def _lower(text: str) -> str:
    # str.lower() always builds a new string; keep the original when it is already lower case (UPNs usually are).
    low = text.lower()
    return text if low == text else low


def _add_owners(index: dict, addrs, key: str) -> None:
    """Add ``key`` to the owners of each of ``addrs``. A new entry holds ``(key,)``, one tuple shared by all of the
    object's addresses, because one owner per address is the rule."""
    alone = (key,)
    for addr in addrs:
        owners = index.get(addr)
        if owners is None:
            index[addr] = alone
        elif key not in owners:
            index[addr] = owners + (key,)


def _remove_owner(index: dict, addr: str, key: str) -> None:
    owners = index.get(addr)
    if owners is not None and key in owners:
        rest = tuple(k for k in owners if k != key)
        if rest:
            index[addr] = rest
        else:
            del index[addr]
