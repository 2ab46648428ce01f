"""Control plane: health, tenants (create, list, read, delete, reset, credentials) and device-code approval,
registered on the shared /_mock blueprint."""

from __future__ import annotations

import functools
import re
from importlib import metadata

from flask import jsonify, url_for
from marshmallow import Schema, ValidationError, fields, validate, validates

from ...domain.clock import parse_iso
from ...domain.onprem.ldap_tree import onprem_document
from ...domain.tenant import PROFILES
from ..common import registry
from . import security  # noqa: F401  (security registers the control-token check)
from .blueprint import bp
from .common import load_body, tenant_or_404
from .sync import StrictBoolean

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


_EARLIEST_START, _LATEST_START = 0.0, 221845392000.0  # 1970-01-01 and 9000-01-01 in epoch seconds


class TenantCreateSchema(Schema):
    """Body of ``POST /_mock/tenants``."""

    name = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Lowercase tenant name; the domain becomes <name>.onmicrosoft.com. Generated when absent.",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,47}$",
        },
    )
    profile = fields.String(
        load_default="ga",
        validate=validate.OneOf(PROFILES),
        metadata={"description": "How Set-Mailbox -IsExchangeCloudManaged is authorized."},
    )
    seed = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        metadata={"description": "Seed for every id, secret and generated user of the tenant."},
    )
    mailboxes = fields.Integer(
        load_default=25,
        strict=True,
        validate=validate.Range(0, 200_000),
        metadata={"description": "How many mail-enabled on-prem users to seed and sync."},
    )
    frozenClock = StrictBoolean(
        load_default=False, metadata={"description": "Freeze the tenant clock (tests move it explicitly)."}
    )
    clockStart = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "ISO-8601 start of the tenant clock (1970-01-01 to 9000-01-01).",
        },
    )
    tenantId = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Fixed tenant id (GUID).", "pattern": _GUID_RE.pattern},
    )
    scenario = fields.Raw(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "A scenario name (scenarios/<name>.yaml) or an inline tenant "
            "description object, applied after seeding.",
            "oneOf": [{"type": "string"}, {"type": "object"}],
        },
    )
    options = fields.Dict(load_default=dict, metadata={"description": "Free-form creation options."})

    @validates("tenantId")
    def _tenant_id_is_guid(self, value, **_kw):
        if value is not None and not _GUID_RE.match(value):
            raise ValidationError("tenantId must be a GUID.")

    @validates("scenario")
    def _scenario_is_name_or_object(self, value, **_kw):
        if value is not None and not isinstance(value, (str, dict)):
            raise ValidationError("scenario must be a scenario name or an inline tenant description object.")

    @validates("clockStart")
    def _clock_start_is_iso(self, value, **_kw):
        if value is not None:
            try:
                start = parse_iso(value)
            except (ValueError, OverflowError):
                raise ValidationError("clockStart must be an ISO-8601 date and time.") from None
            # The tenant's certificates and tokens are dated from its clock: X.509 needs 1950-9999, and timestamps
            # before 1970 are not epoch seconds every client handles.
            if not _EARLIEST_START <= start < _LATEST_START:
                raise ValidationError("clockStart must be between 1970-01-01 and 9000-01-01.")


class AppCredentialsSchema(Schema):
    """One seeded app registration with everything needed to sign in as it."""

    name = fields.String()
    clientId = fields.String()
    servicePrincipalId = fields.String()
    clientSecret = fields.String()
    certificatePem = fields.String()
    privateKeyPem = fields.String()
    thumbprint = fields.String()
    thumbprintSha256 = fields.String()
    appRoles = fields.List(fields.String())
    directoryRoles = fields.List(fields.String())


class UserCredentialsSchema(Schema):
    """One seeded admin user with its password and directory roles."""

    userPrincipalName = fields.String()
    password = fields.String()
    id = fields.String()
    directoryRoles = fields.List(fields.String())


class TenantCredentialsSchema(Schema):
    """``POST /_mock/tenants`` answer: the tenant and its sign-in material."""

    tenantId = fields.String()
    name = fields.String()
    domain = fields.String()
    profile = fields.String()
    seed = fields.Integer()
    apps = fields.List(fields.Nested(AppCredentialsSchema))
    users = fields.List(fields.Nested(UserCredentialsSchema))
    onprem = fields.Dict(
        metadata={
            "description": "The emulated AD over LDAP: ldapUrl (null without --ldap-port), "
            "baseDn, bindDn, userPrincipalName, password."
        }
    )


class TenantSummarySchema(Schema):
    """``GET /_mock/tenants/{t}``: identity and counts, no secrets."""

    tenantId = fields.String()
    name = fields.String()
    domain = fields.String()
    profile = fields.String()
    seed = fields.Integer()
    clock = fields.Dict()
    counts = fields.Dict()


class DeviceCodeApprovalSchema(Schema):
    """Body of ``POST /_mock/tenants/{t}/devicecodes/{user_code}/approve``."""

    userPrincipalName = fields.String(
        load_default=None, allow_none=True, metadata={"description": "Who signs in (default: globaladmin)."}
    )


class DeviceCodeSchema(Schema):
    """A device code as the control plane shows it."""

    userCode = fields.String()
    clientId = fields.String()
    scope = fields.String()
    status = fields.String()
    issuedDateTime = fields.String()
    expiresDateTime = fields.String()
    userId = fields.String(allow_none=True)


@functools.cache
def _version() -> str:
    # Looked up once: importlib.metadata reads the file system at every call (a dozen calls, about 1 ms of GIL),
    # and health must answer while a big tenant's rows are written and fsynced.
    try:
        return metadata.version("hybridsoa")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@bp.get("/health")
