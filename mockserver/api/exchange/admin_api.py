"""The documented Exchange Online Admin API v2.0: ``POST /adminapi/v2.0/{tenant}/{Endpoint}`` for AcceptedDomain,
DistributionGroupMember, DynamicDistributionGroupMember, Mailbox, MailboxFolderPermission and OrganizationConfig
(Learn: exchange/reference/admin-api-get-started and admin-api-endpoints-*). Same CmdletInput envelope, ``$select``,
1,000-result pages continued by re-POSTing ``@odata.nextLink``, and error shapes as InvokeCommand; the endpoint
table, the permissions and the RBAC gate come from ``domain/exchange/admin_api.py``."""

from __future__ import annotations

from flask import Response, request

from ...domain.entra.tokens import verify_access_token
from ...domain.errors import DomainError, NotFound
from ...domain.exchange import admin_api
from ...domain.tenant import Tenant
from .. import middleware
from ..common import bearer_token
from .blueprint import bp
from .calls import ODATA_EXCEPTION_TYPE as _ODATA_EXCEPTION_TYPE
from .calls import ExchangeBody, body_of
from .errors import error_parts
from .invoke import _base_url, _flask_response, _Request, execute, render


def answer(tenant: Tenant | None, environ: dict, tenant_key: str, endpoint: str, body: ExchangeBody, query: dict):
    """One v2.0 call: authenticate (v2.0 permission, then an Exchange role assignment), check the cmdlet and its
    parameters against the endpoint's table, then run it as InvokeCommand does. ``tenant``: the one the request
    pipeline found for ``tenant_key`` and holds the lock of (None: no such tenant)."""
    if tenant is None:
        exc = NotFound(
            f"The tenant '{tenant_key}' was not found.",
            exception_type=_ODATA_EXCEPTION_TYPE,
            err_id="",
            category="Client",
        )
        status, out, headers = error_parts(exc)
        return render(None, None, status, out, headers)
    tenant.catch_up()  # due sync cycles run first
    try:
        caller = verify_access_token(tenant, bearer_token(environ), "exchange")
        admin_api.connection_check(tenant, caller)
        admin_api.endpoint_cmdlets(endpoint)
    except DomainError as exc:
        status, out, headers = error_parts(exc)
        return render(tenant, None, status, out, headers)
    prefs = {k: environ[e] for k, e in (("prefer", "HTTP_PREFER"), ("x-prefer", "HTTP_X_PREFER")) if e in environ}
    status, out, headers = execute(
        tenant,
        caller,
        _Request(body.call, prefs, query, tenant_key),
        _base_url(environ),
        route="v2.0",
        endpoint=endpoint,
        check=lambda name, params: admin_api.check_call(endpoint, name, params),
    )
    return render(tenant, caller, status, out, headers)


@bp.route("/adminapi/v2.0/<tenant_key>/<endpoint>", methods=["POST"])
@bp.route("/AdminApi/v2.0/<tenant_key>/<endpoint>", methods=["POST"])
def admin_api_v2(tenant_key: str, endpoint: str):
    """``POST /adminapi/v2.0/{tenant}/{Endpoint}`` with a CmdletInput body."""
    http = request._get_current_object()
    query = http.args.to_dict() if http.environ.get("QUERY_STRING") else {}
    return _flask_response(
        answer(middleware.request_tenant(http.environ), http.environ, tenant_key, endpoint, body_of(http), query)
    )


@bp.route("/adminapi/v2.0/<tenant_key>/<endpoint>", methods=["GET", "PUT", "PATCH", "DELETE"])
@bp.route("/AdminApi/v2.0/<tenant_key>/<endpoint>", methods=["GET", "PUT", "PATCH", "DELETE"])
def admin_api_v2_other_methods(tenant_key: str, endpoint: str):
    """Every Admin API call is a POST (admin-api-get-started): other methods get 405 naming POST."""
    response = Response("", status=405)
    response.headers.pop("Content-Type", None)
    response.headers["Allow"] = "POST"
    return response
