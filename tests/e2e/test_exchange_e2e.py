"""The Exchange admin API over real TLS sockets with MSAL-issued tokens: app-only and delegated sign-in, paging
by re-POSTing nextLink, the hybrid rules, the preview profile's silent failure, and the audit log."""

from __future__ import annotations

import msal
import pytest

from hybridsoa.mock.tls import CaPinnedSession

pytestmark = pytest.mark.e2e

EXCHANGE = ["https://outlook.office365.com/.default"]


def _app(tenant, name="automation"):
    return next(a for a in tenant["apps"] if a["name"] == name)


def _user(tenant, name):
    return next(u for u in tenant["users"] if u["userPrincipalName"].split("@")[0] == name)


def _session(tenant):
    return CaPinnedSession(tenant["ca"], origin=tenant["url"])


def app_token(tenant, name="automation"):
    app = _app(tenant, name)
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential=app["clientSecret"],
        authority=f"{tenant['url']}/{tenant['tenantId']}",
        instance_discovery=False,
        http_client=_session(tenant),
    )
    result = client.acquire_token_for_client(scopes=EXCHANGE)
    assert "access_token" in result, result
    return result["access_token"]


def user_token(tenant, name):
    user = _user(tenant, name)
    client = msal.PublicClientApplication(
        _app(tenant)["clientId"],
        authority=f"{tenant['url']}/{tenant['tenantId']}",
        instance_discovery=False,
        http_client=_session(tenant),
    )
    result = client.acquire_token_by_username_password(user["userPrincipalName"], user["password"], scopes=EXCHANGE)
    assert "access_token" in result, result
    return result["access_token"]


class Exo:
    """A minimal InvokeCommand client, as the EXO v3 module talks to the service."""

    def __init__(self, tenant, token):
        self.tenant, self.session = tenant, _session(tenant)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "X-Prefer": "odata.maxpagesize=1000",
            "X-AnchorMailbox": f"UPN:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{tenant['domain']}",
            "X-ResponseFormat": "json",
        }

    def post(self, cmdlet, params=None, *, url=None, page_size=None):
        headers = dict(self.headers)
        if page_size:
            headers["X-Prefer"] = f"odata.maxpagesize={page_size}"
        return self.session.post(
            url or f"{self.tenant['url']}/adminapi/beta/{self.tenant['domain']}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}},
            headers=headers,
            timeout=60,
        )

    def all_pages(self, cmdlet, params=None, page_size=None):
        url, values, pages = None, [], 0
        while True:
            resp = self.post(cmdlet, params, url=url, page_size=page_size)
            assert resp.status_code == 200, resp.text
            data = resp.json()
            values += data["value"]
            pages += 1
            url = data.get("@odata.nextLink")
            if not url:
                return values, pages


def test_app_only_inventory_paging_toggle_and_audit(tenant):
    exo = Exo(tenant, app_token(tenant))
    boxes, pages = exo.all_pages("Get-Mailbox", {"Filter": "IsDirSynced -eq $true"}, page_size=10)
    assert len(boxes) == 25 and pages == 3
    assert len({b["Guid"] for b in boxes}) == 25
    target = next(b for b in boxes if b["RecipientTypeDetails"] == "UserMailbox")

    refused = exo.post("Set-Mailbox", {"Identity": target["PrimarySmtpAddress"], "CustomAttribute1": "x"})
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["details"][0]["message"]
        .split("|")[-1]
        .startswith(
            f"The operation on mailbox \"{target['Name']}\" failed because it's out of the current user's write scope."
        )
    )

    assert exo.post("Set-Mailbox", {"Identity": target["Guid"], "IsExchangeCloudManaged": True}).status_code == 200
    assert exo.post("Set-Mailbox", {"Identity": target["Alias"], "CustomAttribute1": "x"}).status_code == 200
    again = exo.post("Get-Mailbox", {"Identity": target["Alias"]}).json()["value"][0]
    assert again["IsExchangeCloudManaged"] is True and again["CustomAttribute1"] == "x"

    unknown = exo.post("Get-MailboxStatistics", {"Identity": target["Alias"]})
    assert unknown.status_code == 403 and unknown.content == b""
    assert "Get-MailboxStatistics" in unknown.headers["x-ms-diagnostics"]

    audit = exo.session.get(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/audit?api=exchange", timeout=60
    ).json()["value"]
    assert [(r["operation"], r["succeeded"], r["changed"]) for r in audit] == [
        ("Set-Mailbox", False, False),
        ("Set-Mailbox", True, True),
        ("Set-Mailbox", True, True),
    ]


