"""Clouds, configuration precedence and secret redaction, certificate loading, and CLI usage/status exit codes."""

from __future__ import annotations

import json

import pytest

from hybridsoa.sdk import Cloud, get_cloud
from hybridsoa.sdk.auth import Credentials, decode_claims, load_certificate
from hybridsoa.sdk.cli import main
from hybridsoa.sdk.config import load_settings
from hybridsoa.sdk.errors import ConfigError


def test_cloud_endpoints():
    assert get_cloud("gcchigh").exchange_url == "https://outlook.office365.us"
    assert get_cloud("dod").graph_url == "https://dod-graph.microsoft.us"
    assert get_cloud("21vianet").login_url == "https://login.chinacloudapi.cn"
    assert get_cloud("gcc").exchange_scope == "https://outlook.office365.com/.default"
    local = Cloud.local("https://127.0.0.1:8443/", "/tmp/ca.pem")
    assert local.is_local and local.verify == "/tmp/ca.pem"
    assert local.authority("t1") == "https://127.0.0.1:8443/t1"
    # The mock derives audiences from the public resource ids, so scopes do not change with the URL.
    assert local.graph_scope == "https://graph.microsoft.com/.default"
    assert not get_cloud("global").is_local
    with pytest.raises(ValueError):
        get_cloud("mars")


def test_settings_precedence_profile_env_args(tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text(
        '[profile.lab]\ncloud = "gcchigh"\ntenant = "from-profile"\nclient_id = "cid"\n'
        'client_secret = "s3cret-profile"\n'
    )
    env = {"HYBRIDSOA_TENANT": "from-env", "HYBRIDSOA_DEVICE_CODE": "true"}
    s = load_settings({"client_secret": "s3cret-arg"}, env=env, profile="lab", profile_file=str(prof))
    assert (s.cloud, s.tenant, s.client_id, s.client_secret, s.device_code) == (
        "gcchigh",
        "from-env",
        "cid",
        "s3cret-arg",
        True,
    )
    assert "s3cret" not in repr(s) and "s3cret" not in json.dumps(s.redacted())
    with pytest.raises(ConfigError):
        load_settings({}, env={}, profile="missing", profile_file=str(prof))


def test_credentials_repr_hides_secrets():
    c = Credentials(tenant="t", client_id="c", client_secret="hunter2", username="u", password="pw!")
    assert "hunter2" not in repr(c) and "pw!" not in repr(c)
    assert c.method == "password"
    assert Credentials(tenant="t", client_id="c", client_secret="x").method == "secret"
    with pytest.raises(ConfigError):
        _ = Credentials(tenant="t").method


def test_certificate_from_pem_and_pfx(tmp_path):
    from hybridsoa.mock.domain.entra import keys

    key = keys.private_key_pem("sdk-test")
    cert = keys.self_signed_certificate(key, "hybridsoa.sdk.test", 1_700_000_000)
    pem = tmp_path / "both.pem"
    pem.write_text(key + cert)
    cred = load_certificate(str(pem))
    assert len(cred["thumbprint"]) == 40 and "PRIVATE KEY" in cred["private_key"]
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    pfx = pkcs12.serialize_key_and_certificates(
        b"x",
        keys.load_private_key(key),
        x509.load_pem_x509_certificate(cert.encode()),
        None,
        BestAvailableEncryption(b"pfxpw"),
    )
    (tmp_path / "c.pfx").write_bytes(pfx)
    assert load_certificate(str(tmp_path / "c.pfx"), password="pfxpw")["thumbprint"] == cred["thumbprint"]


def test_decode_claims():
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"oid": "x", "wids": ["a"]}).encode()).decode().rstrip("=")
    assert decode_claims(f"h.{payload}.s") == {"oid": "x", "wids": ["a"]}
    assert decode_claims("garbage") == {}


def test_cli_usage_errors_exit_2(tmp_path, capsys, monkeypatch):
    for key in ("HYBRIDSOA_TENANT", "HYBRIDSOA_CLOUD", "HYBRIDSOA_MOCK_URL"):
        monkeypatch.delenv(key, raising=False)
    assert main([]) == 2
    assert main(["enable", "--concurrency", "x"]) == 2
    assert main(["status", "--checkpoint", str(tmp_path / "none.jsonl")]) == 2
    assert main(["inventory", "--cloud", "local"]) == 2  # local without --mock-url
    assert main(["inventory", "--cloud", "global"]) == 2  # no tenant
    assert "s3cret" not in capsys.readouterr().err


def test_cli_status_exit_codes(tmp_path, capsys):
    from hybridsoa.sdk.soa.checkpoint import Checkpoint

    path = str(tmp_path / "cp.jsonl")
    cp = Checkpoint.open(path, {"operation": "enable", "target": True, "items": ["a", "b", "c"]})
    cp.finish({"identity": "a", "status": "changed"})
    cp.finish({"identity": "b", "status": "already"})
    cp.close()
    assert main(["status", "--checkpoint", path, "--json"]) == 1  # c still pending
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"already": 1, "changed": 1, "pending": 1}
    cp = Checkpoint.open(path, {"operation": "enable", "target": True})
    cp.finish({"identity": "c", "status": "silently_ignored"})
    cp.close()
    assert main(["status", "--checkpoint", path]) == 1  # silently ignored counts as failed
