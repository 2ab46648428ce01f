"""Control plane: whole-tenant snapshots (``GET|PUT /_mock/tenants/{t}/snapshot``): save a tenant as one
versioned JSON document and restore it in place (same id, same signing key: issued tokens stay valid) or as
a new tenant (PUT to a name or id that does not exist yet)."""

from __future__ import annotations

import re

from flask import jsonify, request

from ...domain import bounds, memory, snapshot
from ..common import registry
from .blueprint import bp
from .common import ControlError, tenant_or_404

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


@bp.get("/tenants/<t>/snapshot")
def get_snapshot(t):
    """The whole tenant as one JSON document (format ``hybridsoa.tenant-snapshot``, versioned)."""
    tenant = tenant_or_404(t)
    doc = snapshot.dump_tenant(tenant)
    return jsonify(doc)


@bp.put("/tenants/<t>/snapshot")
def put_snapshot(t):
    """Restore a snapshot into tenant ``t`` (replacing it) or, when ``t`` does not exist, create it from the
    snapshot (``t`` is its new name, or its new id when it is a GUID; ``?name=`` names a GUID-addressed one).
    ---
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, description: "A document from GET /_mock/tenants/{t}/snapshot."}
      responses:
        200:
          description: The restored tenant.
        400:
          description: Not a snapshot document, or one this version cannot restore (nothing changes).
    """
    reg = registry()
    # A big body (parsed a piece at a time, bounds.GRADUAL_FROM) builds millions of objects: full collections
    # would walk them again and again while other tenants wait, so they are held off until the tenant is built.
    with reg.collections_held_off((request.content_length or 0) > bounds.GRADUAL_FROM):
        return _restore(reg, t)


def _restore(reg, t: str):
    doc = request.get_json(silent=True)
    if doc is None:
        raise ControlError(400, "InvalidJson", "The request body must be a snapshot JSON document.")
    try:
        return _restore_doc(reg, t, doc)
    finally:
        # The parsed body (kept by the request until it ends): freed a slice at a time, not in one cascade.
        memory.dismantle(doc)


def _restore_doc(reg, t: str, doc):
    snapshot.validate(doc)
    existing = reg.find(t)
    if existing is not None:  # its lock is the request's (middleware.begin)
        tenant = snapshot.restore_tenant(doc, tenant_id=existing.id, name=existing.name)
        reg.put(tenant)
        status = 200
    else:
        if _GUID.match(t):
            new_id, new_name = t.lower(), (request.args.get("name") or doc["tenant"]["name"]).lower()
        else:
            new_id, new_name = None, t.lower()
        if not _NAME.match(new_name):
            raise ControlError(400, "ValidationError", "name must be 1-48 lowercase letters, digits or hyphens.")
        # Built without the registry lock (a big snapshot takes seconds): the name is reserved meanwhile.
        tenant = reg.adopt(new_name, new_id, lambda: snapshot.restore_tenant(doc, tenant_id=new_id, name=new_name))
        status = 201
    with tenant.lock:
        return jsonify(tenant.summary()), status
