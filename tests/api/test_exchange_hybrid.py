"""The hybrid rules over the wire: the write-scope error, the IsExchangeCloudManaged toggle, edits after it,
identity attributes still blocked, each tenant profile's outcome, and the audit record of each."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles

WRITE_SCOPE = (
    "failed because it's out of the current user's write scope. The action 'Set-Mailbox', "
    "'{params}', can't be performed on the object '{name}' because the object is being synchronized "
    "from your on-premises organization. This action should be performed on the object in your "
    "on-premises organization."
)


def invoke(client, tenant, headers, cmdlet, params):
    return client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
        headers=headers,
    )


def audit(client, tenant, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    resp = client.get(f"/_mock/tenants/{tenant.id}/audit?{query}")
    assert resp.status_code == 200
    return resp.get_json()["value"]


def mailbox_view(client, tenant, headers, identity):
    resp = invoke(client, tenant, headers, "Get-Mailbox", {"Identity": identity})
    assert resp.status_code == 200
    return resp.get_json()["value"][0]


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="hybrid", seed=21, mailboxes=10)


@pytest.fixture
def synced(tenant):
    return next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox" and m.is_dir_synced)


def test_write_scope_error_names_cmdlet_and_parameters_and_changes_nothing(client, tenant, synced, auth_header):
    h = auth_header(tenant, "exchange")
    before = mailbox_view(client, tenant, h, synced.alias)
    resp = invoke(
        client,
        tenant,
        h,
        "Set-Mailbox",
        {
            "Identity": synced.alias,
            "CustomAttribute7": "x",
            "EmailAddresses": {"@odata.type": "#Exchange.GenericHashTable", "Add": ["smtp:new@hybrid.onmicrosoft.com"]},
        },
    )
    assert resp.status_code == 400
    text = resp.get_json()["error"]["details"][0]["message"].split("|", 2)[2]
    assert text == (
        f'The operation on mailbox "{synced.name}" '
        + WRITE_SCOPE.format(params="CustomAttribute7,EmailAddresses", name=synced.name)
    )
    assert mailbox_view(client, tenant, h, synced.alias) == before
    [record] = audit(client, tenant, api="exchange", operation="Set-Mailbox")
    assert record["succeeded"] is False and record["changed"] is False and record["target"] == synced.name
    assert "write scope" in record["error"]
    assert record["parameters"]["CustomAttribute7"] == "x"


def test_toggle_then_exchange_edits_succeed_and_identity_stays_blocked(client, tenant, synced, auth_header):
    h = auth_header(tenant, "exchange")
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True})
    assert resp.status_code == 200 and resp.get_json()["value"] == []
    view = mailbox_view(client, tenant, h, synced.alias)
    assert view["IsExchangeCloudManaged"] is True and view["IsDirSynced"] is True

    resp = invoke(
        client,
        tenant,
        h,
        "Set-Mailbox",
        {
            "Identity": synced.alias,
            "CustomAttribute1": "cloud",
            "HiddenFromAddressListsEnabled": True,
            "ExtensionCustomAttribute1": ["a"],
            "Alias": synced.alias + "x",
            "EmailAddresses": {
                "@odata.type": "#Exchange.GenericHashTable",
                "Add": ["smtp:extra@hybrid.onmicrosoft.com"],
            },
        },
    )
    assert resp.status_code == 200, resp.get_json()
    view = mailbox_view(client, tenant, h, synced.guid)
    assert view["CustomAttribute1"] == "cloud" and view["HiddenFromAddressListsEnabled"] is True
    assert "smtp:extra@hybrid.onmicrosoft.com" in view["EmailAddresses"]

    for cmdlet, params, blocked in (
        ("Set-Mailbox", {"DisplayName": "New Name"}, "'Set-Mailbox', 'DisplayName'"),
        ("Set-User", {"Title": "Chief", "Department": "X"}, "'Set-User', 'Title,Department'"),
    ):
        resp = invoke(client, tenant, h, cmdlet, {"Identity": synced.guid, **params})
        assert resp.status_code == 400
        assert blocked in resp.get_json()["error"]["details"][0]["message"]
    user = tenant.users.get(synced.external_directory_object_id)
    assert user.job_title != "Chief" and synced.display_name != "New Name"

    records = audit(client, tenant, api="exchange")
    assert [(r["operation"], r["succeeded"], r["changed"]) for r in records] == [
        ("Set-Mailbox", True, True),
        ("Set-Mailbox", True, True),
        ("Set-Mailbox", False, False),
        ("Set-User", False, False),
    ]
    assert records[0]["changes"] == {"IsExchangeCloudManaged": {"old": False, "new": True}}
    assert set(records[1]["changes"]) >= {
        "CustomAttribute1",
        "HiddenFromAddressListsEnabled",
        "EmailAddresses",
        "Alias",
        "ExtensionCustomAttribute1",
    }


def test_object_soa_in_cloud_makes_identity_editable(client, tenant, synced, auth_header):
    h = auth_header(tenant, "exchange")
    user = tenant.users.get(synced.external_directory_object_id)
    user.is_cloud_managed = True
    user.on_premises_sync_enabled = None
    resp = invoke(client, tenant, h, "Set-User", {"Identity": synced.alias, "Title": "Chief"})
    assert resp.status_code == 200 and user.job_title == "Chief"
    assert mailbox_view(client, tenant, h, synced.alias)["IsDirSynced"] is False
    assert (
        invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "CustomAttribute2": "y"}).status_code == 200
    )
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True})
    assert resp.status_code == 400 and "isn't synchronized" in resp.get_json()["error"]["details"][0]["message"]
    # No public source for this refusal: no invented ErrId in the real field, and the mock says so in its header.
    assert resp.get_json()["error"]["details"][0]["message"].startswith(
        "|Microsoft.Exchange.Configuration.Tasks.TaskInvalidOperationException|"
    )
    assert "no public source" in resp.headers["x-hybridsoa-note"]


def test_revert_to_false_blocks_edits_again(client, tenant, synced, auth_header):
    h = auth_header(tenant, "exchange")
    assert (
        invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True}).status_code
        == 200
    )
    assert (
        invoke(
            client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": False}
        ).status_code
        == 200
    )
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "CustomAttribute3": "z"})
    assert resp.status_code == 400


def test_same_value_gets_no_settings_modified_warning(client, tenant, synced, auth_header):
    h = auth_header(tenant, "exchange")
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": False})
    assert resp.status_code == 200
    warning = f"The command completed successfully but no settings of '{synced.name}' have been modified."
    assert resp.get_json()["@adminapi.warnings"] == [warning]
    [record] = audit(client, tenant, operation="set-mailbox")
    assert record["succeeded"] is True and record["changed"] is False


# ------------------------------------------------------------------------------------------- profiles
PROFILE_CASES = [
    # profile, caller (user name, "exchangeadmin+hia" for an Exchange Administrator who also holds Hybrid
    # Identity Administrator, or None for the automation app), expected outcome
    ("ga", None, "changed"),
    ("ga", "exchangeadmin", "changed"),
    ("ga", "exchangeadmin+hia", "changed"),
    ("ga", "hybridadmin", "forbidden"),
    ("ga", "globaladmin", "changed"),
    ("preview", None, "silent"),
    ("preview", "exchangeadmin", "silent"),
    ("preview", "exchangeadmin+hia", "changed"),
    ("preview", "hybridadmin", "forbidden"),
    ("preview", "globaladmin", "changed"),
    ("strict", None, "denied"),
    ("strict", "exchangeadmin", "denied"),
    ("strict", "exchangeadmin+hia", "changed"),
    ("strict", "hybridadmin", "forbidden"),
    ("strict", "globaladmin", "changed"),
]


def _caller_header(tenant, auth_header, user):
    """The Exchange token of a profile case's caller (HIA granted on top of Exchange Administrator for ``+hia``)."""
    if user is None:
        return auth_header(tenant, "exchange")
    name, _, extra = user.partition("+")
    if extra == "hia":
        tenant.assign_role(tenant.user_by_upn(f"{name}@{tenant.domain}").id, roles.HYBRID_IDENTITY_ADMINISTRATOR)
    return auth_header(tenant, "exchange", user=name)


