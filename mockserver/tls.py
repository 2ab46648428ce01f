"""HTTPS for the mock: a local certificate authority and a server certificate under the data directory, and
a ``requests`` session that pins that CA on every request (MSAL refuses non-https authorities)."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
#: The HTTPS proxy's certificate (every emulated Microsoft host name) and the CA bundle users point
#: REQUESTS_CA_BUNDLE/SSL_CERT_FILE at (see mockserver/proxy.py).
PROXY_FILE = "proxy.pem"
PROXY_KEY_FILE = "proxy-key.pem"
CA_BUNDLE_FILE = "ca-bundle.pem"

#: Names every server certificate covers; the bind host and ``--san`` values are added to these.
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")

CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the local CA certificate and of the server certificate and key signed by it."""

    ca: Path
    cert: Path
    key: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context for these files (TLS 1.2 or newer)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def _now() -> _dt.datetime:
    # Certificates live in real time, not on a tenant clock: clients check them against their wall clock.
    return _dt.datetime.now(tz=_dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256 rather than RSA: generation is instant and every TLS client we care about accepts it.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _create_ca(directory: Path) -> None:
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hybridsoa"),
            x509.NameAttribute(NameOID.COMMON_NAME, "hybridsoa local CA"),
        ]
    )
    start = _now() - _dt.timedelta(days=1)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / CA_KEY_FILE, _key_pem(key))
    _write_public(directory / CA_FILE, cert.public_bytes(serialization.Encoding.PEM))


def _san_entries(names) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def _create_server_cert(
    directory: Path, names: list[str], cert_file: str = SERVER_FILE, key_file: str = SERVER_KEY_FILE
) -> None:
    ca_cert = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    ca_key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
    key = _new_key()
    start = _now() - _dt.timedelta(days=1)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hybridsoa"), x509.NameAttribute(NameOID.COMMON_NAME, names[0])]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(_san_entries(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(directory / key_file, _key_pem(key))
    _write_public(directory / cert_file, cert.public_bytes(serialization.Encoding.PEM))


def _server_cert_usable(
    directory: Path, names: list[str], cert_file: str = SERVER_FILE, key_file: str = SERVER_KEY_FILE
) -> bool:
    cert_path, key_path = directory / cert_file, directory / key_file
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca_cert = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    except ValueError:
        return False
    if cert.issuer != ca_cert.subject:
        return False
    if cert.not_valid_after_utc < _now() + _dt.timedelta(days=7):
        return False
    return set(names) <= _cert_names(cert)


def ensure_tls(data_dir: str | os.PathLike, hosts: list[str] | tuple[str, ...] = ()) -> TlsFiles:
    """Create (first start) or reuse ``<data-dir>/ca.pem``, ``ca-key.pem``, ``server.pem``, ``server-key.pem``.
    The server certificate covers localhost, 127.0.0.1 and ::1 plus ``hosts``; it is re-issued by the same CA
    when a host is missing or it nears expiry, so a CA a user already trusts keeps working."""
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    names = list(DEFAULT_NAMES)
    for host in hosts:
        host = host.strip("[]")
        if host and host not in names and host not in ("0.0.0.0", "::"):
            names.append(host)
    if not ((directory / CA_FILE).exists() and (directory / CA_KEY_FILE).exists()):
        _create_ca(directory)
        _create_server_cert(directory, names)
    elif not _server_cert_usable(directory, names):
        _create_server_cert(directory, names)
    return TlsFiles(
        ca=(directory / CA_FILE).resolve(),
        cert=(directory / SERVER_FILE).resolve(),
        key=(directory / SERVER_KEY_FILE).resolve(),
    )


def ensure_proxy_tls(data_dir: str | os.PathLike, names: list[str] | tuple[str, ...]) -> TlsFiles:
    """Create once, then reuse, ``<data-dir>/proxy.pem`` and ``proxy-key.pem``: one certificate for every
    Microsoft host name the HTTPS proxy answers for, issued by the same local CA as the server certificate."""
    files = ensure_tls(data_dir)
    directory = Path(data_dir)
    wanted = [n.lower() for n in names]
    if not _server_cert_usable(directory, wanted, PROXY_FILE, PROXY_KEY_FILE):
        _create_server_cert(directory, wanted, PROXY_FILE, PROXY_KEY_FILE)
    return TlsFiles(ca=files.ca, cert=(directory / PROXY_FILE).resolve(), key=(directory / PROXY_KEY_FILE).resolve())


def ensure_ca_bundle(data_dir: str | os.PathLike) -> Path:
    """``<data-dir>/ca-bundle.pem``: the local CA followed by certifi's public roots, for
    ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` (those variables replace the default roots, so the public ones stay
    in the bundle for every other host the client talks to). Rewritten only when its content would change."""
    import certifi

    files = ensure_tls(data_dir)
    content = files.ca.read_bytes().rstrip(b"\n") + b"\n" + Path(certifi.where()).read_bytes()
    path = Path(data_dir) / CA_BUNDLE_FILE
    if not path.exists() or path.read_bytes() != content:
        _write_public(path, content)
    return path.resolve()


def ca_path(data_dir: str | os.PathLike) -> Path:
    """Where the CA certificate of a data directory lives (``hybridsoa-mock ca``)."""
    return (Path(data_dir) / CA_FILE).resolve()


class CaPinnedSession(requests.Session):
    """A ``requests.Session`` that verifies TLS against one CA bundle on every request.

    ``requests`` lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override ``Session.verify`` (the environment
    wins over session settings when a request passes no ``verify`` of its own), which is exactly how MSAL
    applies ``verify=<ca.pem>``. Passing ``verify`` per request, as this class does, cannot be overridden.
    Hand it to MSAL as ``http_client=CaPinnedSession(ca, origin=base_url)``.

    With ``origin`` (``https://127.0.0.1:8443``), a request to the same host without a port is sent to that
    origin: MSAL builds its user-realm discovery URL (``/common/userrealm/...``, before the password grant)
    from the authority's host name alone and so drops a non-default port.
    """

    def __init__(self, ca: str | os.PathLike | bool, origin: str | None = None):
        super().__init__()
        self.pinned_verify = str(ca) if not isinstance(ca, bool) else ca
        self.verify = self.pinned_verify
        self.origin = urlsplit(origin) if origin else None

    def _retarget(self, url: str) -> str:
        if self.origin is None or not isinstance(url, str):
            return url
        parts = urlsplit(url)
        if (
            parts.scheme == self.origin.scheme
            and parts.port is None
            and parts.hostname
            and parts.hostname == self.origin.hostname
            and self.origin.port is not None
        ):
            return urlunsplit(parts._replace(netloc=self.origin.netloc))
        return url

    def request(self, method, url, *args, **kwargs):
        """Send with ``verify`` forced to the pinned CA unless the caller chose a specific bundle."""
        if kwargs.get("verify") in (None, True):
            kwargs["verify"] = self.pinned_verify
        return super().request(method, self._retarget(url), *args, **kwargs)
