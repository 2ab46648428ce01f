"""OData system query options as Graph applies them to directory collections: ``$filter``, ``$select``,
``$top`` (max 999), ``$count``, ``$orderby``, ``$search``, ``$skiptoken`` paging by GET, and the advanced-query
rule (``ConsistencyLevel: eventual`` plus ``$count=true``) enforced with 400 ``Request_UnsupportedQuery``."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import request

from ...domain.bounds import clip, loads as bounds_loads, parse_int
from ...domain.graph.odata import FilterSyntaxError, evaluate, parse_filter
from .errors import GraphError

UNSUPPORTED = "Request_UnsupportedQuery"
#: OR'ed clauses (or `in` values) a directory `$filter` may hold without advanced query parameters.
MAX_OR_CLAUSES = 15
_KNOWN_OPTIONS = {"$filter", "$select", "$top", "$count", "$orderby", "$search", "$skiptoken", "$expand", "$skip",
                  "$format"}


@dataclass
class Collection:
    """How one collection may be queried: its entity type, properties, and which of them need advanced queries."""

    type_name: str
    resource: str
    properties: tuple[str, ...]
    filterable: frozenset[str] = frozenset()
    advanced_only: frozenset[str] = frozenset()
    default_orderable: frozenset[str] = frozenset()
    default_top: int = 100
    max_top: int = 999
    supports_advanced: bool = True


@dataclass
class Query:
    """Parsed query options of one request."""

    ast: object = None
    select: list[str] | None = None
    top: int | None = None
    count: bool = False
    orderby: list[tuple[str, bool]] = field(default_factory=list)
    search: list[tuple[str, str]] = field(default_factory=list)
    offset: int = 0
    advanced: bool = False
    #: Properties (path roots) the filter, search and ordering read.
    needed: set[str] = field(default_factory=set)


def _bad(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def consistency_eventual() -> bool:
    """Whether the request carries ``ConsistencyLevel: eventual``."""
    return request.headers.get("ConsistencyLevel", "").strip().lower() == "eventual"


def _decode_skiptoken(token: str) -> dict:
    try:
        pad = "=" * (-len(token) % 4)
        data = bounds_loads(base64.urlsafe_b64decode(token + pad).decode())
        if not isinstance(data, dict) or type(data.get("o")) is not int or not 0 <= data["o"] < 2 ** 31:
            raise ValueError
        return data
    except (ValueError, UnicodeDecodeError):
        raise _bad("The specified page token value has expired and can no longer be included in your request.",
                   "Directory_ExpiredPageToken") from None


def _encode_skiptoken(offset: int, advanced: bool) -> str:
    raw = json.dumps({"o": offset, "a": 1 if advanced else 0}, separators=(",", ":")).encode()
    return "RFNwd" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse(coll: Collection, args=None) -> Query:
    """Validate and parse the request's query options for ``coll``."""
    args = request.args if args is None else args
    q = Query()
    for key in args:
        if key.startswith("$") and key.lower() not in _KNOWN_OPTIONS:
            raise _bad(f"Query option '{key}' is not allowed. Make sure that this option is supported.")
    if "$expand" in args:
        raise GraphError(501, "notImplemented", "$expand is not emulated by the mock for this resource.")
    if "$skip" in args:
        raise _bad("'$skip' is not supported by the service.", "Request_BadRequest")
    token = args.get("$skiptoken")
    carried = False
    if token:
        data = _decode_skiptoken(token[5:] if token.startswith("RFNwd") else token)
        q.offset = data["o"]
        carried = bool(data.get("a"))
    if "$select" in args:
        q.select = []
        for name in (p.strip() for p in args["$select"].split(",")):
            if not name:
                continue
            if name not in coll.properties:
                raise _bad(f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on "
                           f"type 'microsoft.graph.{coll.type_name}'.")
            if name not in q.select:
                q.select.append(name)
    if "$top" in args:
        raw = args["$top"]
        if parse_int(raw) is None or not 1 <= int(raw) <= coll.max_top:  # bounded: no int() of 5,000 digits
            raise _bad(f"Invalid page size specified: '{clip(raw)}'. Must be between 1 and {coll.max_top} inclusive.",
                       UNSUPPORTED)
        q.top = int(raw)
    if "$count" in args:
        raw = args["$count"].lower()
        if raw not in ("true", "false"):
            raise _bad(f"Invalid value '{args['$count']}' for $count query option found. The $count query option "
                       "requires a Boolean value.")
        q.count = raw == "true"
    reasons: list[str] = []
    if q.count:
        reasons.append("$count")
    if "$filter" in args:
        try:
            q.ast, info = parse_filter(args["$filter"])
        except FilterSyntaxError as exc:
            raise _bad(exc.message) from None
        if info.max_or_clauses > MAX_OR_CLAUSES and not (consistency_eventual() and q.count):
            # Directory queries allow 15 OR'ed clauses (an `in` list counts each value) unless they are advanced.
            raise _bad(f"Too many child clauses specified in search filter expression containing 'OR' operators: "
                       f"{info.max_or_clauses}. Max allowed: {MAX_OR_CLAUSES}.", UNSUPPORTED)
        for path in sorted(info.properties):
            root = path.split("/")[0]
            q.needed.add(root)
            if root not in coll.properties:
                raise _bad(f"Invalid filter clause: Could not find a property named '{root}' on type "
                           f"'microsoft.graph.{coll.type_name}'.")
            if coll.filterable and root not in coll.filterable and root not in coll.advanced_only:
                raise _bad(f"Unsupported or invalid query filter clause specified for property '{root}' of "
                           f"resource '{coll.resource}'.", UNSUPPORTED)
            if root in coll.advanced_only:
                reasons.append(root)
        if info.operators & {"ne", "not"} or "endswith" in info.functions or info.null_comparisons:
            reasons.append(sorted(info.properties)[0] if info.properties else "filter")
    if "$orderby" in args:
        for part in args["$orderby"].split(","):
            bits = part.strip().split()
            if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
                raise _bad(f"Syntax error in $orderby: '{args['$orderby']}'.")
            if bits[0] not in coll.properties:
                raise _bad(f"Could not find a property named '{bits[0]}' on type "
                           f"'microsoft.graph.{coll.type_name}'.")
            q.orderby.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
            q.needed.add(bits[0])
            if q.ast is not None or bits[0] not in coll.default_orderable:
                reasons.append("$orderby")
    if "$search" in args:
        q.search = _parse_search(args["$search"], coll)
        q.needed.update(prop for prop, _ in q.search)
        reasons.append("$search")
    if reasons and not carried:
        if not coll.supports_advanced:
            raise _bad("Unsupported Query.", UNSUPPORTED)
        needs_count = any(r not in ("$search", "$count") for r in reasons)
        if not consistency_eventual() or (needs_count and not q.count):
            first = next((r for r in reasons if not r.startswith("$")), None)
            if first is None:
                first_opt = reasons[0]
                raise _bad(f"The query option '{first_opt}' is only supported with the 'ConsistencyLevel: eventual'"
                           f" header (advanced query).", UNSUPPORTED)
            raise _bad(f"Unsupported or invalid query filter clause specified for property '{first}' of resource "
                       f"'{coll.resource}'.", UNSUPPORTED)
    q.advanced = bool(reasons) or carried
    return q


