"""Control-plane access: with ``--control-token`` every ``/_mock`` route requires ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hmac

from flask import current_app, jsonify

from ..common import bearer_token
from .blueprint import bp


@bp.before_request
def require_control_token():
    """Refuse control-plane calls without the configured bearer token (401, ``WWW-Authenticate: Bearer``)."""
    expected = current_app.config.get("HYBRIDSOA_CONTROL_TOKEN")
    if not expected:
        return None
    supplied = bearer_token()
    if supplied is not None and hmac.compare_digest(supplied.encode(), str(expected).encode()):
        return None
    code = "MissingControlToken" if supplied is None else "InvalidControlToken"
    response = jsonify(
        error={
            "code": code,
            "message": "The control plane requires 'Authorization: Bearer <token>' "
            "with the token the server was started with.",
        }
    )
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="hybridsoa-control"'
    return response
