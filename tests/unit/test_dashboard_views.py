"""The dashboard's read models (``hybridsoa.mock.domain.read_models``): incremental counts agree with a recount,
filters, the mailbox → Entra user → AD join on the source anchor, and Exchange ↔ AD drift."""

from __future__ import annotations

from collections import Counter

from hybridsoa.mock.domain import read_models as views


def recount(tenant) -> dict:
    """Counts the slow way, for comparison."""
    live = [m for m in tenant.mailboxes if m.when_soft_deleted is None]
    soa = Counter()
    for m in live:
        if m.is_dir_synced:
            soa["dirSyncedCloudManaged" if m.is_exchange_cloud_managed else "dirSyncedOnPremManaged"] += 1
        else:
            soa["cloudOnlyFlagged" if m.is_exchange_cloud_managed else "cloudOnly"] += 1
        user = tenant.users.get(m.external_directory_object_id)
        soa["objectSoaCloud"] += bool(user is not None and user.is_cloud_managed)
    return {
        "live": len(live),
        "softDeleted": len(tenant.mailboxes) - len(live),
        "byType": dict(Counter(m.recipient_type_details for m in live)),
        "soa": dict(soa),
    }


def same(counts: dict, expected: dict) -> bool:
    """Equal, ignoring zero entries."""
    strip = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    return (counts["live"], counts["softDeleted"], strip(counts["byType"]), strip(counts["soa"])) == (
        expected["live"],
        expected["softDeleted"],
        strip(expected["byType"]),
        strip(expected["soa"]),
    )


def test_counts_follow_changes_incrementally(make_tenant):
    tenant = make_tenant(name="counts", seed=11, mailboxes=60)
    with tenant.lock:
        assert same(views.mailbox_counts(tenant), recount(tenant))
        rng = tenant.ids.rng
        mailboxes = tenant.mailboxes.values()
        for step in range(40):
            mbx = rng.choice(mailboxes)
            action = step % 4
            if action == 0:
                mbx.is_exchange_cloud_managed = not mbx.is_exchange_cloud_managed
            elif action == 1:
                mbx.when_soft_deleted = None if mbx.when_soft_deleted else tenant.clock.now()
            elif action == 2:
                mbx.recipient_type_details = rng.choice(("UserMailbox", "SharedMailbox", "MailUser"))
            else:
                user = tenant.users.get(mbx.external_directory_object_id)
                user.is_cloud_managed = not user.is_cloud_managed
                tenant.users.touch(user.id)
                continue
            tenant.mailboxes.touch(mbx.guid)
            assert same(views.mailbox_counts(tenant), recount(tenant)), step
        tenant.mailboxes.delete(mailboxes[0].guid)
        assert same(views.mailbox_counts(tenant), recount(tenant))


def test_filters_and_their_cache_see_changes(domain_tenant):
    with domain_tenant.lock:
        mailboxes = domain_tenant.mailboxes.values()
        assert views.filter_mailboxes(domain_tenant, cloud_managed=True) == []
        mailboxes[4].is_exchange_cloud_managed = True
        domain_tenant.mailboxes.touch(mailboxes[4].guid)
        assert views.filter_mailboxes(domain_tenant, cloud_managed=True) == [mailboxes[4]]
        shared = views.filter_mailboxes(domain_tenant, recipient_type="SharedMailbox")
        assert shared and all(m.recipient_type_details == "SharedMailbox" for m in shared)
        found = views.filter_mailboxes(domain_tenant, search=mailboxes[7].primary_smtp_address.upper())
        assert found == [mailboxes[7]]
        everything = views.filter_mailboxes(domain_tenant)
        assert len(everything) == 25 and list(everything[20:30]) == mailboxes[20:]
        mailboxes[2].when_soft_deleted = domain_tenant.clock.now()
        domain_tenant.mailboxes.touch(mailboxes[2].guid)
        assert mailboxes[2] not in views.filter_mailboxes(domain_tenant)
        assert views.filter_mailboxes(domain_tenant, deleted=True) == [mailboxes[2]]


def test_join_confirms_the_source_anchor(domain_tenant):
    with domain_tenant.lock:
        mbx = domain_tenant.mailboxes.values()[0]
        [join] = views.join_mailboxes(domain_tenant, [mbx])
        assert join.user.id == mbx.external_directory_object_id
        assert join.ad_user.consistency_guid == join.user.on_premises_immutable_id
        # A renamed sAMAccountName on the user no longer finds the AD object by name; the anchor still does.
        join.user.on_premises_sam_account_name = "someone-else"
        domain_tenant.users.touch(join.user.id)
        assert views.join_mailboxes(domain_tenant, [mbx])[0].ad_user is join.ad_user
        # An AD object whose anchor differs is not this mailbox's source, whatever its name.
        join.user.on_premises_immutable_id = "bm90LWEtcmVhbC1hbmNob3I="
        mbx.immutable_id = None
        assert views.join_mailboxes(domain_tenant, [mbx])[0].ad_user is None


def test_compare_flags_only_real_differences(domain_tenant):
    with domain_tenant.lock:
        mbx = domain_tenant.mailboxes.values()[0]
        ad = views.join_mailboxes(domain_tenant, [mbx])[0].ad_user
        assert [c.exchange_name for c in views.compare(mbx, ad) if c.drift] == []
        # Address case and order are not drift; a different value, a new secondary address, a flag are.
        ad.attrs["proxyAddresses"] = [a[:5] + a[5:].upper() for a in reversed(mbx.email_addresses)]
        ad.attrs["extensionAttribute3"] = ""
        assert [c.exchange_name for c in views.compare(mbx, ad) if c.drift] == []
        ad.attrs["proxyAddresses"] = list(ad.attrs["proxyAddresses"]) + ["smtp:extra@example.com"]
        ad.attrs["msExchExtensionCustomAttribute2"] = ["b", "a"]
        mbx.extension_custom_attributes[1] = ["a", "b"]
        ad.attrs["msExchHideFromAddressLists"] = True
        ad.attrs["displayName"] = "Renamed On Prem"
        drift = {c.exchange_name: c for c in views.compare(mbx, ad) if c.drift}
        assert set(drift) == {"EmailAddresses", "HiddenFromAddressListsEnabled", "DisplayName"}
        assert drift["DisplayName"].identity and not drift["EmailAddresses"].identity
        assert all(not c.drift and c.ad_value is None for c in views.compare(mbx, None))


def test_row_comparisons_keep_main_properties_and_anything_set_or_drifted(domain_tenant):
    with domain_tenant.lock:
        mbx = domain_tenant.mailboxes.values()[0]
        ad = views.join_mailboxes(domain_tenant, [mbx])[0].ad_user
        mbx.custom_attributes[9] = "cloud-only-value"
        shown = [c.exchange_name for c in views.row_comparisons(views.compare(mbx, ad))]
        assert shown[:4] == list(views.ALWAYS_SHOWN)
        assert "CustomAttribute10" in shown and "CustomAttribute11" not in shown
        assert "DisplayName" not in shown
