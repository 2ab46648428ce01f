"""OData system query options as Graph applies them to directory collections: ``$filter`` (with ``/$count`` over
collections), ``$select``, ``$expand`` (the navigation properties a collection models), ``$top`` (max 999),
``$count``, ``$orderby``, ``$search``, ``$skiptoken`` paging by GET, and the advanced-query rule
(``ConsistencyLevel: eventual`` plus ``$count=true``) enforced with 400 ``Request_UnsupportedQuery``; ``?$count=true``
without the header is ignored, as the advanced-queries documentation says."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import request

from ....domain.bounds import clip, parse_int
from ....domain.bounds import loads as bounds_loads
from ....domain.entra.graph.odata import FilterSyntaxError, evaluate, parse_filter
from .errors import GraphError

UNSUPPORTED = "Request_UnsupportedQuery"
#: OR'ed clauses (or `in` values) a directory `$filter` may hold without advanced query parameters.
MAX_OR_CLAUSES = 15
_KNOWN_OPTIONS = {
    "$filter",
    "$select",
    "$top",
    "$count",
    "$orderby",
    "$search",
    "$skiptoken",
    "$expand",
    "$skip",
    "$format",
}


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
    #: Navigation properties ``$expand`` serves (None: the mock models none and refuses ``$expand`` with 501).
    navigation: frozenset[str] | None = None
    #: Navigation properties of the type (CSDL) that the mock does not model: ``$expand`` of one is a 501.
    unmodelled_navigation: frozenset[str] = frozenset()
    #: Collection-valued properties ``$filter`` may count with ``/$count``.
    countable: frozenset[str] = frozenset()


@dataclass
class Expand:
    """One ``$expand`` item: ``name``, its nested ``$select`` and ``$levels`` (None = 1, -1 = max)."""

    name: str
    select: list[str] | None = None
    levels: int | None = None


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
    #: ``$expand`` items (navigation properties to inline).
    expand: list[Expand] = field(default_factory=list)
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
        if not isinstance(data, dict) or type(data.get("o")) is not int or not 0 <= data["o"] < 2**31:
            raise ValueError
        return data
    except (ValueError, UnicodeDecodeError):
        raise _bad(
            "The specified page token value has expired and can no longer be included in your request.",
            "Directory_ExpiredPageToken",
        ) from None


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
        q.expand = parse_expand(args["$expand"], coll)
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
                raise _bad(
                    f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on "
                    f"type 'microsoft.graph.{coll.type_name}'."
                )
            if name not in q.select:
                q.select.append(name)
    if "$top" in args:
        raw = args["$top"]
        if parse_int(raw) is None or not 1 <= int(raw) <= coll.max_top:  # bounded: no int() of 5,000 digits
            raise _bad(
                f"Invalid page size specified: '{clip(raw)}'. Must be between 1 and {coll.max_top} inclusive.",
                UNSUPPORTED,
            )
        q.top = int(raw)
    if "$count" in args:
        raw = args["$count"].lower()
        if raw not in ("true", "false"):
            raise _bad(
                f"Invalid value '{args['$count']}' for $count query option found. The $count query option "
                "requires a Boolean value."
            )
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
            raise _bad(
                f"Too many child clauses specified in search filter expression containing 'OR' operators: "
                f"{info.max_or_clauses}. Max allowed: {MAX_OR_CLAUSES}.",
                UNSUPPORTED,
            )
        for path, op, value in info.count_comparisons:
            # Documented forms only: /$count eq|ne 0 (empty or not) and eq|ne 1 (advanced-queries page).
            if op not in ("eq", "ne") or isinstance(value, bool) or value not in (0, 1):
                raise _bad(
                    f"Unsupported or invalid query filter clause specified for property '{path}' of "
                    f"resource '{coll.resource}'.",
                    UNSUPPORTED,
                )
        for path in sorted(info.counted):
            if path not in coll.countable:
                raise _bad(
                    f"Unsupported or invalid query filter clause specified for property '{path}' of "
                    f"resource '{coll.resource}'.",
                    UNSUPPORTED,
                )
            reasons.append(path)
        for path in sorted(info.properties):
            root = path.split("/")[0]
            q.needed.add(root)
            if root not in coll.properties:
                raise _bad(
                    f"Invalid filter clause: Could not find a property named '{root}' on type "
                    f"'microsoft.graph.{coll.type_name}'."
                )
            if coll.filterable and root not in coll.filterable and root not in coll.advanced_only:
                raise _bad(
                    f"Unsupported or invalid query filter clause specified for property '{root}' of "
                    f"resource '{coll.resource}'.",
                    UNSUPPORTED,
                )
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
                raise _bad(f"Could not find a property named '{bits[0]}' on type 'microsoft.graph.{coll.type_name}'.")
            q.orderby.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
            q.needed.add(bits[0])
            if q.ast is not None or bits[0] not in coll.default_orderable:
                reasons.append("$orderby")
    if "$search" in args:
        q.search = _parse_search(args["$search"], coll)
        q.needed.update(prop for prop, _ in q.search)
        reasons.append("$search")
    eventual = consistency_eventual()
    if q.count and not eventual and reasons == ["$count"]:
        # "silently ignores the $count query parameter (?$count=true)" without the header (advanced queries page).
        q.count = False
        reasons = []
    if reasons and not carried:
        if not coll.supports_advanced:
            raise _bad("Unsupported Query.", UNSUPPORTED)
        needs_count = any(r not in ("$search", "$count") for r in reasons)
        if "$search" in reasons and not eventual:
            raise _bad(
                "Request with $search query parameter only works through MSGraph with a special request "
                "header: 'ConsistencyLevel: eventual'",
                UNSUPPORTED,
            )
        if not eventual or (needs_count and not q.count):
            first = next((r for r in reasons if not r.startswith("$")), None)
            if first is None:
                # $orderby on a property that is not sortable by default, or together with $filter.
                raise _bad("Sorting not supported for current query.", UNSUPPORTED)
            raise _bad(
                f"Unsupported or invalid query filter clause specified for property '{first}' of resource "
                f"'{coll.resource}'.",
                UNSUPPORTED,
            )
    q.advanced = bool(reasons) or carried
    if any(e.levels is not None for e in q.expand) and not (eventual and q.count):
        # manager($levels=...) needs $count=true and ConsistencyLevel: eventual (List manager, example 2).
        raise _bad("Unsupported Query.", UNSUPPORTED)
    if q.expand and q.advanced and not all(e.levels is not None for e in q.expand):
        # "$expand is not currently supported with advanced queries" (advanced-queries page, Note).
        raise _bad("Unsupported Query.", UNSUPPORTED)
    return q


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses (one linear pass)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise _bad(
                    f"Parsing OData Select and Expand failed: Term '{text}' is not valid in a $select or "
                    "$expand expression."
                )
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise _bad(
            f"Parsing OData Select and Expand failed: Term '{text}' is not valid in a $select or $expand expression."
        )
    parts.append(text[start:])
    return parts


def parse_expand(raw: str, coll: Collection) -> list[Expand]:
    """``$expand=manager($select=id,displayName;$levels=max),directReports``: validated against the type's
    navigation properties (unknown names and structural properties are refused as Graph's OData parser does)."""
    if coll.navigation is None:
        raise GraphError(
            501,
            "notImplemented",
            "$expand is not emulated by the mock for this resource.",
            {"x-hybridsoa-note": f"hybridsoa models no navigation property of microsoft.graph.{coll.type_name}."},
        )
    items: list[Expand] = []
    for part in _split_top(raw, ","):
        part = part.strip()
        name, paren, rest = part.partition("(")
        name = name.strip()
        if not name:
            raise _bad(
                f"Parsing OData Select and Expand failed: Term '{raw}' is not valid in a $select or $expand expression."
            )
        if name not in coll.navigation:
            if name in coll.properties:
                raise _bad(
                    f"Parsing OData Select and Expand failed: Property '{name}' on type "
                    f"'microsoft.graph.{coll.type_name}' is not a navigation property or complex property. "
                    "Only navigation properties can be expanded."
                )
            if name in coll.unmodelled_navigation:
                raise GraphError(
                    501,
                    "notImplemented",
                    f"The mock does not emulate '$expand={name}'.",
                    {
                        "x-hybridsoa-note": f"hybridsoa does not model the '{name}' relationship; only "
                        f"{', '.join(sorted(coll.navigation))} can be expanded."
                    },
                )
            raise _bad(
                f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on type "
                f"'microsoft.graph.{coll.type_name}'."
            )
        item = Expand(name)
        if paren:
            if not rest.endswith(")"):
                raise _bad(
                    f"Parsing OData Select and Expand failed: Term '{part}' is not valid in a $select or "
                    "$expand expression."
                )
            for option in _split_top(rest[:-1], ";"):
                key, eq, value = option.strip().partition("=")
                key = key.strip().lower()
                if key == "$select" and eq:
                    item.select = [p.strip() for p in value.split(",") if p.strip()]
                    for sel in item.select:
                        if sel not in coll.properties:
                            raise _bad(
                                f"Parsing OData Select and Expand failed: Could not find a property named "
                                f"'{sel}' on type 'microsoft.graph.{coll.type_name}'."
                            )
                elif key == "$levels" and eq and name == "manager":
                    value = value.strip().lower()
                    if value == "max":
                        item.levels = -1
                    elif value.isdecimal() and int(value) >= 1:
                        item.levels = int(value)
                    else:
                        raise _bad("Unsupported Query.", UNSUPPORTED)
                else:
                    raise _bad("Unsupported Query.", UNSUPPORTED)
        if not any(e.name == name for e in items):  # the same navigation property twice expands it once
            items.append(item)
    return items


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
    pairs = [
        p for p in pairs if (q.ast is None or evaluate(q.ast, p[0])) and (not q.search or _search_match(p[0], q.search))
    ]
    for prop, desc in reversed(q.orderby):
        pairs.sort(key=lambda p: (p[0].get(prop) is None, str(p[0].get(prop) or "").casefold()), reverse=desc)
    return [item for _, item in pairs]


def apply(q: Query, views: list[dict]) -> list[dict]:
    """:func:`run` over already-rendered views (small collections)."""
    return run(q, views, lambda view, _names: view)


def page(q: Query, items: list, coll: Collection) -> tuple[list, str | None]:
    """One page from ``q.offset``, and the absolute ``@odata.nextLink`` (same query, next skiptoken) if more."""
    size = q.top or coll.default_top
    chunk = items[q.offset : q.offset + size]
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
