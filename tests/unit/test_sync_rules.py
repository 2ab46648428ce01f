"""Entra Connect cycle rules over the domain, each a scenario on the tenant clock: Delta vs Initial, identity
vs Exchange attributes, IsExchangeCloudManaged (kept, reverted, old Connect builds), object-level SOA,
duplicate attributes, the tenant-wide cloud-managed default, scheduling."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.connect import lifecycle
from hybridsoa.mock.domain.connect.sync_rules import honours_exchange_cloud_managed, in_scope, parse_version
from hybridsoa.mock.domain.errors import InvalidArgument
from hybridsoa.mock.domain.onprem import ad_admin
from hybridsoa.mock.domain.onprem.ad import REMOTE_SHARED_MAILBOX


def ad_of_type(t, rtd="UserMailbox", n=0):
    found = [
        a
        for a in t.ad_users
        if (
            a.attrs.get("msExchRecipientTypeDetails")
            and mailbox_of(t, a) is not None
            and mailbox_of(t, a).recipient_type_details == rtd
        )
    ]
    return found[n]


def user_of(t, ad):
    t.sync.index.refresh()
    return t.sync.index.user_for_anchor(ad.consistency_guid)


def mailbox_of(t, ad):
    user = user_of(t, ad)
    return t.sync.index.mailbox_for(user.id) if user is not None else None


def cloud_manage(t, mbx, **cloud_values):
    """What Set-Mailbox -IsExchangeCloudManaged $true (plus cloud edits) does to the mailbox object."""
    mbx.is_exchange_cloud_managed = True
    for name, value in cloud_values.items():
        setattr(mbx, name, value)
    t.mailboxes.touch(mbx.guid)


def cycle(t, policy="Delta"):
    return t.sync.run_cycle(policy)


# ----------------------------------------------------------------------------- pure rules
def test_version_parsing_and_minimum():
    assert parse_version("2.5.76.0") == (2, 5, 76, 0)
    assert parse_version("2.5") == (2, 5, 0, 0)
    assert parse_version("two") is None and parse_version("1.2.3.4.5") is None
    assert honours_exchange_cloud_managed("2.5.76.0") and honours_exchange_cloud_managed("2.5.190.0")
    assert not honours_exchange_cloud_managed("2.5.75.9") and not honours_exchange_cloud_managed("2.4.129.0")


def test_ou_scope_matches_container_and_children_only():
    scope = ["OU=Corp,DC=x,DC=local"]
    assert in_scope("OU=Corp,DC=x,DC=local", scope)
    assert in_scope("OU=Users,OU=Corp,DC=x,DC=local", scope)
    assert not in_scope("OU=NotCorp,DC=x,DC=local", scope)
    assert not in_scope("OU=Disabled,DC=x,DC=local", scope)
    assert in_scope("OU=Anything,DC=x,DC=local", [])


# ----------------------------------------------------------------------------- delta / initial
def test_seeded_tenant_has_initial_cycle_and_all_four_types(domain_tenant):
    t = domain_tenant
    [run] = t.sync.history
    assert run["policyType"] == "Initial" and run["adds"] == 25 and run["status"] == "success"
    assert {m.recipient_type_details for m in t.mailboxes} == {
        "UserMailbox",
        "SharedMailbox",
        "RoomMailbox",
        "EquipmentMailbox",
    }
    assert all(m.is_dir_synced and not m.is_exchange_cloud_managed for m in t.mailboxes)
    synced = [u for u in t.users if u.on_premises_immutable_id]
    assert len(synced) == 25 and all(u.on_premises_sync_enabled is True for u in synced)


def test_delta_takes_only_changed_users_and_initial_takes_all(domain_tenant):
    t = domain_tenant
    a, b = ad_of_type(t, n=0), ad_of_type(t, n=1)
    t.advance(5)
    ad_admin.update_ad_user(t, a.sam_account_name, {"department": "Research", "extensionAttribute2": "E2"})
    ad_admin.update_ad_user(t, b.sam_account_name, {"title": "CTO"})
    run = cycle(t)
    assert (run["adds"], run["updates"], run["deletes"], run["unchanged"]) == (0, 2, 0, 0)
    assert user_of(t, a).department == "Research" and user_of(t, b).job_title == "CTO"
    assert mailbox_of(t, a).custom_attributes[1] == "E2"
    assert user_of(t, a).on_premises_extension_attributes[1] == "E2"
    assert cycle(t)["unchanged"] == 0 and cycle(t)["updates"] == 0
    run = cycle(t, "Initial")
    assert run["unchanged"] == 25 and run["updates"] == 0 and run["adds"] == 0


def test_delta_cost_follows_changes_not_tenant_size(make_tenant):
    t = make_tenant(name="sized", seed=3, mailboxes=300)
    for ad in list(t.ad_users)[:3]:
        ad_admin.update_ad_user(t, ad.sam_account_name, {"extensionAttribute9": "x"})
    run = cycle(t)
    # Objects looked at = updates + unchanged + skipped: only the three that changed.
    assert run["updates"] + run["unchanged"] + run["skippedCloudManaged"] == 3


def test_noop_ad_write_does_not_bump_change_index(domain_tenant):
    t = domain_tenant
    a = ad_of_type(t)
    seq = t.ad_users.seq(a.sam_account_name.lower())
    ad_admin.update_ad_user(t, a.sam_account_name, {"displayName": a.attrs["displayName"]})
    assert t.ad_users.seq(a.sam_account_name.lower()) == seq


def test_new_ad_user_is_created_in_entra_and_exchange(domain_tenant):
    t = domain_tenant
    ad = ad_admin.create_ad_user(
        t,
        {"sAMAccountName": "shared1", "displayName": "Shared One", "msExchRecipientTypeDetails": REMOTE_SHARED_MAILBOX},
    )
    run = cycle(t)
    assert run["adds"] == 1
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    assert user.on_premises_sync_enabled is True and user.on_premises_sam_account_name == "shared1"
    assert mbx.recipient_type_details == "SharedMailbox" and mbx.is_dir_synced and mbx.alias == "shared1"
    assert mbx.exchange_guid == ad.attrs["msExchMailboxGuid"]


# ----------------------------------------------------------------------------- exchange cloud management
def test_identity_flows_but_exchange_attributes_keep_cloud_values_when_cloud_managed(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    cloud_manage(t, mbx, custom_attributes=["cloud"] + [None] * 14, alias="cloudalias")
    cycle(t)
    ad_admin.update_ad_user(
        t,
        ad.sam_account_name,
        {"displayName": "Renamed On Prem", "extensionAttribute1": "AD", "mailNickname": "adalias"},
    )
    for policy in ("Delta", "Initial", "Delta"):
        run = cycle(t, policy)
        assert mbx.display_name == "Renamed On Prem" and user_of(t, ad).display_name == "Renamed On Prem"
        assert mbx.custom_attributes[0] == "cloud" and mbx.alias == "cloudalias"
    assert run["exchangeAttributesKeptCloudManaged"] == 0  # Delta: AD did not change again
    assert mbx.is_exchange_cloud_managed and mbx.is_dir_synced


def test_reverting_flag_lets_next_cycle_overwrite_cloud_values(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    cloud_manage(t, mbx, custom_attributes=["cloud"] + [None] * 14, hidden_from_address_lists_enabled=True)
    cycle(t)
    assert mbx.custom_attributes[0] == "cloud"
    mbx.is_exchange_cloud_managed = False
    t.mailboxes.touch(mbx.guid)
    run = cycle(t)
    assert run["updates"] == 1
    assert mbx.custom_attributes[0] == ad.attrs["extensionAttribute1"]
    assert mbx.hidden_from_address_lists_enabled is False


def test_old_connect_build_does_not_honour_flag(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"connectVersion": "2.5.3.0"})
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    cloud_manage(t, mbx, custom_attributes=["cloud"] + [None] * 14)
    run = cycle(t)
    assert run["honoursExchangeCloudManaged"] is False
    assert mbx.custom_attributes[0] == ad.attrs["extensionAttribute1"]
    assert mbx.is_exchange_cloud_managed is True  # the flag stays; the values do not
    t.sync.update_settings({"connectVersion": "2.5.76.0"})
    mbx.custom_attributes = ["cloud2"] + [None] * 14
    t.mailboxes.touch(mbx.guid)
    cycle(t)
    assert mbx.custom_attributes[0] == "cloud2"


def test_tenant_default_makes_new_mailboxes_cloud_managed(domain_tenant):
    t = domain_tenant
    t.org_config["ExchangeAttributesCloudManagedByDefault"] = True
    ad = ad_admin.create_ad_user(t, {"sAMAccountName": "newbie", "displayName": "New Bie"})
    cycle(t)
    assert mailbox_of(t, ad).is_exchange_cloud_managed is True
    assert all(not m.is_exchange_cloud_managed for m in t.mailboxes if m.alias != "newbie")


# ----------------------------------------------------------------------------- object-level SOA
def test_object_soa_in_cloud_is_skipped_then_rollback_takes_it_over(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user = user_of(t, ad)
    lifecycle.set_object_soa(t, user, True)
    assert (user.is_cloud_managed, user.on_premises_sync_enabled) == (True, None)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"title": "On-prem title"})
    user.job_title = "Cloud title"
    t.users.touch(user.id)
    run = cycle(t)
    assert run["skippedCloudManaged"] == 1 and user.job_title == "Cloud title"
    lifecycle.set_object_soa(t, user, False)
    assert (user.is_cloud_managed, user.on_premises_sync_enabled) == (False, None)
    cycle(t)
    assert user.on_premises_sync_enabled is True and user.job_title == "On-prem title"


def test_object_soa_in_cloud_blocks_deletes_from_on_premises(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user = user_of(t, ad)
    lifecycle.set_object_soa(t, user, True)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    run = cycle(t)
    assert run["deletes"] == 0 and run["skippedCloudManaged"] == 1 and user.deleted_date_time is None


# ----------------------------------------------------------------------------- conflicts
def test_duplicate_proxy_address_is_quarantined_with_property_conflict(domain_tenant):
    t = domain_tenant
    victim = ad_of_type(t, n=0)
    taken = victim.attrs["proxyAddresses"][0].split(":", 1)[1]
    dup = ad_admin.create_ad_user(
        t,
        {
            "sAMAccountName": "dupe",
            "displayName": "Dupe",
            "proxyAddresses": ["SMTP:dupe@contoso.onmicrosoft.com", f"smtp:{taken}"],
        },
    )
    run = cycle(t)
    assert run["status"] == "completed-export-errors" and run["adds"] == 1
    [err] = run["errors"]
    assert (err["errorType"], err["propertyCausingError"], err["value"]) == (
        "PropertyConflict",
        "ProxyAddress",
        taken.lower(),
    )
    user = user_of(t, dup)
    [perr] = user.on_premises_provisioning_errors
    assert perr["category"] == "PropertyConflict" and perr["value"] == taken.lower() and perr["occurredDateTime"]
    assert all(taken.lower() not in p.lower() for p in user.proxy_addresses)
    assert all(taken.lower() not in p.lower() for p in mailbox_of(t, dup).email_addresses)
    # Fixing it on-premises clears the error at the next cycle.
    ad_admin.update_ad_user(t, "dupe", {"proxyAddresses": ["SMTP:dupe@contoso.onmicrosoft.com"]})
    run = cycle(t)
    assert run["status"] == "success" and user.on_premises_provisioning_errors == []


def test_conflict_clears_when_other_object_releases_address(domain_tenant):
    t = domain_tenant
    victim = ad_of_type(t, n=0)
    taken = victim.attrs["proxyAddresses"][1].split(":", 1)[1]
    dup = ad_admin.create_ad_user(
        t,
        {
            "sAMAccountName": "dupe2",
            "displayName": "Dupe 2",
            "proxyAddresses": ["SMTP:dupe2@contoso.onmicrosoft.com", f"smtp:{taken}"],
        },
    )
    cycle(t)
    assert user_of(t, dup).on_premises_provisioning_errors
    ad_admin.update_ad_user(t, victim.sam_account_name, {"proxyAddresses": [victim.attrs["proxyAddresses"][0]]})
    cycle(t)  # victim lets go
    run = cycle(t)  # the quarantined object is retried every cycle
    assert user_of(t, dup).on_premises_provisioning_errors == [] and run["errorCount"] == 0
    assert f"smtp:{taken}" in mailbox_of(t, dup).email_addresses


def test_duplicate_upn_gets_quarantined_upn(domain_tenant):
    t = domain_tenant
    ad = ad_admin.create_ad_user(
        t, {"sAMAccountName": "ga2", "displayName": "Clash", "userPrincipalName": f"globaladmin@{t.domain}"}
    )
    run = cycle(t)
    assert run["errors"][0]["propertyCausingError"] == "UserPrincipalName"
    user = user_of(t, ad)
    assert user.user_principal_name != f"globaladmin@{t.domain}"
    assert user.user_principal_name.startswith("globaladmin") and user.user_principal_name.endswith(t.domain)


# ----------------------------------------------------------------------------- scheduler
def test_scheduled_delta_runs_every_interval_on_the_clock(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"title": "Scheduled"})
    t.advance(29)
    assert user_of(t, ad).job_title != "Scheduled" and len(t.sync.history) == 1
    t.advance(1)
    assert user_of(t, ad).job_title == "Scheduled"
    assert t.sync.history[-1]["trigger"] == "Scheduler" and t.sync.history[-1]["policyType"] == "Delta"
    t.advance(90)
    assert len(t.sync.history) == 5


def test_disabled_scheduler_runs_nothing_and_interval_is_configurable(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"enabled": False})
    t.advance(120)
    assert len(t.sync.history) == 1
    t.sync.update_settings({"enabled": True, "intervalMinutes": 10, "mockCycleIntervalMinutes": 10})
    t.advance(30)
    assert len(t.sync.history) == 5  # the overdue cycle at once, then one every 10 minutes (mock-only cadence)
    assert all(r["trigger"] == "Scheduler" for r in t.sync.history[1:])


def test_interval_below_the_allowed_minimum_runs_every_30_minutes(domain_tenant):
    # how-to-connect-sync-feature-scheduler: a CustomizedSyncCycleInterval below AllowedSyncCycleInterval is kept,
    # but the latter is used.
    t = domain_tenant
    state = t.sync.update_settings({"intervalMinutes": 10})
    assert (
        state["intervalMinutes"],
        state["allowedSyncCycleIntervalMinutes"],
        state["currentlyEffectiveSyncCycleIntervalMinutes"],
    ) == (10, 30, 30)
    before = len(t.sync.history)
    t.advance(59)
    assert len(t.sync.history) - before == 1
    assert t.sync.update_settings({"intervalMinutes": 45})["currentlyEffectiveSyncCycleIntervalMinutes"] == 45


def test_ou_scope_change_makes_next_scheduled_cycle_initial(domain_tenant):
    t = domain_tenant
    base = "DC=contoso,DC=local"
    t.sync.update_settings(
        {"ouScope": [f"OU=Users,OU=Corp,{base}", f"OU=Shared,OU=Corp,{base}", f"OU=Resources,OU=Corp,{base}"]}
    )
    assert t.sync.describe()["nextSyncCyclePolicyType"] == "Initial"
    t.advance(30)
    assert t.sync.history[-1]["policyType"] == "Initial" and t.sync.history[-1]["deletes"] == 0
    assert t.sync.describe()["nextSyncCyclePolicyType"] == "Delta"


@pytest.mark.parametrize(
    "patch",
    [
        {"intervalMinutes": 0},
        {"enabled": "yes"},
        {"connectVersion": "latest"},
        {"ouScope": ["not a dn"]},
        {"deletionThreshold": -1},
        {"bogus": 1},
        {"writeback": {"enabled": 1}},
        {"writeback": {"intervalMinutes": 0}},
    ],
)
def test_invalid_settings_change_nothing(domain_tenant, patch):
    before = dict(domain_tenant.sync.settings)
    with pytest.raises(InvalidArgument):
        domain_tenant.sync.update_settings(patch)
    assert domain_tenant.sync.settings == before


def test_cloud_deleted_soa_transferred_user_is_not_resurrected(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user = user_of(t, ad)
    lifecycle.set_object_soa(t, user, True)
    lifecycle.soft_delete_user(t, user)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"title": "Still on prem"})
    run = cycle(t, "Initial")
    assert user.deleted_date_time is not None and run["adds"] == 0 and run["skippedCloudManaged"] == 1


def _cloud_user(t, name, with_mailbox=False):
    from hybridsoa.mock.domain.entra.directory import EntraUser
    from hybridsoa.mock.domain.exchange.mailboxes import Mailbox

    upn = f"{name}@{t.domain}"
    user = EntraUser(
        id=t.ids.guid(), user_principal_name=upn, display_name=name, mail=upn, proxy_addresses=[f"SMTP:{upn}"]
    )
    t.users.put(user.id, user)
    if with_mailbox:
        mbx = Mailbox(
            guid=t.ids.guid(),
            exchange_guid=t.ids.guid(),
            external_directory_object_id=user.id,
            name=name,
            alias=name,
            display_name=name,
            user_principal_name=upn,
            primary_smtp_address=upn,
            email_addresses=[f"SMTP:{upn}"],
        )
        t.mailboxes.put(mbx.guid, mbx)
    return user


def test_soft_match_joins_cloud_only_user_with_same_upn(domain_tenant):
    t = domain_tenant
    cloud = _cloud_user(t, "cloudy", with_mailbox=True)
    ad = ad_admin.create_ad_user(t, {"sAMAccountName": "cloudy", "displayName": "Cloudy On Prem"})
    run = cycle(t)
    assert run["softMatched"] == 1 and run["adds"] == 0 and run["errorCount"] == 0
    assert user_of(t, ad) is cloud and cloud.on_premises_sync_enabled is True
    assert cloud.on_premises_immutable_id == ad.consistency_guid and cloud.display_name == "Cloudy On Prem"
    mbx = mailbox_of(t, ad)
    assert mbx.is_dir_synced and mbx.immutable_id == ad.consistency_guid and mbx.display_name == "Cloudy On Prem"
    assert len([m for m in t.mailboxes if m.external_directory_object_id == cloud.id]) == 1


def test_soft_match_blocked_by_tenant_feature_gives_conflict(domain_tenant):
    t = domain_tenant
    t.sync.settings["features"] = {"blockSoftMatchEnabled": True}
    cloud = _cloud_user(t, "blocked")
    ad = ad_admin.create_ad_user(t, {"sAMAccountName": "blocked", "displayName": "Blocked"})
    run = cycle(t)
    assert run["softMatched"] == 0 and run["adds"] == 1
    assert {e["propertyCausingError"] for e in run["errors"]} == {"UserPrincipalName", "ProxyAddress"}
    assert user_of(t, ad) is not cloud and cloud.on_premises_immutable_id is None


def test_cycles_that_change_something_are_audited(domain_tenant):
    t = domain_tenant
    assert not t.audit.query(api="sync")  # the creation Initial is not an audited change
    cycle(t)
    assert not t.audit.query(api="sync")  # nothing changed
    ad = ad_of_type(t)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"title": "Audited"})
    run = cycle(t)
    [record] = t.audit.query(api="sync")
    assert record.operation == "Delta sync cycle" and record.parameters["runId"] == run["id"]
    assert record.changes == {"updates": {"old": None, "new": 1}} and record.succeeded
