"""The multi-tenant authorities of the Microsoft identity platform (``login.microsoftonline.com/common``,
``/organizations`` and ``/consumers``): Entra resolves the tenant from the signing-in user (the UPN's domain, the
device code's approver, the refresh token's tenant), and refuses what needs a tenant-specific endpoint."""

from __future__ import annotations

import jwt

from .errors import EntraError, invalid_grant, missing_parameter
from .login import DEVICE_CODE_GRANT, openid_document, start_device_flow

#: The authorities that name an audience rather than a tenant (``/common``, ``/organizations``): Entra resolves
#: the tenant from the signing-in user. ``/consumers`` is the Microsoft-account tenant, which the mock's work
#: tenants and their apps are never part of.
MULTI_TENANT_AUTHORITIES = ("common", "organizations")
CONSUMERS = "consumers"
#: The tenant id of Microsoft accounts, as ``/consumers`` metadata names it in its issuer.
CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"


def is_audience_authority(key: str) -> bool:
    """Whether the first path segment is ``common``, ``organizations`` or ``consumers`` (not a tenant)."""
    return key.lower() in MULTI_TENANT_AUTHORITIES + (CONSUMERS,)


def audience_openid_configuration(authority: str, base: str) -> dict:
    """``/{common|organizations}/v2.0/.well-known/openid-configuration``: endpoints under the authority and the
    issuer with Entra's literal ``{tenantid}`` placeholder (tokens carry the resolved tenant's); ``/consumers``
    names the Microsoft-account tenant in its issuer."""
    authority = authority.lower()
    tid = CONSUMERS_TENANT_ID if authority == CONSUMERS else "{tenantid}"
    return openid_document(base, authority, f"{base.rstrip('/')}/{tid}/v2.0", None)


def audience_jwks(key_sets) -> dict:
    """``/{common|organizations}/discovery/v2.0/keys``: the signing keys of every tenant behind the authority
    (``key_sets``: each tenant's JWKs, as ``/{tenant}/discovery/v2.0/keys`` lists them)."""
    found: dict[str, dict] = {}
    for keys in key_sets:
        for jwk in keys:
            # Entra's /common and /organizations key sets name the placeholder issuer, as their metadata does.
            found.setdefault(jwk["kid"], dict(jwk, issuer="https://login.microsoftonline.com/{tenantid}/v2.0"))
    return {"keys": list(found.values())}


def _tenants_with_client(tenants, client_id: str | None) -> list:
    if not client_id:
        raise missing_parameter("client_id")
    wanted = client_id.strip().lower()
    return [t for t in tenants if t.app_by_client_id(wanted) or t.app_by_client_id(client_id.strip())]


def _consumers_refusal(tenants, client_id: str | None) -> EntraError:
    """AADSTS90130 for a work-only app on ``/consumers`` (every mock app is one); an unknown client id is
    AADSTS700016 in the Microsoft-account directory."""
    holders = _tenants_with_client(tenants, client_id)
    if not holders:
        return EntraError(
            700016,
            "unauthorized_client",
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{CONSUMERS_TENANT_ID}'. This can happen if the application has not been installed by "
            "the administrator of the tenant or consented to by any user in the tenant. You may have "
            "sent your authentication request to the wrong tenant.",
        )
    wanted = (client_id or "").strip()
    app = holders[0].app_by_client_id(wanted.lower()) or holders[0].app_by_client_id(wanted)
    return EntraError(
        90130,
        "invalid_request",
        f"Application '{app.app_id}' ({app.name}) is not supported over the /common or /consumers "
        "endpoints. Please use the /organizations or tenant-specific endpoint.",
    )


def tenant_of_username(tenants, username: str | None):
    """The tenant whose verified domain is the UPN's domain (how Entra routes a password sign-in made on
    ``/common`` or ``/organizations``); AADSTS50034 when no tenant has that domain."""
    if not username:
        raise missing_parameter("username")
    domain = username.strip().rsplit("@", 1)[-1].lower() if "@" in username else ""
    tenant = next((t for t in tenants if domain and t.domain.lower() == domain), None)
    if tenant is None:
        raise invalid_grant(
            50034,
            "The user account {EUII Hidden} does not exist in the "
            f"{domain or username.strip()} directory. To sign into this application, the "
            "account must be added to the directory.",
        )
    return tenant


