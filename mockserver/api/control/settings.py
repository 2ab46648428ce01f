"""Control plane: tenant behaviour settings (``GET|PATCH /_mock/tenants/{t}/settings``): the profile that
decides who may flip IsExchangeCloudManaged, forward-sync delay, device-code auto-approval, token lifetime."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import Schema, fields, validate

from ...domain.tenant import PROFILES
from .blueprint import bp
from .common import ControlError, tenant_or_404


class SettingsPatchSchema(Schema):
    """Body of ``PATCH /_mock/tenants/{t}/settings`` (every field optional)."""

    profile = fields.String(
        validate=validate.OneOf(PROFILES),
        metadata={
            "description": "ga (Exchange Admin may toggle), preview (without Hybrid Identity "
            "Admin or Global Admin the toggle silently does nothing), strict "
            "(without them the toggle fails with an RBAC error)."
        },
    )
    forwardSyncDelayMinutes = fields.Float(
        validate=validate.Range(0, 24 * 60), metadata={"description": "Entra -> Exchange Online propagation delay."}
    )
    deviceCodeAutoApprove = fields.Boolean(
        truthy={True}, falsy={False}, metadata={"description": "Approve device-code sign-ins automatically."}
    )
    tokenLifetimeSeconds = fields.Integer(
        strict=True, validate=validate.Range(60, 86400), metadata={"description": "Lifetime of issued access tokens."}
    )


_KNOWN = set(SettingsPatchSchema().fields)


@bp.route("/tenants/<tenant_key>/settings", methods=["GET"])
def get_settings(tenant_key: str):
    """Read the tenant's behaviour settings.
    ---
    get:
      responses:
        200:
          description: The settings object (profile, forwardSyncDelayMinutes, deviceCodeAutoApprove, ...).
    """
    tenant = tenant_or_404(tenant_key)
    return jsonify(dict(tenant.settings))


@bp.route("/tenants/<tenant_key>/settings", methods=["PATCH"])
def patch_settings(tenant_key: str):
    """Change some behaviour settings; answers with the whole settings object.
    ---
    patch:
      requestBody:
        content:
          application/json:
            schema: SettingsPatchSchema
      responses:
        200:
          description: The settings after the change.
        400:
          description: Unknown key or invalid value (nothing changes).
    """
    tenant = tenant_or_404(tenant_key)
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ControlError(400, "InvalidBody", "The request body must be a JSON object.")
    # Settings other rooms add to tenant.settings are patchable too, with the type of their current value.
    extra = {k: v for k, v in raw.items() if k not in _KNOWN and k in tenant.settings}
    for key, value in extra.items():
        current = tenant.settings[key]
        if current is not None and not _same_kind(current, value):
            raise ControlError(
                400,
                "ValidationError",
                "The request body is invalid.",
                {key: [f"Must be of type {type(current).__name__}."]},
            )
    data = _load({k: v for k, v in raw.items() if k not in extra})
    data.update(extra)
    changes = {k: {"old": tenant.settings.get(k), "new": v} for k, v in data.items() if tenant.settings.get(k) != v}
    tenant.settings.update(data)
    tenant.add_audit_record("control", "PatchSettings", None, target=tenant.id, parameters=raw, changes=changes)
    return jsonify(dict(tenant.settings))


def _load(body: dict) -> dict:
    from marshmallow import ValidationError

    try:
        return SettingsPatchSchema().load(body)
    except ValidationError as exc:
        raise ControlError(400, "ValidationError", "The request body is invalid.", exc.messages) from None


def _same_kind(current, value) -> bool:
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(current))
