"""The tenant lock is taken in one place per request (api/tenant_hold.py) and let go when the request ends: after
any kind of request (the Exchange pipeline, Graph, login, the control plane, a refused request, the device sign-in
page that finds its tenant by a user's domain) another thread can take the tenant's lock at once."""

from __future__ import annotations

import threading

import pytest

from hybridsoa.mock.api import tenant_hold

GRAPH = "https://graph.microsoft.com/.default"


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="contoso", seed=42, mailboxes=5)


def _free_for_another_thread(tenant) -> bool:
    got = []

    def probe():
        if tenant.lock.acquire(blocking=False):
            got.append(True)
            tenant.lock.release()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return got == [True]


def test_every_kind_of_request_lets_the_tenant_lock_go(client, tenant, auth_header):
    exo, graph = auth_header(tenant, "exchange"), auth_header(tenant, "graph")
    user = tenant.user_by_upn(f"helpdesk@{tenant.domain}")
    calls = [
        lambda: client.post(
            f"/adminapi/beta/{tenant.id}/InvokeCommand",
            headers=exo,
            json={"CmdletInput": {"CmdletName": "Get-Mailbox"}},
        ),
        lambda: client.post(
            f"/adminapi/beta/{tenant.id}/$batch",
            headers=exo,
            json={
                "requests": [
                    {
                        "id": "1",
                        "method": "POST",
                        "url": "/InvokeCommand",
                        "body": {"CmdletInput": {"CmdletName": "Get-OrganizationConfig"}},
                    }
                ]
            },
        ),
        lambda: client.post(
            f"/adminapi/v2.0/{tenant.id}/Mailbox", headers=exo, json={"CmdletInput": {"CmdletName": "Get-Mailbox"}}
        ),
        lambda: client.get("/v1.0/users", headers=graph),
        lambda: client.get(f"/{tenant.id}/v2.0/.well-known/openid-configuration"),
        lambda: client.post(f"/{tenant.id}/oauth2/v2.0/token", data={"grant_type": "client_credentials"}),
        lambda: client.get(f"/_mock/tenants/{tenant.id}/sync"),
        lambda: client.post(
            "/devicelogin", data={"user_code": "NOPE", "username": user.user_principal_name, "password": user.password}
        ),
    ]
    for call in calls:
        rv = call()
        assert rv.status_code < 500, rv.get_data(as_text=True)
        assert _free_for_another_thread(tenant), rv.request.path
    # A refused request (an injected fault) holds and lets go the same way.
    assert client.post(f"/_mock/tenants/{tenant.id}/faults", json={"api": "exchange", "status": 503}).status_code in (
        200,
        201,
    )
    refused = client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand", headers=exo, json={"CmdletInput": {"CmdletName": "Get-Mailbox"}}
    )
    assert refused.status_code == 503
    assert _free_for_another_thread(tenant)


def test_hold_takes_a_lock_once_per_request_and_release_all_lets_it_go(tenant):
    environ: dict = {}
    tenant_hold.hold(environ, tenant)
    tenant_hold.hold(environ, tenant)  # already held by this request: not taken twice
    assert environ[tenant_hold.ENVIRON_KEY] == [tenant]
    assert not _free_for_another_thread(tenant)
    tenant_hold.release_all(environ)
    assert environ[tenant_hold.ENVIRON_KEY] == []
    assert _free_for_another_thread(tenant)
