"""Read models for the dashboard: mailbox counts by type and source of authority, the mailbox ↔ AD join, and the
per-attribute comparison of a mailbox's Exchange values with its on-premises AD values (drift).

Pure Python over a tenant's collections; callers hold ``tenant.lock``. Nothing here scans all AD users per row:
the join goes mailbox → Entra user (by id) → AD user (by sAMAccountName, confirmed by the source anchor), and an
anchor index is only built, once per AD change, when that direct lookup misses."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from . import soa_attributes as soa
from .exchange.mailboxes import RECIPIENT_TYPES
from .onprem.ad import REMOTE_TYPE_TO_EXO

#: Exchange (Get-Mailbox) property ↔ AD attribute pairs whose SOA moves with IsExchangeCloudManaged and that
#: Connect maps, in the order the dashboard shows them (the SOA attribute table's order).
EXCHANGE_PAIRS: tuple[tuple[str, str], ...] = tuple((a.name, a.ad) for a in soa.SYNCED_EXCHANGE)

#: Identity attributes Graph also shows: always AD-mastered, shown for orientation (drift here means a sync is
#: pending).
IDENTITY_PAIRS: tuple[tuple[str, str], ...] = tuple((a.name, a.ad) for a in soa.IDENTITY if a.graph)

#: Pairs the mailbox table shows on every row; the others appear there only when set or drifted.
ALWAYS_SHOWN = ("Alias", "PrimarySmtpAddress", "EmailAddresses", "HiddenFromAddressListsEnabled")


@dataclass
class Comparison:
    """One Exchange property beside its AD attribute, with whether they differ."""

    exchange_name: str
    ad_name: str
    exchange_value: object
    ad_value: object
    drift: bool
    identity: bool = False

    @property
    def is_set(self) -> bool:
        """Whether either side holds a value (empty strings, None, False and [] count as unset)."""
        return not (_empty(self.exchange_value) and _empty(self.ad_value))


@dataclass
class MailboxJoin:
    """A mailbox with its Entra user and on-prem AD user (either may be missing for cloud-only objects)."""

    mailbox: object
    user: object | None
    ad_user: object | None


# ------------------------------------------------------------------------------------------------- counts
class _Counts:
    """Mailbox counts kept current incrementally from the collections' change logs, so a page render after a
    toggle folds in one change instead of recounting 100,000 mailboxes."""

    def __init__(self, tenant):
        self.mailboxes, self.users = tenant.mailboxes, tenant.users
        self.mailbox_seq = self.user_seq = 0
        #: guid -> (soft-deleted, RecipientTypeDetails, SOA bucket, owner's object SOA is cloud, owner id)
        self.contrib: dict[str, tuple] = {}
        #: owner id -> mailbox guid (a set only for the rare owner with several recipients: memory at 100,000)
        self.by_owner: dict[str, object] = {}
        self.by_type: dict[str, int] = dict.fromkeys(RECIPIENT_TYPES, 0)
        self.soa = {
            "dirSyncedOnPremManaged": 0,
            "dirSyncedCloudManaged": 0,
            "cloudOnly": 0,
            "cloudOnlyFlagged": 0,
            "objectSoaCloud": 0,
        }
        self.live = self.deleted = 0

    def stale(self, tenant) -> bool:
        """Whether the tenant's collections were replaced or rewound (snapshot restore) since this was built."""
        return (
            self.mailboxes is not tenant.mailboxes
            or self.users is not tenant.users
            or tenant.mailboxes.current_seq() < self.mailbox_seq
            or tenant.users.current_seq() < self.user_seq
        )

    def _apply(self, item: tuple, sign: int) -> None:
        deleted, rtd, bucket, object_cloud, _owner = item
        if deleted:
            self.deleted += sign
            return
        self.live += sign
        self.by_type[rtd] = self.by_type.get(rtd, 0) + sign
        self.soa[bucket] += sign
        if object_cloud:
            self.soa["objectSoaCloud"] += sign

    def _reindex(self, guid: str) -> None:
        old = self.contrib.pop(guid, None)
        if old is not None:
            self._apply(old, -1)
            self._unlink(old[4], guid)
        mbx = self.mailboxes.get(guid)
        if mbx is None:
            return
        if mbx.is_dir_synced:
            bucket = "dirSyncedCloudManaged" if mbx.is_exchange_cloud_managed else "dirSyncedOnPremManaged"
        else:
            bucket = "cloudOnlyFlagged" if mbx.is_exchange_cloud_managed else "cloudOnly"
        owner = mbx.external_directory_object_id or ""
        user = self.users.get(owner) if owner else None
        item = (
            mbx.when_soft_deleted is not None,
            mbx.recipient_type_details,
            bucket,
            bool(getattr(user, "is_cloud_managed", False)),
            owner,
        )
        self.contrib[guid] = item
        self._link(owner, guid)
        self._apply(item, +1)

    def _link(self, owner: str, guid: str) -> None:
        current = self.by_owner.get(owner)
        if current is None or current == guid:
            self.by_owner[owner] = guid
        elif isinstance(current, set):
            current.add(guid)
        else:
            self.by_owner[owner] = {current, guid}

    def _unlink(self, owner: str, guid: str) -> None:
        current = self.by_owner.get(owner)
        if current == guid:
            del self.by_owner[owner]
        elif isinstance(current, set):
            current.discard(guid)

    def owned(self, owner: str) -> list[str]:
        """Guids of the recipients an Entra user owns."""
        current = self.by_owner.get(owner)
        return [] if current is None else (list(current) if isinstance(current, set) else [current])

    def _build(self) -> None:
        # The first count of a big tenant: one tight pass (this is the only O(mailboxes) step of a page view).
        self.mailbox_seq, self.user_seq = self.mailboxes.current_seq(), self.users.current_seq()
        users_get, contrib, by_owner = self.users.get, self.contrib, self.by_owner
        by_type, soa = self.by_type, self.soa
        live = deleted = object_cloud_total = 0
        for mbx in self.mailboxes.values():
            if mbx.is_dir_synced:
                bucket = "dirSyncedCloudManaged" if mbx.is_exchange_cloud_managed else "dirSyncedOnPremManaged"
            else:
                bucket = "cloudOnlyFlagged" if mbx.is_exchange_cloud_managed else "cloudOnly"
            owner = mbx.external_directory_object_id or ""
            user = users_get(owner) if owner else None
            object_cloud = user is not None and bool(getattr(user, "is_cloud_managed", False))
            is_deleted = mbx.when_soft_deleted is not None
            rtd = mbx.recipient_type_details
            contrib[mbx.guid] = (is_deleted, rtd, bucket, object_cloud, owner)
            if owner in by_owner:
                self._link(owner, mbx.guid)
            else:
                by_owner[owner] = mbx.guid
            if is_deleted:
                deleted += 1
                continue
            live += 1
            by_type[rtd] = by_type.get(rtd, 0) + 1
            soa[bucket] += 1
            object_cloud_total += object_cloud
        self.live, self.deleted = live, deleted
        soa["objectSoaCloud"] += object_cloud_total

    def refresh(self) -> None:
        """Fold in every mailbox and user change since the last refresh."""
        if self.mailbox_seq == 0 and self.user_seq == 0:
            self._build()
            return
        for guid in self.mailboxes.changed_since(self.mailbox_seq):
            self._reindex(guid)
        self.mailbox_seq = self.mailboxes.current_seq()
        for user_id in self.users.changed_since(self.user_seq):
            for guid in self.owned(user_id):
                self._reindex(guid)
        self.user_seq = self.users.current_seq()

    def result(self) -> dict:
        """The counts as plain dicts (copies)."""
        return {"live": self.live, "softDeleted": self.deleted, "byType": dict(self.by_type), "soa": dict(self.soa)}


_COUNTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def mailbox_counts(tenant) -> dict:
    """Recipients by RecipientTypeDetails and by SOA state (IsDirSynced × IsExchangeCloudManaged, plus Entra
    object-level SOA), live and soft-deleted. O(changes since the last call), O(mailboxes) only the first time."""
    state = _COUNTS.get(tenant)
    if state is None or state.stale(tenant):
        state = _COUNTS[tenant] = _Counts(tenant)
    state.refresh()
    return state.result()


# ---------------------------------------------------------------------------------------------- filtering
class _AllMailboxes:
    """Every mailbox as a sliceable sequence that copies only the slice asked for (the unfiltered table)."""

    def __init__(self, collection):
        self.collection = collection

    def __len__(self) -> int:
        return len(self.collection)

    def __getitem__(self, index: slice) -> list:
        start, stop, _ = index.indices(len(self.collection))
        return self.collection.slice(start, stop)


_FILTER_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FILTER_CACHE_SIZE = 8


def filter_mailboxes(
    tenant,
    *,
    search: str = "",
    recipient_type: str | None = None,
    dir_synced: bool | None = None,
    cloud_managed: bool | None = None,
    deleted: bool = False,
) -> list:
    """Mailboxes matching the Get-Mailbox-like filters, in the collection's (creation) order.

    ``search`` is a case-insensitive substring of Name, Alias, DisplayName, UserPrincipalName or
    PrimarySmtpAddress; ``deleted`` selects the soft-deleted container instead of live recipients. Results are
    remembered until the mailboxes change, so paging through one filter scans the tenant once."""
    needle = search.strip().lower()
    if (
        not (needle or recipient_type or dir_synced is not None or cloud_managed is not None or deleted)
        and mailbox_counts(tenant)["softDeleted"] == 0
    ):
        return _AllMailboxes(tenant.mailboxes)
    version = (id(tenant.mailboxes), tenant.mailboxes.current_seq(), len(tenant.mailboxes))
    key = (needle, recipient_type, dir_synced, cloud_managed, deleted)
    cache = _FILTER_CACHE.get(tenant)
    if cache is None or cache[0] != version:
        cache = _FILTER_CACHE[tenant] = (version, {})
    hit = cache[1].get(key)
    if hit is not None:
        return hit
    out = []
    append = out.append
    for mbx in tenant.mailboxes:
        if (mbx.when_soft_deleted is not None) != deleted:
            continue
        if recipient_type and mbx.recipient_type_details != recipient_type:
            continue
        if dir_synced is not None and bool(mbx.is_dir_synced) != dir_synced:
            continue
        if cloud_managed is not None and bool(mbx.is_exchange_cloud_managed) != cloud_managed:
            continue
        if needle and not any(
            needle in (v or "").lower()
            for v in (mbx.name, mbx.alias, mbx.display_name, mbx.user_principal_name, mbx.primary_smtp_address)
        ):
            continue
        append(mbx)
    if len(cache[1]) >= _FILTER_CACHE_SIZE:
        cache[1].pop(next(iter(cache[1])))
    cache[1][key] = out
    return out


