"""Microsoft Entra Connect Sync (``Start-ADSyncSyncCycle`` / ``Get-ADSyncScheduler`` semantics): on-prem AD ->
Entra ID -> Exchange Online, on the tenant clock.

Per cycle (DESIGN.md "The hybrid world"): Delta takes what changed since the last cycle, Initial takes every
AD user. For each in-scope AD user the Entra user is created or updated (identity attributes always flow);
objects whose object-level SOA is in the cloud are skipped (event 6956); the mailbox's Exchange attributes are
overwritten from AD unless the mailbox is ``IsExchangeCloudManaged`` (and the Connect build honours the flag).
Deleted or out-of-scope users soft-delete the Entra user and the mailbox whatever the mailbox flag; more
pending deletes than the threshold stop the export and apply nothing. Duplicate proxy addresses or UPNs are
quarantined per object (``PropertyConflict`` in ``onPremisesProvisioningErrors``).

Delta cost is O(changes): the work list comes from the collections' change logs (AD users, and Entra users and
mailboxes touched in the cloud, e.g. a flag revert or an SOA rollback) and lookups go through :class:`SyncIndex`.

The engine is the tenant's sync timer: it multiplexes the scheduled Connect cycle, the write-back job, the
forward-sync queue and the retention purger onto one ``next_due``/``run_due`` pair."""

from __future__ import annotations

import copy

from ..clock import iso
from ..errors import InvalidArgument
from ..memory import bulk_allocation
from .export import ObjectExport
from .forward_sync import ForwardSync
from .joins import resolve_managers
from .lifecycle import PurgeScheduler, soft_delete_user
from .sync_index import SyncIndex
from .sync_rules import (
    MIN_HONOURING_VERSION,
    honours_exchange_cloud_managed,
    in_scope,
    scope_filter,
)
from .sync_run import Run, guarded
from .sync_settings import (
    ALLOWED_SYNC_CYCLE_MINUTES,
    deletion_threshold_reached,
    effective_interval_minutes,
    validated_settings,
)
from .writeback import WritebackJob

POLICY_TYPES = ("Delta", "Initial")
#: Run records kept per tenant (oldest dropped first).
MAX_HISTORY = 2000

DEFAULT_SETTINGS = {
    "intervalMinutes": 30,
    "enabled": True,
    "connectVersion": "2.5.190.0",
    "ouScope": [],
    "deletionThreshold": 500,
    "deletionPreventionType": "enabledForCount",
    #: Mock-only: a scheduler cadence below Entra Connect's 30-minute minimum (null = the real rule applies).
    "mockCycleIntervalMinutes": None,
    "writeback": {"enabled": False, "intervalMinutes": 20},
}


