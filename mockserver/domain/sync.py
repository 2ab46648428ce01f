"""Microsoft Entra Connect Sync (Start-ADSyncSyncCycle semantics): AD -> Entra ID -> Exchange Online.

Minimal first cut (create/update only); the sync issue owns the full rule set."""
from __future__ import annotations

from .directory import EntraUser
from .mailboxes import Mailbox
from .onprem import REMOTE_TYPE_TO_EXO

MIN_HONOURING_VERSION = (2, 5, 76, 0)


class SyncEngine:
    """One tenant's Entra Connect server: settings, scheduler, run history."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.settings: dict = {"intervalMinutes": 30, "enabled": True, "connectVersion": "2.5.190.0",
                               "deletionThreshold": 500, "writeback": {"enabled": False, "intervalMinutes": 20}}
        self.history: list[dict] = []
        self.last_seq = 0
        self.next_cycle_at: float | None = None

    def next_due(self) -> float | None:
        """Tenant time of the next scheduled Delta cycle."""
        if not self.settings.get("enabled", True):
            return None
        return self.next_cycle_at

    def run_due(self, now: float) -> None:
        """Run the scheduled Delta cycle."""
        self.run_cycle("Delta", scheduled=True)

    def run_cycle(self, policy: str = "Delta", *, scheduled: bool = False) -> dict:
        """Run one sync cycle and return its run record."""
        t = self.tenant
        now = t.clock.now()
        keys = t.ad_users.keys() if policy == "Initial" else t.ad_users.changed_since(self.last_seq)
        adds = updates = 0
        by_anchor = {u.on_premises_immutable_id: u for u in t.users if u.on_premises_immutable_id}
        by_owner = {m.external_directory_object_id: m for m in t.mailboxes}
        for key in keys:
            ad = t.ad_users.get(key)
            if ad is None:
                continue
            user = by_anchor.get(ad.consistency_guid)
            if user is None:
                user = EntraUser(id=t.ids.guid(), user_principal_name=ad.get("userPrincipalName"),
                                 display_name=ad.get("displayName"), created_date_time=now)
                adds += 1
            else:
                updates += 1
            user.user_principal_name = ad.get("userPrincipalName")
            user.display_name = ad.get("displayName")
            user.given_name, user.surname = ad.get("givenName"), ad.get("sn")
            user.job_title, user.department = ad.get("title"), ad.get("department")
            user.mail, user.mail_nickname = ad.get("mail"), ad.get("mailNickname")
            user.proxy_addresses = list(ad.get("proxyAddresses") or [])
            user.on_premises_sync_enabled = True
            user.on_premises_immutable_id = ad.consistency_guid
            user.on_premises_sam_account_name = ad.sam_account_name
            user.on_premises_distinguished_name = ad.distinguished_name
            user.on_premises_user_principal_name = ad.get("userPrincipalName")
            user.on_premises_domain_name = t.name + ".local"
            user.on_premises_last_sync_date_time = now
            user.on_premises_extension_attributes = [ad.get(f"extensionAttribute{i}") for i in range(1, 16)]
            t.users.put(user.id, user)
            rtd = REMOTE_TYPE_TO_EXO.get(ad.get("msExchRecipientTypeDetails"))
            if rtd:
                mbx = by_owner.get(user.id)
                if mbx is None:
                    mbx = Mailbox(guid=t.ids.guid(), exchange_guid=ad.get("msExchMailboxGuid") or t.ids.guid(),
                                  external_directory_object_id=user.id, name=ad.sam_account_name,
                                  alias=ad.get("mailNickname"), display_name=ad.get("displayName"),
                                  user_principal_name=ad.get("userPrincipalName"),
                                  primary_smtp_address=ad.get("mail"), recipient_type_details=rtd,
                                  is_dir_synced=True, immutable_id=ad.consistency_guid, when_created=now)
                mbx.display_name = ad.get("displayName")
                mbx.user_principal_name = ad.get("userPrincipalName")
                if not mbx.is_exchange_cloud_managed:
                    mbx.alias = ad.get("mailNickname")
                    mbx.email_addresses = list(ad.get("proxyAddresses") or [])
                    mbx.primary_smtp_address = ad.get("mail")
                    mbx.custom_attributes = [ad.get(f"extensionAttribute{i}") for i in range(1, 16)]
                    mbx.extension_custom_attributes = [list(ad.get(f"msExchExtensionCustomAttribute{i}") or [])
                                                       for i in range(1, 6)]
                    mbx.hidden_from_address_lists_enabled = bool(ad.get("msExchHideFromAddressLists"))
                mbx.when_changed = now
                t.mailboxes.put(mbx.guid, mbx)
        self.last_seq = t.ad_users.current_seq()
        run = {"id": t.ids.guid(), "policyType": policy, "scheduled": scheduled, "startedAt": now, "endedAt": now,
               "status": "success", "adds": adds, "updates": updates, "deletes": 0, "skipped": 0, "errors": []}
        self.history.append(run)
        self.next_cycle_at = now + self.settings["intervalMinutes"] * 60
        return run

    def to_dict(self) -> dict:
        """Serializable state."""
        return {"settings": self.settings, "history": self.history, "lastSeq": self.last_seq,
                "nextCycleAt": self.next_cycle_at}

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
        self.settings = data["settings"]
        self.history = data["history"]
        self.last_seq = data["lastSeq"]
        self.next_cycle_at = data["nextCycleAt"]
