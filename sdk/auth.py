"""Sign-in through MSAL only: client secret, certificate (PEM or PFX), device code and username/password, with a
token cache. The same code signs in to real Entra tenants and to the mock; only the :class:`Cloud` differs
(``instance_discovery=False`` for the local cloud alone, as MSAL needs for a non-Microsoft authority)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msal

from .clouds import Cloud
from .errors import AuthError, ConfigError
from .transport import Transport, VerifyingHttpClient

log = logging.getLogger("hybridsoa.sdk.auth")

#: Public client id of the Exchange Online PowerShell module, used for delegated sign-in when none is given.
EXO_MODULE_CLIENT_ID = "fb78d390-0c51-40cd-8e17-fdbfab77341b"


@dataclass(repr=False)
class Credentials:
    """What to sign in with. Exactly one method is used, chosen in this order: username/password (delegated;
    through a confidential client when a client secret is also given), certificate, client secret, device code.
    Secrets never appear in ``repr``."""

    tenant: str
    client_id: str | None = None
    client_secret: str | None = None
    certificate_path: str | None = None
    certificate_pem: str | None = None
    private_key_pem: str | None = None
    certificate_password: str | None = None
    username: str | None = None
    password: str | None = None
    device_code: bool = False
    token_cache_path: str | None = None
    #: Called with the device-code prompt text (default: printed to stderr).
    device_code_prompt: Callable[[str], None] | None = field(default=None)

    @property
    def method(self) -> str:
        """``certificate``, ``secret``, ``password`` or ``device_code``."""
        if self.username and self.password:
            return "password"
        if self.certificate_path or self.private_key_pem:
            return "certificate"
        if self.client_secret:
            return "secret"
        if self.device_code:
            return "device_code"
        raise ConfigError(
            "no credential configured: give a client secret, a certificate, username/password or --device-code"
        )

    @property
    def is_app_only(self) -> bool:
        """True for client credentials (secret/certificate without a user)."""
        return self.method in ("certificate", "secret") and not self.username

    def __repr__(self) -> str:
        shown = {
            "tenant": self.tenant,
            "client_id": self.client_id,
            "username": self.username,
            "certificate_path": self.certificate_path,
        }
        secrets = {
            k: "***"
            for k in ("client_secret", "password", "certificate_password", "private_key_pem")
            if getattr(self, k)
        }
        return f"Credentials({', '.join(f'{k}={v!r}' for k, v in {**shown, **secrets}.items() if v)})"


def _thumbprint_sha1(cert_pem: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()  # noqa: S324 - x5t


def load_certificate(
    path: str | None = None, *, password: str | None = None, cert_pem: str | None = None, key_pem: str | None = None
) -> dict:
    """MSAL ``client_credential`` for a certificate: a PEM file holding key and certificate, a PFX/PKCS#12 file,
    or the two PEM strings. The assertion is signed RS256 with the SHA-1 ``x5t`` that Entra accepts."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    if path:
        raw = Path(path).read_bytes()
        if path.lower().endswith((".pfx", ".p12")) or not raw.lstrip().startswith(b"-----"):
            key, cert, _extra = pkcs12.load_key_and_certificates(raw, password.encode() if password else None)
            if key is None or cert is None:
                raise ConfigError(f"{path}: the PFX holds no private key and certificate")
            key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        else:
            text = raw.decode()
            key_pem = key_pem or _pem_block(text, "PRIVATE KEY")
            cert_pem = cert_pem or _pem_block(text, "CERTIFICATE")
            if key_pem and password and "ENCRYPTED" in key_pem:
                key = serialization.load_pem_private_key(key_pem.encode(), password.encode())
                key_pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ).decode()
    if not key_pem or not cert_pem:
        raise ConfigError("a certificate credential needs both the private key and the certificate")
    return {"private_key": key_pem, "thumbprint": _thumbprint_sha1(cert_pem), "public_certificate": cert_pem}


def _pem_block(text: str, label: str) -> str | None:
    import re

    m = re.search(rf"-----BEGIN ([A-Z ]*{label})-----.*?-----END \1-----", text, re.S)
    return m.group(0) + "\n" if m else None


