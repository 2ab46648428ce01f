"""One Entra Connect cycle's run record: its counters and per-object errors (``PropertyConflict``,
``DeletingCloudOnlyObjectNotAllowed``), and the guard that turns a failing scheduled run into a ``failed`` record
(what ``Get-ADSyncRunProfileResult``-style history shows)."""

from __future__ import annotations

import logging

from ..clock import iso
from .forward_sync import delay_seconds

log = logging.getLogger("hybridsoa.mock.domain.connect.sync")

#: Per-object errors listed in one run record (the count is always complete).
MAX_ERRORS_LISTED = 500


def guarded(engine, policy: str, work) -> None:
    """Run scheduled work; a bug in it becomes a ``failed`` run record instead of breaking every later request
    of the tenant (timers run inside request handling)."""
    try:
        work()
    except Exception as exc:  # see docstring
        log.exception("scheduled %s run failed", policy)
        now = engine.tenant.clock.now()
        engine.add_history(
            {
                "id": engine.tenant.ids.guid(),
                "policyType": policy,
                "trigger": "Scheduler",
                "startDateTime": iso(now),
                "endDateTime": iso(now),
                "status": "failed",
                "message": f"{type(exc).__name__}: {exc}",
                "errorCount": 0,
                "errors": [],
            }
        )


class Run:
    """Counters and per-object errors of one cycle."""

    def __init__(self, engine, now: float, honour: bool):
        self.engine, self.now, self.honour = engine, now, honour
        #: onPremisesDomainName of every synced user (one string for the cycle, not one per user).
        self.domain_name = engine.tenant.name + ".local"
        #: Forward-sync deliveries apply at once (zero delay); settings do not change during a cycle.
        self.deliver_now = delay_seconds(engine.tenant) <= 0
        self._cloud_managed_default: bool | None = None
        self.adds = self.updates = self.deletes = self.unchanged = 0
        self.skipped_cloud_managed = self.exchange_kept_in_cloud_count = self.soft_matched = 0
        self.error_count = 0
        self.errors: list[dict] = []
        self.errored_anchors: set[str] = set()

    def cloud_managed_default(self) -> bool:
        """The tenant's ExchangeAttributesCloudManagedByDefault for mailboxes this cycle creates."""
        if self._cloud_managed_default is None:
            self._cloud_managed_default = bool(
                self.engine.tenant.org_config.get("ExchangeAttributesCloudManagedByDefault")
            )
        return self._cloud_managed_default

    def error(self, user, sam, anchor, err: dict) -> None:
        """Record a per-object PropertyConflict."""
        self._add(
            {
                "errorType": err["category"],
                "userId": user.id,
                "sAMAccountName": sam,
                "sourceAnchor": anchor,
                "propertyCausingError": err["propertyCausingError"],
                "value": err["value"],
                "message": f"Unable to update this object because the following attributes associated with "
                f"this object have values that may already be associated with another object in "
                f"your local directory services: [{err['propertyCausingError']} {err['value']}].",
            }
        )

    def error_cloud_only(self, user, anchor) -> None:
        """Record DeletingCloudOnlyObjectNotAllowed for a cloud-restored user whose AD object is gone."""
        self.errored_anchors.add(anchor)
        self._add(
            {
                "errorType": "DeletingCloudOnlyObjectNotAllowed",
                "userId": user.id,
                "sAMAccountName": user.on_premises_sam_account_name,
                "sourceAnchor": anchor,
                "propertyCausingError": None,
                "value": None,
                "message": "The object being deleted is a cloud-only object. Deleting cloud-only objects "
                "through directory synchronization is not allowed.",
            }
        )

    def error_invalid_hard_match(self, user, sam, anchor) -> None:
        """Record InvalidHardMatch: blockCloudObjectTakeoverThroughHardMatchEnabled refused to join a cloud-created
        object by source anchor (the text of the Set-EntraDirSyncFeature / Set-MsolDirSyncFeature reference)."""
        self.errored_anchors.add(anchor)
        self._add(
            {
                "errorType": "InvalidHardMatch",
                "userId": user.id,
                "sAMAccountName": sam,
                "sourceAnchor": anchor,
                "propertyCausingError": None,
                "value": None,
                "message": "Another cloud created object with the same source anchor already exists in "
                "Microsoft Entra ID",
            }
        )

    def _add(self, entry: dict) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append(entry)


def conflict(prop: str, value: str, now: float) -> dict:
    """A ``PropertyConflict`` provisioning error for ``prop`` = ``value`` at tenant time ``now``."""
    return {"category": "PropertyConflict", "occurredDateTime": iso(now), "propertyCausingError": prop, "value": value}
