"""Table-driven: every emulated Exchange cmdlet and parameter (and their error paths) through the real
InvokeCommand envelope over the Flask test client."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.exchange.dispatch import all_cmdlets
from hybridsoa.mock.domain.exchange.recipient_cmdlets import new_cloud_mailbox, new_mail_user


def invoke(client, tenant, headers, cmdlet, params=None, query=""):
    body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}}
    return client.post(f"/adminapi/beta/{tenant.domain}/InvokeCommand{query}", json=body, headers=headers)


def error_text(resp) -> str:
    return resp.get_json()["error"]["details"][0]["message"].split("|", 2)[2]


def error_type(resp) -> str:
    return resp.get_json()["error"]["details"][0]["message"].split("|", 2)[1]


@pytest.fixture
def world(make_tenant, auth_header):
    """A small tenant with one mailbox of each kind the cmdlets care about."""
    tenant = make_tenant(name="table", seed=7, mailboxes=8)
    with tenant.lock:
        boxes = list(tenant.mailboxes)
        user = next(m for m in boxes if m.recipient_type_details == "UserMailbox")
        shared = next(m for m in boxes if m.recipient_type_details == "SharedMailbox")
        other = next(m for m in boxes if m.recipient_type_details == "UserMailbox" and m is not user)
        cloud = new_cloud_mailbox(tenant, "cloudonly", display_name="Cloud Only")
        mailuser = new_mail_user(tenant, "contractor", "contractor@example.net")
        gone = next(m for m in boxes if m.recipient_type_details == "UserMailbox" and m not in (user, other))
        # As a sync delete leaves them: the mailbox and its Entra user both soft-deleted.
        gone.when_soft_deleted = tenant.clock.now()
        tenant.mailboxes.touch(gone.guid)
        tenant.users.get(gone.external_directory_object_id).deleted_date_time = tenant.clock.now()
    return {
        "tenant": tenant,
        "h": auth_header(tenant, "exchange"),
        "user": user,
        "shared": shared,
        "other": other,
        "cloud": cloud,
        "mailuser": mailuser,
        "gone": gone,
    }


def _ok(resp, w):
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _values(n):
    def check(resp, w):
        _ok(resp, w)
        assert len(resp.get_json()["value"]) == n

    return check


def _error(status, text_part, exc_part=None):
    def check(resp, w):
        assert resp.status_code == status, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["error"]["message"] == "Error executing cmdlet"
        assert text_part in error_text(resp)
        if exc_part:
            assert exc_part in error_type(resp)

    return check


def _no_change_warning(resp, w):
    _ok(resp, w)
    assert any("no settings of" in x for x in resp.get_json()["@adminapi.warnings"])


def _identity(key):
    return lambda w: w[key].alias


CASES = [
    # ------------------------------------------------------------------ Get-Mailbox
    ("get-mailbox-all", "Get-Mailbox", lambda w: {}, _values(8)),
    ("get-mailbox-identity-alias", "Get-Mailbox", lambda w: {"Identity": w["user"].alias}, _values(1)),
    ("get-mailbox-identity-upn", "Get-Mailbox", lambda w: {"Identity": w["user"].user_principal_name}, _values(1)),
    ("get-mailbox-identity-smtp", "Get-Mailbox", lambda w: {"Identity": w["user"].email_addresses[1][5:]}, _values(1)),
    ("get-mailbox-identity-guid", "Get-Mailbox", lambda w: {"Identity": w["user"].guid}, _values(1)),
    (
        "get-mailbox-identity-edoid",
        "Get-Mailbox",
        lambda w: {"Identity": w["user"].external_directory_object_id},
        _values(1),
    ),
    (
        "get-mailbox-identity-missing",
        "Get-Mailbox",
        lambda w: {"Identity": "nobody"},
        _error(404, "couldn't be found on", "ManagementObjectNotFoundException"),
    ),
    (
        "get-mailbox-mailuser-not-a-mailbox",
        "Get-Mailbox",
        lambda w: {"Identity": "contractor"},
        _error(404, "couldn't be found"),
    ),
    ("get-mailbox-filter-synced", "Get-Mailbox", lambda w: {"Filter": "IsDirSynced -eq $true"}, _values(7)),
    ("get-mailbox-filter-cloud", "Get-Mailbox", lambda w: {"Filter": "IsDirSynced -eq $false"}, _values(1)),
    (
        "get-mailbox-filter-like-and",
        "Get-Mailbox",
        lambda w: {"Filter": "PrimarySmtpAddress -like 'cloud*' -and -not (IsExchangeCloudManaged -eq $true)"},
        _values(1),
    ),
    ("get-mailbox-filter-null", "Get-Mailbox", lambda w: {"Filter": "CustomAttribute15 -eq $null"}, _values(8)),
    (
        "get-mailbox-filter-or",
        "Get-Mailbox",
        lambda w: {"Filter": f"Alias -eq '{w['user'].alias}' -or RecipientTypeDetails -ne 'UserMailbox'"},
        lambda r, w: (_ok(r, w), len(r.get_json()["value"]) >= 2),
    ),
    (
        "get-mailbox-filter-bad-syntax",
        "Get-Mailbox",
        lambda w: {"Filter": "Alias -eq"},
        _error(400, "Invalid filter syntax"),
    ),
    (
        "get-mailbox-filter-unknown-property",
        "Get-Mailbox",
        lambda w: {"Filter": "Shoe -eq 'x'"},
        _error(400, '"Shoe" is not a recognized filterable property'),
    ),
    (
        "get-mailbox-identity-and-filter",
        "Get-Mailbox",
        lambda w: {"Identity": "x", "Filter": "Alias -eq 'x'"},
        _error(400, "Parameter set cannot be resolved"),
    ),
    (
        "get-mailbox-rtd",
        "Get-Mailbox",
        lambda w: {"RecipientTypeDetails": "SharedMailbox"},
        lambda r, w: (_ok(r, w), all(v["RecipientTypeDetails"] == "SharedMailbox" for v in r.get_json()["value"])),
    ),
    (
        "get-mailbox-rtd-list",
        "Get-Mailbox",
        lambda w: {"RecipientTypeDetails": ["RoomMailbox", "EquipmentMailbox"]},
        lambda r, w: (
            _ok(r, w),
            {v["RecipientTypeDetails"] for v in r.get_json()["value"]} <= {"RoomMailbox", "EquipmentMailbox"},
        ),
    ),
    (
        "get-mailbox-rtd-bad-enum",
        "Get-Mailbox",
        lambda w: {"RecipientTypeDetails": "Spaceship"},
        _error(400, "Specify one of the following enumerator names", "ParameterBindingException"),
    ),
    (
        "get-mailbox-resultsize",
        "Get-Mailbox",
        lambda w: {"ResultSize": 2},
        lambda r, w: (_values(2)(r, w), r.get_json()["@adminapi.warnings"]),
    ),
    ("get-mailbox-resultsize-unlimited", "Get-Mailbox", lambda w: {"ResultSize": "Unlimited"}, _values(8)),
    (
        "get-mailbox-resultsize-bad",
        "Get-Mailbox",
        lambda w: {"ResultSize": "lots"},
        _error(400, 'Cannot convert value "lots"'),
    ),
    (
        "get-mailbox-softdeleted",
        "Get-Mailbox",
        lambda w: {"SoftDeletedMailbox": True},
        lambda r, w: (_values(1)(r, w), r.get_json()["value"][0]["IsSoftDeletedByRemove"] is True),
    ),
    (
        "get-mailbox-softdeleted-bad-type",
        "Get-Mailbox",
        lambda w: {"SoftDeletedMailbox": "yes"},
        _error(400, "Boolean parameters accept only Boolean values"),
    ),
    (
        "get-mailbox-unknown-param",
        "Get-Mailbox",
        lambda w: {"Shoe": 1},
        _error(400, "A parameter cannot be found that matches parameter name 'Shoe'."),
    ),
    # ------------------------------------------------------------------ Set-Mailbox
    (
        "set-mailbox-missing-identity",
        "Set-Mailbox",
        lambda w: {"CustomAttribute1": "x"},
        _error(400, "missing mandatory parameters: Identity"),
    ),
    (
        "set-mailbox-not-found",
        "Set-Mailbox",
        lambda w: {"Identity": "nobody", "CustomAttribute1": "x"},
        _error(404, "couldn't be found"),
    ),
    (
        "set-mailbox-toggle",
        "Set-Mailbox",
        lambda w: {"Identity": w["user"].alias, "IsExchangeCloudManaged": True},
        lambda r, w: (_ok(r, w), w["user"].is_exchange_cloud_managed is True),
    ),
    (
        "set-mailbox-toggle-shared",
        "Set-Mailbox",
        lambda w: {"Identity": w["shared"].alias, "IsExchangeCloudManaged": True},
        lambda r, w: (_ok(r, w), w["shared"].is_exchange_cloud_managed is True),
    ),
    (
        "set-mailbox-toggle-noop",
        "Set-Mailbox",
        lambda w: {"Identity": w["user"].alias, "IsExchangeCloudManaged": False},
        _no_change_warning,
    ),
    (
        "set-mailbox-toggle-cloud-only",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "IsExchangeCloudManaged": True},
        _error(400, "isn't synchronized from your on-premises organization"),
    ),
    (
        "set-mailbox-toggle-mailuser",
        "Set-Mailbox",
        lambda w: {"Identity": "contractor", "IsExchangeCloudManaged": True},
        _error(400, "not a mailbox"),
    ),
    (
        "set-mailbox-toggle-bad-type",
        "Set-Mailbox",
        lambda w: {"Identity": w["user"].alias, "IsExchangeCloudManaged": "yes"},
        _error(400, "Boolean parameters accept only Boolean values"),
    ),
    (
        "set-mailbox-toggle-number",
        "Set-Mailbox",
        lambda w: {"Identity": w["user"].alias, "IsExchangeCloudManaged": 1},
        lambda r, w: (_ok(r, w), w["user"].is_exchange_cloud_managed is True),
    ),
    (
        "set-mailbox-toggle-soft-deleted",
        "Set-Mailbox",
        lambda w: {"Identity": w["gone"].alias, "IsExchangeCloudManaged": True},
        _error(404, "couldn't be found"),
    ),
    (
        "set-mailbox-write-scope",
        "Set-Mailbox",
        lambda w: {"Identity": w["user"].alias, "CustomAttribute1": "x", "HiddenFromAddressListsEnabled": True},
        _error(400, "'Set-Mailbox', 'CustomAttribute1,HiddenFromAddressListsEnabled', can't be performed"),
    ),
    (
        "set-mailbox-toggle-and-edit",
        "Set-Mailbox",
        lambda w: {"Identity": w["user"].alias, "IsExchangeCloudManaged": True, "CustomAttribute3": "v"},
        lambda r, w: (_ok(r, w), w["user"].custom_attributes[2] == "v"),
    ),
    (
        "set-mailbox-cloud-custom-attribute",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "CustomAttribute15": "z"},
        lambda r, w: (_ok(r, w), w["cloud"].custom_attributes[14] == "z"),
    ),
    (
        "set-mailbox-cloud-custom-attribute-too-long",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "CustomAttribute1": "x" * 1025},
        _error(400, "too long"),
    ),
    (
        "set-mailbox-cloud-extension-replace",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "ExtensionCustomAttribute2": ["a", "b"]},
        lambda r, w: (_ok(r, w), w["cloud"].extension_custom_attributes[1] == ["a", "b"]),
    ),
    (
        "set-mailbox-cloud-extension-hashtable",
        "Set-Mailbox",
        lambda w: {
            "Identity": "cloudonly",
            "ExtensionCustomAttribute5": {"@odata.type": "#Exchange.GenericHashTable", "Add": ["q"]},
        },
        lambda r, w: (_ok(r, w), w["cloud"].extension_custom_attributes[4] == ["q"]),
    ),
    (
        "set-mailbox-cloud-hidden",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "HiddenFromAddressListsEnabled": True},
        lambda r, w: (_ok(r, w), w["cloud"].hidden_from_address_lists_enabled is True),
    ),
    (
        "set-mailbox-cloud-alias",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "Alias": "newalias"},
        lambda r, w: (_ok(r, w), w["cloud"].alias == "newalias"),
    ),
    (
        "set-mailbox-cloud-alias-invalid",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "Alias": "bad alias"},
        _error(400, "Alias"),
    ),
    (
        "set-mailbox-cloud-displayname",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "DisplayName": "Renamed"},
        lambda r, w: (
            _ok(r, w),
            w["cloud"].display_name == "Renamed",
            w["tenant"].users.get(w["cloud"].external_directory_object_id).display_name == "Renamed",
        ),
    ),
    (
        "set-mailbox-cloud-name",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "Name": "cloudy"},
        lambda r, w: (_ok(r, w), w["cloud"].name == "cloudy"),
    ),
    (
        "set-mailbox-cloud-type",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "Type": "shared"},
        lambda r, w: (_ok(r, w), w["cloud"].recipient_type_details == "SharedMailbox"),
    ),
    (
        "set-mailbox-type-bad-enum",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "Type": "Boat"},
        _error(400, "Regular, Room, Equipment, Shared"),
    ),
    (
        "set-mailbox-type-workspace",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "Type": "Workspace"},
        _error(400, "isn't supported"),
    ),
    (
        "set-mailbox-cloud-addresses-add",
        "Set-Mailbox",
        lambda w: {
            "Identity": "cloudonly",
            "EmailAddresses": {
                "@odata.type": "#Exchange.GenericHashTable",
                "Add": ["smtp:extra@table.onmicrosoft.com"],
            },
        },
        lambda r, w: (_ok(r, w), "smtp:extra@table.onmicrosoft.com" in w["cloud"].email_addresses),
    ),
    (
        "set-mailbox-cloud-addresses-new-primary",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "EmailAddresses": {"Add": ["SMTP:boss@table.onmicrosoft.com"]}},
        lambda r, w: (
            _ok(r, w),
            w["cloud"].primary_smtp_address == "boss@table.onmicrosoft.com",
            "smtp:cloudonly@table.onmicrosoft.com" in w["cloud"].email_addresses,
        ),
    ),
    (
        "set-mailbox-cloud-addresses-remove",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "EmailAddresses": {"Remove": ["smtp:cloudonly@table.onmicrosoft.com"]}},
        _error(400, "primary SMTP address"),
    ),
    (
        "set-mailbox-cloud-addresses-taken",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "EmailAddresses": {"Add": [w["user"].email_addresses[0][5:]]}},
        _error(400, "is already being used by the proxy addresses"),
    ),
    (
        "set-mailbox-cloud-addresses-invalid",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "EmailAddresses": {"Add": ["smtp:not-an-address"]}},
        _error(400, "isn't a valid SMTP address"),
    ),
    (
        "set-mailbox-cloud-addresses-bad-key",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "EmailAddresses": {"Append": ["x@y.com"]}},
        _error(400, "Use Add or Remove"),
    ),
    (
        "set-mailbox-cloud-primary",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "PrimarySmtpAddress": "front@table.onmicrosoft.com"},
        lambda r, w: (_ok(r, w), w["cloud"].email_addresses[0] == "SMTP:front@table.onmicrosoft.com"),
    ),
    (
        "set-mailbox-cloud-windowsemail",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "WindowsEmailAddress": "win@table.onmicrosoft.com"},
        lambda r, w: (_ok(r, w), w["cloud"].primary_smtp_address == "win@table.onmicrosoft.com"),
    ),
    (
        "set-mailbox-cloud-sendonbehalf",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "GrantSendOnBehalfTo": {"Add": [w["user"].user_principal_name]}},
        lambda r, w: (_ok(r, w), w["cloud"].grant_send_on_behalf_to == [w["user"].name]),
    ),
    (
        "set-mailbox-cloud-sendonbehalf-unknown",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "GrantSendOnBehalfTo": ["ghost"]},
        _error(404, "couldn't be found"),
    ),
    (
        "set-mailbox-confirm-force",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "CustomAttribute1": "c", "Confirm": False, "Force": True},
        _ok,
    ),
    (
        "set-mailbox-string-for-list",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "CustomAttribute1": ["a"]},
        _error(400, "Cannot bind parameter 'CustomAttribute1'"),
    ),
    (
        "set-mailbox-same-value",
        "Set-Mailbox",
        lambda w: {"Identity": "cloudonly", "HiddenFromAddressListsEnabled": False},
        _no_change_warning,
    ),
    # ------------------------------------------------------------------ Get-Recipient
    ("get-recipient-all", "Get-Recipient", lambda w: {}, _values(9)),
    (
        "get-recipient-mailuser",
        "Get-Recipient",
        lambda w: {"Identity": "contractor"},
        lambda r, w: (_values(1)(r, w), r.get_json()["value"][0]["RecipientTypeDetails"] == "MailUser"),
    ),
    ("get-recipient-rtd", "Get-Recipient", lambda w: {"RecipientTypeDetails": "MailUser"}, _values(1)),
    ("get-recipient-type", "Get-Recipient", lambda w: {"RecipientType": "MailUser"}, _values(1)),
    ("get-recipient-filter", "Get-Recipient", lambda w: {"Filter": "RecipientTypeDetails -eq 'MailUser'"}, _values(1)),
    ("get-recipient-resultsize", "Get-Recipient", lambda w: {"ResultSize": 3}, _values(3)),
    ("get-recipient-missing", "Get-Recipient", lambda w: {"Identity": "nobody"}, _error(404, "couldn't be found")),
    # ------------------------------------------------------------------ Get-User / Set-User
    (
        "get-user-all",
        "Get-User",
        lambda w: {},
        lambda r, w: (
            _ok(r, w),
            len(r.get_json()["value"]) == len([u for u in w["tenant"].users if u.deleted_date_time is None]),
        ),
    ),
    (
        "get-user-identity",
        "Get-User",
        lambda w: {"Identity": w["user"].alias},
        lambda r, w: (
            _values(1)(r, w),
            r.get_json()["value"][0]["ExternalDirectoryObjectId"] == w["user"].external_directory_object_id,
        ),
    ),
    (
        "get-user-admin-no-mailbox",
        "Get-User",
        lambda w: {"Identity": "globaladmin@table.onmicrosoft.com"},
        lambda r, w: (_values(1)(r, w), r.get_json()["value"][0]["RecipientTypeDetails"] == "User"),
    ),
    ("get-user-filter", "Get-User", lambda w: {"Filter": "RecipientTypeDetails -eq 'User'"}, _values(6)),
    ("get-user-rtd", "Get-User", lambda w: {"RecipientTypeDetails": "MailUser"}, _values(1)),
    ("get-user-resultsize", "Get-User", lambda w: {"ResultSize": 1}, _values(1)),
    ("get-user-missing", "Get-User", lambda w: {"Identity": "nobody"}, _error(404, "couldn't be found")),
    (
        "set-user-synced-title",
        "Set-User",
        lambda w: {"Identity": w["user"].alias, "Title": "Boss"},
        _error(400, "'Set-User', 'Title', can't be performed"),
    ),
    (
        "set-user-cloud-all",
        "Set-User",
        lambda w: {
            "Identity": "cloudonly",
            "Title": "T",
            "Department": "D",
            "FirstName": "F",
            "LastName": "L",
            "DisplayName": "Cloud Renamed",
        },
        lambda r, w: (
            _ok(r, w),
            w["tenant"].users.get(w["cloud"].external_directory_object_id).job_title == "T",
            w["cloud"].display_name == "Cloud Renamed",
        ),
    ),
    ("set-user-admin", "Set-User", lambda w: {"Identity": "user@table.onmicrosoft.com", "Department": "Ops"}, _ok),
    ("set-user-noop", "Set-User", lambda w: {"Identity": "cloudonly", "Title": None}, _no_change_warning),
    (
        "set-user-unknown-param",
        "Set-User",
        lambda w: {"Identity": "cloudonly", "CustomAttribute1": "x"},
        _error(400, "matches parameter name 'CustomAttribute1'"),
    ),
    ("set-user-missing", "Set-User", lambda w: {"Identity": "nobody", "Title": "x"}, _error(404, "couldn't be found")),
    # ------------------------------------------------------------------ organization
    (
        "get-orgconfig",
        "Get-OrganizationConfig",
        lambda w: {},
        lambda r, w: (
            _values(1)(r, w),
            r.get_json()["value"][0]["BlockExchangeProvisioningFromOnPremEnabled"] is False,
        ),
    ),
    (
        "get-orgconfig-param",
        "Get-OrganizationConfig",
        lambda w: {"Identity": "x"},
        _error(400, "matches parameter name 'Identity'"),
    ),
    (
        "set-orgconfig-cloud",
        "Set-OrganizationConfig",
        lambda w: {"ExchangeAttributesCloudManagedByDefault": True},
        lambda r, w: (_ok(r, w), w["tenant"].org_config["ExchangeAttributesCloudManagedByDefault"] is True),
    ),
    (
        "set-orgconfig-server",
        "Set-OrganizationConfig",
        lambda w: {"ExchangeAttributesServerManagedByDefault": True},
        _no_change_warning,
    ),
    (
        "set-orgconfig-both",
        "Set-OrganizationConfig",
        lambda w: {"ExchangeAttributesServerManagedByDefault": True, "ExchangeAttributesCloudManagedByDefault": True},
        _error(400, "Parameter set cannot be resolved"),
    ),
    (
        "set-orgconfig-confirm-force",
        "Set-OrganizationConfig",
        lambda w: {"Confirm": False, "Force": True},
        _no_change_warning,
    ),
    # ------------------------------------------------------------------ Undo-SoftDeletedMailbox
    (
        "undo-soft-deleted",
        "Undo-SoftDeletedMailbox",
        lambda w: {"SoftDeletedObject": w["gone"].alias},
        lambda r, w: (
            _values(1)(r, w),
            w["gone"].is_soft_deleted is False,
            w["tenant"].users.get(w["gone"].external_directory_object_id).deleted_date_time is None,
        ),
    ),
    (
        "undo-soft-deleted-liveid-password",
        "Undo-SoftDeletedMailbox",
        lambda w: {
            "SoftDeletedObject": w["gone"].guid,
            "WindowsLiveID": "back@table.onmicrosoft.com",
            "Password": "P@ss",
            "Confirm": False,
        },
        lambda r, w: (_ok(r, w), w["gone"].user_principal_name == "back@table.onmicrosoft.com"),
    ),
    (
        "undo-live-mailbox",
        "Undo-SoftDeletedMailbox",
        lambda w: {"SoftDeletedObject": w["user"].alias},
        _error(404, "couldn't be found"),
    ),
    (
        "undo-missing-param",
        "Undo-SoftDeletedMailbox",
        lambda w: {},
        _error(400, "missing mandatory parameters: SoftDeletedObject"),
    ),
    (
        "get-delegate-names",
        "Get-Mailbox",
        lambda w: {"Identity": w["user"].alias, "IncludeGrantSendOnBehalfToWithDisplayNames": True},
        lambda r, w: (_ok(r, w), r.get_json()["value"][0]["GrantSendOnBehalfToWithDisplayNames"] == []),
    ),
]


@pytest.mark.parametrize("case_id,cmdlet,params,check", CASES, ids=[c[0] for c in CASES])
def test_cmdlet_table(client, world, case_id, cmdlet, params, check):
    resp = invoke(client, world["tenant"], world["h"], cmdlet, params(world))
    result = check(resp, world)
    if isinstance(result, tuple):
        assert all(x is not False for x in result), case_id


def test_every_emulated_parameter_is_exercised_by_the_table():
    """The table above names every parameter of every emulated cmdlet (RBAC cmdlets have their own tests)."""
    import inspect

    source = inspect.getsource(inspect.getmodule(test_cmdlet_table))
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
    missing = []
    for spec in all_cmdlets():
        if spec.name not in mine:
            continue
        for param in spec.param_list:
            if f'"{param.name}"' not in source and not (
                param.name.startswith("CustomAttribute") or param.name.startswith("ExtensionCustomAttribute")
            ):
                missing.append(f"{spec.name} -{param.name}")
    assert missing == []


@pytest.mark.parametrize("index", range(1, 16))
def test_each_custom_attribute_round_trips(client, world, index):
    name = f"CustomAttribute{index}"
    resp = invoke(client, world["tenant"], world["h"], "Set-Mailbox", {"Identity": "cloudonly", name: f"v{index}"})
    assert resp.status_code == 200
    got = invoke(client, world["tenant"], world["h"], "Get-Mailbox", {"Identity": "cloudonly"}).get_json()
    assert got["value"][0][name] == f"v{index}"


@pytest.mark.parametrize("index", range(1, 6))
def test_each_extension_custom_attribute_add_remove(client, world, index):
    name = f"ExtensionCustomAttribute{index}"
    t, h = world["tenant"], world["h"]
    assert invoke(client, t, h, "Set-Mailbox", {"Identity": "cloudonly", name: ["a", "b"]}).status_code == 200
    resp = invoke(
        client,
        t,
        h,
        "Set-Mailbox",
        {"Identity": "cloudonly", name: {"@odata.type": "#Exchange.GenericHashTable", "Add": "c", "Remove": ["a"]}},
    )
    assert resp.status_code == 200
    got = invoke(client, t, h, "Get-Mailbox", {"Identity": "cloudonly"}).get_json()["value"][0]
    assert got[name] == ["b", "c"]
    assert got[f"{name}@odata.type"] == "#Collection(String)"


def test_unknown_cmdlet_is_403_with_empty_body_and_diagnostics(client, world):
    resp = invoke(client, world["tenant"], world["h"], "New-MigrationBatch", {"Identity": "x"})
    assert resp.status_code == 403
    assert resp.get_data() == b""
    diag = resp.headers["x-ms-diagnostics"]
    assert diag.startswith('2000001;reason="') and diag.endswith('";error_category="invalid_cmdlet"')
    # The real field carries PowerShell's own text; the mock's explanation is only in its own header.
    assert "The term 'New-MigrationBatch' is not recognized as a name of a cmdlet" in diag
    assert "hybridsoa" not in diag and "emulated" not in diag
    assert diag.count('"') == 4
    assert "not emulated by hybridsoa" in resp.headers["x-hybridsoa-note"]


def test_cmdlet_names_are_case_insensitive(client, world):
    resp = invoke(client, world["tenant"], world["h"], "get-MAILBOX", {"identity": world["user"].alias})
    assert resp.status_code == 200 and len(resp.get_json()["value"]) == 1
