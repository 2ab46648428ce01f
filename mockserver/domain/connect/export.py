"""Entra Connect's export of one in-scope AD user (part of :class:`~.sync.SyncEngine`'s cycle): the Entra user
created or updated (identity attributes always flow, a soft match or a quarantined UPN where the rules say so),
its mailbox or mail user provisioned and its Exchange attributes overwritten from AD unless the mailbox is
cloud-managed and the Connect build honours the flag, and group-based licensing applied."""

from __future__ import annotations

from typing import Any

from ..entra.directory import EntraUser
from ..entra.licensing import has_exchange_plan, license_user
from ..memory import shared_list
from ..onprem.ad import REMOTE_USER_MAILBOX
from .joins import quarantine_upn, soft_match
from .sync_rules import (
    apply_values,
    cloud_recipient_type,
    differs,
    entra_exchange_values,
    entra_identity_values,
    mail_user_values,
    mailbox_exchange_values,
    mailbox_identity_values,
    recipient_name,
    smtp_address_tuple,
)
from .sync_run import Run, conflict


class ObjectExport:
    """What the sync engine does for each AD user a cycle exports."""

    # Set by SyncEngine.
    connector_deletes: Any
    forward: Any
    index: Any
    restored_orphans: Any
    retry_keys: Any
    settings: Any
    shared_licences: Any
    shared_values: Any
    tenant: Any
    unlicensed_seed: Any

    def _upsert(self, run: Run, key: str, ad, anchor: str, user) -> None:
        t = self.tenant
        index = self.index
        now = run.now
        honour = run.honour
        soft_matched = False
        if user is None:
            user = soft_match(self.tenant, self.index, self.settings, ad)
            soft_matched = user is not None
        user_id = user.id if user is not None else None
        mbx = index.mailbox_for(user_id) if user_id else None
        # The one idea sync, forward sync and the object pass share: an honoured IsExchangeCloudManaged keeps the
        # Exchange attributes as the cloud has them. A soft-deleted cloud-managed mailbox comes back with its cloud
        # values (forward sync keeps them), so the Entra user keeps the ones Exchange masters too (the SOA table's
        # FROM_EXCHANGE rows).
        exchange_kept_in_cloud = honour and mbx is not None and mbx.is_exchange_cloud_managed
        ident = entra_identity_values(ad, run.domain_name)
        ident["on_premises_extension_attributes"] = shared_list(
            ident["on_premises_extension_attributes"], self.shared_values
        )
        errors: list[dict] = []
        dropped: frozenset = frozenset()
        if not exchange_kept_in_cloud:
            conflicts = index.address_conflicts(smtp_address_tuple(ad.attrs.get("proxyAddresses")), user_id)
            if conflicts:
                dropped = frozenset(conflicts)
                errors += [conflict("ProxyAddress", addr, now) for addr in conflicts]
        if index.upn_taken(ident["user_principal_name"], user_id):
            errors.append(conflict("UserPrincipalName", ident["user_principal_name"], now))
            if user is not None and not index.upn_taken(user.user_principal_name, user_id):
                ident["user_principal_name"] = user.user_principal_name
            else:
                ident["user_principal_name"] = quarantine_upn(t, index, ident["user_principal_name"])

        added = restored = False
        if user is None:
            user = EntraUser(id=t.ids.guid(), created_date_time=now, **ident, **entra_exchange_values(ad, dropped))
            added = True
            changed = []
            self._auto_license(ad, user)
        else:
            if user.deleted_date_time is not None:
                # The AD object is back in scope: the hard match on the anchor restores the deleted user.
                user.deleted_date_time = None
                restored = True
            changed = apply_values(user, ident)
            if not exchange_kept_in_cloud:
                changed += apply_values(user, entra_exchange_values(ad, dropped))
        if not user.on_premises_sync_enabled:
            user.on_premises_sync_enabled = True  # takeover (new object, SOA rollback, or cloud restore re-matched)
            changed.append("on_premises_sync_enabled")
        if self.connector_deletes:
            self.connector_deletes.pop(anchor, None)
        if self.restored_orphans:
            self.restored_orphans.discard(anchor)
        old_errors = user.on_premises_provisioning_errors
        if (old_errors or errors) and (
            [{k: v for k, v in e.items() if k != "occurredDateTime"} for e in old_errors]
            != [{k: v for k, v in e.items() if k != "occurredDateTime"} for e in errors]
        ):
            user.on_premises_provisioning_errors = errors
            changed.append("on_premises_provisioning_errors")
        if changed or added or restored:
            user.on_premises_last_sync_date_time = now
            t.users.put(user.id, user)
            index.index_user(user.id, user)
        if errors:
            self.retry_keys.add(key)
            for e in errors:
                run.error(user, ad.sam_account_name, anchor, e)
        else:
            self.retry_keys.discard(key)

        mailbox_changed = self._mailbox(run, ad, anchor, user, mbx, dropped, restored)
        if soft_matched:
            run.soft_matched += 1
        if added or restored:
            run.adds += 1
        elif changed or mailbox_changed:
            run.updates += 1
        else:
            run.unchanged += 1

    def _mailbox(self, run: Run, ad, anchor: str, user, mbx, dropped, restored: bool) -> bool:
        live = mbx is not None and mbx.when_soft_deleted is None
        licensed = has_exchange_plan(user)
        rtd = cloud_recipient_type(ad, licensed, mbx.recipient_type_details if live else None)
        identity = mailbox_identity_values(ad)
        if rtd is None:
            # No Exchange attributes: a User in Exchange Online. A mailbox licensing gave it (the cloud-first
            # flow) keeps its cloud-mastered Exchange attributes; identity changes still reach it.
            if live and differs(mbx, identity):
                self.forward.submit(
                    {"kind": "upsert", "userId": user.id, "identity": identity, "exchange": None, "honour": run.honour}
                )
                return True
            return False
        exchange = mailbox_exchange_values(ad, dropped)
        if rtd == "MailUser" and live and mbx.is_mailbox and licensed:
            rtd = mbx.recipient_type_details  # a licensed cloud mailbox stays one whatever AD says
        if rtd == "MailUser":
            mail_user_values(ad, exchange)
            if live and mbx.external_email_address and not ad.attrs.get("targetAddress"):
                # An on-premises mailbox has no targetAddress to master it: the cloud value (set when the object
                # arrived, or by the move that sent the mailbox back) stays.
                exchange["external_email_address"] = mbx.external_email_address
        else:
            exchange["recipient_type_details"] = rtd
        cloud_managed = run.cloud_managed_default() if rtd != "MailUser" else False
        if mbx is None and run.deliver_now:
            # What submitting the payload below would do at once (zero delay, no mailbox to find or restore),
            # without building and reading it back: one per synced user in an Initial cycle.
            self.forward.deliver_new_mailbox(
                user.id, identity, exchange, self._exchange_guid(ad, rtd), recipient_name(ad), anchor, cloud_managed
            )
            return True
        payload = {
            "kind": "upsert",
            "userId": user.id,
            "identity": identity,
            "exchange": exchange,
            "honour": run.honour,
        }
        if mbx is None or mbx.when_soft_deleted is not None:
            payload["create"] = {
                "exchangeGuid": self._exchange_guid(ad, rtd),
                "name": recipient_name(ad),
                "immutableId": anchor,
                "cloudManaged": bool(self.tenant.org_config.get("ExchangeAttributesCloudManagedByDefault"))
                and rtd != "MailUser",
            }
            payload["restore"] = True
            self.forward.submit(payload)
            return True
        exchange_kept_in_cloud = run.honour and mbx.is_exchange_cloud_managed
        exchange_differs = differs(mbx, exchange)
        if exchange_kept_in_cloud and exchange_differs:
            run.exchange_kept_in_cloud_count += 1
        if differs(mbx, identity) or (exchange_differs and not exchange_kept_in_cloud):
            self.forward.submit(payload)
            return True
        return False

    def _exchange_guid(self, ad, rtd: str) -> str:
        """The recipient's ExchangeGuid: msExchMailboxGuid when AD has one; a mail user without it has none."""
        value = ad.attrs.get("msExchMailboxGuid")
        if value:
            return value
        return "00000000-0000-0000-0000-000000000000" if rtd == "MailUser" else self.tenant.ids.guid()

    def _auto_license(self, ad, user) -> None:
        """Group-based licensing as hybrid tenants set it up: a new synced remote user mailbox gets the SKU named
        by the ``licenseAutoAssignSku`` setting ("" turns it off), with the tenant's default usage location."""
        part = self.tenant.settings.get("licenseAutoAssignSku")
        if not part or ad.attrs.get("msExchRecipientTypeDetails") != REMOTE_USER_MAILBOX:
            return
        if ad.sam_account_name.lower() in self.unlicensed_seed:
            return
        allowed = self.shared_licences.get("_skus")
        if allowed is None:  # the tenant's own SKUs, once per cycle
            from ..entra.licensing import tenant_sku_units

            allowed = self.shared_licences["_skus"] = set(tenant_sku_units(self.tenant))
        if part in allowed:
            user.usage_location = user.usage_location or "US"
            license_user(self.tenant, user, part, shared=self.shared_licences)