def decode_claims(token: str) -> dict:
    """The (unverified) payload of a JWT access token: used only to read our own ``oid``/``roles``/``wids``."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


class TokenProvider:
    """Gets (and caches) access tokens for ``exchange`` and ``graph`` in one cloud via MSAL."""

    def __init__(self, cloud: Cloud, credentials: Credentials, transport: Transport):
        self.cloud = cloud
        self.credentials = credentials
        self.transport = transport
        self._lock = threading.RLock()
        self._cache = msal.SerializableTokenCache()
        if credentials.token_cache_path and os.path.exists(credentials.token_cache_path):
            with open(credentials.token_cache_path, encoding="utf-8") as fh:
                self._cache.deserialize(fh.read())
        try:
            self._app = self._build_app()
        except ValueError as exc:
            # MSAL validates the authority (OIDC discovery) when the app is built: an unknown tenant lands here.
            raise self._authority_error(exc) from None
        self._last_claims: dict[str, dict] = {}

    def _authority_error(self, exc: Exception) -> AuthError:
        """The Entra error behind a failed authority discovery (``tenant 'x' not found (AADSTS90002)``)."""
        authority = self.cloud.authority(self.credentials.tenant).rstrip("/")
        try:
            resp = self.transport.session.get(
                f"{authority}/v2.0/.well-known/openid-configuration",
                verify=self.transport.verify,
                timeout=self.transport.timeout,
            )
            body = resp.json() if resp.content else {}
        except Exception:  # noqa: BLE001 - only used to name the cause; MSAL's own message is the fallback
            body = {}
        codes = body.get("error_codes") or [] if isinstance(body, dict) else []
        if 90002 in codes:
            return AuthError(
                f"tenant '{self.credentials.tenant}' not found (AADSTS90002)",
                error=body.get("error"),
                error_codes=codes,
            )
        desc = (body.get("error_description") or "").splitlines()[0] if isinstance(body, dict) else ""
        return AuthError(
            desc or f"sign-in authority {authority} refused: {str(exc).splitlines()[0]}",
            error=(body or {}).get("error") if isinstance(body, dict) else None,
            error_codes=codes,
        )

    def _build_app(self):
        c, cloud = self.credentials, self.cloud
        method = c.method
        kwargs = {
            "authority": cloud.authority(c.tenant),
            "token_cache": self._cache,
            "http_client": VerifyingHttpClient(self.transport, origin=cloud.login_url if cloud.is_local else None),
        }
        if cloud.is_local:
            # Only the local mock needs this: instance discovery would ask login.microsoftonline.com about it.
            kwargs["instance_discovery"] = False
        # CP1: this client answers continuous-access-evaluation claims challenges, so a revoked session fails fast
        # with a challenge (handled by the transport) instead of living on until the token expires.
        kwargs["client_capabilities"] = ["CP1"]
        if method == "certificate":
            cred = load_certificate(
                c.certificate_path,
                password=c.certificate_password,
                cert_pem=c.certificate_pem,
                key_pem=c.private_key_pem,
            )
            return msal.ConfidentialClientApplication(self._client_id(), client_credential=cred, **kwargs)
        if method == "secret":
            return msal.ConfidentialClientApplication(self._client_id(), client_credential=c.client_secret, **kwargs)
        if method == "password" and c.client_secret and c.client_id:
            # Resource-owner password through a confidential client (the app's secret authenticates the app).
            return msal.ConfidentialClientApplication(c.client_id, client_credential=c.client_secret, **kwargs)
        return msal.PublicClientApplication(c.client_id or EXO_MODULE_CLIENT_ID, **kwargs)

    def _client_id(self) -> str:
        if not self.credentials.client_id:
            raise ConfigError("a client id is required for app-only sign-in")
        return self.credentials.client_id

    def _persist(self) -> None:
        path = self.credentials.token_cache_path
        if path and self._cache.has_state_changed:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self._cache.serialize())

    def token(self, api: str, force_refresh: bool = False, claims_challenge: str | None = None) -> str:
        """A bearer token for ``api`` (``exchange``/``graph``); ``force_refresh`` skips cached access tokens;
        ``claims_challenge`` (the decoded ``claims`` of a CAE ``insufficient_claims`` challenge) is passed to MSAL
        so the new token satisfies it."""
        scope = self.cloud.scope_for(api)
        with self._lock:
            result = self._acquire([scope], force_refresh or bool(claims_challenge), claims_challenge)
            if not result or "access_token" not in result:
                err = (result or {}).get("error") or "no_token"
                desc = ((result or {}).get("error_description") or "MSAL returned no token").splitlines()[0]
                codes = (result or {}).get("error_codes") or []
                if 90002 in codes:
                    raise AuthError(
                        f"tenant '{self.credentials.tenant}' not found (AADSTS90002)", error=err, error_codes=codes
                    )
                # Entra's description starts "AADSTSnnnn: text"; show it as "text (AADSTSnnnn, error)".
                code, _, text = desc.partition(": ")
                line = f"{text} ({code}, {err})" if code.startswith("AADSTS") and text else f"{desc} ({err})"
                raise AuthError(f"sign-in failed: {line}", error=err, error_codes=codes)
            self._persist()
            token = result["access_token"]
            self._last_claims[api] = decode_claims(token)
            return token

    def _acquire(self, scopes: list[str], force_refresh: bool, claims: str | None = None) -> dict | None:
        c, app = self.credentials, self._app
        method = c.method
        if method in ("certificate", "secret"):
            if force_refresh:
                # A list first: removing entries while iterating the cache's own search changes the dict under it.
                for at in list(self._cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=scopes)):
                    self._cache.remove_at(at)
            return app.acquire_token_for_client(scopes=scopes, claims_challenge=claims)
        accounts = app.get_accounts(username=c.username) if c.username else app.get_accounts()
        if accounts:
            result = app.acquire_token_silent_with_error(
                scopes, account=accounts[0], force_refresh=force_refresh, claims_challenge=claims
            )
            if result and "access_token" in result:
                return result
        if method == "password":
            return app.acquire_token_by_username_password(
                c.username, c.password, scopes=scopes, claims_challenge=claims
            )
        flow = app.initiate_device_flow(scopes=scopes, claims_challenge=claims)
        if "user_code" not in flow:
            return flow
        prompt = c.device_code_prompt or (lambda text: print(text, file=sys.stderr, flush=True))
        prompt(flow.get("message") or f"Enter code {flow['user_code']} at {flow.get('verification_uri')}")
        return app.acquire_token_by_device_flow(flow)

    def claims(self, api: str) -> dict:
        """Claims of the current token for ``api`` (fetching one if needed)."""
        if api not in self._last_claims:
            self.token(api)
        return self._last_claims[api]

    def auth_for(self, api: str) -> Callable[..., str]:
        """A ``(force_refresh, claims_challenge=None) -> token`` callable for the transport."""
        return lambda force=False, claims=None: self.token(api, force_refresh=force, claims_challenge=claims)
