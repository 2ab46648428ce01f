"""Control plane: on-premises AD users with LDAP attribute names (``/_mock/tenants/{t}/onprem/users``).
Changes land in AD only; Entra Connect carries them to the cloud at its next cycle."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import INCLUDE, Schema, fields

from ...domain.onprem import ad_admin
from .blueprint import bp
from .common import ControlError, load_body, tenant_or_404

#: What ad_admin.create_ad_user accepts, for the OpenAPI document: 1-20 characters, none of the forbidden ones, no
#: surrounding whitespace, not ending in a period.
_SAM_PATTERN = (
    r'^[^"/\\\[\]:;|=,+*?<>@\s\x1c-\x1f]'
    r'([^"/\\\[\]:;|=,+*?<>@]{0,18}[^"/\\\[\]:;|=,+*?<>@.\s\x1c-\x1f])?$'
)


class ADUserCreateSchema(Schema):
    """Body of ``POST /_mock/tenants/{t}/onprem/users``: ``sAMAccountName``, optional ``ou``, and any modelled
    AD attribute (``displayName``, ``proxyAddresses``, ``extensionAttribute1``...) under its LDAP name."""

    class Meta:
        """marshmallow options: keep unknown keys, because any modelled LDAP attribute may be sent."""

        unknown = INCLUDE

    sAMAccountName = fields.String(
        required=True, metadata={"description": "Logon name (1-20 characters).", "pattern": _SAM_PATTERN}
    )
    ou = fields.String(metadata={"description": "Container DN; default OU=Users,OU=Corp,<forest>."})
    msExchRecipientTypeDetails = fields.Integer(
        strict=True,
        allow_none=True,
        metadata={
            "description": "Recipient kind. Remote mailbox: 2147483648 user (default), 34359738368 shared, "
            "8589934592 room, 17179869184 equipment; on-premises mailbox: 1 user, 4 shared, "
            "16 room, 32 equipment; 128 mail user (give targetAddress); null: no Exchange "
            "attributes (a User in Exchange Online; the cloud-first flow)."
        },
    )


class ADUserPatchSchema(Schema):
    """Body of ``PATCH /_mock/tenants/{t}/onprem/users/{sam}``: LDAP-named attributes; ``null`` clears one."""

    class Meta:
        """marshmallow options: keep unknown keys, because any modelled LDAP attribute may be sent."""

        unknown = INCLUDE


class ADMoveSchema(Schema):
    """Body of ``POST /_mock/tenants/{t}/onprem/users/{sam}/move``."""

    ou = fields.String(required=True, metadata={"description": "Target container DN (Move-ADObject -TargetPath)."})


@bp.route("/tenants/<tenant_key>/onprem/users", methods=["GET"])
def list_onprem_users(tenant_key: str):
    """List AD users (paged with top/skip; filter with ou=<DN> to include that container and below).
    ---
    get:
      parameters:
        - {name: top, in: query, schema: {type: integer, minimum: 1, maximum: 10000, default: 1000}}
        - {name: skip, in: query, schema: {type: integer, minimum: 0, default: 0}}
        - {name: ou, in: query, schema: {type: string}}
      responses:
        200:
          description: "{value: [AD users], count: total matching, nextSkip: offset of the next page or null}"
    """
    tenant = tenant_or_404(tenant_key)
    top = _int_arg("top", 1000, 1, 10000)
    skip = _int_arg("skip", 0, 0, 10**9)
    ou = request.args.get("ou") or None
    page, total = ad_admin.list_ad_users(tenant, ou=ou, top=top, skip=skip)
    return jsonify(
        {
            "value": [ad_admin.render_ad_user(tenant, u) for u in page],
            "count": total,
            "nextSkip": skip + top if skip + top < total else None,
        }
    )


@bp.route("/tenants/<tenant_key>/onprem/users", methods=["POST"])
def create_onprem_user(tenant_key: str):
    """Create an AD user (a remote mailbox user with hybrid's defaults, overridden by the body).
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: ADUserCreateSchema
      responses:
        201:
          description: The new AD user.
        400:
          description: Bad sAMAccountName, unknown attribute or wrong type (nothing changes).
        409:
          description: sAMAccountName or userPrincipalName already in use.
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(ADUserCreateSchema())
    ad = ad_admin.create_ad_user(tenant, body)
    tenant.add_audit_record(
        "control",
        "New-ADUser",
        None,
        target=ad.sam_account_name,
        parameters=body,
        changes={"created": {"old": None, "new": ad.distinguished_name}},
    )
    return jsonify(ad_admin.render_ad_user(tenant, ad)), 201


@bp.route("/tenants/<tenant_key>/onprem/users/<sam>", methods=["GET"])
def get_onprem_user(tenant_key: str, sam: str):
    """Read one AD user by sAMAccountName.
    ---
    get:
      responses:
        200:
          description: The AD user (LDAP attribute names, whenChanged, uSNChanged, inSyncScope).
        404:
          description: No such user.
    """
    tenant = tenant_or_404(tenant_key)
    return jsonify(ad_admin.render_ad_user(tenant, ad_admin.get_ad_user(tenant, sam)))


@bp.route("/tenants/<tenant_key>/onprem/users/<sam>", methods=["PATCH"])
def patch_onprem_user(tenant_key: str, sam: str):
    """Change AD attributes (Set-ADUser); whenChanged and uSNChanged move when a value really changes.
    ---
    patch:
      requestBody:
        content:
          application/json:
            schema: ADUserPatchSchema
      responses:
        200:
          description: The AD user after the change.
        400:
          description: Unknown or read-only attribute, or a value of the wrong type (nothing changes).
        404:
          description: No such user.
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(ADUserPatchSchema())
    before = dict(ad_admin.get_ad_user(tenant, sam).attrs)
    ad = ad_admin.update_ad_user(tenant, sam, body)
    changes = {k: {"old": before.get(k), "new": ad.attrs.get(k)} for k in body if before.get(k) != ad.attrs.get(k)}
    tenant.add_audit_record("control", "Set-ADUser", None, target=ad.sam_account_name, parameters=body, changes=changes)
    return jsonify(ad_admin.render_ad_user(tenant, ad))


@bp.route("/tenants/<tenant_key>/onprem/users/<sam>", methods=["DELETE"])
def delete_onprem_user(tenant_key: str, sam: str):
    """Delete an AD user (Remove-ADUser); the next cycle soft-deletes the Entra user and the mailbox.
    ---
    delete:
      responses:
        204:
          description: Deleted.
        404:
          description: No such user.
    """
    tenant = tenant_or_404(tenant_key)
    ad = ad_admin.delete_ad_user(tenant, sam)
    tenant.add_audit_record(
        "control",
        "Remove-ADUser",
        None,
        target=ad.sam_account_name,
        changes={"deleted": {"old": ad.distinguished_name, "new": None}},
    )
    return "", 204


@bp.route("/tenants/<tenant_key>/onprem/users/<sam>/move", methods=["POST"])
def move_onprem_user(tenant_key: str, sam: str):
    """Move an AD user to another OU (Move-ADObject); leaving the sync scope is a delete at the next cycle.
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: ADMoveSchema
      responses:
        200:
          description: The AD user after the move (see inSyncScope).
        400:
          description: ou is not a container DN inside the forest.
        404:
          description: No such user.
    """
    tenant = tenant_or_404(tenant_key)
    body = load_body(ADMoveSchema())
    old = ad_admin.get_ad_user(tenant, sam).distinguished_name
    ad = ad_admin.move_ad_user(tenant, sam, body["ou"])
    tenant.add_audit_record(
        "control",
        "Move-ADObject",
        None,
        target=ad.sam_account_name,
        parameters=body,
        changes={"distinguishedName": {"old": old, "new": ad.distinguished_name}},
    )
    return jsonify(ad_admin.render_ad_user(tenant, ad))


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise ControlError(400, "InvalidQuery", f"{name} must be an integer from {lo} to {hi}.")
    return value
