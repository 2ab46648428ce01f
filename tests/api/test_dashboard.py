"""The read-only dashboard through the Flask test client: pages render what the tenant holds, filters and
server-side paging work, drift is highlighted, everything is escaped, no secret is ever shown, and the control
token guards it when one is set."""

from __future__ import annotations

import re
from html import unescape

import pytest

from hybridsoa.mock.app import create_app


def rows(html: str) -> list[str]:
    """Mailbox row guids of a tenant page, in order."""
    return re.findall(r'<tr class="mailbox[^"]*" data-guid="([^"]+)"', html)


def count(html: str, key: str) -> int:
    """A number from the counts cards (``data-count="..."``)."""
    return int(re.search(rf'data-count="{key}">(\d+)<', html).group(1))


def toggle(tenant, mailbox, value=True):
    """Set IsExchangeCloudManaged directly in the domain (the Exchange API has its own tests)."""
    with tenant.lock:
        mailbox.is_exchange_cloud_managed = value
        tenant.mailboxes.touch(mailbox.guid)


def ad_of(tenant, mailbox):
    """The AD user a mailbox is synced from."""
    user = tenant.users.get(mailbox.external_directory_object_id)
    return tenant.ad_users.get(user.on_premises_sam_account_name.lower())


# ------------------------------------------------------------------------------------------------ pages
def test_tenants_list_links_every_tenant_and_filters(client, make_tenant):
    make_tenant(name="contoso", seed=1)
    make_tenant(name="fabrikam", seed=2, mailboxes=4)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/tenants/contoso"' in html and 'href="/tenants/fabrikam"' in html
    filtered = client.get("/?q=fabri").get_data(as_text=True)
    assert 'href="/tenants/fabrikam"' in filtered and 'href="/tenants/contoso"' not in filtered


def test_tenant_page_counts_match_the_domain(client, domain_tenant):
    mailboxes = domain_tenant.mailboxes.values()
    toggle(domain_tenant, mailboxes[0])
    toggle(domain_tenant, mailboxes[1])
    response = client.get("/tenants/contoso")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for kind in ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox"):
        assert count(html, kind) == sum(1 for m in mailboxes if m.recipient_type_details == kind) >= 1
    assert count(html, "live") == len(mailboxes) == 25
    assert count(html, "dirSyncedCloudManaged") == 2
    assert count(html, "dirSyncedOnPremManaged") == 23


def test_tenant_page_reachable_by_id_and_domain(client, domain_tenant):
    for key in (domain_tenant.id, domain_tenant.domain, "CONTOSO"):
        assert client.get(f"/tenants/{key}").status_code == 200


def test_tenant_page_shows_clock_next_cycle_and_profile(client, make_tenant):
    tenant = make_tenant(name="clocky", seed=3, profile="preview")
    html = client.get("/tenants/clocky").get_data(as_text=True)
    with tenant.lock:
        now, due = tenant.clock.now(), tenant.sync.next_due()
    from hybridsoa.mock.domain.clock import iso

    assert iso(now) in html and iso(due) in html
    assert "profile: preview" in html


def test_filter_by_cloud_managed_type_dirsynced_and_search(client, domain_tenant):
    mailboxes = domain_tenant.mailboxes.values()
    shared = next(m for m in mailboxes if m.recipient_type_details == "SharedMailbox")
    user_mbx = next(m for m in mailboxes if m.recipient_type_details == "UserMailbox")
    toggle(domain_tenant, shared)
    toggle(domain_tenant, user_mbx)
    cloud = rows(client.get("/tenants/contoso?cloudmanaged=true").get_data(as_text=True))
    assert sorted(cloud) == sorted([shared.guid, user_mbx.guid])
    not_cloud = rows(client.get("/tenants/contoso?cloudmanaged=false&per_page=200").get_data(as_text=True))
    assert len(not_cloud) == 23 and shared.guid not in not_cloud
    both = rows(client.get("/tenants/contoso?cloudmanaged=true&type=SharedMailbox").get_data(as_text=True))
    assert both == [shared.guid]
    assert rows(client.get("/tenants/contoso?dirsynced=false").get_data(as_text=True)) == []
    found = rows(client.get(f"/tenants/contoso?q={user_mbx.alias.upper()}").get_data(as_text=True))
    assert user_mbx.guid in found and len(found) < 25


def test_soft_deleted_mailboxes_are_listed_separately(client, domain_tenant):
    victim = domain_tenant.mailboxes.values()[3]
    with domain_tenant.lock:
        victim.when_soft_deleted = domain_tenant.clock.now()
        domain_tenant.mailboxes.touch(victim.guid)
    html = client.get("/tenants/contoso?per_page=200").get_data(as_text=True)
    assert victim.guid not in rows(html) and count(html, "softDeleted") == 1
    assert rows(client.get("/tenants/contoso?deleted=true").get_data(as_text=True)) == [victim.guid]


