"""Control plane: the tenant audit log (``GET /_mock/tenants/{t}/audit``): one record per state-changing or
attempted operation, with caller, parameters, outcome and what really changed."""

from __future__ import annotations

from flask import jsonify, request

from ...domain.bounds import parse_int
from ...domain.clock import iso, parse_iso
from .blueprint import bp
from .common import ControlError, tenant_or_404

_BOOL = {"true": True, "false": False}


def audit_view(record) -> dict:
    """A record as the control plane shows it (ISO time)."""
    out = record.to_dict()
    out["time"] = iso(record.time)
    return out


@bp.route("/tenants/<tenant_key>/audit", methods=["GET"])
def get_audit(tenant_key: str):
    """Audit records, oldest first; filters: api, operation, target, caller, succeeded, changed, since, limit.
    ---
    get:
      parameters:
        - {name: api, in: query, schema: {type: string}, description: "exchange, graph, control, ..."}
        - {name: operation, in: query, schema: {type: string},
           description: "Cmdlet or operation name (case-insensitive)."}
        - {name: target, in: query, schema: {type: string}}
        - {name: caller, in: query, schema: {type: string}, description: "UPN, app id or object id of the caller."}
        - {name: succeeded, in: query, schema: {type: boolean}}
        - {name: changed, in: query, schema: {type: boolean}}
        - {name: since, in: query, schema: {type: string, format: date-time}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1}, description: "Keep only the newest N."}
      responses:
        200:
          description: "{value: [records]}"
    """
    tenant = tenant_or_404(tenant_key)
    args = request.args
    since = None
    if args.get("since"):
        try:
            since = parse_iso(args["since"])
        except ValueError:
            raise ControlError(400, "ValidationError", "since must be an ISO-8601 date and time.") from None
    flags = {}
    for name in ("succeeded", "changed"):
        if name in args:
            if args[name].lower() not in _BOOL:
                raise ControlError(400, "ValidationError", f"{name} must be true or false.")
            flags[name] = _BOOL[args[name].lower()]
    limit = None
    if args.get("limit"):
        limit = parse_int(args["limit"])
        if limit is None or limit < 1:
            raise ControlError(400, "ValidationError", "limit must be a positive integer.")
    caller = (args.get("caller") or "").lower() or None
    records = tenant.audit.query(
        api=args.get("api") or None,
        operation=args.get("operation") or None,
        target=args.get("target") or None,
        since=since,
    )
    out = [
        r
        for r in records
        if all(getattr(r, k) == v for k, v in flags.items())
        and (caller is None or caller in {str(x).lower() for x in (r.caller or {}).values() if x})
    ]
    if limit:
        out = out[-limit:]
    return jsonify({"value": [audit_view(r) for r in out]})
