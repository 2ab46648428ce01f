"""login.microsoftonline.com: OpenID configuration, JWKS, token and device code endpoints, user realm
discovery and a device login page, each answering in Entra's wire shapes (errors with AADSTS codes)."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

import jwt
from flask import Blueprint, jsonify, request
from markupsafe import escape

from ...domain.entra import authorities
from ...domain.entra import login as identity
from ...domain.entra.errors import EntraError, tenant_not_found
from ...domain.errors import DomainError
from ..common import find_tenant_running_due_cycles, registry

bp = Blueprint("identity", __name__)

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def _base() -> str:
    return request.host_url.rstrip("/")


def _correlation_id(fallback: str) -> str:
    # Entra echoes the client's client-request-id (MSAL sends one) as the correlation id.
    supplied = request.headers.get("client-request-id", "")
    return supplied if _GUID_RE.match(supplied) else fallback


def _entra_error(err: EntraError, tenant=None):
    """Render an :class:`EntraError` as Entra does: JSON body with AADSTS details, never cached."""
    if tenant is not None:  # held by the request (find_tenant_running_due_cycles)
        trace_id, fallback, now = tenant.ids.guid(), tenant.ids.guid(), tenant.clock.now()
    else:
        reg = registry()
        with reg.lock:
            trace_id, fallback = reg.ids.guid(), reg.ids.guid()
        from ...domain.clock import TenantClock

        now = TenantClock().now()
    body = identity.error_payload(err, now=now, trace_id=trace_id, correlation_id=_correlation_id(fallback))
    response = jsonify(body)
    response.status_code = err.status
    response.headers.update(_NO_STORE)
    response.headers["x-ms-request-id"] = trace_id
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="login.microsoftonline.com"'
    return response


def _form() -> dict:
    """Form fields of a token request, with HTTP Basic client credentials (client_secret_basic) merged in."""
    form = dict(request.form.items())
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            user, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, secret = "", ""
        form.setdefault("client_id", unquote(user))
        form.setdefault("client_secret", unquote(secret))
    return form


def _post_only(name: str):
    return _entra_error(
        EntraError(
            900561,
            "invalid_request",
            f"The endpoint only accepts POST requests. Received a {request.method} request to {name}.",
        )
    )


def _discovery_document(tenant_key: str, build, **not_found):
    """A tenant's ``build(tenant)`` document as Entra serves discovery: cacheable for a day, readable cross-origin;
    an unknown tenant is AADSTS90002."""
    tenant = find_tenant_running_due_cycles(tenant_key)
    if tenant is None:
        return _entra_error(tenant_not_found(tenant_key, **not_found))
    body = build(tenant)
    response = jsonify(body)
    response.headers["Cache-Control"] = "max-age=86400, private"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _cacheable(body):
    response = jsonify(body)
    response.headers["Cache-Control"] = "max-age=86400, private"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _loaded_tenants(hint: str | None = None, client_id: str | None = None) -> list:
    """Every tenant in memory, in creation order, after loading the recovered tenants not loaded yet that
    ``hint`` names or whose app registrations hold ``client_id`` (the index's cards list their app ids)."""
    reg = registry()
    if hint:
        reg.find(hint)
    return reg.loaded_with_client(client_id)


@bp.get("/<tenant_key>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant_key: str):
    """OpenID Connect discovery for a tenant addressed by id or ``*.onmicrosoft.com`` domain, or for the
    ``common``/``organizations``/``consumers`` authorities."""
    if authorities.is_audience_authority(tenant_key):
        return _cacheable(authorities.audience_openid_configuration(tenant_key, _base()))
    return _discovery_document(
        tenant_key, lambda tenant: identity.openid_configuration(tenant, _base()), error="invalid_tenant"
    )


@bp.get("/<tenant_key>/discovery/v2.0/keys")
@bp.get("/<tenant_key>/discovery/keys")
def signing_keys(tenant_key: str):
    """JWKS: the public key the tenant signs access and id tokens with (every tenant's on ``common``)."""
    if authorities.is_audience_authority(tenant_key) and tenant_key.lower() != authorities.CONSUMERS:
        # Every tenant's keys, a tenant not loaded since a restart from its card in the store's index.
        return _cacheable(authorities.audience_jwks([card.signing_keys or [] for card in registry().cards(keys=True)]))
    return _discovery_document(tenant_key, identity.jwks)


def _oauth_post(tenant_key: str, name: str, work):
    """The frame of the POST-only ``/oauth2/v2.0/{name}`` endpoints: other methods get AADSTS900561, an unknown
    tenant AADSTS90002; ``work(tenant, form) -> (body, headers)`` runs under the tenant lock, and a domain error it
    raises is answered as an Entra error; answers are never cached."""
    if request.method != "POST":
        return _post_only(f"/{tenant_key}/oauth2/v2.0/{name}")
    form = _form()
    if authorities.is_audience_authority(tenant_key):
        try:
            tenant_key = _resolve_audience(tenant_key, name, form)
        except EntraError as err:
            return _entra_error(err)
    tenant = find_tenant_running_due_cycles(tenant_key)
    if tenant is None:
        return _entra_error(tenant_not_found(tenant_key))
    try:
        body, headers = work(tenant, form)
    except EntraError as err:
        return _entra_error(err, tenant)
    except DomainError as err:
        return _entra_error(EntraError(90014, "invalid_request", err.message), tenant)
    response = jsonify(body)
    response.headers.update(_NO_STORE)
    response.headers.update(headers)
    return response


def _resolve_audience(authority: str, name: str, form: dict) -> str:
    """The id of the tenant a ``common``/``organizations`` token request resolves to (from its user)."""
    username, refresh = form.get("username") or "", form.get("refresh_token") or ""
    hint = username.rsplit("@", 1)[-1] if "@" in username else None
    if hint is None and refresh and form.get("grant_type") == "refresh_token":
        try:
            hint = jwt.decode(refresh, options={"verify_signature": False}).get("tid")
        except jwt.PyJWTError:
            hint = None
        hint = hint if isinstance(hint, str) else None
    # The app's tenants matter to a device code request and to /consumers' refusal; a sign-in needs its user's.
    by_app = name == "devicecode" or authority.lower() == authorities.CONSUMERS
    tenants = _loaded_tenants(hint, form.get("client_id") if by_app else None)
    if name == "devicecode":
        return authorities.tenants_for_audience_device_flow(tenants, authority, form)[0].id
    return authorities.tenant_for_audience_token(tenants, authority, form).id


@bp.route("/<tenant_key>/oauth2/v2.0/token", methods=["GET", "POST"])
def token(tenant_key: str):
    """The v2.0 token endpoint: client_credentials, password, device_code and refresh_token grants."""

    def grant(tenant, form):
        body = identity.grant_token(tenant, form, base=_base())
        return body, {"x-ms-request-id": tenant.ids.guid()}

    return _oauth_post(tenant_key, "token", grant)


@bp.route("/<tenant_key>/oauth2/v2.0/devicecode", methods=["GET", "POST"])
def devicecode(tenant_key: str):
    """The device authorization endpoint (RFC 8628 §3.1)."""
    audience = authorities.is_audience_authority(tenant_key)

    def start(tenant, form):
        if audience:  # the code is offered in every tenant holding the app; the user's sign-in picks one
            holders = authorities.tenants_for_audience_device_flow(
                _loaded_tenants(client_id=form.get("client_id")), tenant_key, form
            )
            return authorities.start_audience_device_flow(holders, form, verification_uri=f"{_base()}/devicelogin"), {}
        return identity.start_device_flow(tenant, form, verification_uri=f"{_base()}/devicelogin"), {}

    return _oauth_post(tenant_key, "devicecode", start)


@bp.route("/<tenant_key>/oauth2/v2.0/authorize", methods=["GET", "POST"])
@bp.route("/<tenant_key>/oauth2/v2.0/logout", methods=["GET", "POST"])
def interactive_not_emulated(tenant_key: str):
    """Interactive sign-in (authorization code flow, logout) is not emulated: a well-formed 501."""
    body = {
        "error": "not_implemented",
        "error_description": "The hybridsoa mock does not emulate interactive sign-in (authorization code "
        "flow). Use client credentials, username/password or the device code flow.",
        "error_codes": [],
        "error_uri": "https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow",
    }
    response = jsonify(body)
    response.status_code = 501
    return response


@bp.get("/common/discovery/instance")
def instance_discovery():
    """Entra's instance discovery (MSAL's authority validation): aliases per cloud and the tenant's metadata URL;
    cacheable for a day like the other discovery documents; an unknown instance is AADSTS50049."""
    try:
        body = identity.instance_discovery(request.args.get("authorization_endpoint"))
    except EntraError as err:
        return _entra_error(err)
    response = jsonify(body)
    response.headers["Cache-Control"] = "max-age=86400, private"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/common/userrealm/<path:username>")
def user_realm(username: str):
    """Home realm discovery MSAL calls before the password grant: every mock domain is Managed."""
    return jsonify(identity.user_realm(registry(), username))


_LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>hybridsoa device sign-in</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>Device sign-in (hybridsoa mock)</h1><p>{message}</p>
<form method="post"><label>Code <input name="user_code" value="{code}" autocomplete="off"></label><br><br>
<label>User <input name="username" value="{username}" placeholder="globaladmin@contoso.onmicrosoft.com"></label><br><br>
<label>Password <input name="password" type="password"></label><br><br>
<button type="submit">Sign in</button></form></body></html>"""


@bp.route("/devicelogin", methods=["GET", "POST"])
def devicelogin():
    """The verification page (microsoft.com/devicelogin): sign in with a seeded user to approve a code."""
    if request.method == "GET":
        return _LOGIN_PAGE.format(
            message="Enter the code shown by your application.", code=escape(request.args.get("code", "")), username=""
        )
    code = (request.form.get("user_code") or "").strip().upper()
    username = (request.form.get("username") or "").strip()
    domain = username.rsplit("@", 1)[-1] if "@" in username else ""
    tenant = find_tenant_running_due_cycles(domain) if domain else None
    message, status = "Signed in. You can close this window and return to your application.", 200
    if tenant is None:
        message, status = "We couldn't find an account with that username.", 400
    else:
        try:
            identity.check_password(tenant, username, request.form.get("password"))
            tenant.device_flows.approve(code, username)
        except EntraError:
            message, status = "Your account or password is incorrect.", 400
        except DomainError as err:
            message, status = f"That code didn't work: {err.message}", 400
    page = _LOGIN_PAGE.format(message=escape(message), code=escape(code), username=escape(username))
    return page, status, {"Content-Type": "text/html; charset=utf-8"}
