"""RSA keys and X.509 certificates for tenants (token signing) and apps (certificate credentials).
Key generation is the slow part of creating a tenant, so keys are cached per process by seed material."""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import threading
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_lock = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _cached_key(material: str) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


#: Distinct keys per process. RSA generation is slow, so tenants draw from a pool; tokens still
#: cannot cross tenants because verification checks the ``tid`` claim and the app's own certificate.
KEY_POOL_SIZE = 64


def private_key_pem(material: str) -> str:
    """A PEM RSA-2048 private key from the process pool, the same one for the same ``material``."""
    slot = int(hashlib.sha256(material.encode()).hexdigest(), 16) % KEY_POOL_SIZE
    with _lock:
        return _cached_key(f"slot-{slot}").decode()


@functools.lru_cache(maxsize=1024)
def load_private_key(pem: str):
    """Load a PEM private key (cached: parsing and validating RSA keys costs tens of milliseconds)."""
    return serialization.load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)


@functools.lru_cache(maxsize=1024)
def load_public_key(pem: str):
    """Load a PEM public key (cached)."""
    return serialization.load_pem_public_key(pem.encode())


def self_signed_certificate(private_pem: str, common_name: str, not_before: float) -> str:
    """A self-signed certificate (PEM) for an app credential, valid two years from ``not_before``."""
    key = load_private_key(private_pem)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = _dt.datetime.fromtimestamp(not_before, tz=_dt.UTC) - _dt.timedelta(days=1)
    serial = int(hashlib.sha1(common_name.encode()).hexdigest()[:30], 16)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def thumbprints(cert_pem: str) -> tuple[str, str]:
    """(SHA-1, SHA-256) thumbprints of a PEM certificate, uppercase hex as Entra shows them."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def b64url(data: bytes) -> str:
    """Base64url without padding (JWK / x5t encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_for(private_pem: str, kid: str, cert_pem: str | None = None) -> dict:
    """The public JWK (``kty, use, kid, n, e`` and ``x5t``/``x5c`` when a certificate is given)."""
    pub = load_private_key(private_pem).public_key().public_numbers()
    n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
    e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
    jwk: dict[str, Any] = {"kty": "RSA", "use": "sig", "kid": kid, "n": b64url(n), "e": b64url(e)}
    if cert_pem:
        der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
        jwk["x5t"] = b64url(hashlib.sha1(der).digest())
        jwk["x5c"] = [base64.b64encode(der).decode()]
    return jwk
