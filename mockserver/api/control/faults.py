"""Control plane: fault injection and throttling (``GET|POST|DELETE /_mock/tenants/{t}/faults``), the
Dev Proxy-style knobs vendors use to see how their automation copes with 429s, 5xx and slow answers."""

from __future__ import annotations

from flask import jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ...domain.faults import APIS, FAULT_STATUSES
from .blueprint import bp
from .common import load_body, tenant_or_404


class ThrottleSchema(Schema):
    """``{"api": "exchange", "rate": 2, "burst": 10}``: a token bucket per calling app (rate per second)."""

    api = fields.String(required=True, validate=validate.OneOf(APIS))
    rate = fields.Float(required=True, validate=validate.Range(min=0.001, max=1_000_000))
    burst = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=1_000_000))


class FaultRuleSchema(Schema):
    """A fault rule: matchers (api, cmdlet, path, method, app, user) and effects (status, latencyMs)."""

    api = fields.String(load_default="*", validate=validate.OneOf(APIS + ("*",)))
    cmdlet = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    path = fields.String(load_default=None, validate=validate.Length(min=1, max=512))
    method = fields.String(load_default=None, validate=validate.OneOf(("GET", "POST", "PATCH", "PUT", "DELETE")))
    app = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    user = fields.String(load_default=None, validate=validate.Length(min=1, max=256))
    status = fields.Integer(strict=True, load_default=None, validate=validate.OneOf(FAULT_STATUSES))
    probability = fields.Float(load_default=1.0, validate=validate.Range(min=0.0, max=1.0))
    latencyMs = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=0, max=120_000)),
        load_default=None,
        validate=validate.Length(min=1, max=2),
    )
    count = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=10_000_000))
    retryAfter = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=0, max=3600))
    message = fields.String(load_default=None, validate=validate.Length(max=1000))
    #: With status 401: a continuous-access-evaluation claims challenge instead of a plain invalid_token.
    claimsChallenge = fields.Boolean(load_default=False)
    throttle = fields.Nested(ThrottleSchema, load_default=None)

    @validates_schema
    def _needs_an_effect(self, data, **_kwargs):
        if data.get("throttle") is None and data.get("status") is None and data.get("latencyMs") is None:
            raise ValidationError("Give a status, a latencyMs range, both, or a throttle object.")


@bp.get("/tenants/<t>/faults")
def get_faults(t):
    """Fault rules (with hit counters) and the throttling policy of each api (null when off)."""
    tenant = tenant_or_404(t)
    return jsonify(tenant.faults.describe())


@bp.post("/tenants/<t>/faults")
def add_fault(t):
    """Add a fault rule, or (body ``{"throttle": {...}}``) turn on throttling for one api.
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: FaultRuleSchema
      responses:
        201:
          description: "The rule with its id and counters, or the throttling policy (api, rate, burst)."
        400:
          description: Invalid rule (nothing changes).
    """
    tenant = tenant_or_404(t)
    body = load_body(FaultRuleSchema())
    if body.get("throttle") is not None:
        th = body["throttle"]
        policy = tenant.faults.set_throttle(th["api"], th["rate"], th["burst"])
        return jsonify(throttling=policy.to_dict()), 201
    spec = {k: v for k, v in body.items() if k != "throttle"}
    rule = tenant.faults.add_rule(spec)
    return jsonify(rule.to_dict()), 201


@bp.delete("/tenants/<t>/faults")
def clear_faults(t):
    """Remove every fault rule and turn throttling off."""
    tenant = tenant_or_404(t)
    tenant.faults.clear()
    return "", 204


@bp.delete("/tenants/<t>/faults/<rule_id>")
def delete_fault(t, rule_id):
    """Remove one fault rule by id."""
    tenant = tenant_or_404(t)
    tenant.faults.remove_rule(rule_id)
    return "", 204


@bp.delete("/tenants/<t>/faults/throttling/<api>")
def delete_throttle(t, api):
    """Turn throttling off for one api.
    ---
    delete:
      parameters:
      - {name: api, in: path, required: true, schema: {type: string, enum: [exchange, graph, identity]}}
      responses:
        204:
          description: Throttling is off for that api.
    """
    tenant = tenant_or_404(t)
    if api not in APIS:
        from .common import ControlError

        raise ControlError(400, "ValidationError", f"api must be one of {', '.join(APIS)}.")
    tenant.faults.clear_throttle(api)
    return "", 204