@pytest.mark.parametrize("profile,user,outcome", PROFILE_CASES, ids=[f"{p}-{u or 'app'}" for p, u, _ in PROFILE_CASES])
def test_profile_decides_who_may_toggle(client, tenant, synced, auth_header, profile, user, outcome):
    """The preview/strict rule asks for Hybrid Identity or Global Administrator *in addition to* the Exchange
    RBAC that runs Set-Mailbox; Hybrid Identity Administrator alone reaches no Exchange cmdlet in any profile."""
    assert client.patch(f"/_mock/tenants/{tenant.id}/settings", json={"profile": profile}).status_code == 200
    h = _caller_header(tenant, auth_header, user)
    resp = invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True})
    if outcome == "forbidden":
        assert resp.status_code == 403 and not resp.get_data()
        assert synced.is_exchange_cloud_managed is False
        return
    [record] = audit(client, tenant, api="exchange")
    if outcome == "denied":
        assert resp.status_code == 400
        assert (
            "A parameter cannot be found that matches parameter name 'IsExchangeCloudManaged'."
            in resp.get_json()["error"]["details"][0]["message"]
        )
        assert synced.is_exchange_cloud_managed is False
        assert record["succeeded"] is False and record["changed"] is False
        return
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["value"] == [] and data["@adminapi.warnings"] == []
    if outcome == "silent":
        assert synced.is_exchange_cloud_managed is False
        assert record["succeeded"] is True and record["changed"] is False and record["changes"] == {}
    else:
        assert synced.is_exchange_cloud_managed is True
        assert record["succeeded"] is True and record["changed"] is True


