"""The local CA and server certificate (hybridsoa.mock.tls), and the CA-pinned requests session."""

from __future__ import annotations

import ipaddress

import requests
from cryptography import x509

from hybridsoa.mock import tls


def _names(path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def test_first_start_creates_ca_and_server_certificate(tmp_path):
    files = tls.ensure_tls(tmp_path / "data")
    for name in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem"):
        assert (tmp_path / "data" / name).exists()
    assert files.ca == (tmp_path / "data" / "ca.pem").resolve()
    assert {"localhost", "127.0.0.1", "::1"} <= _names(files.cert)
    assert (files.key.stat().st_mode & 0o077) == 0


def test_server_certificate_is_signed_by_the_ca(tmp_path):
    files = tls.ensure_tls(tmp_path)
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_second_start_reuses_the_files(tmp_path):
    tls.ensure_tls(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    tls.ensure_tls(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_new_bind_host_reissues_server_certificate_with_the_same_ca(tmp_path):
    tls.ensure_tls(tmp_path)
    ca_before = (tmp_path / "ca.pem").read_bytes()
    files = tls.ensure_tls(tmp_path, ["mock.example.test", "10.1.2.3", "0.0.0.0"])
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    names = _names(files.cert)
    assert {"mock.example.test", "10.1.2.3", "localhost"} <= names
    assert "0.0.0.0" not in names
    assert all(ipaddress.ip_address(n) for n in names if n[0].isdigit())


def test_ca_path_names_the_ca_file(tmp_path):
    assert tls.ca_path(tmp_path) == (tmp_path / "ca.pem").resolve()


def test_pinned_session_passes_verify_on_every_request(monkeypatch):
    seen = {}

    def fake_request(self, method, url, *args, **kwargs):
        seen.update(kwargs, url=url)
        return "sent"

    monkeypatch.setattr(requests.Session, "request", fake_request)
    session = tls.CaPinnedSession("/tmp/ca.pem", origin="https://127.0.0.1:8443")
    assert session.get("https://127.0.0.1:8443/x") == "sent"
    assert seen["verify"] == "/tmp/ca.pem"
    session.request("GET", "https://127.0.0.1:8443/x", verify="/other.pem")
    assert seen["verify"] == "/other.pem"


def test_pinned_session_restores_the_port_msal_drops(monkeypatch):
    seen = {}
    monkeypatch.setattr(requests.Session, "request", lambda self, m, url, *a, **k: seen.update(url=url))
    session = tls.CaPinnedSession("/tmp/ca.pem", origin="https://127.0.0.1:8443")
    session.get("https://127.0.0.1/common/userrealm/a@b.onmicrosoft.com?api-version=1.0")
    assert seen["url"] == "https://127.0.0.1:8443/common/userrealm/a@b.onmicrosoft.com?api-version=1.0"
    session.get("https://login.microsoftonline.com/common/discovery/instance")
    assert seen["url"] == "https://login.microsoftonline.com/common/discovery/instance"
