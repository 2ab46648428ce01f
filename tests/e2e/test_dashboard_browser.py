"""The dashboard in a real headless Chromium (Debian's ``chromium`` driven by Playwright) against the in-process
HTTPS mock server: filter to cloud-managed mailboxes, toggle one through the Exchange admin API, reload and see
it and save a screenshot of the tenant page as a test artifact; advance the tenant clock and see the scheduled
sync cycle appear; sign in with the control token through the form."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .wire import exchange_token, invoke

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (the mock's CA is not in its trust store, hence the TLS flag)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--ignore-certificate-errors",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser page with a desktop-sized viewport; fails the test on any script error."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert errors == [], errors


def mailbox_rows(pg) -> list[str]:
    """Names of the mailbox rows on the page."""
    return pg.eval_on_selector_all("tr.mailbox", "rows => rows.map(r => r.dataset.name)")


def test_filter_toggle_through_exchange_and_see_it(page, mock_session, tenant):
    base = f"{tenant['url']}/tenants/{tenant['name']}"
    page.goto(base)
    assert page.locator("h1").first.inner_text().startswith(tenant["name"])
    assert len(mailbox_rows(page)) == 25
    assert page.locator('[data-count="dirSyncedCloudManaged"]').inner_text() == "0"

    # Choosing the filter submits the form through the page's script (no button press).
    with page.expect_navigation():
        page.select_option('select[name="cloudmanaged"]', "true")
    assert "cloudmanaged=true" in page.url
    assert mailbox_rows(page) == []
    assert "No mailboxes match" in page.locator("#mailboxes").inner_text()

    token = exchange_token(mock_session, tenant)
    listed = invoke(mock_session, tenant, token, "Get-Mailbox", ResultSize=5)["value"]
    alias = next(m["Alias"] for m in listed if m.get("RecipientTypeDetails") == "UserMailbox")
    invoke(mock_session, tenant, token, "Set-Mailbox", Identity=alias, IsExchangeCloudManaged=True)

    page.reload()
    assert mailbox_rows(page) == [alias]
    row = page.locator(f'tr.mailbox[data-name="{alias}"]')
    assert row.get_attribute("data-cloud-managed") == "true"
    assert row.locator("td.cloud-managed").inner_text().strip() == "True"
    assert page.locator('[data-count="dirSyncedCloudManaged"]').inner_text() == "1"

    # The audit log on the same page records the toggle, newest first.
    first_audit = page.locator("#audit tr.audit-record").first.inner_text()
    assert "Set-Mailbox" in first_audit and "changed" in first_audit

    # The artifact: the whole tenant page, unfiltered (10 rows a page keeps it readable), toggled mailbox first.
    page.goto(f"{base}?per_page=10")
    assert len(mailbox_rows(page)) == 10
    page.goto(f"{base}?per_page=10&q={alias}")
    assert page.locator(f'tr.mailbox[data-name="{alias}"]').get_attribute("data-cloud-managed") == "true"
    page.goto(f"{base}?per_page=10")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_scheduled_cycle_appears_after_clock_advance(page, mock_session, tenant):
    base = f"{tenant['url']}/tenants/{tenant['name']}"
    page.goto(f"{base}/sync")
    before = page.locator("tr.run").count()
    assert before >= 1
    clock_before = page.locator("#tenant-clock").inner_text()

    response = mock_session.post(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/clock/advance", json={"minutes": 30}, timeout=60
    )
    assert response.status_code == 200, response.text

    page.reload()
    assert page.locator("tr.run").count() == before + 1
    newest = page.locator("tr.run").first.inner_text()
    assert "Delta" in newest and "(scheduled)" in newest
    assert page.locator("#tenant-clock").inner_text() != clock_before

    page.goto(base)
    assert page.locator("#sync tr.run").count() == before + 1


def test_sign_in_with_the_control_token(browser, tmp_path):
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.server import InProcessServer

    registry = TenantRegistry(seed=3)
    registry.create("guarded", seed=3, mailboxes=4, frozen_clock=True)
    with InProcessServer(registry, data_dir=tmp_path, tls=False, control_token="ctl-browser-token") as server:
        context = browser.new_context()
        try:
            pg = context.new_page()
            pg.set_default_timeout(15_000)
            pg.goto(f"{server.url}/tenants/guarded")
            assert "/signin" in pg.url
            pg.fill('input[name="token"]', "wrong")
            pg.click('button[type="submit"]')
            assert "not the control token" in pg.locator("[role=alert]").inner_text()
            pg.fill('input[name="token"]', "ctl-browser-token")
            pg.click('button[type="submit"]')
            pg.wait_for_url("**/tenants/guarded")
            assert len(mailbox_rows(pg)) == 4
            cookies = context.cookies()
            assert cookies and all("ctl-browser-token" not in c["value"] for c in cookies)
            assert all(c["httpOnly"] for c in cookies)
            pg.click("header .signout button")
            pg.goto(f"{server.url}/tenants/guarded")
            assert "/signin" in pg.url
        finally:
            context.close()
