"""Each fault kind as a real client sees it over TLS: MSAL at the token endpoint, the hybridsoa SDK for the
Exchange admin API and Graph (its retry honours Retry-After; its sleeps advance the tenant clock here)."""

from __future__ import annotations

import msal
import pytest
from msal.exceptions import MsalServiceError

from hybridsoa.mock.tls import CaPinnedSession
from hybridsoa.sdk import Throttled, connect_mock

pytestmark = pytest.mark.e2e

GRAPH = ["https://graph.microsoft.com/.default"]


def _app(tenant, name="automation"):
    return next(a for a in tenant["apps"] if a["name"] == name)


def _msal(tenant, name="automation"):
    a = _app(tenant, name)
    return msal.ConfidentialClientApplication(
        a["clientId"],
        client_credential=a["clientSecret"],
        authority=f"{tenant['url']}/{tenant['tenantId']}",
        instance_discovery=False,
        http_client=CaPinnedSession(tenant["ca"], origin=tenant["url"]),
    )


def _faults(mock_session, tenant, body):
    rv = mock_session.post(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/faults", json=body)
    assert rv.status_code == 201, rv.text
    return rv.json()


def _journal(mock_session, tenant, query=""):
    return mock_session.get(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/requests?{query}").json()


def _connect(tenant, mock_server, waits):
    """SDK connection whose back-off sleeps move the tenant clock instead of the wall clock."""
    domain = mock_server.registry.get(tenant["tenantId"])

    def sleep(seconds):
        waits.append(seconds)
        with domain.lock:
            domain.advance(seconds / 60)

    return connect_mock(tenant["url"], tenant["ca"], tenant, sleep=sleep)


def test_msal_sees_entra_throttling(tenant, mock_session):
    _faults(mock_session, tenant, {"throttle": {"api": "identity", "rate": 0.01, "burst": 1}})
    assert "access_token" in _msal(tenant).acquire_token_for_client(GRAPH)
    result = _msal(tenant).acquire_token_for_client(GRAPH)
    assert result["error"] == "temporarily_unavailable"
    assert 50196 in result["error_codes"]
    # Another app has its own bucket.
    assert "access_token" in _msal(tenant, "graph-reader").acquire_token_for_client(GRAPH)


def test_msal_sees_an_injected_5xx(tenant, mock_session):
    _faults(mock_session, tenant, {"api": "identity", "status": 503, "count": 1, "retryAfter": 0})
    with pytest.raises(MsalServiceError, match="503"):
        _msal(tenant).acquire_token_for_client(GRAPH)
    assert "access_token" in _msal(tenant).acquire_token_for_client(GRAPH)  # the rule's one hit is spent
    entries = _journal(mock_session, tenant, "api=identity&method=POST")["value"]
    assert [e["status"] for e in entries] == [503, 200] and entries[0]["fault"]["kind"] == "fault"


def test_sdk_exchange_honours_throttling(tenant, mock_server, mock_session):
    waits: list[float] = []
    conn = _connect(tenant, mock_server, waits)
    upn = next(
        m["UserPrincipalName"] for m in conn.exchange.iter_mailboxes() if m.get("RecipientTypeDetails") == "UserMailbox"
    )
    _faults(mock_session, tenant, {"throttle": {"api": "exchange", "rate": 0.25, "burst": 1}})
    conn.exchange.set_cloud_managed(upn, True)
    conn.exchange.set_cloud_managed(upn, False)  # 429 Retry-After: 4, then (four tenant seconds later) 200
    assert waits == [4]
    statuses = [e["status"] for e in _journal(mock_session, tenant, "api=exchange&cmdlet=Set-Mailbox")["value"]]
    assert statuses == [200, 429, 200]
    assert conn.exchange.get_mailbox(upn)["IsExchangeCloudManaged"] is False


def test_sdk_exchange_gives_up_on_a_long_throttle(tenant, mock_server, mock_session):
    waits: list[float] = []
    conn = _connect(tenant, mock_server, waits)
    _faults(mock_session, tenant, {"api": "exchange", "cmdlet": "Get-Mailbox", "status": 429, "retryAfter": 3600})
    with pytest.raises(Throttled):
        conn.exchange.get_mailbox("anyone")
    assert waits == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_sdk_graph_retries_server_errors(tenant, mock_server, mock_session, status):
    waits: list[float] = []
    conn = _connect(tenant, mock_server, waits)
    user = f"helpdesk@{tenant['domain']}"
    _faults(
        mock_session,
        tenant,
        {"api": "graph", "path": "/users/*", "method": "GET", "status": status, "count": 2, "retryAfter": 2},
    )
    assert conn.graph.get_user(user)["userPrincipalName"] == user
    assert waits == [2, 2]
    statuses = [e["status"] for e in _journal(mock_session, tenant, "api=graph")["value"]][-3:]
    assert statuses == [status, status, 200]


def test_sdk_exchange_fault_on_a_write_is_reported_not_replayed(tenant, mock_server, mock_session):
    waits: list[float] = []
    conn = _connect(tenant, mock_server, waits)
    upn = next(
        m["UserPrincipalName"] for m in conn.exchange.iter_mailboxes() if m.get("RecipientTypeDetails") == "UserMailbox"
    )
    _faults(mock_session, tenant, {"api": "exchange", "cmdlet": "Set-Mailbox", "status": 500})
    with pytest.raises(Exception) as info:
        conn.exchange.set_cloud_managed(upn, True)
    assert "500" in str(info.value) or getattr(info.value, "status", None) == 500
    assert conn.exchange.get_mailbox(upn)["IsExchangeCloudManaged"] is False  # the fault changed nothing


def test_latency_is_applied_and_journaled(tenant, mock_server, mock_session):
    conn = _connect(tenant, mock_server, [])
    _faults(mock_session, tenant, {"api": "graph", "path": "/organization", "latencyMs": [20, 30]})
    assert conn.graph.get_organization()["id"] == tenant["tenantId"]
    entry = _journal(mock_session, tenant, "api=graph&path=organization")["value"][-1]
    assert entry["status"] == 200 and 20 <= entry["fault"]["latencyMs"] <= 30
