"""Control plane: the tenant clock (``GET /_mock/tenants/{t}/clock``, ``POST .../clock/advance {minutes}``).
Advancing runs everything that comes due, in time order: scheduled Connect cycles, write-back runs,
forward-sync deliveries, purges of soft-deleted objects, PIM expiries."""

from __future__ import annotations

from flask import jsonify
from marshmallow import Schema, fields, validate

from ...domain.clock import iso
from .blueprint import bp
from .common import load_body, tenant_or_404
from .sync import StrictBoolean

#: One advance may move a tenant at most a year (keeps a single request bounded).
MAX_ADVANCE_MINUTES = 366 * 24 * 60


class ClockAdvanceSchema(Schema):
    """Body of ``POST /_mock/tenants/{t}/clock/advance``."""

    minutes = fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Range(0, MAX_ADVANCE_MINUTES),
        metadata={"description": "Tenant minutes to move forward (due work runs on the way)."},
    )


class ClockPatchSchema(Schema):
    """Body of ``PATCH /_mock/tenants/{t}/clock`` (both optional)."""

    speed = fields.Float(
        allow_nan=False,
        validate=validate.Range(0.01, 10_000),
        metadata={"description": "Tenant seconds per real second while running (1 = real time)."},
    )
    frozen = StrictBoolean(metadata={"description": "Stop the clock (only clock/advance moves it) or let it run."})


def _clock_view(tenant) -> dict:
    clock = tenant.clock
    dues = [t.next_due() for t in tenant.timers]
    dues = [d for d in dues if d is not None]
    return {
        "now": iso(clock.now()),
        "epochSeconds": clock.now(),
        "frozen": clock.frozen,
        "speed": clock.speed,
        "nextDueDateTime": iso(min(dues)) if dues else None,
    }


@bp.route("/tenants/<tenant_key>/clock", methods=["GET"])
def get_clock(tenant_key: str):
    """Read the tenant clock.
    ---
    get:
      responses:
        200:
          description: "{now, epochSeconds, frozen, speed, nextDueDateTime}: tenant time and next scheduled work."
        404:
          description: Unknown tenant.
    """
    tenant = tenant_or_404(tenant_key)
    return jsonify(_clock_view(tenant))


@bp.route("/tenants/<tenant_key>/clock", methods=["PATCH"])
def patch_clock(tenant_key: str):
    """Speed the tenant clock up (or down), freeze it or let it run again, from its current reading.
    ---
    patch:
      requestBody:
        content:
          application/json:
            schema: ClockPatchSchema
      responses:
        200:
          description: The clock after the change.
        400:
          description: Invalid speed or frozen value (nothing changes).
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(ClockPatchSchema())
    before = {"speed": tenant.clock.speed, "frozen": tenant.clock.frozen}
    tenant.clock.configure(speed=body.get("speed"), frozen=body.get("frozen"))
    after = {"speed": tenant.clock.speed, "frozen": tenant.clock.frozen}
    tenant.add_audit_record(
        "control",
        "SetClock",
        None,
        target=tenant.id,
        parameters=body,
        changes={k: {"old": before[k], "new": after[k]} for k in before if before[k] != after[k]},
    )
    return jsonify(_clock_view(tenant))


@bp.route("/tenants/<tenant_key>/clock/advance", methods=["POST"])
def advance_clock(tenant_key: str):
    """Move the tenant clock forward, running due work in order.
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: ClockAdvanceSchema
      responses:
        200:
          description: "The clock after the move, plus previous (time before) and ran (timer runs that happened)."
        400:
          description: minutes missing, negative or too large (nothing changes).
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(ClockAdvanceSchema())
    before = tenant.clock.now()
    ran = tenant.advance(body["minutes"])
    tenant.add_audit_record(
        "control",
        "AdvanceClock",
        None,
        target=tenant.id,
        parameters={"minutes": body["minutes"]},
        changes={"now": {"old": iso(before), "new": iso(tenant.clock.now())}},
    )
    out = _clock_view(tenant)
    out.update({"previous": iso(before), "ran": ran})
    return jsonify(out)
