"""Cross-cutting request hooks for every emulated API (Entra login, Exchange admin API, Graph): the tenant
lock held across the whole request, throttling and fault rules decided before dispatch (a rejected request
changes nothing), the request journal, and the durable flush that runs before the response leaves.

:func:`begin` takes the lock of the tenant a request names (``tenant_hold.py``); everything after it (the route,
the domain, :func:`finish`) runs under it until :func:`release`. Flask calls these hooks for every route; the Exchange
pipeline (``exchange/endpoints.py``) calls them itself for InvokeCommand and ``$batch``, which never enter Flask."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify, request

from ..domain.clock import iso
from ..domain.entra.tokens import peek_claims
from ..domain.journal import redact
from ..domain.tenant import Tenant
from . import tenant_hold
from .exchange.calls import COMMAND_KEY
from .exchange.calls import body_of as exchange_body_of

_EXCHANGE = re.compile(r"^/adminapi/[^/]+/([^/]+)(/.*)?$", re.IGNORECASE)
_GRAPH = re.compile(r"^/(v1\.0|beta)(/.*)?$")
_IDENTITY = re.compile(r"^/([^/_][^/]*)/(oauth2|v2\.0|discovery|\.well-known)(/.*)?$")
_CONTROL = re.compile(r"^/_mock/tenants/([^/]+)(/.*)?$")

#: Exchange error codes per status, for injected faults (the OData error envelope of wire-formats 1.5).
_EXO_FAULT = {
    429: (
        "TooManyRequests",
        "Microsoft.Exchange.Admin.OData.Core.ThrottlingException",
        "The request was throttled. Retry after the time in the Retry-After header.",
    ),
    500: (
        "InternalServerError",
        "Microsoft.Exchange.Data.Storage.TransientException",
        "An internal server error occurred. The operation failed; try again later.",
    ),
    502: (
        "BadGateway",
        "Microsoft.Exchange.Admin.OData.Core.ProxyException",
        "The backend server returned an invalid response.",
    ),
    503: (
        "ServiceUnavailable",
        "Microsoft.Exchange.Data.Storage.ServerUnavailableException",
        "The service is temporarily unavailable. Try again later.",
    ),
    504: ("GatewayTimeout", "System.TimeoutException", "The operation has timed out."),
}
#: Graph error codes per status (learn.microsoft.com/graph/errors; 502/504 codes are low confidence).
_GRAPH_FAULT = {
    429: ("TooManyRequests", "Too many requests. Retry after the time in the Retry-After header."),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("badGateway", "The gateway received an invalid response from the backend service."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Try again later."),
    504: ("gatewayTimeout", "The backend service did not respond in time."),
}


@dataclass(slots=True)
class RequestFacts:
    """What the hooks learned about a request before dispatch (api, tenant, caller, cmdlet...)."""

    api: str
    tenant_key: str | None
    path: str
    sub_path: str = ""
    cmdlet: str | None = None
    parameters: dict | None = None
    query: dict | None = None
    app_id: str | None = None
    user: str | None = None
    grant_type: str | None = None
    #: Whether the request may change the tenant, from the registration of the cmdlets it names (Exchange).
    writes: bool = False
    #: The write changes only objects and audit records (``register_cmdlet(..., rows_only=True)``).
    rows_only: bool = False


def install(app: Flask) -> None:
    """Register the before/after/teardown hooks on the app."""
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)


# --------------------------------------------------------------------------------------------- classify
def classify(req) -> RequestFacts | None:
    """Which emulated API and tenant a werkzeug request is for (None for the dashboard, health and other paths)."""
    path = req.path
    if path.startswith("/_mock"):
        m = _CONTROL.match(path)
        return RequestFacts(api="control", tenant_key=m.group(1), path=path, sub_path=m.group(2) or "") if m else None
    m = _EXCHANGE.match(path)
    if m:
        facts = RequestFacts(api="exchange", tenant_key=m.group(1), path=path, sub_path=m.group(2) or "")
        _read_bearer(facts, req.environ)
        body = exchange_body_of(req)  # parsed once: the handler runs this same call
        facts.cmdlet, facts.parameters, facts.writes = body.journal_cmdlet, body.journal_parameters, body.writes
        facts.rows_only = body.rows_only
        return facts
    m = _GRAPH.match(path)
    if m:
        facts = RequestFacts(api="graph", tenant_key=None, path=path, sub_path=m.group(2) or "/")
        facts.tenant_key = _read_bearer(facts, req.environ)
        facts.query = redact(dict(req.args.items()))
        return facts
    m = _IDENTITY.match(path)
    if m and m.group(1).lower() not in ("common", "organizations", "consumers", "adminapi"):
        facts = RequestFacts(
            api="identity", tenant_key=m.group(1), path=path, sub_path="/" + m.group(2) + (m.group(3) or "")
        )
        if req.method == "POST":
            form = req.form
            facts.app_id = form.get("client_id") or None
            facts.user = form.get("username") or None
            facts.grant_type = form.get("grant_type") or None
            facts.parameters = redact(form.to_dict())
        return facts
    return None


def _read_bearer(facts: RequestFacts, environ: dict) -> str | None:
    # Decoded without verification only to key buckets and label the journal (the wire layer verifies); the
    # answer is the token's tenant id, which Graph paths carry in no URL.
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    labels = _bearer_labels(token.strip())
    if labels is None:
        return None
    facts.app_id, facts.user, tid = labels
    return tid


@functools.lru_cache(maxsize=4096)
def _bearer_labels(token: str) -> tuple[str | None, str | None, str | None] | None:
    # (app id, user, tenant id) of a token, decoded once per token (clients reuse one for an hour). Any claim may
    # be junk in a forged token: strings only, so bad input cannot break the hooks.
    claims = peek_claims(token)
    if claims is None:
        return None
    return (
        _text(claims.get("appid")) or _text(claims.get("azp")),
        _text(claims.get("upn")) or _text(claims.get("unique_name")),
        _text(claims.get("tid")),
    )


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------------------------ hooks
class RequestState:
    """What the hooks carry from before-request to after-request and teardown (kept in the WSGI environ:
    one lookup instead of a context-local proxy access per field on every request)."""

    __slots__ = ("command", "decision", "facts", "started", "tenant", "time")

    def __init__(self, started: float, facts: RequestFacts | None):
        self.started, self.facts = started, facts
        self.tenant = self.time = self.decision = self.command = None


_STATE = "hybridsoa.request"


def begin(req, registry) -> tuple[RequestState, tuple | None]:
    """Before dispatch: classify the request, take the tenant lock (held until :func:`release`) and decide
    throttling and faults. Returns the state and, for a refused request, its ``(status, body, headers)``.
    ``req`` is a werkzeug request (Flask's, or the Exchange pipeline's own)."""
    facts = classify(req)
    state = req.environ[_STATE] = RequestState(time.perf_counter(), facts)
    if facts is None or not facts.tenant_key:
        return state, None
    if facts.api == "control" and not facts.sub_path and req.method == "DELETE":
        return state, None  # a delete needs no tenant loaded (one not loaded since a restart is deleted unloaded)
    tenant = registry.find(facts.tenant_key)
    # Held until release: the whole request (faults, catch-up timers, the handler, the journal, the durable
    # flush) is one unit, and nothing below takes the lock again.
    while tenant is not None:
        tenant_hold.hold(req.environ, tenant)
        if not tenant.deleted:
            break
        # Deleted or replaced (reset, restore) while this request waited for its lock: the tenant now under
        # that name, if any, is the one it is about.
        tenant_hold.release_all(req.environ)
        tenant = registry.find(facts.tenant_key)
    if tenant is None:
        return state, None
    state.tenant = tenant
    state.time = tenant.clock.now()
    decision = None
    # Identity faults and buckets apply to the token/device-code POSTs, not to discovery documents.
    if facts.api in ("exchange", "graph") or (facts.api == "identity" and req.method == "POST"):
        decision = tenant.faults.check(
            facts.api, method=req.method, path=facts.sub_path, cmdlet=facts.cmdlet, app_id=facts.app_id, user=facts.user
        )
    state.decision = decision
    if decision is not None and decision.latency_ms:
        tenant_hold.sleep_unlocked(tenant, decision.latency_ms / 1000.0)
    if decision is not None and decision.rejects:
        return state, rejection_parts(facts, tenant, decision, req.environ)
    if decision is None and facts.rows_only and registry.store is not None:
        # The durable store may log this call as a command (store/commands.py): the handler runs it through this.
        state.command = req.environ[COMMAND_KEY] = registry.store.command_capture()
    return state, None


def request_tenant(environ: dict) -> Tenant | None:
    """The tenant :func:`begin` found for the request (by the tenant in its URL or token) and holds the lock of;
    None when the request names no known tenant."""
    state = environ.get(_STATE)
    return state.tenant if state is not None else None


def finish(state: RequestState | None, req, status: int, registry) -> dict:
    """After the handler, still under the tenant lock: journal the request and flush the durable store before the
    answer leaves. Returns headers to add (the throttling bucket's rate headers on Exchange answers)."""
    extra: dict = {}
    if state is None:
        return extra
    facts, tenant, decision = state.facts, state.tenant, state.decision
    if decision is not None and decision.rate_headers and facts is not None and facts.api == "exchange":
        extra.update(decision.rate_headers)
    if tenant is not None and facts is not None and facts.api != "control":
        tenant.journal.add(_journal_entry(facts, tenant, status, decision, req, state))
    store = registry.store
    if store is not None:
        # Group commit: the ticket is waited for by DurableAck once the tenant lock is released.
        if tenant is not None:
            ticket = store.request_done(
                tenant,
                thorough=not _is_read(facts, decision, req.method),
                blobs=not (facts is not None and facts.rows_only and decision is None),
                command=state.command,
            )
        elif req.path in _TOUCHES_NO_TENANT:
            ticket = 0
        else:
            # Tenant-less requests (create, dashboard) may still have touched tenants.
            ticket = store.request_done(None)
        req.environ[DURABLE_TICKET] = (store, ticket)
    return extra


DURABLE_TICKET = "hybridsoa.durable_ticket"
#: Tenant-less paths that change no tenant (health reads a count, the OpenAPI document is static): they wait for
#: no commit, so a tenant whose change is pending while its lock is held for long (a big reset) cannot hold them.
_TOUCHES_NO_TENANT = frozenset({"/_mock/health", "/_mock/openapi.json"})


class DurableAck:
    """Outermost WSGI layer: an answer leaves only once the durable store has committed its request's changes
    (after the tenant lock is released, so requests ending together share one commit and one fsync)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        held = {}

        def hold(status, headers, exc_info=None):
            held["start"] = (status, headers, exc_info)
            return lambda data: None  # the app returns its body; nothing here writes through this callable

        body = self.wsgi_app(environ, hold)
        ticket = environ.get(DURABLE_TICKET)
        if "start" not in held:
            return body
        status, headers, exc_info = held["start"]
        if ticket is not None:
            store, number = ticket
            try:
                store.wait_durable(number)
            except Exception as exc:  # noqa: BLE001 - the commit failed: the change is not acknowledged
                logging.getLogger("hybridsoa").error("durable commit failed: %s", exc)
                if hasattr(body, "close"):
                    body.close()
                data = json.dumps(
                    {
                        "error": {
                            "code": "InternalServerError",
                            "message": f"The mock could not store the change durably ({type(exc).__name__}).",
                        }
                    }
                ).encode()
                start_response(
                    "500 INTERNAL SERVER ERROR",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
                )
                return [data]
        start_response(status, headers, exc_info) if exc_info else start_response(status, headers)
        return body


def release(environ: dict) -> None:
    """Teardown: let go of the tenant locks the request holds (runs even when the handler failed)."""
    tenant_hold.release_all(environ)


def _before():
    req = request._get_current_object()
    state, refused = begin(req, current_app.extensions["hybridsoa"])
    if refused is None:
        return None
    status, body, headers = refused
    response = jsonify(body) if body is not None else Response(b"")
    response.status_code = status
    response.headers.update(headers)
    return response


def _after(response: Response) -> Response:
    req = request._get_current_object()
    extra = finish(req.environ.get(_STATE), req, response.status_code, current_app.extensions["hybridsoa"])
    if extra:
        response.headers.update(extra)
    return response


def _is_read(facts: RequestFacts | None, decision, method: str) -> bool:
    # Reads change no state blob (settings, RBAC, PIM, faults...): the store may skip comparing them unless
    # objects, audit, RNG or clock moved. A fault/throttle decision updates counters, so it is not a read.
    if facts is None or decision is not None:
        return False
    if method in ("GET", "HEAD", "OPTIONS"):
        return True
    if facts.api == "exchange":
        return not facts.writes  # the cmdlets' own registration (register_cmdlet(..., writes=...))
    return False


def _teardown(_exc=None) -> None:
    release(request.environ)


def _journal_entry(facts: RequestFacts, tenant: Tenant, status: int, decision, req, state) -> dict:
    entry = {
        "time": state.time if state.time is not None else tenant.clock.now(),
        "api": facts.api,
        "method": req.method,
        "path": facts.path,
        "cmdlet": facts.cmdlet,
        "parameters": facts.parameters,
        "query": facts.query or None,
        "caller": _journal_caller(facts.app_id, facts.user),
        "clientRequestId": req.environ.get("HTTP_CLIENT_REQUEST_ID"),
        "status": status,
        "durationMs": round((time.perf_counter() - state.started) * 1000, 3),
    }
    if facts.grant_type:
        entry["grantType"] = facts.grant_type
    if decision is not None and decision.kind != "ok":
        entry["fault"] = {"kind": decision.kind, "ruleId": decision.rule_id, "latencyMs": decision.latency_ms}
    return entry


@functools.lru_cache(maxsize=1024)
def _journal_caller(app_id: str | None, user: str | None) -> dict:
    # One dict per caller, shared read-only by its entries (a request journal holds thousands of them).
    return {"appId": app_id, "userPrincipalName": user}


def journal_view(entry: dict) -> dict:
    """An entry as ``GET /_mock/tenants/{t}/requests`` shows it (ISO time)."""
    out = dict(entry)
    out["time"] = iso(entry["time"])
    return out


# ------------------------------------------------------------------------------------------- rejections
def _request_id(tenant: Tenant) -> str:
    # Derived from the seed and the journal position: deterministic without drawing from the tenant's RNG.
    digest = hashlib.sha256(f"{tenant.seed}:req:{tenant.journal._seq + 1}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def rejection_parts(facts: RequestFacts, tenant: Tenant, decision, environ: dict) -> tuple[int, dict, dict]:
    """The refused request in the API's own error shape (429 throttling or an injected 5xx):
    ``(status, body, headers)``."""
    status = decision.status
    if facts.api == "identity" and status == 429 and facts.grant_type not in (None, "client_credentials"):
        # Entra answers throttled user flows with invalid_grant AADSTS50196 (MSAL surfaces it as a UI-required error).
        status = 400
    request_id = _request_id(tenant)
    client_request_id = environ.get("HTTP_CLIENT_REQUEST_ID")
    if status == 401:
        return _unauthenticated_parts(facts, tenant, decision, request_id, client_request_id)
    if facts.api == "exchange":
        body = exchange_error(status, decision.message)
    elif facts.api == "graph":
        code, text = _GRAPH_FAULT.get(status, _GRAPH_FAULT[500])
        body = {
            "error": {
                "code": code,
                "message": decision.message or text,
                "innerError": {
                    "date": iso(tenant.clock.now()).rstrip("Z"),
                    "request-id": request_id,
                    "client-request-id": request_id if client_request_id is None else client_request_id,
                },
            }
        }
    else:
        body = identity_error(tenant.clock.now(), status, request_id, decision.message, client_request_id)
    headers = {}
    if decision.retry_after is not None:
        headers["Retry-After"] = str(decision.retry_after)
    headers["request-id"] = request_id
    if facts.api == "exchange" and decision.rate_headers:
        headers.update(decision.rate_headers)
    return status, body, headers


def _unauthenticated_parts(
    facts: RequestFacts, tenant: Tenant, decision, request_id: str, client_request_id: str | None
) -> tuple[int, dict | None, dict]:
    """An injected 401 exactly as the API renders a refused token: Exchange with an empty body and its
    ``WWW-Authenticate``/``x-ms-diagnostics``; Graph with InvalidAuthenticationToken. A rule with
    ``claimsChallenge`` sends the continuous-access-evaluation challenge (new token issued from now on)."""
    from ..domain.entra.tokens import CAE_REVOKED_MESSAGE, claims_challenge
    from ..domain.errors import Unauthenticated

    if decision.claims_challenge:
        exc = Unauthenticated(
            decision.message or CAE_REVOKED_MESSAGE, reason="revoked", claims=claims_challenge(int(tenant.clock.now()))
        )
    else:
        exc = Unauthenticated(decision.message or "Lifetime validation failed, the token is expired.", reason="expired")
    if facts.api == "exchange":
        from .exchange.errors import error_parts

        status, body, headers = error_parts(exc)
    else:
        from .entra.graph.errors import www_authenticate

        status, headers = 401, www_authenticate(exc.details.get("claims"))
        body = {
            "error": {
                "code": "InvalidAuthenticationToken",
                "message": exc.message,
                "innerError": {
                    "date": iso(tenant.clock.now()),
                    "request-id": request_id,
                    "client-request-id": request_id if client_request_id is None else client_request_id,
                },
            }
        }
    return status, body, {**headers, "request-id": request_id}


#: What a request refused by :mod:`body_gate` (too many bodies being read at once) is told, in every shape.
OVERLOAD_MESSAGE = "The server is busy reading other requests' bodies; retry after the Retry-After interval."


def overload_parts(environ: dict) -> tuple[int, dict, dict]:
    """A request the server is too busy to take (``body_gate``): 503 with ``Retry-After`` in the shape of the
    API its path belongs to, as each service answers when it is overloaded (docs/fidelity.md, "Hostile input")."""
    path = environ.get("PATH_INFO", "")
    request_id = str(uuid.uuid4())
    client_request_id = environ.get("HTTP_CLIENT_REQUEST_ID")
    headers = {"Retry-After": "1", "request-id": request_id}
    if _EXCHANGE.match(path):
        return 503, exchange_error(503, OVERLOAD_MESSAGE), headers
    if _GRAPH.match(path):
        code, _text = _GRAPH_FAULT[503]
        inner = {
            "date": iso(time.time()).rstrip("Z"),
            "request-id": request_id,
            "client-request-id": request_id if client_request_id is None else client_request_id,
        }
        return 503, {"error": {"code": code, "message": OVERLOAD_MESSAGE, "innerError": inner}}, headers
    m = _IDENTITY.match(path)
    if m and m.group(1).lower() != "adminapi":
        return 503, identity_error(time.time(), 503, request_id, None, client_request_id), headers
    return 503, {"error": {"code": "ServiceUnavailable", "message": OVERLOAD_MESSAGE}}, headers


def exchange_error(status: int, message: str | None = None) -> dict:
    """Exchange admin API error envelope (error.details carries the ``id|type|text`` triple clients split)."""
    code, exc_type, text = _EXO_FAULT.get(status, _EXO_FAULT[500])
    text = message or text
    return {
        "error": {
            "code": code,
            "message": "Error executing cmdlet",
            "details": [{"code": "Server", "target": "", "message": f"|{exc_type}|{text}"}],
            "innererror": {"message": text, "type": exc_type, "stacktrace": ""},
        },
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": [],
    }


def identity_error(
    now: float,
    status: int,
    trace_id: str,
    message: str | None = None,
    client_request_id: str | None = None,
) -> dict:
    """Entra token-endpoint error: AADSTS50196 for throttled user flows, 429 ``temporarily_unavailable`` for
    throttled client credentials, AADSTS90033 (transient error) for injected 5xx."""
    stamp = iso(now).replace("T", " ").rstrip("Z")
    if status == 400:
        error, code = "invalid_grant", 50196
        text = (
            "AADSTS50196: The server terminated an operation because it encountered a loop while processing a request."
        )
    elif status == 429:
        error, code = "temporarily_unavailable", 50196
        text = (
            "AADSTS50196: The server terminated an operation because it encountered a loop while processing a "
            "request. The client is sending too many requests; retry after the Retry-After interval."
        )
    else:
        error, code = ("temporarily_unavailable" if status == 503 else "server_error"), 90033
        text = "AADSTS90033: A transient error has occurred. Please try again."
    if message:
        text = f"{text} {message}"
    return {
        "error": error,
        "error_description": f"{text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: "
        f"{trace_id if client_request_id is None else client_request_id}\r\n"
        f"Timestamp: {stamp}Z",
        "error_codes": [code],
        "timestamp": f"{stamp}Z",
        "trace_id": trace_id,
        "correlation_id": trace_id if client_request_id is None else client_request_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
