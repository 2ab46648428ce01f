"""Issue 18 over the wire: every kind of synced recipient from its AD attributes, licences that provision (and,
removed, disable then remove) mailboxes, Name from cn with every -Identity form and the ambiguity error, the
outbound move, and the realistic tenant mix."""

from __future__ import annotations

import pytest

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
EXO_PLAN = "efb87545-963c-4e0d-99df-69c6916d9eb0"


def invoke(client, tenant, headers, cmdlet, params=None):
    return client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}},
        headers=headers,
    )


def values(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["value"]


def error_text(resp):
    return resp.get_json()["error"]["details"][0]["message"]


def new_ad(client, tenant, body):
    resp = client.post(f"/_mock/tenants/{tenant.id}/onprem/users", json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def cycle(client, tenant):
    resp = client.post(f"/_mock/tenants/{tenant.id}/sync/cycles", json={"policyType": "Delta"})
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)


def advance(client, tenant, minutes):
    assert client.post(f"/_mock/tenants/{tenant.id}/clock/advance", json={"minutes": minutes}).status_code == 200


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="kinds", seed=18, mailboxes=4)


@pytest.fixture
def exo(tenant, auth_header):
    return auth_header(tenant, "exchange")


@pytest.fixture
def graph(tenant, auth_header):
    return auth_header(tenant, "graph")


def test_each_ad_kind_becomes_its_exchange_online_recipient(client, tenant, exo):
    new_ad(client, tenant, {"sAMAccountName": "onprem1", "displayName": "On Prem", "msExchRecipientTypeDetails": 1})
    new_ad(
        client,
        tenant,
        {
            "sAMAccountName": "mailusr",
            "displayName": "Mail User",
            "msExchRecipientTypeDetails": 128,
            "targetAddress": "SMTP:mu@partner.example",
        },
    )
    new_ad(client, tenant, {"sAMAccountName": "plain", "displayName": "Plain User", "msExchRecipientTypeDetails": None})
    new_ad(
        client,
        tenant,
        {"sAMAccountName": "room9", "displayName": "Room Nine", "msExchRecipientTypeDetails": 8589934592},
    )
    cycle(client, tenant)
    kinds = {o["Alias"]: o["RecipientTypeDetails"] for o in values(invoke(client, tenant, exo, "Get-Recipient"))}
    assert kinds["onprem1"] == "MailUser" and kinds["mailusr"] == "MailUser" and kinds["room9"] == "RoomMailbox"
    assert "plain" not in kinds
    assert invoke(client, tenant, exo, "Get-Recipient", {"Identity": "plain"}).status_code == 404
    user = values(invoke(client, tenant, exo, "Get-User", {"Identity": "plain@kinds.onmicrosoft.com"}))[0]
    assert (user["RecipientTypeDetails"], user["Name"]) == ("User", "Plain User")
    mail_users = {o["Alias"]: o for o in values(invoke(client, tenant, exo, "Get-MailUser"))}
    assert mail_users["mailusr"]["ExternalEmailAddress"] == "SMTP:mu@partner.example"
    assert mail_users["onprem1"]["ExternalEmailAddress"].lower() == "smtp:onprem1@kinds.onmicrosoft.com"
    assert invoke(client, tenant, exo, "Get-Mailbox", {"Identity": "onprem1"}).status_code == 404
    refused = invoke(client, tenant, exo, "Set-MailUser", {"Identity": "mailusr", "CustomAttribute1": "x"})
    assert refused.status_code == 400 and "out of the current user's write scope" in error_text(refused)
    bad = client.post(
        f"/_mock/tenants/{tenant.id}/onprem/users", json={"sAMAccountName": "weird", "msExchRecipientTypeDetails": 3}
    )
    assert bad.status_code == 400