def test_server_side_paging_of_a_big_tenant(client, make_tenant):
    tenant = make_tenant(name="big", seed=5, mailboxes=1200)
    order = [m.guid for m in tenant.mailboxes.values()]
    first = client.get("/tenants/big").get_data(as_text=True)
    assert rows(first) == order[:50]
    assert "1–50 of 1200 mailboxes" in first
    page7 = client.get("/tenants/big?page=7&per_page=100").get_data(as_text=True)
    assert rows(page7) == order[600:700]
    assert 'href="/tenants/big?per_page=100&amp;page=8#mailboxes"' in page7
    last = client.get("/tenants/big?page=99999&per_page=200").get_data(as_text=True)
    assert rows(last) == order[1000:1200]
    assert rows(client.get("/tenants/big?page=junk&per_page=-4").get_data(as_text=True)) == order[:5]


def test_drift_is_highlighted_until_the_next_cycle_for_ad_managed_mailboxes(client, domain_tenant):
    mailbox = next(m for m in domain_tenant.mailboxes.values() if m.recipient_type_details == "UserMailbox")
    ad = ad_of(domain_tenant, mailbox)
    with domain_tenant.lock:
        ad.attrs["extensionAttribute7"] = "from-ad-7"
        domain_tenant.ad_users.touch(ad.sam_account_name.lower())
    html = client.get(f"/tenants/contoso/mailboxes/{mailbox.guid}").get_data(as_text=True)
    drifted = re.findall(r'<tr class="drift[^"]*">\s*<th>(\w+)', html)
    assert drifted == ["CustomAttribute7"]
    assert "the next sync cycle overwrites Exchange" in html
    table = client.get(f"/tenants/contoso?q={mailbox.name}").get_data(as_text=True)
    assert 'class="mailbox has-drift"' in table and "from-ad-7" in table
    with domain_tenant.lock:
        domain_tenant.sync.run_cycle("Delta")
    after = client.get(f"/tenants/contoso/mailboxes/{mailbox.guid}").get_data(as_text=True)
    assert re.findall(r'<tr class="drift[^"]*">', after) == []


def test_cloud_managed_drift_stays_and_says_exchange_is_authoritative(client, domain_tenant):
    mailbox = next(m for m in domain_tenant.mailboxes.values() if m.recipient_type_details == "RoomMailbox")
    toggle(domain_tenant, mailbox)
    with domain_tenant.lock:
        mailbox.custom_attributes[1] = "cloud-2"
        domain_tenant.mailboxes.touch(mailbox.guid)
        domain_tenant.sync.run_cycle("Initial")
    html = client.get(f"/tenants/contoso/mailboxes/{mailbox.guid}").get_data(as_text=True)
    assert re.findall(r'<tr class="drift[^"]*">\s*<th>(\w+)', html) == ["CustomAttribute2"]
    assert "cloud-managed: Exchange values are authoritative" in html


def test_sync_history_shows_counts_status_and_per_object_errors(client, domain_tenant):
    with domain_tenant.lock:
        domain_tenant.advance(30)
        domain_tenant.sync.history.append(
            {
                "id": "run-with-errors",
                "policyType": "Delta",
                "scheduled": False,
                "startDateTime": domain_tenant.clock.now(),
                "endDateTime": domain_tenant.clock.now(),
                "status": "completed-export-errors",
                "adds": 0,
                "updates": 2,
                "deletes": 0,
                "errorCount": 1,
                "errors": [
                    {
                        "errorType": "PropertyConflict",
                        "sAMAccountName": "jdoe",
                        "propertyCausingError": "ProxyAddresses",
                        "value": "smtp:dup@contoso.com",
                    }
                ],
            }
        )
    html = client.get("/tenants/contoso/sync").get_data(as_text=True)
    # The seeded Initial cycle, the scheduled Delta the 30-minute advance ran, and the injected one.
    assert html.count('<tr class="run"') == len(domain_tenant.sync.history) == 3
    newest = html.index('data-run-id="run-with-errors"')
    assert newest < html.index(f'data-run-id="{domain_tenant.sync.history[0]["id"]}"')
    assert "PropertyConflict" in html and "jdoe" in html and "completed-export-errors" in html
    assert "(scheduled)" in html
    detail = client.get("/tenants/contoso/sync/run-with-errors").get_data(as_text=True)
    assert '<tr class="sync-error">' in detail and "smtp:dup@contoso.com" in detail
    assert client.get("/tenants/contoso/sync/nope").status_code == 404