def health():
    """Liveness of the mock server.
    ---
    get:
      summary: Liveness of the mock server
      tags: [tenants]
      responses:
        200:
          description: The server is up.
    """
    return jsonify(status="ok", version=_version(), tenants=registry().count())


@bp.get("/tenants")
def list_tenants():
    """Every live tenant, without secrets.
    ---
    get:
      summary: List tenants
      tags: [tenants]
      responses:
        200:
          description: "{value: [TenantSummary]}"
    """
    # From each tenant's card: a tenant not loaded since a restart is listed from the store's index, not loaded.
    return jsonify(value=[card.summary() for card in registry().cards()])


@bp.post("/tenants")
def create_tenant():
    """Create and seed a tenant; the answer holds its apps and users with their credentials.
    ---
    post:
      summary: Create a tenant
      tags: [tenants]
      requestBody:
        required: false
        content:
          application/json:
            schema: TenantCreateSchema
      responses:
        201:
          description: The tenant with sign-in material.
          content:
            application/json:
              schema: TenantCredentialsSchema
        400:
          description: Invalid body.
        409:
          description: A tenant with that name or id exists.
    """
    body = load_body(TenantCreateSchema())
    clock_start = parse_iso(body["clockStart"]) if body.get("clockStart") else None
    tenant = registry().create(
        body.get("name"),
        profile=body["profile"],
        seed=body.get("seed"),
        mailboxes=body["mailboxes"],
        tenant_id=body.get("tenantId"),
        frozen_clock=body["frozenClock"],
        clock_start=clock_start,
        scenario=body.get("scenario"),
        options=body.get("options"),
    )
    with tenant.lock:
        answer = _credentials(tenant)
    response = jsonify(answer)
    response.status_code = 201
    response.headers["Location"] = url_for("control.get_tenant", t=tenant.id)
    return response


def _credentials(tenant) -> dict:
    # The tenant's sign-in material plus its on-prem AD account over LDAP (ldapUrl null without --ldap-port).
    return {**tenant.credentials(), "onprem": onprem_document(tenant, registry().ldap_url)}


@bp.get("/tenants/<t>")
def get_tenant(t: str):
    """One tenant by id, domain or name (no secrets).
    ---
    get:
      summary: Read a tenant
      tags: [tenants]
      responses:
        200:
          content:
            application/json:
              schema: TenantSummarySchema
        404:
          description: No such tenant.
    """
    tenant = tenant_or_404(t)
    return jsonify(tenant.summary())


@bp.get("/tenants/<t>/credentials")
def get_credentials(t: str):
    """The tenant's sign-in material, as ``POST /_mock/tenants`` answered it.
    ---
    get:
      summary: Read a tenant's credentials
      tags: [tenants]
      responses:
        200:
          content:
            application/json:
              schema: TenantCredentialsSchema
        404:
          description: No such tenant.
    """
    tenant = tenant_or_404(t)
    return jsonify(_credentials(tenant))


@bp.delete("/tenants/<t>")
def delete_tenant(t: str):
    """Delete a tenant and everything in it.
    ---
    delete:
      summary: Delete a tenant
      tags: [tenants]
      responses:
        204:
          description: Deleted.
        404:
          description: No such tenant.
    """
    if registry().drop_unloaded(t):
        return "", 204  # a tenant not loaded since a restart: its rows deleted, never loaded
    tenant = tenant_or_404(t)
    registry().delete(tenant.id)
    return "", 204


@bp.post("/tenants/<t>/reset")
def reset_tenant(t: str):
    """Rebuild the tenant from its creation spec: same id, same seed, seeded state.
    ---
    post:
      summary: Reset a tenant to its seeded state
      tags: [tenants]
      responses:
        200:
          content:
            application/json:
              schema: TenantCredentialsSchema
        404:
          description: No such tenant.
    """
    tenant = tenant_or_404(t)
    fresh = registry().reset(tenant.id)
    with fresh.lock:
        return jsonify(_credentials(fresh))


@bp.get("/tenants/<t>/devicecodes")
def list_device_codes(t: str):
    """Device codes issued in the tenant and their state.
    ---
    get:
      summary: List device codes
      tags: [tenants]
      responses:
        200:
          description: "{value: [DeviceCode]}"
    """
    tenant = tenant_or_404(t)
    return jsonify(value=[flow.describe() for flow in tenant.device_flows.list()])


@bp.post("/tenants/<t>/devicecodes/<user_code>/approve")
def approve_device_code(t: str, user_code: str):
    """Stand in for the user: sign in at the verification page and approve a device code.
    ---
    post:
      summary: Approve a device code
      tags: [tenants]
      requestBody:
        required: false
        content:
          application/json:
            schema: DeviceCodeApprovalSchema
      responses:
        200:
          content:
            application/json:
              schema: DeviceCodeSchema
        400:
          description: Already used, declined or expired.
        404:
          description: No such tenant, code or user.
    """
    tenant = tenant_or_404(t)
    body = load_body(DeviceCodeApprovalSchema())
    flow = tenant.device_flows.approve(user_code, body.get("userPrincipalName"))
    return jsonify(flow.describe())


@bp.post("/tenants/<t>/devicecodes/<user_code>/decline")
def decline_device_code(t: str, user_code: str):
    """Stand in for the user declining a device code (the client then gets ``authorization_declined``).
    ---
    post:
      summary: Decline a device code
      tags: [tenants]
      responses:
        200:
          content:
            application/json:
              schema: DeviceCodeSchema
        404:
          description: No such tenant or code.
    """
    tenant = tenant_or_404(t)
    return jsonify(tenant.device_flows.decline(user_code).describe())
