"""The Microsoft identity platform v2.0 token service of one tenant (login.microsoftonline.com): client
authentication by secret or certificate assertion, the resource-owner password grant, the device
authorization grant (codes in ``device_codes``), refresh tokens and OpenID discovery documents; the AADSTS
errors are in ``entra_errors``."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt

from ..clock import iso
from . import keys, roles
from .device_codes import device_code_response
from .errors import (
    EntraError,
    app_not_found,
    bad_assertion,
    bad_secret,
    invalid_grant,
    missing_parameter,
    no_client_credential,
    public_client_with_credential,
)
from .first_party import is_first_party
from .tokens import api_for_scope, client_capabilities, issue_access_token, sessions_valid_from

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OIDC_SCOPES = ("openid", "profile", "offline_access", "email")
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
REFRESH_AUDIENCE = "urn:hybridsoa:refresh-token"


# --------------------------------------------------------------------------------------------- scopes
@dataclass
class ScopeRequest:
    """A parsed ``scope`` parameter: one resource api, its permissions, and the OpenID Connect scopes."""

    api: str
    resource: str
    permissions: list[str]
    oidc: list[str] = field(default_factory=list)
    is_default: bool = False

    def scope_string(self) -> str:
        """The ``scope`` field of a token response: Graph uses short names, other resources full URIs."""
        if self.api == "graph":
            granted = list(self.permissions)
        else:
            granted = [f"{self.resource}/{p}" for p in self.permissions]
        if self.is_default:
            # A /.default request is echoed next to the granted scopes (as the v2.0 endpoint does): MSAL caches
            # the access token under the response's scopes, so without it every silent call would refresh.
            granted.append(f"{self.resource}/.default")
        return " ".join(granted + [s for s in self.oidc if s != "offline_access"])


def parse_scopes(raw: str | None, *, app_only: bool, tenant) -> ScopeRequest:
    """Parse ``scope`` the way Entra does for the v2.0 endpoint (one resource per request)."""
    if raw is None or not raw.strip():
        raise missing_parameter("scope")
    items = raw.split()
    oidc = [s for s in items if s in OIDC_SCOPES]
    resource_scopes = [s for s in items if s not in OIDC_SCOPES]
    if app_only and (len(resource_scopes) != 1 or not resource_scopes[0].endswith("/.default")):
        offending = " ".join(resource_scopes) or raw
        raise EntraError(
            1002012,
            "invalid_scope",
            f"The provided value for scope {offending} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier (application ID "
            "URI).",
        )
    if not resource_scopes:
        return ScopeRequest("graph", "https://graph.microsoft.com", ["User.Read"], oidc)
    apis, permissions, is_default = set(), [], False
    resource_uri = None
    for scope in resource_scopes:
        if "/" not in scope:
            # Bare permission names ("User.Read") belong to Microsoft Graph, as on the real service.
            apis.add("graph")
            resource_uri = resource_uri or "https://graph.microsoft.com"
            permissions.append(scope)
            continue
        api = api_for_scope(scope)
        if api is None:
            resource = scope.rsplit("/", 1)[0] if scope.count("/") >= 3 else scope
            raise EntraError(
                500011,
                "invalid_resource",
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant.name}. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You might have "
                "sent your authentication request to the wrong tenant.",
            )
        apis.add(api)
        resource_uri = resource_uri or scope.rsplit("/", 1)[0]
        permission = scope.rsplit("/", 1)[1]
        if permission == ".default":
            is_default = True
        elif permission:
            permissions.append(permission)
    if len(apis) > 1:
        raise EntraError(
            28000,
            "invalid_scope",
            "Provided value for the input parameter scope is not valid because "
            "it contains more than one resource. Scope "
            f"{' '.join(resource_scopes)} is not valid.",
        )
    api = apis.pop()
    if is_default:
        permissions = list(roles.DEFAULT_DELEGATED_SCOPES.get(api, [])) + list(permissions)
    if resource_uri and resource_uri.count("/") < 2:
        resource_uri = {"exchange": "https://outlook.office365.com", "graph": "https://graph.microsoft.com"}[api]
    return ScopeRequest(api, resource_uri.rstrip("/"), list(dict.fromkeys(permissions)), oidc, is_default)


# ------------------------------------------------------------------------------------ client authentication
def find_client(tenant, client_id: str | None):
    """The app registration a request names by ``client_id`` (AADSTS900144 / AADSTS700016 otherwise).

    Any seeded app may act as a public client for the password and device-code grants: the mock does not model
    the "Allow public client flows" switch (docs/fidelity.md). Microsoft's first-party public clients (Azure CLI,
    Graph Command Line Tools, Exchange Online PowerShell) are known in every tenant (``first_party``)."""
    if not client_id:
        raise missing_parameter("client_id")
    app = tenant.app_by_client_id(client_id.strip().lower()) or tenant.app_by_client_id(client_id.strip())
    if app is None:
        raise app_not_found(tenant, client_id)
    return app


def _thumbprint_b64(hex_thumbprint: str) -> str:
    return keys.b64url(bytes.fromhex(hex_thumbprint))


def _assertion_audience_ok(tenant, aud) -> bool:
    # The host is not compared: clients reach the mock under many names (127.0.0.1, localhost, a proxy).
    audiences = aud if isinstance(aud, list) else [aud]
    keys_ = {tenant.id.lower(), tenant.domain.lower(), tenant.name.lower()}
    for value in audiences:
        if not isinstance(value, str):
            continue
        parts = [p for p in urlsplit(value).path.lower().split("/") if p]
        if (
            len(parts) >= 2
            and parts[0] in keys_
            and parts[1:] in (["oauth2", "v2.0", "token"], ["oauth2", "token"], ["v2.0"])
        ):
            return True
    return False


def verify_client_assertion(tenant, app, assertion: str) -> None:
    """Check a certificate client assertion: RS256 with ``x5t`` (SHA-1) or PS256 with ``x5t#S256`` (SHA-256)
    naming the app's certificate, signed by its key, ``iss`` = ``sub`` = client id, ``aud`` = token endpoint."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise bad_assertion("JWT token is invalid or malformed.", code=50027) from None
    alg = header.get("alg")
    if alg not in ("RS256", "PS256"):
        raise bad_assertion(f"The client assertion uses an unsupported signing algorithm '{alg}'.", code=5002738)
    presented = header.get("x5t#S256") or header.get("x5t")
    expected = {_thumbprint_b64(app.thumbprint), _thumbprint_b64(app.thumbprint_sha256)}
    # Clients differ in base64 flavour (MSAL pads, others do not); the thumbprint bytes are what count.
    normalized = presented.replace("+", "-").replace("/", "_").rstrip("=") if isinstance(presented, str) else None
    if not normalized or normalized not in expected:
        raise bad_assertion(
            "Client assertion contains an invalid signature. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{presented or ''}', Please visit the Azure Portal, "
            "Graph Explorer or directly use MS Graph to see configured keys for app Id "
            f"'{app.app_id}'.]"
        )
    public_key = keys.load_public_key(_public_pem_of_cert(app.certificate_pem))
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=[alg],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        raise bad_assertion("Client assertion failed signature validation.") from None
    except jwt.PyJWTError:
        raise bad_assertion("JWT token is invalid or malformed.", code=50027) from None
    if claims.get("iss") != app.app_id or claims.get("sub") != app.app_id:
        raise bad_assertion(
            "Client assertion application identifier doesn't match 'client_id' parameter. Review "
            "the documentation at https://learn.microsoft.com/entra/identity-platform/"
            "certificate-credentials .",
            code=700021,
        )
    if not _assertion_audience_ok(tenant, claims.get("aud")):
        raise bad_assertion(
            "Client assertion audience claim does not match Realm issuer. Review the documentation "
            "at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            code=700023,
        )
    if not isinstance(claims.get("exp"), (int, float)):
        raise bad_assertion("Client assertion is missing the 'exp' claim.", code=700024)


