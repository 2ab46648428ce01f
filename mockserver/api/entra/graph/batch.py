"""JSON batching (``POST /$batch``): up to 20 sub-requests with unique ids and optional ``dependsOn``, each
dispatched through this same Flask app so it gets exactly the handling, authorization and errors of a direct
call. A sub-request whose dependency failed answers 424."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlsplit

from flask import current_app, request
from werkzeug.test import EnvironBuilder

from .auth import authenticate
from .blueprint import VERSIONS, bp
from .errors import GraphError
from .serialize import json_response
from .users import json_body

MAX_REQUESTS = 20
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_PASS_HEADERS = ("content-type", "location", "retry-after", "odata-version", "cache-control")


#: What no HTTP header name or value may hold (RFC 9110 5.5): a batch item cannot smuggle a header line through.
_LINE_BREAK = re.compile(r"[\r\n\x00]")


def _wire(text: str) -> str | bytes:
    """``text`` as the sub-request carries it: unchanged, unless it holds a lone surrogate (JSON can escape one,
    UTF-8 cannot carry it), which is then sent as the bytes Python's ``surrogatepass`` writes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _wire_url(text: str) -> str:
    """A path or query of a batch item with its lone surrogates percent-encoded (the router decodes them to
    U+FFFD, as it does any byte sequence that is not UTF-8); other text unchanged."""
    wire = _wire(text)
    return text if isinstance(wire, str) else quote(wire, safe="/%!$&'()*+,;=:@~?")


def _invalid(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def _validate(body: dict) -> list[dict]:
    items = body.get("requests")
    if not isinstance(items, list) or not items:
        raise _invalid("Invalid batch payload format.")
    if len(items) > MAX_REQUESTS:
        raise _invalid(f"The number of requests in the batch exceeds the limit of {MAX_REQUESTS}.")
    seen = set()
    for item in items:
        if not isinstance(item, dict):
            raise _invalid("Invalid batch payload format.")
        rid, method, url = item.get("id"), item.get("method"), item.get("url")
        if not isinstance(rid, str) or not rid:
            raise _invalid("Batch request id is missing or is not a string.")
        if rid in seen:
            raise _invalid(f"Batch request contains duplicate id '{rid}'. Request ids must be unique.")
        seen.add(rid)
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise _invalid(f"Invalid HTTP method '{method}' in batch request '{rid}'.")
        if not isinstance(url, str) or not url or urlsplit(url).scheme:
            raise _invalid(f"Invalid url in batch request '{rid}'. Only relative URLs are supported.")
        headers = item.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(v, str) and not _LINE_BREAK.search(k + v) for k, v in headers.items()
        ):
            raise _invalid(f"Invalid headers in batch request '{rid}'.")
        if item.get("body") is not None and not any(k.lower() == "content-type" for k in headers):
            raise _invalid(f"Content-Type header must be specified for batch request '{rid}' because it has a body.")
        deps = item.get("dependsOn") or []
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise _invalid(f"Invalid dependsOn in batch request '{rid}'.")
    ids = {item["id"] for item in items}
    for item in items:
        for dep in item.get("dependsOn") or []:
            if dep not in ids or dep == item["id"]:
                raise _invalid(f"Batch request '{item['id']}' depends on unknown request id '{dep}'.")
    return items


def _order(items: list[dict]) -> list[dict]:
    done, ordered, pending = set(), [], list(items)
    while pending:
        ready = [i for i in pending if all(d in done for d in i.get("dependsOn") or [])]
        if not ready:
            raise _invalid("The dependsOn relations of the batch form a cycle.")
        for item in ready:
            ordered.append(item)
            done.add(item["id"])
            pending.remove(item)
    return ordered


def _dispatch(version: str, item: dict) -> dict:
    url = item["url"]
    path, _, query = (url if url.startswith("/") else "/" + url).partition("?")
    if path.rstrip("/").lower() == "/$batch":
        return _failed(item["id"], 400, "BadRequest", "Nested $batch requests are not supported.")
    headers = dict(item.get("headers") or {})
    if request.headers.get("Authorization") and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = request.headers["Authorization"]
    body = item.get("body")
    data = None
    if body is not None:
        data = _wire(body) if isinstance(body, str) else json.dumps(body)
    builder = EnvironBuilder(
        path=f"/{version}{_wire_url(path)}",
        query_string=_wire_url(query),
        method=item["method"].upper(),
        headers=headers,
        data=data,
        base_url=request.host_url,
        environ_overrides={"REMOTE_ADDR": request.remote_addr or "127.0.0.1"},
    )
    environ = builder.get_environ()
    app = current_app._get_current_object()
    # A fresh app context gives the sub-request its own ``g`` (request id, tenant, caller).
    with app.app_context(), app.request_context(environ):
        resp = app.full_dispatch_request()
        out = {
            "id": item["id"],
            "status": resp.status_code,
            "headers": {k: v for k, v in resp.headers.items() if k.lower() in _PASS_HEADERS},
        }
        raw = resp.get_data()
        if raw:
            if resp.mimetype == "application/json":
                out["body"] = json.loads(raw)
            else:
                out["body"] = raw.decode("utf-8", "replace")
    return out


def _failed(rid: str, status: int, code: str, message: str) -> dict:
    return {
        "id": rid,
        "status": status,
        "headers": {"Content-Type": "application/json"},
        "body": {"error": {"code": code, "message": message}},
    }


def batch():
    """``POST /$batch``."""
    authenticate()
    body = json_body()
    items = _order(_validate(body))
    version = "beta" if request.path.startswith("/beta") else "v1.0"
    results: dict[str, dict] = {}
    for item in items:
        failed_dep = next((d for d in item.get("dependsOn") or [] if results[d]["status"] >= 400), None)
        if failed_dep is not None:
            results[item["id"]] = _failed(
                item["id"], 424, "FailedDependency", f"The request depends on request '{failed_dep}', which failed."
            )
            continue
        results[item["id"]] = _dispatch(version, item)
    ordered = [results[item["id"]] for item in body["requests"]]
    return json_response({"responses": ordered})


for _v in VERSIONS:
    bp.add_url_rule(f"/{_v}/$batch", endpoint=f"batch_{_v.replace('.', '_')}", view_func=batch, methods=["POST"])
