"""Control plane: Entra Connect (``GET|PATCH /_mock/tenants/{t}/sync``, ``POST|GET .../sync/cycles``), the
mock's stand-in for Get-/Set-ADSyncScheduler, Start-ADSyncSyncCycle and the run history of Synchronization
Service Manager. ``policyType: Writeback`` runs the Cloud Sync write-back job on demand (provision on demand)."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from ...domain.bounds import parse_int
from .blueprint import bp
from .common import ControlError, load_body, tenant_or_404


class StrictBoolean(fields.Boolean):
    """JSON true/false only (marshmallow's Boolean also takes 1, "yes", ...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class WritebackSettingsSchema(Schema):
    """The ``writeback`` block: Cloud Sync "EXO to AD attribute sync"."""

    enabled = StrictBoolean(metadata={"description": "Run the write-back job."})
    intervalMinutes = fields.Integer(
        strict=True, validate=validate.Range(1, 1440), metadata={"description": "Write-back cycle (default 20)."}
    )


class SyncPatchSchema(Schema):
    """Body of ``PATCH /_mock/tenants/{t}/sync`` (every field optional)."""

    intervalMinutes = fields.Integer(
        strict=True,
        validate=validate.Range(1, 10080),
        metadata={
            "description": "CustomizedSyncCycleInterval (default 30). Below "
            "Entra Connect's AllowedSyncCycleInterval (30) it is "
            "kept but the scheduler still runs every 30 minutes."
        },
    )
    mockCycleIntervalMinutes = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(1, 10080),
        metadata={
            "description": "MOCK-ONLY: scheduler cadence that overrides the real 30-minute minimum (null = off)."
        },
    )
    enabled = StrictBoolean(metadata={"description": "SyncCycleEnabled."})
    connectVersion = fields.String(
        metadata={
            "description": "Connect Sync build; below 2.5.76.0 IsExchangeCloudManaged is not honoured.",
            "pattern": r"^[0-9]{1,9}(\.[0-9]{1,9}){1,3}$",
        }
    )
    ouScope = fields.List(
        fields.String(),
        metadata={"description": "Selected OUs (DNs); [] = whole domain. A change makes the next cycle Initial."},
    )
    deletionThreshold = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(0, 10_000_000),
        metadata={"description": "Accidental-delete threshold (default 500); null disables the check."},
    )
    writeback = fields.Nested(WritebackSettingsSchema)


class SyncCycleSchema(Schema):
    """Body of ``POST /_mock/tenants/{t}/sync/cycles``."""

    policyType = fields.String(
        load_default="Delta",
        validate=validate.OneOf(("Delta", "Initial", "Writeback")),
        metadata={
            "description": "Delta (changes since the last cycle), Initial (everything) "
            "or Writeback (run the write-back job now)."
        },
    )


@bp.route("/tenants/<tenant_key>/sync", methods=["GET"])
def get_sync(tenant_key: str):
    """Read Entra Connect's settings and scheduler state.
    ---
    get:
      responses:
        200:
          description: "intervalMinutes, enabled, connectVersion, ouScope, deletionThreshold, writeback{enabled,
            intervalMinutes, nextRunTime}, nextSyncCycleStartTime, nextSyncCyclePolicyType, lastCycle, ..."
    """
    tenant = tenant_or_404(tenant_key)
    return jsonify(tenant.sync.describe())


@bp.route("/tenants/<tenant_key>/sync", methods=["PATCH"])
def patch_sync(tenant_key: str):
    """Change Entra Connect settings (all or nothing).
    ---
    patch:
      requestBody:
        content:
          application/json:
            schema: SyncPatchSchema
      responses:
        200:
          description: The settings and scheduler state after the change.
        400:
          description: Unknown key or invalid value (nothing changes).
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(SyncPatchSchema())
    before = tenant.sync.describe()
    after = tenant.sync.update_settings(body)
    changes = {k: {"old": before.get(k), "new": after.get(k)} for k in body if before.get(k) != after.get(k)}
    tenant.add_audit_record("control", "Set-ADSyncScheduler", None, target=tenant.id, parameters=body, changes=changes)
    resp = jsonify(after)
    if after["intervalMinutes"] < after["allowedSyncCycleIntervalMinutes"] and not after.get(
        "mockCycleIntervalMinutes"
    ):
        resp.headers["x-hybridsoa-note"] = (
            "intervalMinutes is below Entra Connect's AllowedSyncCycleInterval (30 minutes): like "
            "Set-ADSyncScheduler it is kept as CustomizedSyncCycleInterval and the scheduler runs every 30 "
            "minutes. Set the mock-only mockCycleIntervalMinutes for a faster cadence."
        )
    return resp


@bp.route("/tenants/<tenant_key>/sync/cycles", methods=["POST"])
def start_sync_cycle(tenant_key: str):
    """Run one cycle now (Start-ADSyncSyncCycle) and answer its run record.
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: SyncCycleSchema
      responses:
        200:
          description: "The run record: id, policyType, trigger, startDateTime, status (success,
            completed-export-errors, stopped-deletion-threshold-exceeded), adds, updates, deletes, unchanged,
            skippedCloudManaged, pendingDeletes, errorCount, errors[]."
        400:
          description: Unknown policyType.
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(SyncCycleSchema())
    if body["policyType"] == "Writeback":
        record = tenant.sync.writeback.run(trigger="Manual")
    else:
        record = tenant.sync.run_cycle(body["policyType"], scheduled=False)
    tenant.add_audit_record(
        "control",
        "Start-ADSyncSyncCycle",
        None,
        target=tenant.id,
        parameters=body,
        succeeded=record["status"] != "stopped-deletion-threshold-exceeded",
        changes={"run": {"old": None, "new": record["id"]}},
    )
    return jsonify(record)


@bp.route("/tenants/<tenant_key>/sync/cycles", methods=["GET"])
def list_sync_cycles(tenant_key: str):
    """The run history, oldest first (filter with policyType=Delta|Initial|Writeback, keep the last top).
    ---
    get:
      parameters:
        - {name: policyType, in: query, schema: {type: string, enum: [Delta, Initial, Writeback]}}
        - {name: top, in: query, schema: {type: integer, minimum: 1, maximum: 2000}}
      responses:
        200:
          description: "{value: [run records], count}"
    """
    tenant = tenant_or_404(tenant_key)
    policy = request.args.get("policyType")
    if policy is not None and policy not in ("Delta", "Initial", "Writeback"):
        raise ControlError(400, "InvalidQuery", "policyType must be Delta, Initial or Writeback.")
    top = request.args.get("top")
    if top is not None:
        top = parse_int(top)
        if top is None or not 1 <= top <= 2000:
            raise ControlError(400, "InvalidQuery", "top must be an integer from 1 to 2000.")
    runs = [r for r in tenant.sync.history if policy is None or r.get("policyType") == policy]
    if top is not None:
        runs = runs[-top:]
    return jsonify({"value": runs, "count": len(runs)})


@bp.route("/tenants/<tenant_key>/sync/cycles/<run_id>", methods=["GET"])
def get_sync_cycle(tenant_key: str, run_id: str):
    """One run record by id.
    ---
    get:
      responses:
        200:
          description: The run record.
        404:
          description: No run with this id (or it aged out of the history).
    """
    tenant = tenant_or_404(tenant_key)
    for run in tenant.sync.history:
        if run.get("id") == run_id:
            return jsonify(run)
    raise ControlError(404, "RunNotFound", f"No sync run '{run_id}'.")
