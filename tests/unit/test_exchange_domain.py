"""Exchange domain without HTTP: parameter binding, OPATH, identity resolution, hybrid rules and profiles,
the dispatcher's audit records and the registry API other rooms build on."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles
from hybridsoa.mock.domain.entra.tokens import issue_access_token, verify_access_token
from hybridsoa.mock.domain.errors import (
    CmdletNotRecognized,
    DomainError,
    InvalidArgument,
    NotFound,
    UnknownParameter,
    WriteScopeViolation,
)
from hybridsoa.mock.domain.exchange import cmdlets, dispatch, opath, rules
from hybridsoa.mock.domain.exchange.cmdlets import MultiValuedEdit, Param, bind, register_cmdlet
from hybridsoa.mock.domain.exchange.dispatch import get_cmdlet
from hybridsoa.mock.domain.exchange.identity_resolution import find_mailboxes, resolve_mailbox, resolve_user
from hybridsoa.mock.domain.exchange.recipient_cmdlets import new_cloud_mailbox


def caller_for(tenant, app="automation", user=None):
    principal = tenant.user_by_upn(f"{user}@{tenant.domain}") if user else None
    token, _ = issue_access_token(tenant, "exchange", app=tenant.app_by_name(app), user=principal)
    return verify_access_token(tenant, token, "exchange")


def run(tenant, cmdlet, params, **who):
    with tenant.lock:
        return dispatch.invoke(tenant, caller_for(tenant, **who), cmdlet, params)


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="unit", seed=5, mailboxes=8)


@pytest.fixture
def synced(tenant):
    return next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")


# ------------------------------------------------------------------------------------------------ binding
def test_bind_is_case_insensitive_and_canonicalizes_names_and_enums():
    spec = get_cmdlet("get-mailbox")
    bound = bind(spec, {"identity": "x", "recipienttypedetails": ["sharedmailbox"], "Identity@odata.type": "#String"})
    assert bound == {"Identity": "x", "RecipientTypeDetails": ["SharedMailbox"]}


@pytest.mark.parametrize(
    "value,expected", [(True, True), (False, False), (1, True), (0, False), ("$true", True), ("$False", False)]
)
def test_boolean_conversion(value, expected):
    assert (
        bind(get_cmdlet("Set-Mailbox"), {"Identity": "x", "IsExchangeCloudManaged": value})["IsExchangeCloudManaged"]
        is expected
    )


@pytest.mark.parametrize("value", ["true", "yes", [True], {"a": 1}, None])
def test_boolean_rejects_non_booleans(value):
    with pytest.raises(InvalidArgument, match="Boolean parameters accept only Boolean values"):
        bind(get_cmdlet("Set-Mailbox"), {"Identity": "x", "IsExchangeCloudManaged": value})


def test_switch_accepts_null_as_present():
    assert bind(get_cmdlet("Get-Mailbox"), {"SoftDeletedMailbox": None}) == {"SoftDeletedMailbox": True}


def test_multivalued_forms():
    spec = get_cmdlet("Set-Mailbox")
    assert bind(spec, {"Identity": "x", "EmailAddresses": "smtp:a@b.cd"})["EmailAddresses"] == MultiValuedEdit(
        replace=["smtp:a@b.cd"]
    )
    edit = bind(
        spec,
        {
            "Identity": "x",
            "EmailAddresses": {
                "@odata.type": "#Exchange.GenericHashTable",
                "add": "smtp:a@b.cd",
                "Remove": ["smtp:c@d.ef"],
            },
        },
    )
    assert edit["EmailAddresses"] == MultiValuedEdit(add=["smtp:a@b.cd"], remove=["smtp:c@d.ef"])
    assert edit["EmailAddresses"].apply(["SMTP:p@b.cd", "smtp:C@D.EF"]) == ["SMTP:p@b.cd", "smtp:a@b.cd"]
    assert bind(spec, {"Identity": "x", "ExtensionCustomAttribute1": None})["ExtensionCustomAttribute1"].replace == []


def test_binding_errors():
    spec = get_cmdlet("Set-Mailbox")
    with pytest.raises(UnknownParameter, match="matches parameter name 'Colour'"):
        bind(spec, {"Identity": "x", "Colour": "red"})
    with pytest.raises(InvalidArgument, match="missing mandatory parameters: Identity"):
        bind(spec, {"CustomAttribute1": "x"})
    with pytest.raises(InvalidArgument, match="Regular, Room, Equipment, Shared, Workspace"):
        bind(spec, {"Identity": "x", "Type": "Castle"})
    with pytest.raises(InvalidArgument, match="Parameter set cannot be resolved"):
        bind(get_cmdlet("Get-Mailbox"), {"Identity": "x", "Filter": "Alias -eq 'x'"})
    with pytest.raises(InvalidArgument, match="Cannot convert value"):
        bind(get_cmdlet("Get-Mailbox"), {"ResultSize": 0})
    with pytest.raises(InvalidArgument):
        bind(spec, "not a dict")


# --------------------------------------------------------------------------------------------------- OPATH
OBJ = {
    "Alias": "jdoe",
    "IsDirSynced": True,
    "CustomAttribute1": "",
    "RecipientTypeDetails": "UserMailbox",
    "EmailAddresses": ["SMTP:j.doe@contoso.com", "smtp:jd@contoso.com"],
    "DisplayName": "O'Brien",
}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Alias -eq 'JDOE'", True),
        ("Alias -ne 'jdoe'", False),
        ("Alias -like 'j*'", True),
        ("Alias -like '?doe'", True),
        ("Alias -notlike '*x*'", True),
        ("IsDirSynced -eq $true", True),
        ("IsDirSynced -eq $false", False),
        ("CustomAttribute1 -eq $null", True),
        ("CustomAttribute1 -ne $null", False),
        ("EmailAddresses -eq 'smtp:jd@contoso.com'", True),
        ("EmailAddresses -eq 'jd@contoso.com'", True),
        ("EmailAddresses -like '*@contoso.com'", True),
        ("DisplayName -eq 'O''Brien'", True),
        ('DisplayName -eq "O\'Brien"', True),
        ("Alias -eq 'x' -or Alias -eq 'jdoe' -and IsDirSynced -eq $false", False),
        ("(Alias -eq 'x' -or Alias -eq 'jdoe') -and -not (IsDirSynced -eq $false)", True),
        ("{RecipientTypeDetails -eq UserMailbox}", True),
        ("-not Alias -eq 'jdoe'", False),
    ],
)
def test_opath_evaluation(text, expected):
    assert opath.compile_filter(text, set(OBJ))(OBJ) is expected


@pytest.mark.parametrize(
    "text,position",
    [
        ("Alias -eq", 10),
        ("Alias 'x'", 7),
        ("(Alias -eq 'x'", 15),
        ("Alias -eq 'x' Alias", 15),
        ("", 1),
        ("Alias -gt 'x'", 7),
    ],
)
def test_opath_syntax_errors_name_a_position(text, position):
    with pytest.raises(InvalidArgument, match=f'(?s)Invalid filter syntax.*at position {position}\\."'):
        opath.compile_filter(text, set(OBJ))


def test_opath_unknown_property():
    with pytest.raises(InvalidArgument, match='"Shoe" is not a recognized filterable property'):
        opath.compile_filter("Shoe -eq 1", set(OBJ))


# ------------------------------------------------------------------------------------------------ identity
def test_identity_resolves_by_every_key(tenant, synced):
    keys = [
        synced.alias,
        synced.name,
        synced.user_principal_name.upper(),
        synced.primary_smtp_address,
        synced.email_addresses[1],
        synced.guid,
        synced.exchange_guid,
        synced.external_directory_object_id,
    ]
    for key in keys:
        assert resolve_mailbox(tenant, key) is synced, key
    assert resolve_user(tenant, synced.alias).id == synced.external_directory_object_id


def test_identity_not_found_and_ambiguous(tenant, synced):
    with pytest.raises(NotFound, match="couldn't be found on"):
        resolve_mailbox(tenant, "ghost")
    with tenant.lock:
        twin = new_cloud_mailbox(tenant, "twin")
        twin.name = synced.alias
    with pytest.raises(InvalidArgument, match="matches multiple entries"):
        resolve_mailbox(tenant, synced.alias)
    assert find_mailboxes(tenant, synced.alias, soft_deleted=True) == []


# ------------------------------------------------------------------------------------------- rules/profiles
def test_blocked_params_follow_the_soa(tenant, synced):
    given = ["CustomAttribute1", "DisplayName", "IsExchangeCloudManaged"]
    assert rules.blocked_params(tenant, synced, given) == ["CustomAttribute1", "DisplayName"]
    assert rules.blocked_params(tenant, synced, given, cloud_managed=True) == ["DisplayName"]
    owner = tenant.users.get(synced.external_directory_object_id)
    owner.is_cloud_managed = True
    assert rules.blocked_params(tenant, synced, given) == []


@pytest.mark.parametrize(
    "profile,user,decision",
    [
        ("ga", "exchangeadmin", "allow"),
        ("preview", "exchangeadmin", "silent"),
        ("strict", "exchangeadmin", "deny"),
        ("preview", "globaladmin", "allow"),
        ("strict", "globaladmin", "allow"),
    ],
)
def test_toggle_decision(tenant, profile, user, decision):
    tenant.settings["profile"] = profile
    assert rules.toggle_decision(tenant, caller_for(tenant, user=user)) == decision


def test_pim_style_role_change_is_seen_at_once(tenant, synced):
    tenant.settings["profile"] = "strict"
    caller = caller_for(tenant, user="exchangeadmin")
    assert rules.toggle_decision(tenant, caller) == "deny"
    tenant.assign_role(caller.object_id, roles.HYBRID_IDENTITY_ADMINISTRATOR)
    assert rules.toggle_decision(tenant, caller) == "allow"


def test_eligibility(tenant, synced):
    with tenant.lock:
        cloud = new_cloud_mailbox(tenant, "cloudy")
        mail_user = new_cloud_mailbox(tenant, "mu", recipient_type_details="MailUser")
    rules.check_toggle_eligible(tenant, synced)
    with pytest.raises(InvalidArgument, match="isn't synchronized"):
        rules.check_toggle_eligible(tenant, cloud)
    with pytest.raises(InvalidArgument, match="RecipientTypeDetails is MailUser"):
        rules.check_toggle_eligible(tenant, mail_user)


# ------------------------------------------------------------------------------------------------ dispatch
def test_dispatcher_audits_writes_not_reads(tenant, synced):
    run(tenant, "Get-Mailbox", {})
    with pytest.raises(WriteScopeViolation):
        run(tenant, "Set-Mailbox", {"Identity": synced.alias, "CustomAttribute9": "x"})
    run(tenant, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True})
    records = tenant.audit.query(api="exchange")
    assert [(r.operation, r.succeeded, r.changed) for r in records] == [
        ("Set-Mailbox", False, False),
        ("Set-Mailbox", True, True),
    ]
    assert records[0].caller["appId"] == tenant.app_by_name("automation").app_id
    assert records[1].changes == {"IsExchangeCloudManaged": {"old": False, "new": True}}


def test_unknown_cmdlet(tenant):
    with pytest.raises(CmdletNotRecognized):
        run(tenant, "Get-Unicorn", {})


def test_registry_api_for_other_rooms(tenant):
    seen = {}

    def handler(ctx, params):
        seen["ctx"] = ctx
        ctx.warn("careful")
        return [{"Name": params["Name"], "Count": params.get("Count", 0)}]

    register_cmdlet("Test-MockRegistry", handler, [Param("Name", required=True), Param("Count", "Int32")])
    try:
        assert "Test-MockRegistry" in [s.name for s in dispatch.all_cmdlets()]
        result = run(tenant, "test-mockregistry", {"name": "a", "Count": "3"}, user="globaladmin")
        assert result.values == [{"Name": "a", "Count": 3}] and result.warnings == ["careful"]
        assert seen["ctx"].tenant is tenant and seen["ctx"].cmdlet == "Test-MockRegistry"
        assert get_cmdlet("Test-MockRegistry").writes is False
    finally:
        cmdlets._REGISTRY.pop("test-mockregistry", None)


def test_toggled_values_survive_a_sync_cycle_and_others_are_overwritten(tenant, synced):
    other = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox" and m is not synced)
    run(tenant, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True})
    run(tenant, "Set-Mailbox", {"Identity": synced.alias, "CustomAttribute5": "cloud"})
    with tenant.lock:
        for mbx in (synced, other):
            ad = next(a for a in tenant.ad_users if a.consistency_guid == mbx.immutable_id)
            ad.attrs["extensionAttribute5"] = "onprem"
            tenant.ad_users.touch(ad.sam_account_name.lower())
        tenant.sync.run_cycle("Delta")
    assert synced.custom_attributes[4] == "cloud"
    assert other.custom_attributes[4] == "onprem"


def test_domain_errors_never_escape_as_other_exceptions(tenant, synced):
    """Odd inputs raise domain errors (rendered by the wire layer), never TypeError/KeyError."""
    odd = [
        {"Identity": None},
        {"Identity": ["a"]},
        {"Identity": {"x": 1}},
        {"Identity": 5},
        {"Identity": synced.alias, "GrantSendOnBehalfTo": {"Add": [None]}},
        {"Identity": synced.alias, "EmailAddresses": [":"]},
        {"Identity": synced.alias, "Alias": ""},
    ]
    for params in odd:
        for cmdlet in ("Set-Mailbox", "Get-Mailbox", "Set-User", "Get-User", "Undo-SoftDeletedMailbox"):
            try:
                run(tenant, cmdlet, dict(params))
            except DomainError:
                pass


def test_coverage_doc_lists_every_emulated_exchange_cmdlet_and_parameter():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "coverage.md").read_text()
    section = text.split("## Exchange Online admin API\n", 1)[1].split("\n## ", 1)[0]
    mine = (
        "Get-Mailbox",
        "Set-Mailbox",
        "Get-Recipient",
        "Get-User",
        "Set-User",
        "Get-OrganizationConfig",
        "Set-OrganizationConfig",
        "Undo-SoftDeletedMailbox",
    )
    for name in mine:
        row = next(line for line in section.splitlines() if line.startswith(f"| {name} |"))
        for param in get_cmdlet(name).param_list:
            short = param.name.rstrip("0123456789")
            assert param.name in row or f"{short}1.." in row, f"{name} -{param.name} missing from docs/coverage.md"


def test_get_identity_accepts_wildcards_and_set_refuses_ambiguity(tenant, synced):
    values = run(tenant, "Get-Mailbox", {"Identity": synced.alias[:2] + "*"}).values
    assert synced.guid in {str(v["Guid"]) for v in values}
    assert len(run(tenant, "Get-Mailbox", {"Identity": "*"}).values) == len(tenant.mailboxes)
    with pytest.raises(InvalidArgument, match="matches multiple entries"):
        run(tenant, "Set-Mailbox", {"Identity": "*", "IsExchangeCloudManaged": True})
    assert len(run(tenant, "Get-User", {"Identity": "*admin*"}).values) == 3


def test_tenant_option_seeds_cloud_mailboxes_and_mail_users(make_tenant):
    tenant = make_tenant(name="mixed", seed=8, mailboxes=4, options={"cloudMailboxes": 4, "mailUsers": 2})
    values = run(tenant, "Get-Recipient", {}).values
    kinds = sorted((v["RecipientTypeDetails"], v["IsDirSynced"]) for v in values)
    assert kinds.count(("MailUser", False)) == 2
    assert kinds.count(("UserMailbox", False)) == 3 and kinds.count(("SharedMailbox", False)) == 1
    assert len(run(tenant, "Get-Mailbox", {"Filter": "IsDirSynced -eq $false"}).values) == 4
    with tenant.lock:
        tenant.sync.run_cycle("Delta")
        tenant.sync.run_cycle("Initial")
    assert len(run(tenant, "Get-Mailbox", {"Filter": "IsDirSynced -eq $false"}).values) == 4
    with pytest.raises(InvalidArgument, match="isn't synchronized"):
        run(tenant, "Set-Mailbox", {"Identity": "cloud1", "IsExchangeCloudManaged": True})
    with pytest.raises(InvalidArgument, match=r"options\.mailUsers"):
        make_tenant(name="badopt", seed=8, mailboxes=1, options={"mailUsers": -1})


def test_alias_lookups_follow_renames_and_deletes(tenant):
    with tenant.lock:
        cloud = new_cloud_mailbox(tenant, "before")
    assert resolve_mailbox(tenant, "before") is cloud
    run(tenant, "Set-Mailbox", {"Identity": "before", "Alias": "after"})
    assert resolve_mailbox(tenant, "AFTER") is cloud
    assert resolve_mailbox(tenant, "before") is cloud  # still its Name
    run(tenant, "Set-Mailbox", {"Identity": "after", "Name": "renamed"})
    with pytest.raises(NotFound):
        resolve_mailbox(tenant, "before")
    with tenant.lock:
        tenant.mailboxes.delete(cloud.guid)
    with pytest.raises(NotFound):
        resolve_mailbox(tenant, "after")


def test_a_write_lets_the_last_read_go_and_reads_see_the_write(tenant, synced):
    # The last Get-Mailbox result is kept for continuation pages; a write outdates it, so it is dropped at once
    # (a full read of a big tenant holds one dict per mailbox) and the next read is computed afresh.
    before = run(tenant, "Get-Mailbox", {}).values
    assert tenant.exo_read_cache is not None
    flag = not synced.is_exchange_cloud_managed
    run(tenant, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": flag})
    assert tenant.exo_read_cache is None
    after = {m["Alias"]: m for m in run(tenant, "Get-Mailbox", {}).values}
    assert len(after) == len(before) and after[synced.alias]["IsExchangeCloudManaged"] is flag