# ------------------------------------------------------------------------------------------------ the join
_ANCHOR_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _anchor_index(tenant) -> dict:
    """ms-DS-ConsistencyGuid → sAMAccountName key, rebuilt only after AD changed (fallback path of the join)."""
    seq = (tenant.ad_users.current_seq(), len(tenant.ad_users))
    cached = _ANCHOR_CACHE.get(tenant)
    if cached is not None and cached[0] == seq:
        return cached[1]
    index = {}
    for key in tenant.ad_users.keys():
        ad = tenant.ad_users.get(key)
        if ad is not None:
            index[ad.consistency_guid] = key
    _ANCHOR_CACHE[tenant] = (seq, index)
    return index


def find_ad_user(tenant, user, mailbox=None):
    """The AD user an Entra user (or, failing that, a mailbox's ImmutableId) is synced from, or None.

    Entra Connect joins on the source anchor (``onPremisesImmutableId`` == ``mS-DS-ConsistencyGuid``); the
    sAMAccountName the user carries is only a fast path and is confirmed against the anchor."""
    anchor = getattr(user, "on_premises_immutable_id", None) if user is not None else None
    anchor = anchor or getattr(mailbox, "immutable_id", None)
    if not anchor:
        return None
    sam = getattr(user, "on_premises_sam_account_name", None) if user is not None else None
    if sam:
        ad = tenant.ad_users.get(sam.lower())
        if ad is not None and ad.consistency_guid == anchor:
            return ad
    index = getattr(getattr(tenant, "sync", None), "index", None)
    if index is not None and hasattr(index, "ad_key_by_anchor") and hasattr(index, "refresh"):
        # The sync engine's own incremental index: refreshing it folds in only what changed since its last use.
        index.refresh()
        key = index.ad_key_by_anchor.get(anchor)
    else:
        key = _anchor_index(tenant).get(anchor)
    ad = tenant.ad_users.get(key) if key is not None else None
    return ad if ad is not None and ad.consistency_guid == anchor else None


