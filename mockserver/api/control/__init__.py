"""The mock's control plane under /_mock (JSON). Each concern registers its routes on ``bp`` from its own
module; this package imports them all."""

from __future__ import annotations

from ...domain.errors import DomainError

# Route modules (imported for their side effect of registering routes on ``bp``).
from . import audit, clock, faults, journal, onprem, openapi, settings, snapshot, sync, tenants  # noqa: F401
from .blueprint import bp
from .common import ControlError, error_response, render_domain_error


@bp.errorhandler(ControlError)
def _control_error(exc: ControlError):
    return error_response(exc.status, exc.code, exc.message, exc.details)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return render_domain_error(exc)
