"""Read-only web dashboard at / (dashboard issue): tenants, their mailboxes beside on-prem AD, sync cycles,
audit log, request journal, fault rules and profile. Server-rendered Jinja templates, autoescaped."""

import logging

from .blueprint import bp


@bp.record_once
def _cookie_defaults(state) -> None:
    # The session cookie only proves the control token; keep it off cross-site requests and away from scripts.
    if not state.app.config.get("SESSION_COOKIE_SAMESITE"):
        state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    state.app.config["SESSION_COOKIE_HTTPONLY"] = True
    if state.app.config.get("SESSION_COOKIE_NAME") in (None, "session"):
        state.app.config["SESSION_COOKIE_NAME"] = "hybridsoa_session"


@bp.record_once
def _prime_counts_on_create(state) -> None:
    # A new tenant's mailbox counts are built once here, beside its (much longer) seeding, so the first dashboard
    # view of a 100,000-mailbox tenant does not pay for them; later views fold in only what changed.
    registry = state.app.extensions.get("hybridsoa")
    if registry is not None:
        registry.on_tenant_created.append(_prime_counts)


def _prime_counts(tenant) -> None:
    from ...domain.read_models import mailbox_counts

    try:
        with tenant.lock:
            mailbox_counts(tenant)
    except Exception:  # a dashboard cache must never fail a tenant's creation
        logging.getLogger(__name__).exception("could not prime dashboard counts for %s", tenant.name)


from . import views  # noqa: E402,F401  (registers the routes on bp)