def test_audit_and_journal_newest_first_and_filterable(client, domain_tenant):
    with domain_tenant.lock:
        for i in range(3):
            domain_tenant.add_audit_record(
                "exchange",
                "Set-Mailbox",
                None,
                target=f"mbx{i}",
                parameters={"Identity": f"mbx{i}", "IsExchangeCloudManaged": True},
                changes={"IsExchangeCloudManaged": {"old": False, "new": True}} if i != 1 else None,
            )
        domain_tenant.add_audit_record("graph", "PATCH /users", None, target="u1", succeeded=False, error="denied")
        for i, status in enumerate((200, 429, 200)):
            domain_tenant.journal.add(
                {
                    "time": domain_tenant.clock.now() + i,
                    "api": "exchange",
                    "method": "POST",
                    "path": "/adminapi/beta/x/InvokeCommand",
                    "cmdlet": f"Get-Mailbox{i}",
                    "status": status,
                    "durationMs": 1.5,
                    "caller": {"appId": None},
                }
            )
    audit = client.get("/tenants/contoso/audit").get_data(as_text=True)
    assert audit.index("PATCH /users") < audit.index(">mbx2<") < audit.index(">mbx0<")
    unchanged = client.get("/tenants/contoso/audit?outcome=unchanged&api=exchange").get_data(as_text=True)
    assert ">mbx1<" in unchanged and ">mbx0<" not in unchanged and "no change" in unchanged
    failed = client.get("/tenants/contoso/audit?outcome=failed").get_data(as_text=True)
    assert "denied" in failed and ">mbx1<" not in failed
    journal = client.get("/tenants/contoso/requests").get_data(as_text=True)
    assert journal.index("Get-Mailbox2") < journal.index("Get-Mailbox1") < journal.index("Get-Mailbox0")
    throttled = client.get("/tenants/contoso/requests?status=4xx").get_data(as_text=True)
    assert "Get-Mailbox1" in throttled and "Get-Mailbox0" not in throttled
    overview = client.get("/tenants/contoso").get_data(as_text=True)
    assert "Get-Mailbox2" in overview and ">mbx2<" in overview


def test_fault_rules_and_throttling_are_shown(client, domain_tenant):
    with domain_tenant.lock:
        domain_tenant.faults.add_rule({"api": "exchange", "cmdlet": "Set-Mailbox", "status": 503, "count": 2})
        domain_tenant.faults.set_throttle("graph", 2, 5)
    html = client.get("/tenants/contoso").get_data(as_text=True)
    section = html[html.index('id="faults"') : html.index('id="profile"')]
    assert '<tr class="fault-rule">' in section and "Set-Mailbox" in section and "503" in section
    assert "<b>graph</b> throttled" in section


# ------------------------------------------------------------------------------------- escaping, secrets
def test_everything_shown_is_escaped(client, domain_tenant):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    mailbox = domain_tenant.mailboxes.values()[0]
    with domain_tenant.lock:
        mailbox.display_name = evil
        mailbox.custom_attributes[0] = evil
        domain_tenant.mailboxes.touch(mailbox.guid)
        domain_tenant.add_audit_record("exchange", evil, None, target=evil, parameters={evil: evil})
        domain_tenant.journal.add({"time": 0, "api": evil, "method": "GET", "path": evil, "status": 200})
        domain_tenant.sync.history.append({"id": "x", "status": evil, "errors": [{"message": evil}]})
        domain_tenant.faults.add_rule({"api": "exchange", "cmdlet": evil, "status": 500})
    for url in (
        "/tenants/contoso",
        f"/tenants/contoso/mailboxes/{mailbox.guid}",
        "/tenants/contoso/audit",
        "/tenants/contoso/requests",
        "/tenants/contoso/sync",
        f"/tenants/contoso?q={evil}",
        f"/tenants/contoso/audit?q={evil}",
    ):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
    assert "&lt;script&gt;alert(" in client.get("/tenants/contoso").get_data(as_text=True)