class SyncEngine(ObjectExport):
    """One tenant's Entra Connect server: settings, scheduler, run history, connector-space memory."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.settings: dict = copy.deepcopy(DEFAULT_SETTINGS)
        self.history: list[dict] = []
        self.next_cycle_at: float | None = None
        self.next_policy = "Delta"
        self._last_start: float | None = None
        self.index = SyncIndex(tenant)
        self.forward = ForwardSync(self)
        self.writeback = WritebackJob(self)
        self.purger = PurgeScheduler(tenant)
        self._reset_marks()
        #: source anchor -> {userId, sAMAccountName, deletedDateTime}: deletes this server exported.
        self.connector_deletes: dict[str, dict] = {}
        #: anchors of users restored in the cloud while their AD object was gone (DeletingCloudOnlyObjectNotAllowed).
        self.restored_orphans: set[str] = set()
        #: AD keys with per-object errors: re-evaluated every cycle until they clear.
        self.retry_keys: set[str] = set()
        #: AD keys whose ``manager`` names an object that is not synced yet (resolved again every cycle).
        self.pending_references: set[str] = set()
        #: Extension-attribute lists shared by the users that have the same 15 values (memory.shared_list).
        self.shared_values: dict[tuple, list] = {}
        #: Licence lists shared by the users the group-based assignment licensed in one go (licensing.license_user).
        self.shared_licences: dict = {}
        #: AD keys the seed leaves unlicensed (read during the seed's Initial cycle only).
        self.unlicensed_seed: set[str] = set()

    def _reset_marks(self) -> None:
        self.ad_seq = 0
        self.users_seq = 0
        self.mailboxes_seq = 0
        self.full_scan_pending = False

    # ------------------------------------------------------------ settings
    @property
    def honours_flag(self) -> bool:
        """Whether the configured Connect build respects IsExchangeCloudManaged."""
        return honours_exchange_cloud_managed(self.settings["connectVersion"])

    def update_settings(self, patch: dict) -> dict:
        """``PATCH /_mock/tenants/{t}/sync``: validate everything first, then apply (all or nothing)."""
        new = validated_settings(self.settings, patch)
        now = self.tenant.clock.now()
        old, self.settings = self.settings, new
        if [s.lower() for s in old.get("ouScope") or []] != [s.lower() for s in new["ouScope"]]:
            # Filtering changes need a full import: the scheduler's next cycle becomes Initial.
            self.next_policy = "Initial"
        if effective_interval_minutes(new) != effective_interval_minutes(old) or (
            new["enabled"] and not old["enabled"]
        ):
            last = self._last_cycle_start()
            base = last if last is not None else now
            self.next_cycle_at = max(now, base + effective_interval_minutes(new) * 60)
        if new["writeback"] != old["writeback"]:
            self.writeback.configure(old["writeback"]["enabled"])
        return self.describe()

    def describe(self) -> dict:
        """``GET /_mock/tenants/{t}/sync``: settings plus scheduler state (Get-ADSyncScheduler's view)."""
        out = copy.deepcopy(self.settings)
        last = next((r for r in reversed(self.history) if r["policyType"] in POLICY_TYPES), None)
        out.update(
            {
                "allowedSyncCycleIntervalMinutes": ALLOWED_SYNC_CYCLE_MINUTES,
                "currentlyEffectiveSyncCycleIntervalMinutes": effective_interval_minutes(self.settings),
                "nextSyncCycleStartTime": iso(self.next_cycle_at) if self.settings["enabled"] else None,
                "nextSyncCyclePolicyType": self.next_policy,
                "minimumVersionHonouringExchangeCloudManaged": ".".join(map(str, MIN_HONOURING_VERSION)),
                "honoursExchangeCloudManaged": self.honours_flag,
                "lastCycle": None
                if last is None
                else {k: last[k] for k in ("id", "policyType", "startDateTime", "status")},
                "forwardSyncPending": len(self.forward.queue),
            }
        )
        out["writeback"]["nextRunTime"] = iso(self.writeback.next_due())
        return out

    def _last_cycle_start(self) -> float | None:
        return self._last_start

    # --------------------------------------------------------------- timer
    def _queue_dues(self) -> tuple:
        # Forward-sync deliveries, the scheduled cycle and write-back: the due times read without a change log.
        return (
            self.forward.next_due(),
            self.next_cycle_at if self.settings.get("enabled", True) else None,
            self.writeback.next_due(),
        )

    def _subtimers(self):
        forward_due, cycle_due, writeback_due = self._queue_dues()
        return (
            (forward_due, 0, self.forward.run_due),
            (self.purger.next_due(), 1, self.purger.run_due),
            (cycle_due, 2, self._run_scheduled),
            (writeback_due, 3, self.writeback.run_due),
        )

    def next_due(self) -> float | None:
        """Earliest due time of the scheduled cycle, write-back, forward-sync deliveries and purges."""
        # The same answer as min() over _subtimers, without building them.
        best = self.purger.next_due()
        for due in self._queue_dues():
            if due is not None and (best is None or due < best):
                best = due
        return best

    def due_by(self, now: float) -> bool:
        """Whether any scheduled work is due at ``now`` (asked before every request)."""
        for due in self._queue_dues():
            if due is not None and due <= now:
                return True
        return self.purger.due_by(now)

    def run_due(self, now: float) -> None:
        """Run the earliest piece of due work (the clock loop calls again for the rest)."""
        due = [(d, order, fn) for d, order, fn in self._subtimers() if d is not None and d <= now]
        if due:
            due.sort(key=lambda x: (x[0], x[1]))
            due[0][2](now)

    def _run_scheduled(self, now: float) -> None:
        due_at = self.next_cycle_at
        # The scheduler keeps its own cadence from the due time, not from when a late catch-up ran it; planned
        # before running so that a failing cycle cannot be retried in a tight loop.
        interval = effective_interval_minutes(self.settings) * 60
        nxt = (due_at or now) + interval
        self.next_cycle_at = nxt if nxt > now else now + interval
        guarded(self, self.next_policy, lambda: self.run_cycle(self.next_policy, scheduled=True))

    # --------------------------------------------------------------- cycle
    def run_cycle(self, policy: str = "Delta", *, scheduled: bool = False) -> dict:
        """``Start-ADSyncSyncCycle -PolicyType Delta|Initial``: import, sync, export; returns the run record."""
        if policy not in POLICY_TYPES:
            raise InvalidArgument("policyType must be Delta or Initial.")
        t = self.tenant
        now = t.clock.now()
        self._last_start = now
        honour = self.honours_flag
        scopes = self.settings.get("ouScope") or []
        self.index.refresh()
        full = policy == "Initial" or self.full_scan_pending
        run = Run(self, now, honour)
        self.shared_licences = {}  # licences granted this cycle share one list (same assignedDateTime)

        keys = self._work_list(full)
        with bulk_allocation(len(keys)):
            return self._run(run, policy, scheduled, keys, full, scopes)

    def _run(self, run, policy, scheduled, keys, full, scopes) -> dict:
        t = self.tenant
        now = run.now
        # Plan: classify every object before changing anything, so a stopped export applies nothing.
        upserts, deletes = [], []
        ad_users = t.ad_users
        index = self.index
        scoped = scope_filter(scopes)
        # A full run's work list is every AD object, so the plan loop sees every in-scope anchor.
        present: set[str] = set()
        block_hard_match = bool(
            (self.settings.get("features") or {}).get("blockCloudObjectTakeoverThroughHardMatchEnabled")
        )
        for key in keys:
            ad = ad_users.get(key)
            if ad is not None and scoped(ad.ou):
                anchor = ad.consistency_guid
                present.add(anchor)
                user = index.user_for_anchor(anchor)
                if user is not None and user.is_cloud_managed:
                    # SOA in the cloud (blockOnPremisesSync), deleted there or not: Connect leaves it alone.
                    run.skipped_cloud_managed += 1
                    continue
                if (
                    user is not None
                    and not user.on_premises_sync_enabled
                    and user.on_premises_last_sync_date_time is None
                    and block_hard_match
                ):
                    # A cloud-created object holding this anchor: the tenant blocks the takeover.
                    run.error_invalid_hard_match(user, ad.sam_account_name, anchor)
                    self.retry_keys.add(key)
                    continue
                upserts.append((key, ad, anchor, user))
            else:
                anchor = ad.consistency_guid if ad is not None else index.anchor_by_ad_key.get(key)
                self._plan_delete(run, key, anchor, deletes)
        if full:
            missing = [anchor for anchor in index.user_by_anchor if anchor not in present]
            if missing:
                handled = {a for _, _, a, _ in upserts} | {a for _, a, _ in deletes}
                for anchor in missing:
                    if anchor not in handled:
                        self._plan_delete(run, index.ad_key_by_anchor.get(anchor), anchor, deletes)
        for anchor in list(self.restored_orphans):
            user = index.user_for_anchor(anchor)
            if user is None or user.deleted_date_time is not None or user.on_premises_sync_enabled:
                self.restored_orphans.discard(anchor)
            elif not self.ad_in_scope(anchor) and anchor not in run.errored_anchors:
                run.error_cloud_only(user, anchor)

        if deletes and deletion_threshold_reached(self.settings, len(deletes), self._synced_count()):
            return self._finish(run, policy, scheduled, stopped=len(deletes))

        for key, anchor, user in deletes:
            soft_delete_user(t, user)
            self.connector_deletes[anchor] = {
                "userId": user.id,
                "sAMAccountName": user.on_premises_sam_account_name,
                "deletedDateTime": iso(now),
            }
            self.retry_keys.discard(key)
            run.deletes += 1
        for key, ad, anchor, user in upserts:
            self._upsert(run, key, ad, anchor, user)
        self.pending_references = resolve_managers(
            self.tenant, self.index, self.settings.get("ouScope"), self.pending_references, [key for key, *_ in upserts]
        )

        # Every write above indexed itself as it happened (and forward deliveries index theirs).
        self.index.mark_seen()
        self.ad_seq = ad_users.current_seq()
        self.users_seq = t.users.current_seq()
        self.mailboxes_seq = t.mailboxes.current_seq()
        self.full_scan_pending = False
        if policy == "Initial":
            self.next_policy = "Delta"
        return self._finish(run, policy, scheduled)

    def _synced_count(self) -> int:
        """Objects Connect currently exports (the base of a percentage deletion threshold)."""
        return sum(1 for u in self.tenant.users if u.on_premises_sync_enabled and u.deleted_date_time is None)

    def _work_list(self, full: bool) -> list[str]:
        t = self.tenant
        if full:
            return t.ad_users.keys() + [k for k in self.retry_keys if k not in t.ad_users]
        keys = dict.fromkeys(t.ad_users.changed_since(self.ad_seq))
        index = self.index
        # Cloud-side edits (flag reverts, SOA rollback, restores) are reconciled at the next cycle too.
        for guid in t.mailboxes.changed_since(self.mailboxes_seq):
            mbx = t.mailboxes.get(guid)
            owner = t.users.get(mbx.external_directory_object_id) if mbx is not None else None
            if owner is not None and owner.on_premises_immutable_id:
                key = index.ad_key_by_anchor.get(owner.on_premises_immutable_id)
                if key:
                    keys[key] = None
        for uid in t.users.changed_since(self.users_seq):
            user = t.users.get(uid)
            if user is not None and user.on_premises_immutable_id:
                key = index.ad_key_by_anchor.get(user.on_premises_immutable_id)
                if key:
                    keys[key] = None
                elif user.on_premises_immutable_id in self.connector_deletes and user.deleted_date_time is None:
                    self.restored_orphans.add(user.on_premises_immutable_id)
        for key in self.retry_keys:
            keys[key] = None
        return list(keys)

    def _plan_delete(self, run, key, anchor, deletes) -> None:
        if not anchor:
            return
        user = self.index.user_for_anchor(anchor)
        if user is None or user.deleted_date_time is not None:
            return
        if user.is_cloud_managed:
            # blockOnPremisesSync: a transferred object is not deleted from on-premises either.
            run.skipped_cloud_managed += 1
            return
        if not user.on_premises_sync_enabled:
            if anchor in self.connector_deletes or anchor in self.restored_orphans:
                run.error_cloud_only(user, anchor)
            return
        deletes.append((key, anchor, user))

    def _finish(self, run: Run, policy: str, scheduled: bool, stopped: int | None = None) -> dict:
        t = self.tenant
        if stopped is not None:
            status = "stopped-deletion-threshold-exceeded"
        elif run.error_count:
            status = "completed-export-errors"
        else:
            status = "success"
        record = {
            "id": t.ids.guid(),
            "policyType": policy,
            "trigger": "Scheduler" if scheduled else "Manual",
            "startDateTime": iso(run.now),
            "endDateTime": iso(t.clock.now()),
            "status": status,
            "connectVersion": self.settings["connectVersion"],
            "honoursExchangeCloudManaged": run.honour,
            "adds": 0 if stopped is not None else run.adds,
            "updates": 0 if stopped is not None else run.updates,
            "deletes": 0 if stopped is not None else run.deletes,
            "unchanged": 0 if stopped is not None else run.unchanged,
            "skippedCloudManaged": run.skipped_cloud_managed,
            "softMatched": 0 if stopped is not None else run.soft_matched,
            "exchangeAttributesKeptCloudManaged": 0 if stopped is not None else run.exchange_kept_in_cloud_count,
            "pendingDeletes": stopped or 0,
            "deletionThreshold": self.settings.get("deletionThreshold"),
            "errorCount": run.error_count,
            "errors": run.errors,
        }
        if stopped is not None:
            record["message"] = (
                f"Prevent Accidental Deletes: The number of deletions for this sync cycle "
                f"({stopped} pending deletes) has exceeded the current threshold of "
                f"{self.settings.get('deletionThreshold')} objects. Deletions will be suppressed "
                f"and the export to Microsoft Entra ID is stopped."
            )
            record["eventId"] = 116
        first = not self.history
        if self.next_cycle_at is None:
            self.next_cycle_at = run.now + effective_interval_minutes(self.settings) * 60
        self.add_history(record)
        if not first:  # a tenant's first Initial is part of its creation, not an audited change
            self.audit(record, {k: record[k] for k in ("adds", "updates", "deletes", "softMatched")})
        return record

    def audit(self, record: dict, counts: dict) -> None:
        """One audit record per run that changed something, failed per object, or was stopped."""
        changed = any(counts.values())
        if not changed and not record.get("errorCount") and record["status"] == "success":
            return
        operation = "Writeback run" if record["policyType"] == "Writeback" else f"{record['policyType']} sync cycle"
        self.tenant.add_audit_record(
            "sync",
            operation,
            {"kind": "entraConnect", "connectVersion": record.get("connectVersion")},
            target=self.tenant.id,
            parameters={"runId": record["id"], "trigger": record["trigger"]},
            succeeded=record["status"] != "stopped-deletion-threshold-exceeded",
            changes={k: {"old": None, "new": v} for k, v in counts.items() if v},
            error=record.get("message")
            or (f"{record['errorCount']} per-object errors" if record.get("errorCount") else None),
        )

    def add_history(self, record: dict) -> None:
        """Append a run record (Connect cycle or write-back run), keeping the newest :data:`MAX_HISTORY`."""
        self.history.append(record)
        if len(self.history) > MAX_HISTORY:
            del self.history[: len(self.history) - MAX_HISTORY]

    # ------------------------------------------------------------- queries
    def ad_in_scope(self, anchor: str) -> bool:
        """Whether an AD object with this source anchor exists and sits inside the OU scope."""
        self.index.refresh()
        key = self.index.ad_key_by_anchor.get(anchor)
        ad = self.tenant.ad_users.get(key) if key else None
        return ad is not None and ad.consistency_guid == anchor and in_scope(ad.ou, self.settings.get("ouScope"))

    # ------------------------------------------------------------ snapshot
    def to_dict(self) -> dict:
        """Serializable state. Change marks and indexes are not stored: they are rebuilt, and the first cycle
        after a restore compares every object (counts stay exact because updates are diff-based)."""
        # Run records are never mutated once appended, so a shallow copy of the history is enough.
        return {
            "settings": copy.deepcopy(self.settings),
            "history": list(self.history),
            "nextCycleAt": self.next_cycle_at,
            "nextPolicy": self.next_policy,
            "lastStart": self._last_cycle_start(),
            "connectorDeletes": dict(self.connector_deletes),
            "restoredOrphans": sorted(self.restored_orphans),
            "retryKeys": sorted(self.retry_keys),
            "pendingReferences": sorted(self.pending_references),
            "forward": self.forward.to_dict(),
            "writeback": self.writeback.to_dict(),
        }

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output (the tenant's collections may be loaded before or after)."""
        settings = copy.deepcopy(DEFAULT_SETTINGS)
        settings.update(copy.deepcopy(data.get("settings") or {}))
        settings["writeback"] = {**DEFAULT_SETTINGS["writeback"], **(settings.get("writeback") or {})}
        self.settings = settings
        self.history = list(data.get("history") or [])
        self.next_cycle_at = data.get("nextCycleAt")
        self.next_policy = data.get("nextPolicy") or "Delta"
        self._last_start = data.get("lastStart")
        self.connector_deletes = dict(data.get("connectorDeletes") or {})
        self.restored_orphans = set(data.get("restoredOrphans") or [])
        self.retry_keys = set(data.get("retryKeys") or [])
        self.pending_references = set(data.get("pendingReferences") or [])
        self.forward.load(data.get("forward") or {})
        self.writeback.load(data.get("writeback") or {})
        self.index.reset()
        self.purger.reset()
        self._reset_marks()
        self.full_scan_pending = True
