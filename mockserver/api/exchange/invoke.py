"""``POST /adminapi/beta/{tenant}/InvokeCommand`` and ``POST /adminapi/beta/{tenant}/$batch``: the transport
the ExchangeOnlineManagement v3 module uses (wire-formats §1): the CmdletInput envelope, token checks,
``Prefer``/``X-Prefer: odata.maxpagesize``, ``$select``, continuation by re-POSTing ``@odata.nextLink``, and
the real response body and headers.

The Exchange request pipeline (``endpoints.py``) is the only caller of :func:`answer_invoke` and
:func:`answer_batch`: it parsed the body once (``calls.py``) and holds the tenant's lock for the whole request, so
nothing here parses the envelope again or takes the lock."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Response
from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from ...domain.bounds import clip, parse_int
from ...domain.bounds import loads as bounds_loads
from ...domain.entra.tokens import verify_access_token
from ...domain.errors import DomainError, InvalidArgument, NotFound
from ...domain.exchange import access, dispatch
from ...domain.tenant import Tenant
from ..common import bearer_token
from .blueprint import bp
from .calls import COMMAND_KEY, CmdletCall, ExchangeBody
from .calls import ODATA_EXCEPTION_TYPE as _ODATA_EXCEPTION_TYPE
from .errors import JSON_TYPE, error_parts
from .serialize import annotate, parse_select

MAX_PAGE_SIZE = 1000
MAX_BATCH = 10
EXCHANGE_VERSION_HEADER = "Version 15.20 (Build 8632.20)"
_PAGE_SIZE_RE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


class _Request:
    """One InvokeCommand request as the pipeline sees it (top-level or inside $batch): its call, parsed once."""

    def __init__(self, call: CmdletCall, headers: dict, query: dict, tenant_segment: str):
        self.call, self.query, self.tenant_segment = call, query, tenant_segment
        self.headers = {k.lower(): v for k, v in headers.items() if isinstance(k, str)} if headers else {}

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower())


_BASE_URLS: dict[tuple, str] = {}


def _base_url(environ: dict) -> str:
    # What Flask's request.host_url gives, computed once per scheme and Host (IRI decoding is not free).
    key = (
        environ.get("wsgi.url_scheme"),
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
    )
    found = _BASE_URLS.get(key)
    if found is None:
        if len(_BASE_URLS) > 256:  # bounded: Host is client-controlled
            _BASE_URLS.clear()
        found = _BASE_URLS[key] = get_current_url(environ["wsgi.url_scheme"], get_host(environ)).rstrip("/")
    return found


def _page_size(req: _Request) -> int:
    for name in ("prefer", "x-prefer"):
        value = req.headers.get(name)
        m = _PAGE_SIZE_RE.search(value) if isinstance(value, str) else None
        if m:
            # Thousands of digits are simply "more than the maximum" (int() refuses > 4,300 digits).
            size = parse_int(m.group(1))
            return MAX_PAGE_SIZE if size is None else max(1, min(MAX_PAGE_SIZE, size))
    return MAX_PAGE_SIZE


def _query_hash(cmdlet: str, params, select) -> str:
    text = json.dumps([cmdlet.lower(), params, select], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _skip_token(skip: int, qhash: str) -> str:
    raw = json.dumps({"s": skip, "q": qhash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_skip_token(token: str, qhash: str) -> int:
    try:
        data = bounds_loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        skip = data["s"]
        # Only the integers this module wrote: no Infinity, no float, no 5,000-digit number.
        if type(skip) is not int or data["q"] != qhash or not 0 <= skip < 2**31:
            raise ValueError
        return skip
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgument(
            "The $skiptoken is invalid or belongs to a different query. Re-POST the "
            "@odata.nextLink with the same body.",
            exception_type=_ODATA_EXCEPTION_TYPE,
            err_id="",
            category="Client",
        ) from None


#: Lower-cased names of the headers every answer carries (a call's own headers may replace them).
_COMMON_NAMES = frozenset(
    {
        "content-type",
        "request-id",
        "odata-version",
        "x-exchangeversion",
        "rate-limit-limit",
        "rate-limit-remaining",
        "rate-limit-reset",
        "x-ms-appid",
    }
)


def _common_headers(tenant: Tenant, caller=None) -> list[tuple[str, str]]:
    """request-id, OData-Version, X-ExchangeVersion, the Rate-Limit-* triple and X-Ms-Appid (the headers seen in
    captures of the real service, wire-formats §1.3)."""
    window = tenant.exchange_rate_window
    request_id, remaining, reset = window.count_call(tenant.clock.now())
    headers = [
        ("request-id", request_id),
        ("OData-Version", "4.0"),
        ("X-ExchangeVersion", EXCHANGE_VERSION_HEADER),
        ("Rate-Limit-Limit", window.limit_text),
        ("Rate-Limit-Remaining", remaining),
        ("Rate-Limit-Reset", reset),
    ]
    if caller is not None:
        headers.append(("X-Ms-Appid", caller.app_id))
    return headers


def execute(
    tenant,
    caller,
    req: _Request,
    base_url: str = "",
    *,
    route: str = "beta",
    endpoint: str = "InvokeCommand",
    check=None,
) -> tuple[int, dict | None, dict]:
    """Run one InvokeCommand request against an authenticated caller: (status, body, headers). ``route`` and
    ``endpoint`` place the context and nextLink URLs (``v2.0``/``Mailbox`` for the documented Admin API);
    ``check(name, params)`` may refuse or canonicalize the cmdlet before it runs. Call with ``tenant.lock`` held."""
    try:
        call = req.call
        call.check()
        name, params = call.name, call.params
        if check is not None:
            name = check(name, params)
        select = parse_select(req.query.get("$select"))
        # The query hash only matters for continuation pages: most calls (single-item writes) never need it.
        qhash = _query_hash(str(name), params, select) if req.query.get("$skiptoken") else None
        skip = _read_skip_token(req.query["$skiptoken"], qhash) if qhash is not None else 0
        page_size = _page_size(req)
        result = dispatch.invoke(tenant, caller, name, params, spec=call.spec)
    except DomainError as exc:
        status, body, headers = error_parts(exc)
        return status, body, headers
    page = result.values[skip : skip + page_size]
    base = base_url
    body = {
        "@odata.context": f"{base}/adminapi/{route}/{req.tenant_segment}/$metadata"
        "#Collection(Exchange.GenericHashTable)",
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": list(result.warnings),
        "value": [annotate(obj, select) for obj in page] if page else [],
    }
    if skip + page_size < len(result.values):
        query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = _skip_token(skip + page_size, qhash or _query_hash(str(name), params, select))
        body["@odata.nextLink"] = (
            f"{base}/adminapi/{route}/{req.tenant_segment}/{endpoint}?{urlencode(query, safe='$,')}"
        )
    headers = {"Preference-Applied": 'odata.include-annotations="*"'}
    if result.warnings:
        headers["X-Warnings"] = json.dumps(result.warnings, ensure_ascii=True)
    return 200, body, headers


def _authenticate(tenant: Tenant | None, tenant_key: str, token: str | None):
    """The caller of the request's bearer token (the tenant's due sync cycles run first), or a DomainError for the
    real 401/403/404 answers."""
    if tenant is None:
        raise NotFound(
            f"The tenant '{tenant_key}' was not found.",
            exception_type=_ODATA_EXCEPTION_TYPE,
            err_id="",
            category="Client",
        )
    tenant.catch_up()
    caller = verify_access_token(tenant, token, "exchange")
    access.connection_check(tenant, caller)
    return caller


Answer = tuple  # (status, body bytes, [(header, value), ...]): what the WSGI layer sends


def render(tenant, caller, status: int, body, headers: dict) -> Answer:
    """The answer on the wire: JSON body, then the service's common headers and the call's own headers (a call's
    header replaces a common one of the same name)."""
    out = [("Content-Type", JSON_TYPE)] if body is not None else []
    if tenant is not None:
        out += _common_headers(tenant, caller)
    if headers:
        replaced = _COMMON_NAMES.intersection(map(str.lower, headers))
        if replaced:
            out = [h for h in out if h[0].lower() not in replaced]
        out += headers.items()
    data = b"" if body is None else json.dumps(body).encode()
    out.append(("Content-Length", str(len(data))))
    return status, data, out


def _authenticate_or_refuse(tenant: Tenant | None, environ: dict, tenant_key: str):
    """``(caller, None)``, or ``(None, answer)`` in the real 401/403/404 shape."""
    try:
        caller = _authenticate(tenant, tenant_key, bearer_token(environ))
    except DomainError as exc:
        status, body, headers = error_parts(exc)
        return None, render(tenant, None, status, body, headers)
    return caller, None


def answer_invoke(tenant: Tenant | None, environ: dict, tenant_key: str, body: ExchangeBody, query: dict) -> Answer:
    """InvokeCommand: run one cmdlet (reads included; continuation pages are re-POSTs of the nextLink). ``tenant``
    is the one the pipeline found for ``tenant_key`` and holds the lock of (None: no such tenant)."""
    caller, refused = _authenticate_or_refuse(tenant, environ, tenant_key)
    if refused is not None:
        return refused
    # Only the paging preferences are read from the headers: looked up in the environ, not copied whole.
    prefs = {}
    if "HTTP_PREFER" in environ:
        prefs["prefer"] = environ["HTTP_PREFER"]
    if "HTTP_X_PREFER" in environ:
        prefs["x-prefer"] = environ["HTTP_X_PREFER"]
    request = _Request(body.call, prefs, query, tenant_key)
    capture = environ.get(COMMAND_KEY)
    if capture is None or tenant is None:
        status, out, headers = execute(tenant, caller, request, _base_url(environ))
    else:  # the durable store may log it as a command: run with the clock pinned, as a replay runs it
        status, out, headers = capture.run(
            tenant,
            caller,
            body.call.name,
            body.call.params,
            lambda: execute(tenant, caller, request, _base_url(environ)),
        )
    return render(tenant, caller, status, out, headers)


def answer_batch(tenant: Tenant | None, environ: dict, tenant_key: str, body: ExchangeBody) -> Answer:
    """Exchange ``$batch``: up to 10 InvokeCommand requests, each answered in ``responses[]`` by id."""
    caller, refused = _authenticate_or_refuse(tenant, environ, tenant_key)
    if refused is not None:
        return refused
    try:
        requests_ = _batch_requests(body.json)
    except DomainError as exc:
        status, out, headers = error_parts(exc)
        return render(tenant, caller, status, out, headers)
    base = _base_url(environ)
    responses = []
    for item, call in zip(requests_, body.batch, strict=True):  # both are body["requests"], item by item
        sub_id = clip(item.get("id", len(responses) + 1))
        url = item.get("url") if isinstance(item.get("url"), str) else ""
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
        method = item.get("method") or "POST"
        if (
            not isinstance(method, str)
            or method.upper() != "POST"
            or not parts.path.rstrip("/").lower().endswith("invokecommand")
        ):
            exc = InvalidArgument(
                "Each batch request must be a POST to InvokeCommand.",
                exception_type=_ODATA_EXCEPTION_TYPE,
                err_id="",
                category="Client",
            )
            status, sub_body, sub_headers = error_parts(exc)
        else:
            status, sub_body, sub_headers = execute(tenant, caller, _Request(call, headers, query, tenant_key), base)
        sub_headers = dict(sub_headers)
        if sub_body is not None:
            sub_headers.setdefault("Content-Type", JSON_TYPE)
        responses.append({"id": sub_id, "status": status, "headers": sub_headers, "body": sub_body})
    return render(tenant, caller, 200, {"responses": responses}, {})


def _flask_response(answer: Answer) -> Response:
    status, data, headers = answer
    response = Response(data, status=status, headers=headers)
    if not any(k == "Content-Type" for k, _ in headers):
        response.headers.pop("Content-Type", None)
    return response


# The resources exist for Flask's router (other methods get its 405, OPTIONS its Allow header, and the route list
# shows them), but no view serves them: the Exchange pipeline (endpoints.py) answers every POST before Flask.
for _rule in (
    "/adminapi/beta/<tenant_key>/InvokeCommand",
    "/AdminApi/beta/<tenant_key>/InvokeCommand",
    "/adminapi/beta/<tenant_key>/invokecommand",
):
    bp.add_url_rule(_rule, endpoint="invoke_command", methods=["POST"])
for _rule in ("/adminapi/beta/<tenant_key>/$batch", "/AdminApi/beta/<tenant_key>/$batch"):
    bp.add_url_rule(_rule, endpoint="batch", methods=["POST"])


def _batch_requests(payload) -> list[dict]:
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise InvalidArgument(
            "The batch body must be a JSON object with a 'requests' array.",
            exception_type=_ODATA_EXCEPTION_TYPE,
            err_id="",
            category="Client",
        )
    items = payload["requests"]
    if not items:
        raise InvalidArgument(
            "The batch request holds no requests.", exception_type=_ODATA_EXCEPTION_TYPE, err_id="", category="Client"
        )
    if len(items) > MAX_BATCH:
        raise InvalidArgument(
            f"The batch request holds {len(items)} requests; at most {MAX_BATCH} are allowed.",
            exception_type=_ODATA_EXCEPTION_TYPE,
            err_id="",
            category="Client",
        )
    if not all(isinstance(i, dict) for i in items):
        raise InvalidArgument(
            "Each batch request must be a JSON object.",
            exception_type=_ODATA_EXCEPTION_TYPE,
            err_id="",
            category="Client",
        )
    return items


@bp.route("/adminapi/v1.0/<tenant_key>/InvokeCommand", methods=["GET", "POST"])
@bp.route("/AdminApi/v1.0/<tenant_key>/InvokeCommand", methods=["GET", "POST"])
def invoke_command_v1(tenant_key: str):
    """Only the beta gateway answers InvokeCommand; v1.0 was measured to answer 405 (wire-formats §1.1)."""
    response = Response("", status=405)
    response.headers.pop("Content-Type", None)
    response.headers["Allow"] = ""
    return response
