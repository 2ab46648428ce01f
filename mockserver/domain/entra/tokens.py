"""Access tokens as Microsoft Entra issues them for Exchange Online and Microsoft Graph (v1.0 access tokens,
RS256, signed by the tenant's key) and their verification on the tenant clock."""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import jwt

from ..errors import Forbidden, Unauthenticated
from . import keys, roles

TOKEN_LIFETIME = 3599
#: Graph's error message when continuous access evaluation refuses a token issued before the user's sessions were
#: revoked (learn.microsoft.com/entra/identity/conditional-access/concept-continuous-access-evaluation; the same
#: text is quoted in azure-sdk and msgraph-sdk issues about CAE challenges).
CAE_REVOKED_MESSAGE = (
    "Continuous access evaluation resulted in challenge with result: InteractionRequired and "
    "code: TokenIssuedBeforeRevocationTimestamp"
)
#: Client capability a client declares (MSAL ``client_capabilities=["CP1"]``) to receive CAE challenges.
CAE_CAPABILITY = "cp1"

#: api name -> the audience value put in tokens for it.
AUDIENCE = {"exchange": "https://outlook.office365.com", "graph": "https://graph.microsoft.com"}
#: api name -> every audience accepted when verifying (resource URI forms and the resource app id).
ACCEPTED_AUDIENCES = {
    "exchange": [
        "https://outlook.office365.com",
        "https://outlook.office365.com/",
        "https://outlook.office.com",
        roles.EXCHANGE_RESOURCE_APP_ID,
    ],
    "graph": ["https://graph.microsoft.com", "https://graph.microsoft.com/", roles.GRAPH_RESOURCE_APP_ID],
}


@dataclass
class Caller:
    """Who is calling, as established from a verified access token."""

    tenant_id: str
    app_id: str
    #: "app" (client credentials) or "user" (delegated).
    kind: str
    #: oid: the service principal id for apps, the user's object id for users.
    object_id: str
    user_principal_name: str | None = None
    roles: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    wids: list[str] = field(default_factory=list)
    claims: dict = field(default_factory=dict)

    @property
    def is_app(self) -> bool:
        """True for app-only (client credentials) callers."""
        return self.kind == "app"

    @property
    def name(self) -> str:
        """A human label for audit records and the journal."""
        return self.user_principal_name or f"app:{self.app_id}"

    def describe(self) -> dict:
        """Caller facts for audit records (no secrets). One dict per caller, shared by its records: treat it as
        read-only."""
        described = self.__dict__.get("_described")
        if described is None:
            described = self.__dict__["_described"] = {
                "kind": self.kind,
                "appId": self.app_id,
                "objectId": self.object_id,
                "userPrincipalName": self.user_principal_name,
            }
        return described


def api_for_scope(scope: str) -> str | None:
    """Map a requested scope (``https://graph.microsoft.com/.default``, ``https://outlook.office365.com/Exchange.Manage``)
    to an api name, or None when the resource is unknown."""
    resource = scope.strip()
    for suffix in ("/.default",):
        if resource.endswith(suffix):
            resource = resource[: -len(suffix)]
            break
    else:
        if resource.startswith("https://") and resource.count("/") >= 3:
            resource = resource.rsplit("/", 1)[0]
    return roles.RESOURCES.get(resource.rstrip("/")) or roles.RESOURCES.get(resource)


def claims_challenge(not_before: int) -> str:
    """The base64 ``claims`` value of a CAE challenge: a new token must be issued at or after ``not_before``
    (the shape Entra sends: ``{"access_token":{"nbf":{"essential":true,"value":"<epoch>"}}}``)."""
    doc = {"access_token": {"nbf": {"essential": True, "value": str(int(not_before))}}}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def client_capabilities(claims_param: str | None) -> list[str]:
    """The ``xms_cc`` values a token request declares in its ``claims`` parameter (MSAL's client capabilities)."""
    try:
        doc: Any = json.loads(claims_param) if claims_param else None
        values = doc["access_token"]["xms_cc"]["values"]
    except (ValueError, TypeError, KeyError):
        return []
    return [str(v) for v in values] if isinstance(values, list) else []


def sessions_valid_from(user) -> float | None:
    """When the user's sign-in sessions were last revoked (Graph ``signInSessionsValidFromDateTime``), or None."""
    from ..clock import parse_iso

    stamp = user.extra.get("signInSessionsValidFromDateTime")
    try:
        return parse_iso(stamp) if stamp else None
    except ValueError:
        return None