def _public_pem_of_cert(cert_pem: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return (
        cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def authenticate_confidential(tenant, form: dict, *, required: bool):
    """Identify the client and check its secret or certificate assertion. With ``required`` False (public
    flows) a client that sends neither is accepted as a public client."""
    app = find_client(tenant, form.get("client_id"))
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if is_first_party(app) and ((secret is not None and secret != "") or assertion):
        raise public_client_with_credential()
    if secret is not None and secret != "":
        if secret != app.client_secret:
            raise bad_secret(app)
    elif assertion:
        assertion_type = form.get("client_assertion_type")
        if assertion_type != CLIENT_ASSERTION_TYPE:
            raise EntraError(
                50027 if assertion_type else 900144,
                "invalid_request",
                "The request body must contain the following parameter: 'client_assertion_type'."
                if not assertion_type
                else f"Invalid client_assertion_type '{assertion_type}'.",
            )
        verify_client_assertion(tenant, app, assertion)
    elif required:
        raise no_client_credential()
    return app


# ------------------------------------------------------------------------------------------- users
def check_password(tenant, username: str | None, password: str | None):
    """The resource-owner password credentials check (ROPC): the user must exist, be enabled, match."""
    if not username:
        raise missing_parameter("username")
    if password is None or password == "":
        raise missing_parameter("password")
    user = tenant.user_by_upn(username.strip())
    if user is None:
        raise invalid_grant(
            50034,
            f"The user account {{EUII Hidden}} does not exist in the {tenant.domain} "
            "directory. To sign into this application, the account must be added to the "
            "directory.",
        )
    if not user.account_enabled:
        raise invalid_grant(50057, "The user account is disabled.")
    if user.password is None or password != user.password:
        raise invalid_grant(50126, "Error validating credentials due to invalid username or password.")
    return user


# --------------------------------------------------------------------------------------------- tokens
def _sign(tenant, claims: dict) -> str:
    headers = {"kid": tenant.signing_kid, "x5t": tenant.signing_kid, "typ": "JWT"}
    return jwt.encode(claims, keys.load_private_key(tenant.signing_key_pem), algorithm="RS256", headers=headers)


def issuer(tenant, base: str) -> str:
    """The v2.0 issuer of this tenant as served by the mock (``<base>/<tenant id>/v2.0``)."""
    return f"{base.rstrip('/')}/{tenant.id}/v2.0"


def _lifetime(tenant) -> int:
    value = tenant.settings.get("tokenLifetimeSeconds", 3599)
    return int(value) if isinstance(value, (int, float)) and value > 0 else 3599


def app_token_response(tenant, app, scopes: ScopeRequest, capabilities: list[str] | None = None) -> dict:
    """Client-credentials answer: an app-only access token (``roles``), no refresh or id token."""
    token, lifetime = issue_access_token(
        tenant, scopes.api, app=app, lifetime=_lifetime(tenant), capabilities=capabilities
    )
    return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}


def user_token_response(
    tenant, app, user, scopes: ScopeRequest, *, base: str, client_info: bool, capabilities: list[str] | None = None
) -> dict:
    """Delegated answer (password, device code, refresh token): access token with ``scp``, plus refresh token,
    id token and ``client_info`` as MSAL expects them to build its account cache."""
    token, lifetime = issue_access_token(
        tenant,
        scopes.api,
        app=app,
        user=user,
        scopes=scopes.permissions,
        lifetime=_lifetime(tenant),
        capabilities=capabilities,
    )
    now = int(tenant.clock.now())
    body = {
        "token_type": "Bearer",
        "scope": scopes.scope_string(),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }
    if "offline_access" in scopes.oidc:
        body["refresh_token"] = _sign(
            tenant,
            {
                "aud": REFRESH_AUDIENCE,
                "iss": issuer(tenant, base),
                "tid": tenant.id,
                "oid": user.id,
                "appid": app.app_id,
                "iat": now,
                "exp": now + REFRESH_TOKEN_LIFETIME,
                "uti": tenant.ids.hex(12),
            },
        )
    if "openid" in scopes.oidc:
        body["id_token"] = _sign(
            tenant,
            {
                "aud": app.app_id,
                "iss": issuer(tenant, base),
                "iat": now,
                "nbf": now,
                "exp": now + lifetime,
                "name": user.display_name,
                "oid": user.id,
                "preferred_username": user.user_principal_name,
                "sub": keys.b64url(f"{user.id}:{app.app_id}".encode())[:43],
                "tid": tenant.id,
                "ver": "2.0",
                "uti": tenant.ids.hex(12),
                "rh": "0.mock.",
            },
        )
    if client_info:
        body["client_info"] = keys.b64url(
            json.dumps({"uid": user.id, "utid": tenant.id}, separators=(",", ":")).encode()
        )
    return body


def redeem_refresh_token(tenant, app, refresh_token: str | None):
    """The user a refresh token was issued to (same tenant, same client), or ``invalid_grant``."""
    if not refresh_token:
        raise missing_parameter("refresh_token")
    try:
        claims = jwt.decode(
            refresh_token,
            keys.load_public_key(tenant.signing_public_pem),
            algorithms=["RS256"],
            audience=REFRESH_AUDIENCE,
            options={"verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise invalid_grant(9002313, "Invalid request. Request is malformed or invalid.") from None
    if claims.get("tid") != tenant.id or claims.get("appid") != app.app_id:
        raise invalid_grant(70000, "Provided grant is invalid or malformed.")
    if tenant.clock.now() >= claims.get("exp", 0):
        raise invalid_grant(700082, "The refresh token has expired due to inactivity.")
    user = tenant.users.get(claims.get("oid", ""))
    if user is None or user.deleted_date_time is not None:
        raise invalid_grant(50034, f"The user account {{EUII Hidden}} does not exist in the {tenant.domain} directory.")
    if not user.account_enabled:
        raise invalid_grant(50057, "The user account is disabled.")
    revoked_at = sessions_valid_from(user)
    if revoked_at is not None and claims.get("iat", 0) < int(revoked_at):
        # revokeSignInSessions invalidates refresh tokens issued before it (AADSTS50173).
        raise invalid_grant(
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token "
            "is needed. The user might have changed or reset their password.",
        )
    return user


def grant_token(tenant, form: dict, *, base: str):
    """``POST /{tenant}/oauth2/v2.0/token``: dispatch on ``grant_type`` and answer with the token response."""
    grant = form.get("grant_type")
    if not grant:
        raise missing_parameter("grant_type")
    want_client_info = str(form.get("client_info", "")) == "1"
    caps = client_capabilities(form.get("claims"))
    if grant == "client_credentials":
        app = authenticate_confidential(tenant, form, required=True)
        return app_token_response(tenant, app, parse_scopes(form.get("scope"), app_only=True, tenant=tenant), caps)
    if grant == "password":
        app = authenticate_confidential(tenant, form, required=False)
        scopes = parse_scopes(form.get("scope"), app_only=False, tenant=tenant)
        user = check_password(tenant, form.get("username"), form.get("password"))
        return user_token_response(
            tenant, app, user, scopes, base=base, client_info=want_client_info, capabilities=caps
        )
    if grant in (DEVICE_CODE_GRANT, "device_code"):
        app = authenticate_confidential(tenant, form, required=False)
        user, flow = tenant.device_flows.redeem(form.get("device_code") or form.get("code"), app.app_id)
        scopes = parse_scopes(form.get("scope") or flow.scope, app_only=False, tenant=tenant)
        return user_token_response(
            tenant, app, user, scopes, base=base, client_info=want_client_info, capabilities=caps
        )
    if grant == "refresh_token":
        app = authenticate_confidential(tenant, form, required=False)
        user = redeem_refresh_token(tenant, app, form.get("refresh_token"))
        scopes = parse_scopes(form.get("scope") or "openid profile offline_access", app_only=False, tenant=tenant)
        return user_token_response(
            tenant, app, user, scopes, base=base, client_info=want_client_info, capabilities=caps
        )
    raise EntraError(70003, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant}'.")


def start_device_flow(tenant, form: dict, *, verification_uri: str) -> dict:
    """``POST /{tenant}/oauth2/v2.0/devicecode``: check client and scope, then issue codes."""
    app = find_client(tenant, form.get("client_id"))
    scope = form.get("scope")
    parse_scopes(scope, app_only=False, tenant=tenant)
    flow = tenant.device_flows.start(app, scope)
    return device_code_response(flow, verification_uri)


# ----------------------------------------------------------------------------------------- discovery
#: Entra's instance discovery metadata (``/common/discovery/instance``, api-version 1.1) as captured from
#: login.microsoftonline.com: one entry per cloud, the host to call, the host tokens are cached under and aliases.
INSTANCE_METADATA = (
    {
        "preferred_network": "login.microsoftonline.com",
        "preferred_cache": "login.windows.net",
        "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
    },
    {
        "preferred_network": "login.partner.microsoftonline.cn",
        "preferred_cache": "login.partner.microsoftonline.cn",
        "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    },
    {
        "preferred_network": "login.microsoftonline.de",
        "preferred_cache": "login.microsoftonline.de",
        "aliases": ["login.microsoftonline.de"],
    },
    {
        "preferred_network": "login.microsoftonline.us",
        "preferred_cache": "login.microsoftonline.us",
        "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"],
    },
    {
        "preferred_network": "login-us.microsoftonline.com",
        "preferred_cache": "login-us.microsoftonline.com",
        "aliases": ["login-us.microsoftonline.com"],
    },
)
_KNOWN_INSTANCES = frozenset(alias for entry in INSTANCE_METADATA for alias in entry["aliases"])


def instance_discovery(authorization_endpoint: str | None) -> dict:
    """``GET /common/discovery/instance?api-version=1.1&authorization_endpoint=...`` (what MSAL calls before
    trusting an authority): the tenant's OpenID metadata URL on the endpoint's host and every cloud's aliases;
    a host that is not a Microsoft sign-in instance is AADSTS50049 ``invalid_instance``."""
    try:
        parts = urlsplit(authorization_endpoint or "")
        scheme, host, port = parts.scheme, (parts.hostname or "").lower(), parts.port
    except ValueError:  # an unparsable URL or port is no instance either
        parts, scheme, host, port = None, "", "", None
    if parts is None or scheme != "https" or host not in _KNOWN_INSTANCES or port not in (None, 443):
        raise EntraError(50049, "invalid_instance", "Unknown or invalid instance.")
    segments = [s for s in parts.path.split("/") if s]
    tenant = segments[0] if segments else "common"
    # A v2.0 authorize endpoint gets the v2.0 metadata document, the v1 one the v1 document.
    version = "/v2.0" if "v2.0" in segments[1:] else ""
    return {
        "tenant_discovery_endpoint": f"https://{host}/{tenant}{version}/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [dict(entry, aliases=list(entry["aliases"])) for entry in INSTANCE_METADATA],
    }


def openid_configuration(tenant, base: str) -> dict:
    """``/{tenant}/v2.0/.well-known/openid-configuration`` with every endpoint on the mock's own origin."""
    return openid_document(base, tenant.id, issuer(tenant, base), "NA")


def openid_document(base: str, tid: str, issuer_: str, region: str | None) -> dict:
    """The v2.0 OpenID metadata with every endpoint under ``{base}/{tid}`` (a tenant id or an authority name)."""
    base = base.rstrip("/")
    return {
        "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer_,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{base}/{tid}/kerberos",
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


@functools.lru_cache(maxsize=256)
def _signing_certificate(private_pem: str, domain: str) -> str:
    return keys.self_signed_certificate(private_pem, f"accounts.{domain}", 0.0)


def jwks(tenant) -> dict:
    """``/{tenant}/discovery/v2.0/keys``: the tenant's token-signing key, ``kid`` as in token headers."""
    cert = _signing_certificate(tenant.signing_key_pem, tenant.domain)
    jwk = keys.jwk_for(tenant.signing_key_pem, tenant.signing_kid, cert)
    jwk["x5t"] = tenant.signing_kid
    jwk["issuer"] = f"https://login.microsoftonline.com/{tenant.id}/v2.0"
    return {"keys": [jwk]}


def user_realm(registry, username: str) -> dict:
    """``/common/userrealm/{username}``: every mock tenant is a managed (cloud-authenticated) domain."""
    domain = username.rsplit("@", 1)[-1].lower() if "@" in username else ""
    tenant = registry.find(domain) if domain else None
    if tenant is None:
        return {"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"}
    return {
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": tenant.domain,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }


def error_payload(err: EntraError, *, now: float, trace_id: str, correlation_id: str) -> dict:
    """Entra's error JSON: ``error``, ``error_description`` (with trace/correlation/timestamp lines),
    ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``."""
    stamp = (iso(now) or "").replace("T", " ")
    description = f"{err.message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}"
    return {
        "error": err.error,
        "error_description": description,
        "error_codes": [err.aadsts],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={err.aadsts}",
    }