def join_mailboxes(tenant, mailboxes) -> list[MailboxJoin]:
    """Join each mailbox (only those given: one page) to its Entra user and AD user."""
    out = []
    for mbx in mailboxes:
        user = tenant.users.get(mbx.external_directory_object_id) if mbx.external_directory_object_id else None
        out.append(MailboxJoin(mbx, user, find_ad_user(tenant, user, mbx)))
    return out


# ------------------------------------------------------------------------------------------------ compare
def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value is False


def exchange_value(mailbox, name: str):
    """A mailbox property by its Get-Mailbox name (a row of the SOA attribute table)."""
    return soa.mailbox_value(mailbox, soa.BY_NAME[name])


def _differs(name: str, exo, ad) -> bool:
    return soa.differs(soa.BY_NAME[name], exo, ad)


def compare(mailbox, ad_user) -> list[Comparison]:
    """Every Exchange and identity property of ``mailbox`` beside the AD attribute it is synced from.

    Without an AD user (cloud-only mailbox, or its AD object gone) nothing can drift and the AD side is None."""
    rows = []
    for pairs, identity in ((EXCHANGE_PAIRS, False), (IDENTITY_PAIRS, True)):
        for exo_name, ad_name in pairs:
            exo = exchange_value(mailbox, exo_name)
            if ad_user is None:
                rows.append(Comparison(exo_name, ad_name, exo, None, False, identity))
                continue
            ad = ad_user.get(ad_name)
            if exo_name == "RecipientTypeDetails":
                ad_cmp = REMOTE_TYPE_TO_EXO.get(ad, ad)
                rows.append(Comparison(exo_name, ad_name, exo, ad, ad_cmp != exo, identity))
                continue
            rows.append(Comparison(exo_name, ad_name, exo, ad, _differs(exo_name, exo, ad), identity))
    return rows


def row_comparisons(comparisons: list[Comparison]) -> list[Comparison]:
    """The subset the mailbox table shows: the main addressing properties plus anything set or drifted."""
    return [
        c
        for c in comparisons
        if not c.identity
        and (c.exchange_name in ALWAYS_SHOWN or c.drift or (c.is_set and c.exchange_name != "RecipientTypeDetails"))
    ]


def drift_meaning(mailbox) -> str:
    """What a difference between Exchange and AD means for this mailbox (which side wins next cycle)."""
    if not mailbox.is_dir_synced:
        return "cloud-only: no AD source"
    if mailbox.is_exchange_cloud_managed:
        return "cloud-managed: Exchange values are authoritative; AD is not synced over them"
    return "AD-managed: the next sync cycle overwrites Exchange with the AD values"
