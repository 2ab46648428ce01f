"""The mock's control plane under /_mock (JSON). Each concern registers its routes on ``bp`` from its own
module; this package imports them all."""
from __future__ import annotations

from .blueprint import bp

# Route modules (imported for their side effect of registering routes on ``bp``).
from . import tenants, onprem, sync, clock, settings, audit, faults, journal, snapshot, openapi  # noqa: E402,F401

from .common import ControlError, error_response, render_domain_error  # noqa: E402
from ...domain.errors import DomainError  # noqa: E402


@bp.errorhandler(ControlError)
def _control_error(exc: ControlError):
    return error_response(exc.status, exc.code, exc.message, exc.details)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return render_domain_error(exc)
