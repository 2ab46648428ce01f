"""The Graph error envelope (``{"error": {"code", "message", "innerError": {date, request-id,
client-request-id}}}``) and the one place domain errors become Graph codes and statuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import g, jsonify, request

from ....domain.bounds import MAX_ECHO, clip
from ....domain.entra.tokens import peek_claims
from ....domain.errors import DomainError, Throttled
from ...common import bearer_token, registry

#: domain error kind -> (HTTP status, Graph error code)
_CODES = {
    "NotFound": (404, "Request_ResourceNotFound"),
    "InvalidArgument": (400, "Request_BadRequest"),
    "BadRequest": (400, "Request_BadRequest"),
    "Conflict": (400, "Request_BadRequest"),
    "UnknownParameter": (400, "BadRequest"),
    "SyncedObjectReadOnly": (400, "Request_BadRequest"),
    "WriteScope": (400, "Request_BadRequest"),
    "Unauthenticated": (401, "InvalidAuthenticationToken"),
    "Forbidden": (403, "Authorization_RequestDenied"),
    "NotImplemented": (501, "notImplemented"),
    "Throttled": (429, "TooManyRequests"),
}

#: Reasons from token verification -> the message Graph shows for them.
_TOKEN_MESSAGES = {
    "missing_token": "Access token is empty.",
    "invalid_audience": "Access token validation failure. Invalid audience.",
    "expired": "Lifetime validation failed, the token is expired.",
    "invalid_signature": "Access token validation failure.",
    "invalid_token": "IDX14100: JWT is not well formed.",
    "invalid_tenant": "Access token validation failure. Invalid issuer or tenant.",
}


class GraphError(Exception):
    """An error the wire layer raises directly in Graph's own terms (status, code, message)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def request_id() -> str:
    """This request's ``request-id`` (one per HTTP request, echoed in headers and innerError)."""
    rid = g.get("graph_request_id")
    if rid is None:
        rid = g.graph_request_id = str(uuid.uuid4())
    return rid


def client_request_id() -> str:
    """The caller's ``client-request-id`` if it sent one, else the request id (as Graph does)."""
    return clip(request.headers.get("client-request-id") or request_id())


def _request_tenant():
    """The tenant of this request: the authenticated one, else the one the bearer token names (routing errors
    such as 405 and the 501 catch-all answer before authentication, and must still use the tenant clock)."""
    tenant = g.get("graph_tenant")
    if tenant is not None:
        return tenant
    token = bearer_token()
    claims = peek_claims(token) if token else None
    tid = claims.get("tid") if isinstance(claims, dict) else None
    if isinstance(tid, str):
        try:
            return registry().find(tid)
        except (KeyError, RuntimeError):
            return None
    return None


def _now_iso() -> str:
    # Graph writes innerError.date without a zone designator ("2021-11-29T20:44:59"), in UTC.
    tenant = _request_tenant()
    if tenant is not None:
        return datetime.fromtimestamp(tenant.clock.now(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    # No token naming a known tenant: no tenant clock exists for this request.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    """Render the Graph error envelope."""
    body = {
        "error": {
            "code": code,
            "message": clip(message, 8 * MAX_ECHO),
            "innerError": {"date": _now_iso(), "request-id": request_id(), "client-request-id": client_request_id()},
        }
    }
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def www_authenticate(claims: str | None = None) -> dict:
    """The ``WWW-Authenticate`` challenge Graph sends with a 401; with ``claims``, the continuous access evaluation
    form (``error="insufficient_claims", claims="<base64>"``) clients answer with MSAL's ``claims_challenge``."""
    root = request.url_root.rstrip("/")
    value = (
        f'Bearer realm="", authorization_uri="{root}/common/oauth2/authorize", '
        f'client_id="00000003-0000-0000-c000-000000000000"'
    )
    if claims:
        value += f', error="insufficient_claims", claims="{claims}"'
    return {"WWW-Authenticate": value}


def render_domain_error(exc: DomainError):
    """Map a domain error onto Graph's status and code."""
    status, code = _CODES.get(exc.kind, (exc.status if exc.status < 500 else 400, "Request_BadRequest"))
    code = exc.details.get("code") or code
    message = exc.message
    headers = {}
    if exc.kind == "Unauthenticated":
        message = _TOKEN_MESSAGES.get(exc.details.get("reason"), exc.message)
        headers.update(www_authenticate(exc.details.get("claims")))
    if exc.kind == "Throttled":
        headers["Retry-After"] = str(exc.retry_after if isinstance(exc, Throttled) else 1)
        message = exc.message or "Too many requests"
    if exc.details.get("note"):  # the mock's own remark (e.g. "no public source") in its own header
        headers["x-hybridsoa-note"] = "".join(ch if " " <= ch <= "~" else " " for ch in exc.details["note"])
    return error_response(status, code, message, headers)
