"""The documented Exchange Online Admin API v2.0 (``POST /adminapi/v2.0/{tenant}/{Endpoint}``) over the Flask test
client: its permissions and RBAC gate, each endpoint's cmdlets and parameters, refusals outside the documented set,
nextLink paging, and that it reads and writes the same tenant state as InvokeCommand."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.exchange.mailboxes import Mailbox

V2_APP_ROLE = "Exchange.ManageAsAppV2"


def v2(client, tenant, headers, endpoint, cmdlet, params=None, *, url=None, extra=None):
    """POST one CmdletInput to a v2.0 endpoint (or to a nextLink)."""
    body = {"CmdletInput": {"CmdletName": cmdlet}}
    if params is not None:
        body["CmdletInput"]["Parameters"] = params
    return client.post(url or f"/adminapi/v2.0/{tenant.id}/{endpoint}", json=body, headers={**headers, **(extra or {})})


def beta(client, tenant, headers, cmdlet, params=None):
    return client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand",
        headers=headers,
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}},
    )


def detail(resp) -> tuple[str, str, str]:
    """The ErrId, exception type and text of an Exchange error body."""
    err_id, exc_type, text = resp.get_json()["error"]["details"][0]["message"].split("|", 2)
    return err_id, exc_type, text


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="adminv2", seed=19, mailboxes=7)


@pytest.fixture
def app_h(tenant, auth_header):
    """The seeded automation app: Exchange Administrator, consented to Exchange.ManageAsAppV2."""
    assert V2_APP_ROLE in tenant.app_by_name("automation").app_roles
    return auth_header(tenant, "exchange")


def user_h(tenant, auth_header, user):
    return auth_header(tenant, "exchange", user=user, scopes=["Exchange.ManageV2"])


def _mailbox(tenant, n=0):
    return [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"][n]


# ----------------------------------------------------------------------------------------- gate
def test_v1_app_role_is_not_enough(client, tenant, auth_header):
    tenant.app_by_name("automation").app_roles.remove(V2_APP_ROLE)
    resp = v2(client, tenant, auth_header(tenant, "exchange"), "OrganizationConfig", "Get-OrganizationConfig")
    assert resp.status_code == 401 and resp.get_data() == b""
    assert "Exchange.ManageAsAppV2" in resp.headers["x-ms-diagnostics"]


def test_delegated_needs_manage_v2_scope(client, tenant, auth_header):
    plain = auth_header(tenant, "exchange", user="exchangeadmin")
    assert v2(client, tenant, plain, "OrganizationConfig", "Get-OrganizationConfig").status_code == 401
    resp = v2(
        client, tenant, user_h(tenant, auth_header, "exchangeadmin"), "OrganizationConfig", "Get-OrganizationConfig"
    )
    assert resp.status_code == 200


@pytest.mark.parametrize("user", ["user", "hybridadmin"])
def test_no_exchange_role_is_403(client, tenant, auth_header, user):
    """Valid token, no RBAC assignment: 403 (Hybrid Identity Administrator maps to no role group)."""
    resp = v2(client, tenant, user_h(tenant, auth_header, user), "Mailbox", "Get-Mailbox")
    assert resp.status_code == 403 and resp.get_data() == b""


def test_view_only_role_group_reads_configuration_but_cannot_write(client, tenant, auth_header):
    h = user_h(tenant, auth_header, "globalreader")  # View-Only Organization Management
    assert v2(client, tenant, h, "AcceptedDomain", "Get-AcceptedDomain").status_code == 200
    mbx = _mailbox(tenant)
    resp = v2(client, tenant, h, "Mailbox", "Set-Mailbox", {"Identity": mbx.alias, "GrantSendOnBehalfTo": []})
    assert resp.status_code == 403 and "is not recognized" in resp.headers["x-ms-diagnostics"]


# ------------------------------------------------------------------------- documented set only
def test_unknown_endpoint_is_resource_not_found(client, tenant, app_h):
    resp = v2(client, tenant, app_h, "Recipient", "Get-Recipient")
    assert resp.status_code == 404
    assert detail(resp)[2] == "Resource not found for the segment 'Recipient'."
    # Endpoint names are spelled as documented.
    assert v2(client, tenant, app_h, "organizationconfig", "Get-OrganizationConfig").status_code == 404


def test_other_cmdlet_on_an_endpoint_is_refused(client, tenant, app_h):
    resp = v2(
        client,
        tenant,
        app_h,
        "OrganizationConfig",
        "Set-OrganizationConfig",
        {"ExchangeAttributesCloudManagedByDefault": True},
    )
    assert resp.status_code == 400
    assert "isn't supported by the 'OrganizationConfig' endpoint" in detail(resp)[2]
    assert "no public source" in resp.headers["x-hybridsoa-note"]
    assert tenant.org_config.get("ExchangeAttributesCloudManagedByDefault") in (None, False)
    assert v2(client, tenant, app_h, "Mailbox", "Get-Recipient").status_code == 400


def test_undocumented_parameter_is_refused_and_changes_nothing(client, tenant, app_h):
    mbx = _mailbox(tenant)
    resp = v2(client, tenant, app_h, "Mailbox", "Set-Mailbox", {"Identity": mbx.alias, "IsExchangeCloudManaged": True})
    assert resp.status_code == 400
    assert detail(resp)[2] == "A parameter cannot be found that matches parameter name 'IsExchangeCloudManaged'."
    assert mbx.is_exchange_cloud_managed is False
    resp = v2(client, tenant, app_h, "OrganizationConfig", "Get-OrganizationConfig", {"Identity": "x"})
    assert resp.status_code == 400


def test_only_post(client, tenant, app_h):
    resp = client.get(f"/adminapi/v2.0/{tenant.id}/Mailbox", headers=app_h)
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"


# ------------------------------------------------------------------------------------ endpoints
def test_organization_config_is_one_object_with_mailtips(client, tenant, app_h):
    resp = v2(client, tenant, app_h, "OrganizationConfig", "Get-OrganizationConfig")
    body = resp.get_json()
    assert resp.status_code == 200 and "@odata.nextLink" not in body
    assert f"/adminapi/v2.0/{tenant.id}/$metadata" in body["@odata.context"]
    [org] = body["value"]
    assert (
        org["MailTipsAllTipsEnabled"],
        org["MailTipsExternalRecipientsTipsEnabled"],
        org["MailTipsLargeAudienceThreshold"],
    ) == (True, False, 25)


def test_accepted_domain_and_select(client, tenant, app_h):
    resp = client.post(
        f"/adminapi/v2.0/{tenant.id}/AcceptedDomain?$select=DomainName,Default",
        headers=app_h,
        json={"CmdletInput": {"CmdletName": "Get-AcceptedDomain"}},
    )
    [domain] = resp.get_json()["value"]
    assert domain == {"DomainName": tenant.domain, "Default": True}
    missing = v2(client, tenant, app_h, "AcceptedDomain", "Get-AcceptedDomain", {"Identity": "fabrikam.com"})
    assert missing.status_code == 404


@pytest.mark.parametrize("endpoint", ["DistributionGroupMember", "DynamicDistributionGroupMember"])
def test_group_members_of_an_unknown_group_are_not_found(client, tenant, app_h, endpoint):
    resp = v2(client, tenant, app_h, endpoint, f"Get-{endpoint}", {"Identity": "All Staff"})
    assert resp.status_code == 404
    assert detail(resp)[1] == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    missing = v2(client, tenant, app_h, endpoint, f"Get-{endpoint}", {})
    assert missing.status_code == 400 and "missing mandatory parameters: Identity" in detail(missing)[2]


def test_mailbox_paging_by_reposting_next_link(client, tenant, app_h):
    expected = sorted(m["Guid"] for m in beta(client, tenant, app_h, "Get-Mailbox").get_json()["value"])
    seen, url, pages = [], None, 0
    while True:
        resp = v2(
            client,
            tenant,
            app_h,
            "Mailbox",
            "Get-Mailbox",
            {"ResultSize": "Unlimited"},
            url=url,
            extra={"Prefer": "odata.maxpagesize=2"},
        )
        assert resp.status_code == 200
        body = resp.get_json()
        seen += [m["Guid"] for m in body["value"]]
        pages += 1
        url = body.get("@odata.nextLink")
        if not url:
            break
        assert f"/adminapi/v2.0/{tenant.id}/Mailbox?" in url
    assert sorted(seen) == expected and pages == (len(expected) + 1) // 2


def test_send_on_behalf_delegates_share_state_with_invoke_command(client, tenant, app_h):
    owner, delegate, other = _mailbox(tenant, 0), _mailbox(tenant, 1), _mailbox(tenant, 2)
    owner.is_exchange_cloud_managed = True  # a synced mailbox's GrantSendOnBehalfTo is cloud-editable only then
    tenant.mailboxes.touch(owner.guid)
    assert (
        v2(
            client,
            tenant,
            app_h,
            "Mailbox",
            "Set-Mailbox",
            {"Identity": owner.alias, "GrantSendOnBehalfTo": [delegate.alias]},
        ).status_code
        == 200
    )
    add = {"@odata.type": "#Exchange.GenericHashTable", "Add": [other.alias], "Remove": [delegate.alias]}
    assert (
        v2(
            client, tenant, app_h, "Mailbox", "Set-Mailbox", {"Identity": owner.alias, "GrantSendOnBehalfTo": add}
        ).status_code
        == 200
    )
    seen = beta(client, tenant, app_h, "Get-Mailbox", {"Identity": owner.alias}).get_json()["value"][0]
    assert seen["GrantSendOnBehalfTo"] == [other.name]
    named = v2(
        client,
        tenant,
        app_h,
        "Mailbox",
        "Get-Mailbox",
        {"Identity": owner.alias, "IncludeGrantSendOnBehalfTowithDisplayNames": True},
    ).get_json()["value"][0]
    assert named["GrantSendOnBehalfToWithDisplayNames"] == [other.display_name]


def test_mailbox_folder_permission_lifecycle(client, tenant, app_h, auth_header):
    owner, grantee = _mailbox(tenant, 0), _mailbox(tenant, 1)
    folder = f"{owner.primary_smtp_address}:\\Calendar"
    call = lambda cmdlet, params: v2(client, tenant, app_h, "MailboxFolderPermission", cmdlet, params)  # noqa: E731
    listed = call("Get-MailboxFolderPermission", {"Identity": folder}).get_json()["value"]
    assert [(e["User"], e["AccessRights"]) for e in listed] == [
        ("Default", ["AvailabilityOnly"]),
        ("Anonymous", ["None"]),
    ]
    added = call(
        "Add-MailboxFolderPermission", {"Identity": folder, "User": grantee.alias, "AccessRights": ["Reviewer"]}
    )
    assert added.status_code == 200 and added.get_json()["value"][0]["AccessRights"] == ["Reviewer"]
    again = call("Add-MailboxFolderPermission", {"Identity": folder, "User": grantee.alias, "AccessRights": ["Editor"]})
    assert again.status_code == 400
    assert detail(again)[2] == f"An existing permission entry was found for user: {grantee.display_name}."
    assert (
        call(
            "Set-MailboxFolderPermission", {"Identity": folder, "User": grantee.alias, "AccessRights": ["Editor"]}
        ).status_code
        == 200
    )
    # InvokeCommand sees the same entry.
    rows = beta(client, tenant, app_h, "Get-MailboxFolderPermission", {"Identity": folder}).get_json()["value"]
    assert [r["AccessRights"] for r in rows if r["User"] == grantee.display_name] == [["Editor"]]
    assert call("Remove-MailboxFolderPermission", {"Identity": folder, "User": grantee.alias}).status_code == 200
    gone = call("Remove-MailboxFolderPermission", {"Identity": folder, "User": grantee.alias})
    assert gone.status_code == 400
    assert detail(gone)[2] == f"There is no existing permission entry found for user: {grantee.display_name}."
    bad = call("Add-MailboxFolderPermission", {"Identity": folder, "User": grantee.alias, "AccessRights": ["Boss"]})
    assert bad.status_code == 400 and "Boss" in detail(bad)[2]
    nowhere = call("Get-MailboxFolderPermission", {"Identity": f"{owner.primary_smtp_address}:\\Nowhere"})
    assert nowhere.status_code == 404


def test_folder_permissions_survive_a_record_round_trip(tenant):
    mbx = _mailbox(tenant)
    mbx.folder_permissions = {
        "Calendar": [{"Key": "x", "User": "X", "AccessRights": ["Reviewer"], "SharingPermissionFlags": None}]
    }
    assert Mailbox.from_dict(mbx.to_dict()).folder_permissions == mbx.folder_permissions


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"CmdletInput": []}',
        b'{"CmdletInput": {"CmdletName": 5}}',
        b'{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": "x"}}',
        b'{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": []}}}',
        b'{"CmdletInput": {"CmdletName": "Get-MailboxFolderPermission", "Parameters": {"Identity": ":\\\\"}}}',
    ],
)
def test_malformed_bodies_are_refused_without_a_5xx(client, tenant, app_h, body):
    for endpoint in ("Mailbox", "MailboxFolderPermission"):
        resp = client.post(
            f"/adminapi/v2.0/{tenant.id}/{endpoint}", data=body, headers={**app_h, "Content-Type": "application/json"}
        )
        assert 400 <= resp.status_code < 500, (endpoint, body, resp.get_data(as_text=True))
