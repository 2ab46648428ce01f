"""Cloud Sync write-back of cloud-managed mailboxes: opt-in, own 20-minute cycle, the 24 attributes only,
NotInScope for the rest, and no tug-of-war with the next Connect cycle."""

from __future__ import annotations

from hybridsoa.mock.domain.onprem.ad import REMOTE_SHARED_MAILBOX, WRITEBACK_ATTRIBUTES

from .test_sync_rules import ad_of_type, cloud_manage, cycle, mailbox_of, user_of


def _cloud_edit(t, mbx):
    cloud_manage(
        t,
        mbx,
        custom_attributes=[None] * 4 + ["LOB-42"] + [None] * 10,
        hidden_from_address_lists_enabled=True,
        alias="cloudonly",
        extension_custom_attributes=[["a", "b"], [], [], [], []],
    )


def test_writeback_is_off_by_default(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    _cloud_edit(t, mailbox_of(t, ad))
    t.advance(60)
    assert ad.attrs["extensionAttribute5"] is None
    assert not [r for r in t.sync.history if r["policyType"] == "Writeback"]


def test_writeback_copies_the_24_attributes_on_its_own_cycle(domain_tenant):
    t = domain_tenant
    assert len(WRITEBACK_ATTRIBUTES) == 24
    t.sync.update_settings({"writeback": {"enabled": True}})
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    _cloud_edit(t, mbx)
    t.advance(19)
    assert ad.attrs["extensionAttribute5"] is None
    changed_before = ad.when_changed
    t.advance(1)
    assert ad.attrs["extensionAttribute5"] == "LOB-42"
    assert ad.attrs["msExchExtensionCustomAttribute1"] == ["a", "b"]
    assert ad.attrs["msExchHideFromAddressLists"] is False and ad.attrs["mailNickname"] != "cloudonly"
    assert ad.when_changed > changed_before
    [run] = [r for r in t.sync.history if r["policyType"] == "Writeback"]
    assert run["trigger"] == "Scheduler" and run["objectsExported"] == 1
    assert {e["attribute"] for e in run["notInScope"]} == {"mailNickname", "msExchHideFromAddressLists"}
    assert all(e["skipReason"] == "NotInScope" for e in run["notInScope"])


def test_writeback_skips_mailboxes_that_are_not_cloud_managed(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"writeback": {"enabled": True, "intervalMinutes": 5}})
    t.advance(5)
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    mbx.custom_attributes = ["sneaky"] + [None] * 14  # not cloud-managed: must not reach AD
    t.mailboxes.touch(mbx.guid)
    run = t.sync.writeback.run()
    assert ad.attrs["extensionAttribute1"] != "sneaky"
    assert run["objectsExported"] == 0 and run["notInScope"] == [
        {"mailbox": mbx.primary_smtp_address, "attribute": None, "skipReason": "NotInScope"}
    ]


def test_written_back_values_do_not_fight_the_next_connect_cycle(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"writeback": {"enabled": True}})
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    _cloud_edit(t, mbx)
    t.advance(20)
    changed = mbx.when_changed
    run = cycle(t)
    # Connect imports the write-back as an AD change: the Entra shadow follows, the mailbox is left alone.
    assert run["deletes"] == 0 and run["exchangeAttributesKeptCloudManaged"] == 1
    assert user_of(t, ad).on_premises_extension_attributes[4] == "LOB-42" and mbx.when_changed == changed
    assert mbx.custom_attributes[4] == "LOB-42" and mbx.hidden_from_address_lists_enabled is True
    assert mbx.alias == "cloudonly"
    # After a revert, AD (now holding the written-back values) wins only for what was not written back.
    mbx.is_exchange_cloud_managed = False
    t.mailboxes.touch(mbx.guid)
    cycle(t)
    assert mbx.custom_attributes[4] == "LOB-42" and mbx.hidden_from_address_lists_enabled is False
    assert mbx.alias == ad.attrs["mailNickname"]


def test_writeback_carries_recipient_type(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"writeback": {"enabled": True}})
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    cloud_manage(t, mbx, recipient_type_details="SharedMailbox")
    t.sync.writeback.run()
    assert ad.attrs["msExchRecipientTypeDetails"] == REMOTE_SHARED_MAILBOX
    assert ad.attrs["msExchRecipientDisplayType"] == -2147483642


def test_disabling_writeback_stops_runs(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"writeback": {"enabled": True}})
    t.advance(40)
    runs = len([r for r in t.sync.history if r["policyType"] == "Writeback"])
    assert runs == 2
    t.sync.update_settings({"writeback": {"enabled": False}})
    t.advance(60)
    assert len([r for r in t.sync.history if r["policyType"] == "Writeback"]) == runs
    assert t.sync.describe()["writeback"]["nextRunTime"] is None
