"""Control-plane helpers: JSON errors in one shape, tenant lookup, body parsing with marshmallow."""

from __future__ import annotations

from flask import jsonify, request
from marshmallow import Schema, ValidationError

from ...domain import bounds
from ...domain.bounds import MAX_ECHO, clip
from ...domain.errors import DomainError
from ..common import find_tenant_running_due_cycles


class ControlError(Exception):
    """A control-plane error rendered as ``{"error": {"code", "message", "details"}}``."""

    def __init__(self, status: int, code: str, message: str, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details=None):
    """The one control-plane error shape."""
    body = {"error": {"code": code, "message": clip(message, 8 * MAX_ECHO)}}
    if details:
        body["error"]["details"] = details
    return jsonify(body), status


def render_domain_error(exc: DomainError):
    """Map a domain error to the control-plane error shape."""
    return error_response(
        exc.status if exc.status < 500 or exc.status == 501 else 400, exc.kind, exc.message, exc.details or None
    )


def tenant_or_404(key: str):
    """The tenant named in the URL (caught up on its clock) or a 404 ControlError."""
    tenant = find_tenant_running_due_cycles(key)
    if tenant is None:
        raise ControlError(404, "TenantNotFound", f"Tenant '{key}' not found.")
    return tenant


def _json_problem(raw: bytes) -> str:
    # Why a body did not parse: nested too deep says so (bounds.MAX_JSON_DEPTH), anything else is "not valid".
    try:
        bounds.loads(raw)
    except bounds.TooDeep as exc:
        return f"The request body is not valid JSON: {exc}"
    except ValueError:
        pass
    return "The request body is not valid JSON."


def load_body(schema: Schema, *, partial: bool = False) -> dict:
    """Parse and validate the JSON body with a marshmallow schema; 400 ControlError on any problem."""
    data = request.get_json(silent=True)
    if data is None:
        if request.data.strip():
            raise ControlError(400, "InvalidJson", _json_problem(request.data))
        data = {}
    if not isinstance(data, dict):
        raise ControlError(400, "InvalidBody", "The request body must be a JSON object.")
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        raise ControlError(400, "ValidationError", "The request body is invalid.", exc.messages) from None