def issue_access_token(
    tenant,
    api: str,
    *,
    app,
    user=None,
    scopes: list[str] | None = None,
    lifetime: int = TOKEN_LIFETIME,
    capabilities: list[str] | None = None,
) -> tuple[str, int]:
    """Mint an access token for ``api`` ("exchange"|"graph"): app-only when ``user`` is None (``roles`` claim),
    delegated otherwise (``scp`` claim). ``wids`` carries the principal's directory roles in effect now;
    ``xms_cc`` the client capabilities the request declared (CP1: the client handles CAE claims challenges)."""
    now = int(tenant.clock.now())
    principal = user.id if user is not None else app.service_principal_id
    claims = {
        "aud": AUDIENCE[api],
        "iss": f"https://sts.windows.net/{tenant.id}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "tid": tenant.id,
        "oid": principal,
        "sub": principal,
        "appid": app.app_id,
        "azp": app.app_id,
        "appidacr": "1",
        "ver": "1.0",
        "uti": tenant.ids.hex(12),
        "rh": "0.mock.",
        "wids": tenant.active_role_ids(principal),
    }
    if capabilities:
        claims["xms_cc"] = list(capabilities)
    if user is None:
        claims["idtyp"] = "app"
        claims["roles"] = sorted(app.app_roles)
    else:
        claims["idtyp"] = "user"
        claims["scp"] = " ".join(scopes or roles.DEFAULT_DELEGATED_SCOPES.get(api, []))
        claims["upn"] = user.user_principal_name
        claims["unique_name"] = user.user_principal_name
        claims["name"] = user.display_name
    headers = {"kid": tenant.signing_kid, "x5t": tenant.signing_kid, "typ": "JWT"}
    token = jwt.encode(claims, keys.load_private_key(tenant.signing_key_pem), algorithm="RS256", headers=headers)
    return token, lifetime


@functools.lru_cache(maxsize=8192)
def _unverified(token: str):
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def peek_claims(token: str | None) -> dict | None:
    """Claims of a JWT without verifying it (journal labels, throttling keys); None when it is not a JWT.
    Cached: PyJWT's decoding is the dominant cost of a small request, and clients reuse one token for an hour."""
    if not token or len(token) > 16_384:
        return None
    claims = _unverified(token)
    return dict(claims) if claims is not None else None


@functools.lru_cache(maxsize=8192)
def _verified(public_pem: str, token: str, api: str) -> dict:
    return jwt.decode(
        token,
        keys.load_public_key(public_pem),
        algorithms=["RS256"],
        audience=ACCEPTED_AUDIENCES[api],
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )


#: Verified callers by (tenant, api, token, signing key): the signature, audience and tenant checks are pure
#: functions of those, and a client reuses one token for an hour. The time, app and user checks still run on every call.
_CALLERS: dict[tuple[str, str, str, str], Caller] = {}


def verify_access_token(tenant, token: str | None, api: str) -> Caller:
    """Verify signature, tenant, audience and lifetime (on the tenant clock); return the :class:`Caller`.
    Raises :class:`Unauthenticated` with a reason the wire layer can show."""
    if not token:
        raise Unauthenticated("Authentication failed: no access token was provided.", reason="missing_token")
    key = (tenant.id, api, token, tenant.signing_public_pem)  # a new signing key invalidates the entry
    caller = _CALLERS.get(key)
    if caller is None:
        caller = _verify_static(tenant, token, api)
        if len(_CALLERS) > 8192:  # bounded: tokens are client-supplied
            _CALLERS.clear()
        _CALLERS[key] = caller
    claims = caller.claims
    now = tenant.clock.now()
    if now >= claims.get("exp", 0):
        raise Unauthenticated("Lifetime validation failed, the token is expired.", reason="expired")
    if now + 300 < claims.get("nbf", 0):
        raise Unauthenticated("The token is not yet valid.", reason="not_yet_valid")
    if tenant.app_by_client_id(caller.app_id) is None:
        raise Unauthenticated("The application of this token no longer exists.", reason="unknown_app")
    if caller.kind == "user":
        user = tenant.users.get(caller.object_id)
        if user is None or user.deleted_date_time is not None or not user.account_enabled:
            raise Unauthenticated("The user of this token no longer exists or is disabled.", reason="unknown_user")
        revoked_at = sessions_valid_from(user)
        if (
            revoked_at is not None
            and claims.get("iat", 0) < int(revoked_at)
            and CAE_CAPABILITY in (str(c).lower() for c in claims.get("xms_cc") or ())
        ):
            # Continuous access evaluation: a CAE-capable client's token dies with the revocation and the client
            # is challenged for a new one; tokens of other clients live until they expire, as in Entra.
            raise Unauthenticated(CAE_REVOKED_MESSAGE, reason="revoked", claims=claims_challenge(int(revoked_at)))
    return caller


def _verify_static(tenant, token: str, api: str) -> Caller:
    try:
        # Signature and audience checks are pure functions of (key, token, api): cached.
        claims = dict(_verified(tenant.signing_public_pem, token, api))
    except jwt.InvalidAudienceError:
        raise Unauthenticated(
            "Invalid audience: the token was not issued for this resource.", reason="invalid_audience"
        ) from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("Invalid token signature.", reason="invalid_signature") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"The access token is malformed: {exc}.", reason="invalid_token") from None
    if claims.get("tid") != tenant.id:
        raise Unauthenticated("The token was issued for a different tenant.", reason="invalid_tenant")
    kind = "user" if claims.get("idtyp") == "user" or "scp" in claims else "app"
    return Caller(
        tenant_id=tenant.id,
        app_id=claims.get("appid", ""),
        kind=kind,
        object_id=claims.get("oid", ""),
        user_principal_name=claims.get("upn"),
        roles=list(claims.get("roles", [])),
        scopes=(claims.get("scp") or "").split(),
        wids=list(claims.get("wids", [])),
        claims=claims,
    )


def require_permission(caller: Caller, *permissions: str) -> None:
    """Raise :class:`Forbidden` unless the caller holds one of ``permissions`` (app role or delegated scope)."""
    held = set(caller.roles if caller.is_app else caller.scopes)
    if not held.intersection(permissions):
        raise Forbidden("Insufficient privileges to complete the operation.", required=list(permissions))
