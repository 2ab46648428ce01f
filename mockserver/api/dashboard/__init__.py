"""Read-only web dashboard at / (dashboard issue): tenants, their mailboxes beside on-prem AD, sync cycles,
audit log, request journal, fault rules and profile. Server-rendered Jinja templates, autoescaped."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)


@bp.record_once
def _cookie_defaults(state) -> None:
    # The session cookie only proves the control token; keep it off cross-site requests and away from scripts.
    if not state.app.config.get("SESSION_COOKIE_SAMESITE"):
        state.app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    state.app.config["SESSION_COOKIE_HTTPONLY"] = True
    if state.app.config.get("SESSION_COOKIE_NAME") in (None, "session"):
        state.app.config["SESSION_COOKIE_NAME"] = "hybridsoa_session"


from . import views  # noqa: E402,F401  (registers the routes on bp)