def test_assign_license_validates_then_provisions_on_the_tenant_clock(client, tenant, exo, graph):
    tenant.settings["licenseAutoAssignSku"] = ""
    new_ad(client, tenant, {"sAMAccountName": "newhire", "displayName": "New Hire"})
    cycle(client, tenant)
    user = values(invoke(client, tenant, exo, "Get-User", {"Identity": "newhire"}))[0]
    assert user["RecipientTypeDetails"] == "MailUser"
    uid = user["ExternalDirectoryObjectId"]
    skus = client.get("/v1.0/subscribedSkus", headers=graph).get_json()["value"]
    e3 = next(s for s in skus if s["skuPartNumber"] == "ENTERPRISEPACK")
    assert e3["skuId"] == E3 and e3["prepaidUnits"]["enabled"] >= e3["consumedUnits"] >= 1
    body = {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
    tenant.users.get(uid).usage_location = None
    resp = client.post(f"/v1.0/users/{uid}/assignLicense", json=body, headers=graph)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["message"] == (
        "License assignment cannot be done for user with invalid usage location."
    )
    assert client.post(f"/v1.0/users/{uid}/assignLicense", json={"addLicenses": []}, headers=graph).status_code == 400
    assert client.patch(f"/v1.0/users/{uid}", json={"usageLocation": "GB"}, headers=graph).status_code == 204
    assert client.post(f"/v1.0/users/{uid}/assignLicense", json=body, headers=graph).status_code == 200
    view = client.get(
        f"/v1.0/users/{uid}?$select=assignedLicenses,assignedPlans,provisionedPlans", headers=graph
    ).get_json()
    assert view["assignedLicenses"] == [{"disabledPlans": [], "skuId": E3}]
    assert {p["servicePlanId"] for p in view["assignedPlans"]} >= {EXO_PLAN}
    exchange = next(p for p in view["provisionedPlans"] if p["service"] == "exchange")
    assert exchange["provisioningStatus"] == "PendingActivation"
    assert invoke(client, tenant, exo, "Get-Mailbox", {"Identity": "newhire"}).status_code == 404
    advance(client, tenant, 5)
    mbx = values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": "newhire"}))[0]
    assert mbx["RecipientTypeDetails"] == "UserMailbox" and mbx["Name"] == "New Hire"
    details = client.get(f"/v1.0/users/{uid}/licenseDetails", headers=graph).get_json()["value"]
    assert details[0]["skuPartNumber"] == "ENTERPRISEPACK"
    assert (
        next(p for p in details[0]["servicePlans"] if p["servicePlanId"] == EXO_PLAN)["provisioningStatus"] == "Success"
    )


def test_cloud_first_user_gets_a_cloud_managed_mailbox_from_the_tenant_default(client, tenant, exo, graph):
    assert (
        values(invoke(client, tenant, exo, "Set-OrganizationConfig", {"ExchangeAttributesCloudManagedByDefault": True}))
        == []
    )
    new_ad(
        client,
        tenant,
        {"sAMAccountName": "cloudfirst", "displayName": "Cloud First", "msExchRecipientTypeDetails": None},
    )
    cycle(client, tenant)
    user = values(invoke(client, tenant, exo, "Get-User", {"Identity": "cloudfirst@kinds.onmicrosoft.com"}))[0]
    assert user["RecipientTypeDetails"] == "User"
    uid = user["ExternalDirectoryObjectId"]
    client.patch(f"/v1.0/users/{uid}", json={"usageLocation": "US"}, headers=graph)
    body = {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
    assert client.post(f"/v1.0/users/{uid}/assignLicense", json=body, headers=graph).status_code == 200
    advance(client, tenant, 5)
    mbx = values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": "cloudfirst@kinds.onmicrosoft.com"}))[0]
    assert (mbx["RecipientTypeDetails"], mbx["IsDirSynced"], mbx["IsExchangeCloudManaged"]) == (
        "UserMailbox",
        True,
        True,
    )


def test_removing_the_exchange_plan_disables_then_removes_the_mailbox_after_the_grace_period(
    client, tenant, exo, graph, auth_header
):
    mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
    uid = mbx.external_directory_object_id
    remove = {"addLicenses": [], "removeLicenses": [E3]}
    assert client.post(f"/v1.0/users/{uid}/assignLicense", json=remove, headers=graph).status_code == 200
    plans = client.get(f"/v1.0/users/{uid}?$select=assignedPlans", headers=graph).get_json()["assignedPlans"]
    assert {p["capabilityStatus"] for p in plans} == {"Deleted"}
    user = values(invoke(client, tenant, exo, "Get-User", {"Identity": uid}))[0]
    assert user["SKUAssigned"] is False and user["RecipientTypeDetails"] == "UserMailbox"
    advance(client, tenant, 29 * 24 * 60)
    exo = auth_header(tenant, "exchange")
    assert (
        values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": uid}))[0]["RecipientTypeDetails"]
        == "UserMailbox"
    )
    advance(client, tenant, 24 * 60)
    exo = auth_header(tenant, "exchange")
    assert invoke(client, tenant, exo, "Get-Mailbox", {"Identity": uid}).status_code == 404
    assert (
        values(invoke(client, tenant, exo, "Get-MailUser", {"Identity": uid}))[0]["RecipientTypeDetails"] == "MailUser"
    )


def test_relicensing_within_the_grace_period_keeps_the_mailbox(client, tenant, exo, graph, auth_header):
    mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
    uid = mbx.external_directory_object_id
    client.post(f"/v1.0/users/{uid}/assignLicense", json={"addLicenses": [], "removeLicenses": [E3]}, headers=graph)
    advance(client, tenant, 10 * 24 * 60)
    graph, exo = auth_header(tenant, "graph"), auth_header(tenant, "exchange")  # the old tokens expired
    add = {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
    assert client.post(f"/v1.0/users/{uid}/assignLicense", json=add, headers=graph).status_code == 200
    advance(client, tenant, 40 * 24 * 60)
    exo = auth_header(tenant, "exchange")
    got = values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": uid}))[0]
    assert got["Guid"] is not None and got["RecipientTypeDetails"] == "UserMailbox"
    assert values(invoke(client, tenant, exo, "Get-User", {"Identity": uid}))[0]["SKUAssigned"] is True


def test_every_identity_form_resolves_and_an_ambiguous_name_is_refused(client, tenant, exo):
    mbx = values(invoke(client, tenant, exo, "Get-Mailbox", {"RecipientTypeDetails": ["UserMailbox"]}))[0]
    netbios = mbx["DistinguishedName"].split(",DC=")[1]
    canonical = f"{mbx['OrganizationalUnit']}/{mbx['Name']}"
    for form in (
        mbx["Name"],
        mbx["Alias"],
        mbx["DistinguishedName"],
        canonical,
        f"{netbios}\\{mbx['Alias']}",
        mbx["PrimarySmtpAddress"],
        mbx["UserPrincipalName"],
        mbx["LegacyExchangeDN"],
        mbx["ExchangeGuid"],
        mbx["ExternalDirectoryObjectId"],
        mbx["Guid"],
    ):
        got = values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": str(form)}))
        assert [g["Alias"] for g in got] == [mbx["Alias"]], form
    new_ad(
        client,
        tenant,
        {
            "sAMAccountName": "twin1",
            "displayName": "Sam Twin",
            "cn": "Sam Twin",
            "ou": "OU=Users,OU=Corp,DC=kinds,DC=local",
        },
    )
    new_ad(
        client,
        tenant,
        {
            "sAMAccountName": "twin2",
            "displayName": "Sam Twin",
            "cn": "Sam Twin",
            "ou": "OU=Shared,OU=Corp,DC=kinds,DC=local",
        },
    )
    cycle(client, tenant)
    for cmdlet in ("Get-Mailbox", "Set-Mailbox", "Get-Recipient"):
        params = {"Identity": "Sam Twin"}
        if cmdlet == "Set-Mailbox":
            params["IsExchangeCloudManaged"] = True
        resp = invoke(client, tenant, exo, cmdlet, params)
        assert resp.status_code == 400, cmdlet
        assert "The operation couldn't be performed because 'Sam Twin' matches multiple entries." in error_text(resp)


def test_outbound_move_is_refused_while_cloud_managed_then_completes_on_the_clock(client, tenant, exo, auth_header):
    mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
    alias = mbx.alias
    assert values(invoke(client, tenant, exo, "Set-Mailbox", {"Identity": alias, "IsExchangeCloudManaged": True})) == []
    move = {
        "Identity": alias,
        "Outbound": True,
        "RemoteHostName": "mail.kinds.example",
        "TargetDeliveryDomain": "kinds.example",
        "BatchName": "rollback",
    }
    refused = invoke(client, tenant, exo, "New-MoveRequest", move)
    assert refused.status_code == 400 and "IsExchangeCloudManaged" in error_text(refused)
    assert (
        invoke(
            client, tenant, exo, "New-MoveRequest", {k: v for k, v in move.items() if k != "RemoteHostName"}
        ).status_code
        == 400
    )
    values(invoke(client, tenant, exo, "Set-Mailbox", {"Identity": alias, "IsExchangeCloudManaged": False}))
    queued = values(invoke(client, tenant, exo, "New-MoveRequest", move))[0]
    assert queued["Status"] == "Queued" and queued["BatchName"] == "rollback"
    advance(client, tenant, 30)
    stats = values(invoke(client, tenant, exo, "Get-MoveRequestStatistics", {"Identity": alias}))[0]
    assert stats["Status"] == "InProgress" and 0 < stats["PercentComplete"] < 100
    advance(client, tenant, 31)
    exo = auth_header(tenant, "exchange")
    assert values(invoke(client, tenant, exo, "Get-MoveRequest", {"Identity": alias}))[0]["Status"] == "Completed"
    assert invoke(client, tenant, exo, "Get-Mailbox", {"Identity": alias}).status_code == 404
    mail_user = values(invoke(client, tenant, exo, "Get-MailUser", {"Identity": alias}))[0]
    assert mail_user["ExternalEmailAddress"] == f"SMTP:{alias}@kinds.example"
    ad = client.get(f"/_mock/tenants/{tenant.id}/onprem/users/{alias}").get_json()
    assert ad["msExchRecipientTypeDetails"] == 1 and ad.get("targetAddress") is None
    cycle(client, tenant)
    assert (
        values(invoke(client, tenant, exo, "Get-Recipient", {"Identity": alias}))[0]["RecipientTypeDetails"]
        == "MailUser"
    )


def test_the_default_tenant_is_a_deterministic_realistic_mix(make_tenant):
    kinds = []
    for name in ("mix-a", "mix-b"):
        t = make_tenant(name=name, seed=7, mailboxes=40, options={"mix": "realistic"})
        kinds.append(
            sorted(
                (m.alias, m.recipient_type_details, m.is_dir_synced, m.is_exchange_cloud_managed) for m in t.mailboxes
            )
        )
    assert kinds[0] == kinds[1]
    seen = {(rtd, synced, flag) for _, rtd, synced, flag in kinds[0]}
    assert {
        ("UserMailbox", True, False),
        ("UserMailbox", True, True),
        ("MailUser", True, False),
        ("SharedMailbox", True, False),
        ("RoomMailbox", True, False),
        ("EquipmentMailbox", True, False),
        ("UserMailbox", False, False),
    } <= seen
    only_rooms = make_tenant(name="rooms", seed=7, mailboxes=6, options={"mix": {"room": 1}})
    assert {m.recipient_type_details for m in only_rooms.mailboxes} == {"RoomMailbox"}


def test_dashboard_and_sdk_inventory_show_the_kinds(client, make_tenant):
    from hybridsoa.sdk.soa.inventory import classify

    t = make_tenant(name="dash-kinds", seed=3, mailboxes=20, options={"mix": "realistic"})
    resp = client.get(f"/tenants/{t.name}")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Recipient kinds" in page and "on-premises mailbox" in page and "remote mailbox, licensed" in page
    assert (
        classify(
            {
                "RecipientTypeDetails": "MailUser",
                "IsDirSynced": True,
                "ExternalEmailAddress": "SMTP:a@x.mail.onmicrosoft.com",
            }
        )[0]
        == "not-provisioned"
    )
    assert (
        classify(
            {
                "RecipientTypeDetails": "MailUser",
                "IsDirSynced": True,
                "ExternalEmailAddress": "SMTP:a@x.com",
                "ExchangeGuid": "5f401fa9-7f07-439a-9ad7-2b63b735dff0",
            }
        )[0]
        == "on-prem-mailbox"
    )
    assert (
        classify({"RecipientTypeDetails": "UserMailbox", "IsDirSynced": True, "IsExchangeCloudManaged": True})[0]
        == "already-cloud-managed"
    )
    assert classify({"RecipientTypeDetails": "UserMailbox", "IsDirSynced": False})[0] == "not-synced"
    assert classify({"RecipientTypeDetails": "User", "IsDirSynced": True})[0] == "no-mailbox"


@pytest.mark.parametrize(
    "options",
    [
        {"mix": "bogus"},
        {"mix": {"unicorns": 1}},
        {"mix": {"room": 0}},
        {"skus": {"NOPE": 3}},
        {"skus": {"ENTERPRISEPACK": -1}},
    ],
)
def test_bad_creation_options_are_refused(client, options):
    resp = client.post("/_mock/tenants", json={"mailboxes": 2, "options": options})
    assert resp.status_code == 400


def test_creation_option_skus_sets_the_subscribed_units(client, make_tenant, auth_header):
    t = make_tenant(name="skus", seed=2, mailboxes=2, options={"skus": {"EXCHANGESTANDARD": 7}})
    skus = client.get("/v1.0/subscribedSkus", headers=auth_header(t, "graph")).get_json()["value"]
    assert [(s["skuPartNumber"], s["prepaidUnits"]["enabled"]) for s in skus] == [("EXCHANGESTANDARD", 7)]


def test_a_name_with_a_comma_resolves_by_its_escaped_distinguished_name(client, tenant, exo):
    new_ad(client, tenant, {"sAMAccountName": "abailey9", "displayName": "Amanda Bailey", "cn": "Bailey, Amanda"})
    cycle(client, tenant)
    mbx = values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": "Bailey, Amanda"}))[0]
    assert mbx["DistinguishedName"].startswith("CN=Bailey\\, Amanda,OU=")
    again = values(invoke(client, tenant, exo, "Get-Mailbox", {"Identity": mbx["DistinguishedName"]}))
    assert [m["Alias"] for m in again] == ["abailey9"]
    user = values(invoke(client, tenant, exo, "Get-User", {"Identity": mbx["DistinguishedName"]}))[0]
    assert user["Name"] == "Bailey, Amanda"
