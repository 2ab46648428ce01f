"""Control plane: the request journal (``GET|DELETE|PATCH /_mock/tenants/{t}/requests``), WireMock's
``/__admin/requests`` per tenant: what the system under test really sent, secrets redacted."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import Schema, fields, validate

from ...domain.bounds import parse_int
from ...domain.clock import parse_iso
from ..middleware import journal_view
from .blueprint import bp
from .common import ControlError, load_body, tenant_or_404


class JournalSettingsSchema(Schema):
    """``{"limit": N}``: ring-buffer size."""

    limit = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))


def _since(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_iso(value)
    except ValueError:
        raise ControlError(400, "ValidationError", "since must be an ISO-8601 time or epoch seconds.") from None


def _limit(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    number = parse_int(value)
    if number is None or number < 1:
        raise ControlError(400, "ValidationError", "limit must be a positive integer.")
    return number


@bp.get("/tenants/<t>/requests")
def list_requests(t):
    """Journal entries filtered by api, cmdlet, status (``429``, ``5xx``, ``200,201``), since, method, path;
    with counts over the matches (``counts``) and over the whole buffer (``total``)."""
    tenant = tenant_or_404(t)
    args = request.args
    api = args.get("api") or None
    if api is not None and api not in ("exchange", "graph", "identity"):
        raise ControlError(400, "ValidationError", "api must be exchange, graph or identity.")
    status = args.get("status") or None
    if status is not None and not all(
        p.strip().lower().rstrip("x").isdecimal() for p in status.split(",") if p.strip()
    ):
        raise ControlError(400, "ValidationError", "status must look like 429, 5xx or 200,201.")
    matched = tenant.journal.query(
        api=api,
        cmdlet=args.get("cmdlet") or None,
        status=status,
        since=_since(args.get("since")),
        method=args.get("method") or None,
        path=args.get("path") or None,
    )
    counts = tenant.journal.counts(matched)
    limit = _limit(args.get("limit"))
    shown = matched[-limit:] if limit else matched
    return jsonify(
        value=[journal_view(e) for e in shown],
        count=len(matched),
        counts=counts,
        total=len(tenant.journal.entries),
        limit=tenant.journal.limit,
        dropped=tenant.journal.dropped,
    )


@bp.delete("/tenants/<t>/requests")
def clear_requests(t):
    """Forget every journal entry of the tenant."""
    tenant = tenant_or_404(t)
    tenant.journal.clear()
    return "", 204


@bp.patch("/tenants/<t>/requests")
def configure_requests(t):
    """Resize the ring buffer (``{"limit": N}``), keeping the newest entries.
    ---
    patch:
      requestBody:
        content:
          application/json:
            schema: JournalSettingsSchema
      responses:
        200:
          description: The new limit and how many entries are kept.
    """
    tenant = tenant_or_404(t)
    body = load_body(JournalSettingsSchema())
    tenant.journal.resize(body["limit"])
    return jsonify(limit=tenant.journal.limit, total=len(tenant.journal.entries))