def test_preview_silent_failure_looks_exactly_like_success(client, make_tenant, auth_header):
    """Same status, body and warnings for the silent no-op as for a real change."""
    bodies = []
    for profile in ("ga", "preview"):
        tenant = make_tenant(name=f"look-{profile}", seed=99, mailboxes=6, profile=profile)
        mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
        resp = invoke(
            client,
            tenant,
            auth_header(tenant, "exchange", user="exchangeadmin"),
            "Set-Mailbox",
            {"Identity": mbx.alias, "IsExchangeCloudManaged": True},
        )
        payload = resp.get_json()
        payload["@odata.context"] = payload["@odata.context"].replace(tenant.id, "T")
        bodies.append((resp.status_code, payload, resp.headers.get("X-Warnings")))
        assert mbx.is_exchange_cloud_managed is (profile == "ga")
    assert bodies[0] == bodies[1]


def test_preview_silent_toggle_then_edit_still_hits_write_scope(client, tenant, synced, auth_header):
    client.patch(f"/_mock/tenants/{tenant.id}/settings", json={"profile": "preview"})
    h = auth_header(tenant, "exchange", user="exchangeadmin")
    resp = invoke(
        client,
        tenant,
        h,
        "Set-Mailbox",
        {"Identity": synced.alias, "IsExchangeCloudManaged": True, "CustomAttribute1": "x"},
    )
    assert resp.status_code == 400 and "'Set-Mailbox', 'CustomAttribute1'" in resp.get_data(as_text=True)