def _tenant_of_device_code(tenants, device_code: str | None):
    """The tenant a device code was approved in (the user's), else one holding it, to answer the RFC 8628 state."""
    if not device_code:
        raise missing_parameter("device_code")
    for tenant in tenants:
        flow = tenant.device_flows.by_device.get(device_code)
        if flow is not None:
            approver = getattr(flow, "tenant_id", None)
            return next((t for t in tenants if t.id == approver), tenant) if approver else tenant
    raise invalid_grant(70000, "The provided value for the 'device_code' parameter is not valid.")


def _tenant_of_refresh_token(tenants, refresh_token: str | None):
    """The tenant a refresh token names in ``tid`` (its signature is then checked by that tenant)."""
    if not refresh_token:
        raise missing_parameter("refresh_token")
    try:
        tid = jwt.decode(refresh_token, options={"verify_signature": False}).get("tid")
    except jwt.PyJWTError:
        tid = None
    tenant = next((t for t in tenants if t.id == tid), None)
    if tenant is None:
        raise invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")
    return tenant


def tenant_for_audience_token(tenants, authority: str, form: dict):
    """``POST /{common|organizations}/oauth2/v2.0/token``: the tenant Entra resolves the request to, from the
    user (password: the UPN's domain; device code: where the user approved it; refresh token: its tenant).
    Client credentials name no user: AADSTS50059. ``/consumers`` refuses work apps (AADSTS90130)."""
    tenants = list(tenants)
    if authority.lower() == CONSUMERS:
        raise _consumers_refusal(tenants, form.get("client_id"))
    grant = form.get("grant_type")
    if not grant:
        raise missing_parameter("grant_type")
    if grant == "client_credentials":
        raise EntraError(
            50059,
            "invalid_request",
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        )
    if grant == "password":
        return tenant_of_username(tenants, form.get("username"))
    if grant in (DEVICE_CODE_GRANT, "device_code"):
        return _tenant_of_device_code(tenants, form.get("device_code") or form.get("code"))
    if grant == "refresh_token":
        return _tenant_of_refresh_token(tenants, form.get("refresh_token"))
    raise EntraError(70003, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant}'.")


def tenants_for_audience_device_flow(tenants, authority: str, form: dict) -> list:
    """``POST /{common|organizations}/oauth2/v2.0/devicecode``: the tenants holding the client id (the code is
    offered to each; the user's sign-in picks one); none is AADSTS700016, ``/consumers`` AADSTS90130."""
    tenants = list(tenants)
    if authority.lower() == CONSUMERS:
        raise _consumers_refusal(tenants, form.get("client_id"))
    holders = _tenants_with_client(tenants, form.get("client_id"))
    if not holders:
        raise EntraError(
            700016,
            "unauthorized_client",
            f"Application with identifier '{form.get('client_id')}' was not found in the directory "
            f"'{authority.lower()}'. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You may have sent "
            "your authentication request to the wrong tenant.",
        )
    return holders


def start_audience_device_flow(holders: list, form: dict, *, verification_uri: str) -> dict:
    """Issue a device code in the first tenant holding the app and offer the same code in the others, so the
    tenant is the one the user signs in to at the verification page (or is approved in on the control plane)."""
    anchor = holders[0]
    body = start_device_flow(anchor, form, verification_uri=verification_uri)
    flow = anchor.device_flows.by_device[body["device_code"]]
    for other in holders[1:]:
        # Plain dict stores (atomic under the GIL): the other tenants' locks are not taken, so two requests
        # can never wait on each other's tenants.
        other.device_flows.by_device.setdefault(flow.device_code, flow)
        other.device_flows.by_user.setdefault(flow.user_code, flow)
    return body
