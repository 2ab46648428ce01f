"""SDK sign-in through MSAL against the mock over HTTPS: certificate (PEM file and PFX), device code approved
through the control plane, password grant, bad secret, and the token cache file."""

from __future__ import annotations

import os

import pytest

from hybridsoa.sdk import AuthError, Settings, connect, connect_mock

pytestmark = pytest.mark.e2e


def _app(tenant, name="automation"):
    return next(a for a in tenant["apps"] if a["name"] == name)


def _settings(tenant, **kw) -> Settings:
    return Settings(cloud="local", tenant=tenant["tenantId"], mock_url=tenant["url"], ca_bundle=tenant["ca"], **kw)


def test_certificate_pem_and_pfx(tenant, tmp_path):
    app = _app(tenant)
    pem = tmp_path / "app.pem"
    pem.write_text(app["privateKeyPem"] + app["certificatePem"])
    conn = connect(_settings(tenant, client_id=app["clientId"], certificate=str(pem)))
    assert conn.exchange.get_organization_config()["Identity"]
    assert conn.tokens.claims("exchange")["appid"] == app["clientId"]
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12

    pfx = pkcs12.serialize_key_and_certificates(
        b"app",
        load_pem_private_key(app["privateKeyPem"].encode(), None),
        x509.load_pem_x509_certificate(app["certificatePem"].encode()),
        None,
        BestAvailableEncryption(b"pw"),
    )
    (tmp_path / "app.pfx").write_bytes(pfx)
    conn = connect(
        _settings(tenant, client_id=app["clientId"], certificate=str(tmp_path / "app.pfx"), certificate_password="pw")
    )
    assert conn.graph.get_organization().get("id") == tenant["tenantId"]


def test_device_code_approved_through_the_control_plane(tenant, mock_session):
    prompts = []

    def approve(text: str) -> None:
        prompts.append(text)
        code = text.split("enter the code ")[1].split()[0] if "enter the code " in text else text.split()[-1]
        r = mock_session.post(
            f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/devicecodes/{code}/approve",
            json={"userPrincipalName": f"hybridadmin@{tenant['domain']}"},
        )
        assert r.status_code == 200, r.text

    conn = connect(_settings(tenant, client_id=_app(tenant)["clientId"], device_code=True))
    conn.tokens.credentials.device_code_prompt = approve
    claims = conn.tokens.claims("exchange")
    assert claims["upn"] == f"hybridadmin@{tenant['domain']}" and prompts
    assert conn.exchange.anchor_mailbox.startswith("APP:") or conn.exchange.anchor_mailbox.startswith("UPN:")


def test_password_grant_token_cache_and_bad_secret(tenant, tmp_path):
    cache = tmp_path / "cache.json"
    conn = connect_mock(tenant["url"], tenant["ca"], tenant, user="globaladmin")
    conn.settings.token_cache = str(cache)
    conn2 = connect(conn.settings)
    assert conn2.tokens.claims("graph")["upn"] == f"globaladmin@{tenant['domain']}"
    assert conn2.exchange.anchor_mailbox == f"UPN:globaladmin@{tenant['domain']}"
    assert cache.exists() and (os.stat(cache).st_mode & 0o777) == 0o600
    assert conn.settings.password not in repr(conn.settings)
    bad = connect(_settings(tenant, client_id=_app(tenant)["clientId"], client_secret="wrong"))
    with pytest.raises(AuthError) as info:
        bad.exchange.get_organization_config()
    assert info.value.error == "invalid_client" and 7000215 in info.value.error_codes


def test_ca_env_variables_cannot_override_the_pinned_ca(tenant, monkeypatch, tmp_path):
    bogus = tmp_path / "empty-bundle.pem"
    bogus.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bogus))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bogus))
    conn = connect_mock(tenant["url"], tenant["ca"], tenant)
    assert conn.tokens.claims("exchange")["tid"] == tenant["tenantId"]  # MSAL's discovery + token calls
    assert conn.exchange.get_organization_config()["Identity"]
    assert conn.graph.get_organization()["id"] == tenant["tenantId"]