def test_hybrid_admin_alone_reaches_no_exchange_cmdlet(client, tenant, synced, auth_header):
    """Hybrid Identity Administrator maps to no Exchange role group: neither reads nor the toggle get through."""
    h = auth_header(tenant, "exchange", user="hybridadmin")
    for cmdlet, params in (
        ("Get-Mailbox", {"Identity": synced.alias}),
        ("Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True}),
    ):
        resp = invoke(client, tenant, h, cmdlet, params)
        assert resp.status_code == 403 and not resp.get_data()
        assert "Hybrid Identity Administrator is not one" in resp.headers["x-hybridsoa-note"]
        assert "hybridsoa" not in resp.headers["x-ms-diagnostics"]
    assert synced.is_exchange_cloud_managed is False


def test_hybrid_admin_with_exchange_role_can_edit_after_toggle(client, tenant, synced, auth_header):
    """With an Exchange role group as well, the same person toggles and then edits the released attributes."""
    client.patch(f"/_mock/tenants/{tenant.id}/settings", json={"profile": "preview"})
    user = tenant.user_by_upn(f"hybridadmin@{tenant.domain}")
    tenant.assign_role(user.id, roles.EXCHANGE_RECIPIENT_ADMINISTRATOR)
    h = auth_header(tenant, "exchange", user="hybridadmin")
    assert (
        invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True}).status_code
        == 200
    )
    assert synced.is_exchange_cloud_managed is True
    assert (
        invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "CustomAttribute1": "x"}).status_code == 200
    )


# -------------------------------------------------------------------------------------- org default
def test_org_default_reads_back_and_is_audited(client, tenant, auth_header):
    h = auth_header(tenant, "exchange", user="globaladmin")
    resp = invoke(client, tenant, h, "Set-OrganizationConfig", {"ExchangeAttributesCloudManagedByDefault": True})
    assert resp.status_code == 200
    assert tenant.org_config["ExchangeAttributesCloudManagedByDefault"] is True
    view = invoke(client, tenant, h, "Get-OrganizationConfig", {}).get_json()["value"][0]
    assert view["BlockExchangeProvisioningFromOnPremEnabled"] is True
    invoke(client, tenant, h, "Set-OrganizationConfig", {"ExchangeAttributesServerManagedByDefault": True})
    assert tenant.org_config["ExchangeAttributesCloudManagedByDefault"] is False
    records = audit(client, tenant, operation="Set-OrganizationConfig")
    assert [r["changes"]["BlockExchangeProvisioningFromOnPremEnabled"]["new"] for r in records] == [True, False]


def test_audit_filters(client, tenant, synced, auth_header):
    h = auth_header(tenant, "exchange")
    invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "CustomAttribute1": "x"})
    invoke(client, tenant, h, "Set-Mailbox", {"Identity": synced.alias, "IsExchangeCloudManaged": True})
    invoke(client, tenant, h, "Get-Mailbox", {})
    assert len(audit(client, tenant, api="exchange")) == 2  # reads are not audited
    assert len(audit(client, tenant, succeeded="false")) == 1
    assert len(audit(client, tenant, changed="true")) == 1
    assert len(audit(client, tenant, target=synced.name)) == 2
    app_id = tenant.app_by_name("automation").app_id
    assert len(audit(client, tenant, caller=app_id)) == 2
    assert len(audit(client, tenant, limit=1)) == 1
    assert audit(client, tenant, since="2030-01-01T00:00:00Z") == []
    assert client.get(f"/_mock/tenants/{tenant.id}/audit?since=soon").status_code == 400
    assert client.get(f"/_mock/tenants/{tenant.id}/audit?limit=-1").status_code == 400
    assert client.get("/_mock/tenants/nope/audit").status_code == 404


def test_settings_get_and_patch(client, tenant):
    assert client.get(f"/_mock/tenants/{tenant.id}/settings").get_json()["profile"] == "ga"
    resp = client.patch(
        f"/_mock/tenants/{tenant.id}/settings",
        json={"profile": "strict", "forwardSyncDelayMinutes": 15, "deviceCodeAutoApprove": True},
    )
    assert resp.status_code == 200
    assert tenant.settings["profile"] == "strict" and tenant.settings["forwardSyncDelayMinutes"] == 15
    for bad in (
        {"profile": "lenient"},
        {"forwardSyncDelayMinutes": -1},
        {"unknownKey": 1},
        {"deviceCodeAutoApprove": "yes"},
        [1],
    ):
        assert client.patch(f"/_mock/tenants/{tenant.id}/settings", json=bad).status_code == 400
    assert tenant.settings["profile"] == "strict"
    [record] = audit(client, tenant, api="control", operation="PatchSettings")
    assert record["changes"]["profile"] == {"old": "ga", "new": "strict"}
