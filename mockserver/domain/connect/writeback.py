"""Entra Cloud Sync "EXO to AD attribute sync": on its own cycle (default 20 minutes, opt-in), the 24 documented
attributes of cloud-managed mailboxes are written back to the on-prem AD user. Other attributes, and mailboxes
that are not cloud-managed, are skipped with ``NotInScope``.

Write-back writes the cloud's own values, so the next Connect cycle imports an AD object whose Exchange
attributes already equal the mailbox's: nothing flows back against the cloud."""

from __future__ import annotations

from .. import soa_attributes as soa
from ..clock import iso
from ..onprem.ad import EXO_TO_REMOTE_TYPE
from ..seed import DISPLAY_TYPE

#: At most this many NotInScope / error entries are listed per run (counts are always complete).
MAX_LISTED = 200


def writeback_values(mbx) -> dict:
    """The 24 write-back attributes of a cloud mailbox (the SOA table's ``written_back`` rows), under their AD
    names: empty single values as None, multi-valued ones as lists, the type as AD's numbers."""
    values: dict = {}
    for attr in soa.WRITTEN_BACK:
        value = soa.mailbox_value(mbx, attr)
        if attr.kind == soa.TYPE:
            remote = EXO_TO_REMOTE_TYPE.get(value)
            if remote is not None:
                values[attr.ad] = remote
                values[attr.ad_also[0]] = DISPLAY_TYPE.get(remote)
        elif isinstance(value, list):
            values[attr.ad] = value
        else:
            values[attr.ad] = value or None
    return values


class WritebackJob:
    """One tenant's write-back job: schedule, change tracking over mailboxes, and run records."""

    def __init__(self, engine):
        self.engine = engine
        self.tenant = engine.tenant
        self.next_at: float | None = None
        self.mailboxes_seq = 0
        self.full_pending = True

    @property
    def config(self) -> dict:
        """The ``writeback`` block of the sync settings."""
        return self.engine.settings["writeback"]

    def configure(self, enabled_before: bool) -> None:
        """Re-plan after a settings change: enabling starts a full first run one interval from now."""
        now = self.tenant.clock.now()
        if not self.config["enabled"]:
            self.next_at = None
            return
        interval = self.config["intervalMinutes"] * 60
        if not enabled_before or self.next_at is None:
            self.full_pending = True
            self.next_at = now + interval
        else:
            last = self.next_at - interval
            self.next_at = max(now, last + interval)

    # --------------------------------------------------------------- timer
    def next_due(self) -> float | None:
        """Next scheduled write-back run (None while disabled)."""
        if not self.config.get("enabled"):
            return None
        if self.next_at is None:
            # Enabled by editing the settings dict directly (scenario files): the first run is one interval out.
            self.full_pending = True
            self.next_at = self.tenant.clock.now() + self.config["intervalMinutes"] * 60
        return self.next_at

    def run_due(self, now: float) -> None:
        """Scheduled run."""
        from .sync_run import guarded

        self.next_at = now + self.config["intervalMinutes"] * 60
        guarded(self.engine, "Writeback", lambda: self.run(trigger="Scheduler"))

    # ----------------------------------------------------------------- run
    def run(self, *, trigger: str = "Manual") -> dict:
        """Write the 24 attributes of cloud-managed mailboxes changed since the last run back to AD."""
        t = self.tenant
        engine = self.engine
        index = engine.index
        index.refresh()
        now = t.clock.now()
        full = self.full_pending
        if full:
            candidates = sorted(index.cloud_managed_mailboxes)
        else:
            candidates = t.mailboxes.changed_since(self.mailboxes_seq)
        exported = written = not_in_scope_count = 0
        not_in_scope: list[dict] = []
        errors: list[dict] = []
        for guid in candidates:
            mbx = t.mailboxes.get(guid)
            if mbx is None or mbx.when_soft_deleted is not None or not mbx.is_dir_synced:
                continue
            if not mbx.is_exchange_cloud_managed:
                not_in_scope_count += 1
                if len(not_in_scope) < MAX_LISTED:
                    not_in_scope.append(
                        {"mailbox": mbx.primary_smtp_address, "attribute": None, "skipReason": "NotInScope"}
                    )
                continue
            owner = t.users.get(mbx.external_directory_object_id)
            ad_key = (
                index.ad_key_by_anchor.get(owner.on_premises_immutable_id)
                if owner is not None and owner.on_premises_immutable_id
                else None
            )
            ad = t.ad_users.get(ad_key) if ad_key else None
            if ad is None:
                if len(errors) < MAX_LISTED:
                    errors.append(
                        {
                            "mailbox": mbx.primary_smtp_address,
                            "errorType": "ObjectNotFoundOnPremises",
                            "message": "No on-premises AD object is linked to this mailbox.",
                        }
                    )
                continue
            changed = {name: value for name, value in writeback_values(mbx).items() if ad.attrs.get(name) != value}
            for attr in soa.NOT_WRITTEN_BACK:
                ad_name = attr.ad
                ad_value = ad.attrs.get(ad_name)
                cloud_value = getattr(mbx, attr.field)
                if (bool(ad_value) if isinstance(cloud_value, bool) else ad_value) != cloud_value:
                    not_in_scope_count += 1
                    if len(not_in_scope) < MAX_LISTED:
                        not_in_scope.append(
                            {"mailbox": mbx.primary_smtp_address, "attribute": ad_name, "skipReason": "NotInScope"}
                        )
            if changed:
                ad.attrs.update(changed)
                ad.when_changed = now
                t.ad_users.touch(ad_key)
                exported += 1
                written += len(changed)
        self.mailboxes_seq = t.mailboxes.current_seq()
        self.full_pending = False
        record = {
            "id": t.ids.guid(),
            "policyType": "Writeback",
            "trigger": trigger,
            "startDateTime": iso(now),
            "endDateTime": iso(t.clock.now()),
            "status": "completed-export-errors" if errors else "success",
            "fullSync": full,
            "objectsExported": exported,
            "attributesWritten": written,
            "notInScopeCount": not_in_scope_count,
            "notInScope": not_in_scope,
            "errors": errors,
        }
        engine.add_history(record)
        engine.audit(record, {"objectsExported": exported, "attributesWritten": written})
        return record

    # ------------------------------------------------------------ snapshot
    def to_dict(self) -> dict:
        """Serializable state (the mailbox change mark is not portable: a restored job does a full run)."""
        return {"nextAt": self.next_at}

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
        self.next_at = data.get("nextAt")
        self.mailboxes_seq = 0
        self.full_pending = True