def _parse_search(raw: str, coll: Collection) -> list[tuple[str, str]]:
    text = raw.strip()
    if not (text.startswith('"') and text.endswith('"') and len(text) >= 2):
        raise _bad("Syntax error: character '\"' is expected in $search.", UNSUPPORTED)
    clauses = []
    for part in text.split('" AND "') if '" AND "' in text else [text]:
        part = part.strip('"')
        prop, sep, term = part.partition(":")
        if not sep or prop not in coll.properties:
            raise _bad(f"Invalid $search clause '{part}'.", UNSUPPORTED)
        clauses.append((prop, term.strip().casefold()))
    return clauses


def _search_match(view: dict, clauses) -> bool:
    for prop, term in clauses:
        value = view.get(prop)
        if not isinstance(value, str):
            return False
        words = value.casefold().replace(".", " ").replace("@", " ").replace("-", " ").split()
        if not (value.casefold().startswith(term) or any(w.startswith(term) for w in words)):
            return False
    return True


def run(q: Query, items: list, render) -> list:
    """Filter, search and order ``items``; ``render(item, names)`` gives the Graph-named properties the query
    reads (only those, so a large collection is not rendered whole)."""
    if not q.needed:
        return list(items)
    pairs = [(render(item, q.needed), item) for item in items]
    pairs = [p for p in pairs
             if (q.ast is None or evaluate(q.ast, p[0])) and (not q.search or _search_match(p[0], q.search))]
    for prop, desc in reversed(q.orderby):
        pairs.sort(key=lambda p: (p[0].get(prop) is None, str(p[0].get(prop) or "").casefold()), reverse=desc)
    return [item for _, item in pairs]


def apply(q: Query, views: list[dict]) -> list[dict]:
    """:func:`run` over already-rendered views (small collections)."""
    return run(q, views, lambda view, _names: view)


def page(q: Query, items: list, coll: Collection) -> tuple[list, str | None]:
    """One page from ``q.offset``, and the absolute ``@odata.nextLink`` (same query, next skiptoken) if more."""
    size = q.top or coll.default_top
    chunk = items[q.offset:q.offset + size]
    if q.offset + size >= len(items):
        return chunk, None
    params = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
    params.append(("$skiptoken", _encode_skiptoken(q.offset + size, q.advanced)))
    base = request.url_root.rstrip("/") + request.path
    return chunk, f"{base}?{urlencode(params, safe='$,()')}"


def project(view: dict, select: list[str] | None, default: tuple[str, ...]) -> dict:
    """Keep the ``$select``ed properties, or the type's default property set."""
    names = select if select else default
    return {name: view.get(name) for name in names}