def test_app_without_directory_role_gets_403_and_without_app_role_401(tenant):
    assert Exo(tenant, app_token(tenant, "exchange-approle-only")).post("Get-Mailbox").status_code == 403
    assert Exo(tenant, app_token(tenant, "graph-reader")).post("Get-Mailbox").status_code == 401


@pytest.mark.mock_tenant(profile="preview", mailboxes=6)
def test_preview_profile_silent_failure_for_delegated_exchange_admin(tenant):
    admin = Exo(tenant, user_token(tenant, "exchangeadmin"))
    target = admin.post("Get-Mailbox", {"RecipientTypeDetails": "UserMailbox", "ResultSize": 1}).json()["value"][0]
    resp = admin.post("Set-Mailbox", {"Identity": target["Alias"], "IsExchangeCloudManaged": True})
    assert resp.status_code == 200 and resp.json()["value"] == [] and resp.json()["@adminapi.warnings"] == []
    assert (
        admin.post("Get-Mailbox", {"Identity": target["Alias"]}).json()["value"][0]["IsExchangeCloudManaged"] is False
    )

    hybrid = Exo(tenant, user_token(tenant, "hybridadmin"))  # HIA alone: no Exchange role group, so 403
    assert hybrid.post("Set-Mailbox", {"Identity": target["Alias"], "IsExchangeCloudManaged": True}).status_code == 403
    # The preview rule wants Hybrid Identity Administrator *in addition to* the Exchange role: grant it through Graph.
    graph = _session(tenant)
    ga = msal.PublicClientApplication(
        _app(tenant)["clientId"],
        authority=f"{tenant['url']}/{tenant['tenantId']}",
        instance_discovery=False,
        http_client=graph,
    )
    ga_token = ga.acquire_token_by_username_password(
        _user(tenant, "globaladmin")["userPrincipalName"],
        _user(tenant, "globaladmin")["password"],
        scopes=["https://graph.microsoft.com/.default"],
    )["access_token"]
    granted = graph.post(
        f"{tenant['url']}/v1.0/roleManagement/directory/roleAssignments",
        headers={"Authorization": f"Bearer {ga_token}"},
        timeout=60,
        json={
            "principalId": _user(tenant, "exchangeadmin")["id"],
            "directoryScopeId": "/",
            "roleDefinitionId": "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
        },
    )
    assert granted.status_code == 201, granted.text
    assert admin.post("Set-Mailbox", {"Identity": target["Alias"], "IsExchangeCloudManaged": True}).status_code == 200
    assert admin.post("Get-Mailbox", {"Identity": target["Alias"]}).json()["value"][0]["IsExchangeCloudManaged"] is True

    records = admin.session.get(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/audit?operation=Set-Mailbox", timeout=60
    ).json()["value"]
    assert [(r["caller"]["userPrincipalName"].split("@")[0], r["succeeded"], r["changed"]) for r in records] == [
        ("exchangeadmin", True, False),
        ("exchangeadmin", True, True),
    ]


@pytest.mark.mock_tenant(mailboxes=5)
def test_admin_api_v2_over_tls_with_an_msal_token(tenant):
    """The documented v2.0 surface with an MSAL app-only token: a folder permission granted through
    MailboxFolderPermission is what InvokeCommand then reads, and an undocumented endpoint is 404."""
    exo = Exo(tenant, app_token(tenant))
    base = f"{tenant['url']}/adminapi/v2.0/{tenant['tenantId']}"
    mailboxes = exo.post("Get-Mailbox", {"RecipientTypeDetails": "UserMailbox"}).json()["value"]
    owner, grantee = mailboxes[0], mailboxes[1]
    folder = f"{owner['PrimarySmtpAddress']}:\\Calendar"
    added = exo.post(
        "Add-MailboxFolderPermission",
        {"Identity": folder, "User": grantee["Alias"], "AccessRights": ["Reviewer"]},
        url=f"{base}/MailboxFolderPermission",
    )
    assert added.status_code == 200, added.text
    rows = exo.post("Get-MailboxFolderPermission", {"Identity": folder}).json()["value"]
    assert [r["AccessRights"] for r in rows if r["User"] == grantee["DisplayName"]] == [["Reviewer"]]
    org = exo.post("Get-OrganizationConfig", url=f"{base}/OrganizationConfig")
    assert org.status_code == 200 and org.json()["value"][0]["MailTipsLargeAudienceThreshold"] == 25
    assert exo.post("Get-Recipient", url=f"{base}/Recipient").status_code == 404