def test_no_secrets_on_any_page(client, domain_tenant, auth_header):
    creds = domain_tenant.credentials()
    token = auth_header(domain_tenant, "exchange")["Authorization"].split()[1]
    secrets = [a["clientSecret"] for a in creds["apps"]] + [u["password"] for u in creds["users"]]
    secrets += [a["privateKeyPem"].splitlines()[1] for a in creds["apps"]] + [token, "hunter2-plain"]
    with domain_tenant.lock:
        domain_tenant.add_audit_record(
            "identity",
            "token",
            None,
            target="automation",
            parameters={
                "client_secret": creds["apps"][0]["clientSecret"],
                "password": "hunter2-plain",
                "note": f"Bearer {token}",
            },
        )
        domain_tenant.journal.add(
            {
                "time": 0,
                "api": "identity",
                "method": "POST",
                "path": "/x/oauth2/v2.0/token",
                "status": 200,
                "parameters": {"client_assertion": token, "client_secret": creds["apps"][1]["clientSecret"]},
                "headers": {"Authorization": f"Bearer {token}"},
                "echo": token,
            }
        )
        domain_tenant.settings["webhookSecret"] = "hunter2-plain"
        domain_tenant.sync.history.append(
            {
                "id": "leaky",
                "status": "success",
                "errors": [{"token": token}],
                "privateKeyPem": creds["apps"][0]["privateKeyPem"],
            }
        )
    pages = [
        "/",
        "/tenants/contoso",
        "/tenants/contoso/audit",
        "/tenants/contoso/requests",
        "/tenants/contoso/sync",
        "/tenants/contoso/sync/leaky",
        f"/tenants/contoso/mailboxes/{domain_tenant.mailboxes.keys()[0]}",
    ]
    for url in pages:
        html = unescape(client.get(url).get_data(as_text=True))
        for secret in secrets:
            assert secret not in html, (url, secret[:12])
    assert "redacted" in client.get("/tenants/contoso/requests").get_data(as_text=True)


# -------------------------------------------------------------------------------------- bad input, misc
def test_unknown_tenant_and_mailbox_are_html_404s(client, domain_tenant):
    for url in (
        "/tenants/nope",
        "/tenants/contoso/mailboxes/nope",
        "/tenants/" + "x" * 5000,
        "/tenants/nope/audit",
        "/tenants/nope/requests",
        "/tenants/nope/sync",
    ):
        response = client.get(url)
        assert response.status_code == 404 and response.mimetype == "text/html", url


JUNK_QUERIES = [
    "page=-1",
    "page=1e9",
    "per_page=0",
    "per_page=abc",
    "type=Bogus",
    "cloudmanaged=maybe",
    "q=%00%ff",
    "q=" + "a" * 5000,
    "deleted=%5B%5D",
    "page=99999999999999999999999",
    "status=4x",
    "outcome=%3Cb%3E",
    "api=&api=graph",
    "policy=%F0%9F%92%A5",
    "tenant_key=x&page=2",
    "_external=1&_scheme=javascript",
    "_anchor=x&endpoint=y&page_param=z&per_page=5",
]


def test_junk_query_strings_never_fail(client, domain_tenant):
    for query in JUNK_QUERIES:
        for path in (
            "/",
            "/tenants/contoso",
            "/tenants/contoso/audit",
            "/tenants/contoso/requests",
            "/tenants/contoso/sync",
        ):
            assert client.get(f"{path}?{query}").status_code == 200, (path, query)


def test_dashboard_is_read_only_and_sends_protective_headers(client, domain_tenant):
    assert client.post("/tenants/contoso").status_code == 405
    response = client.get("/tenants/contoso")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/static/dashboard.css").status_code == 200


# ------------------------------------------------------------------------------------- control token
@pytest.fixture
def guarded(registry):
    """A client of an app started with a control token."""
    return create_app(registry, control_token="ctl-s3cret-value").test_client()


def test_control_token_sign_in_flow(guarded, make_tenant):
    make_tenant(name="contoso", seed=1)
    response = guarded.get("/tenants/contoso?type=UserMailbox")
    assert response.status_code == 302 and "/signin?next=" in response.headers["Location"]
    wrong = guarded.post("/signin", data={"token": "nope", "next": "/tenants/contoso"})
    assert wrong.status_code == 401 and "not the control token" in wrong.get_data(as_text=True)
    assert guarded.get("/tenants/contoso").status_code == 302
    ok = guarded.post("/signin", data={"token": "ctl-s3cret-value", "next": "/tenants/contoso?type=UserMailbox"})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/tenants/contoso?type=UserMailbox")
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "ctl-s3cret-value" not in cookie
    page = guarded.get("/tenants/contoso")
    assert page.status_code == 200 and "ctl-s3cret-value" not in page.get_data(as_text=True)
    assert "Sign out" in page.get_data(as_text=True)
    assert guarded.post("/signout").status_code == 302
    assert guarded.get("/tenants/contoso").status_code == 302


def test_control_token_as_bearer_and_no_open_redirect(guarded, make_tenant):
    make_tenant(name="contoso", seed=1)
    assert guarded.get("/", headers={"Authorization": "Bearer ctl-s3cret-value"}).status_code == 200
    assert guarded.get("/", headers={"Authorization": "Bearer wrong", "Accept": "application/json"}).status_code == 401
    for target in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\r\nSet-Cookie: a=b",
        "/" + "a" * 5000,
    ):
        response = guarded.post("/signin", data={"token": "ctl-s3cret-value", "next": target})
        assert response.headers["Location"] in ("/", "http://localhost/"), target


def test_open_when_no_control_token(client, domain_tenant):
    assert client.get("/").status_code == 200
    assert client.get("/signin").status_code == 302
