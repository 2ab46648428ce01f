"""Microsoft Graph's blueprint: the ``endpoint`` decorator that registers a handler under ``/v1.0`` and ``/beta``
(authenticated, permission-checked, under the tenant lock), the Graph response headers and error envelope."""

from __future__ import annotations

import functools

from flask import Blueprint, current_app
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ....domain.errors import DomainError
from .auth import authenticate, require
from .errors import GraphError, client_request_id, error_response, render_domain_error, request_id

bp = Blueprint("graph", __name__)

VERSIONS = ("v1.0", "beta")


def endpoint(rule: str, methods=("GET",), perm=None):
    """Register ``fn(tenant, caller, **kwargs)`` under ``/v1.0`` and ``/beta``, authenticated and checked against
    ``perm`` (the request holds the tenant's lock throughout: ``middleware.begin``)."""

    def deco(fn):
        @functools.wraps(fn)
        def view(**kwargs):
            kwargs.pop("graph_version", None)
            tenant, caller = authenticate()
            if perm is not None:
                require(tenant, caller, perm)
            return fn(tenant, caller, **kwargs)

        for v in VERSIONS:
            bp.add_url_rule(
                f"/{v}{rule}", endpoint=f"{fn.__name__}_{v.replace('.', '_')}", view_func=view, methods=list(methods)
            )
        return view

    return deco


@bp.after_request
def _graph_headers(resp):
    resp.headers["request-id"] = request_id()
    resp.headers["client-request-id"] = client_request_id()
    resp.headers.setdefault(
        "x-ms-ags-diagnostic",
        '{"ServerInfo":{"DataCenter":"Mock","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"hybridsoa"}}',
    )
    return resp


@bp.errorhandler(GraphError)
def _graph_error(exc: GraphError):
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return render_domain_error(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if isinstance(exc, MethodNotAllowed):
        return error_response(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
            {"Allow": ", ".join(exc.valid_methods or [])},
        )
    if exc.code == 413:
        return error_response(413, "Request_EntityTooLarge", "The request payload is too large.")
    return error_response(exc.code or 400, "BadRequest", exc.description or "Bad request.")


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    # A bug must still answer in Graph's shape (generalException), never as an HTML traceback.
    current_app.logger.exception("graph handler failed")  # noqa: LOG004  (Flask runs handlers inside its except)
    return error_response(500, "generalException", f"The mock hit an internal error ({type(exc).__name__}).")
