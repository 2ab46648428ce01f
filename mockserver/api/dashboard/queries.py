"""Dashboard helpers that are about the web page rather than the domain: query-string parsing (lenient: a bad
value falls back to its default, a read-only page never errors on a filter), server-side paging, value
formatting, and secret redaction of anything shown that another subsystem recorded."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from flask import request, url_for

from ...domain.clock import iso

DEFAULT_PER_PAGE = 50
PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
MAX_SEARCH_CHARS = 200
REDACTED = "••• redacted"
#: Query arguments the dashboard's pages understand (kept in paging links).
LINK_ARGS = frozenset(
    (
        "q",
        "type",
        "dirsynced",
        "cloudmanaged",
        "deleted",
        "per_page",
        "status",
        "policy",
        "api",
        "operation",
        "outcome",
        "method",
        "cmdlet",
    )
)

#: Field names whose values are secrets (client secrets, passwords, private keys, tokens, assertions, cookies).
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|pwd$|private|token|assertion|authorization|credential|cookie|"
    r"code_verifier|^code$|device_?code|user_?code|signing|pem$|^key$|apikey|api_key)",
    re.IGNORECASE,
)
#: Values that are secrets whatever their field is called: JWTs, PEM blocks, bearer headers.
_SECRET_VALUE = re.compile(
    r"(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.|-----BEGIN [A-Z ]*-----|^\s*bearer\s+\S)", re.IGNORECASE
)
_MAX_DEPTH = 8
_MAX_ITEMS = 200
_MAX_CHARS = 2000


def redact(value, _depth: int = 0):
    """A JSON-like copy of ``value`` with secrets replaced: secret-named keys, JWT/PEM/bearer-looking strings."""
    if _depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        # Numbers and flags under a secret-sounding name (tokenLifetimeSeconds, deviceCodeAutoApprove) are
        # settings, not secrets.
        return {
            str(k): (
                REDACTED
                if _SECRET_KEY.search(str(k)) and isinstance(v, (str, bytes, list, dict)) and v
                else redact(v, _depth + 1)
            )
            for k, v in list(value.items())[:_MAX_ITEMS]
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v, _depth + 1) for v in list(value)[:_MAX_ITEMS]]
    if isinstance(value, str):
        if _SECRET_VALUE.search(value):
            return REDACTED
        return value if len(value) <= _MAX_CHARS else value[:_MAX_CHARS] + "…"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if hasattr(value, "to_dict"):
        try:
            return redact(value.to_dict(), _depth + 1)
        except Exception:  # noqa: BLE001 - a foreign object that cannot describe itself is shown by type only
            return f"<{type(value).__name__}>"
    return redact(str(value), _depth + 1)


def to_json(value) -> str:
    """Redacted, pretty JSON for a <pre> block (the template escapes it)."""
    return json.dumps(redact(value), indent=2, default=str, ensure_ascii=False)


# ----------------------------------------------------------------------------------------------- parsing
def arg_text(name: str) -> str:
    """A free-text query argument, trimmed and bounded."""
    return (request.args.get(name) or "").strip()[:MAX_SEARCH_CHARS]


def arg_bool(name: str) -> bool | None:
    """A tri-state filter: ``true``/``false`` (also 1/0, yes/no), anything else means "any"."""
    value = (request.args.get(name) or "").strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    return None


def arg_choice(name: str, choices) -> str | None:
    """One of ``choices`` (case-insensitive, returned in the canonical spelling) or None."""
    value = (request.args.get(name) or "").strip().lower()
    for choice in choices:
        if choice.lower() == value:
            return choice
    return None


def arg_int(name: str, default: int, *, low: int = 1, high: int = 10**9) -> int:
    """A positive integer argument clamped to [low, high]; junk means the default."""
    try:
        value = int((request.args.get(name) or "").strip())
    except ValueError:
        return default
    return max(low, min(high, value))


# ------------------------------------------------------------------------------------------------ paging
@dataclass
class Page:
    """One page of a server-side paged list, with links that keep the other query arguments."""

    items: list
    page: int
    per_page: int
    total: int
    param: str = "page"
    anchor: str | None = None
    _endpoint: str = field(default="", repr=False)
    _view_args: dict = field(default_factory=dict, repr=False)
    _args: dict = field(default_factory=dict, repr=False)

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first_index(self) -> int:
        """1-based index of the first item shown (0 when empty)."""
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        """1-based index of the last item shown."""
        return min(self.total, self.page * self.per_page)

    def url(self, page: int) -> str:
        """Link to another page of this list."""
        args = dict(self._args)
        args[self.param] = page
        return url_for(self._endpoint, **self._view_args, **args, _anchor=self.anchor)

    def links(self) -> list[tuple[int | None, str | None]]:
        """Page numbers to link: first, last and a window around the current one (None = a gap)."""
        wanted = sorted({1, self.pages, *range(max(1, self.page - 2), min(self.pages, self.page + 2) + 1)})
        out, prev = [], 0
        for n in wanted:
            if n - prev > 1:
                out.append((None, None))
            out.append((n, self.url(n)))
            prev = n
        return out


class NewestFirst:
    """A newest-first view of an oldest-first list, sliceable without copying it (unfiltered logs page in
    O(page), however long the audit log or journal has grown)."""

    def __init__(self, items: list):
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: slice) -> list:
        start, stop, _ = index.indices(len(self._items))
        n = len(self._items)
        return self._items[n - stop : n - start][::-1] if stop > start else []


def paginate(
    sequence,
    *,
    param: str = "page",
    per_page: int | None = None,
    anchor: str | None = None,
    per_page_param: str = "per_page",
) -> Page:
    """Slice ``sequence`` (any sized, sliceable sequence) to the page named by the query string."""
    if per_page is None:
        per_page = arg_int(per_page_param, DEFAULT_PER_PAGE, low=5, high=max(PER_PAGE_CHOICES))
    total = len(sequence)
    pages = max(1, math.ceil(total / per_page))
    page = min(arg_int(param, 1), pages)
    start = (page - 1) * per_page
    items = list(sequence[start : start + per_page])
    # Only the dashboard's own filter names are carried into links: anything else could collide with url_for's
    # keywords (_external, _scheme, the view's own arguments) and must not turn a junk query into an error.
    args = {k: v for k, v in request.args.items() if k in LINK_ARGS and k != param and v != ""}
    return Page(
        items=items,
        page=page,
        per_page=per_page,
        total=total,
        param=param,
        anchor=anchor,
        _endpoint=request.endpoint,
        _view_args=dict(request.view_args or {}),
        _args=args,
    )


# ---------------------------------------------------------------------------------------------- formatting
def fmt_time(ts) -> str:
    """Epoch seconds (or an ISO string another subsystem stored) as ISO-8601 UTC; "" when unset."""
    if ts is None or ts == "":
        return ""
    if isinstance(ts, bool):
        return str(ts)
    if isinstance(ts, (int, float)):
        try:
            return iso(float(ts)) or ""
        except (OverflowError, OSError, ValueError):
            return str(ts)
    return str(ts)


def fmt_delta(seconds: float | None) -> str:
    """A short human duration (``in 29m 40s``, ``overdue``)."""
    if seconds is None:
        return ""
    if seconds <= 0:
        return "due now"
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{minutes}m"] * bool(minutes)
    if not days and not hours:
        parts.append(f"{secs}s")
    return "in " + " ".join(parts)


def fmt_value(value) -> str:
    """An attribute value as Exchange/PowerShell shows it: True/False, lists joined by '; ', empty as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return "; ".join(fmt_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(redact(value), default=str, ensure_ascii=False)
    return str(redact(value)) if isinstance(value, str) else str(value)


def fmt_params(params) -> str:
    """Cmdlet parameters / request details on one line (``-Identity x -IsExchangeCloudManaged True``), redacted."""
    params = redact(params)
    if isinstance(params, dict):
        return " ".join(f"-{k} {fmt_value(v)}".rstrip() for k, v in params.items())
    return fmt_value(params)


def fmt_fields(fields) -> str:
    """Other recorded fields on one line (``connectVersion 2.5.190.0 · honoursExchangeCloudManaged True``)."""
    fields = redact(fields)
    if isinstance(fields, dict):
        return " · ".join(f"{k} {fmt_value(v)}".rstrip() for k, v in fields.items())
    return fmt_value(fields)
