"""Dashboard sign-in with the server's control token (``--control-token``): the same secret that guards
``/_mock`` guards the dashboard. A sign-in form puts proof of the token in the Flask session cookie; scripts may
send ``Authorization: Bearer <token>`` instead. Without a control token the dashboard is open, like /_mock."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, redirect, render_template, request, session, url_for

from ..common import bearer_token

SESSION_KEY = "hybridsoa_dashboard"


def control_token() -> str | None:
    """The configured control token, or None when the control plane is open."""
    return current_app.config.get("HYBRIDSOA_CONTROL_TOKEN") or None


def _proof(token: str) -> str:
    # The cookie carries a digest, not the token: Flask session cookies are signed, not encrypted, so the raw
    # token would be readable by anything that sees the cookie, and the dashboard must never show secrets.
    return hmac.new(b"hybridsoa-dashboard-session", token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def token_matches(candidate: str | None) -> bool:
    """Constant-time check of a presented token against the configured one."""
    expected = control_token()
    if expected is None:
        return True
    if not candidate:
        return False
    return hmac.compare_digest(_proof(candidate), _proof(expected))


def signed_in() -> bool:
    """Whether this request may see the dashboard (no token configured, a valid session, or a bearer token)."""
    expected = control_token()
    if expected is None:
        return True
    proof = session.get(SESSION_KEY)
    if isinstance(proof, str) and hmac.compare_digest(proof, _proof(expected)):
        return True
    return token_matches(bearer_token())


def safe_next(target: str | None) -> str:
    """A post-sign-in redirect target limited to this site's own paths (no open redirect)."""
    if (
        not target
        or len(target) > 2000
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
    ):
        return url_for("dashboard.tenants")
    return target


def require_sign_in():
    """``before_request`` hook: send an unsigned visitor to the sign-in form (401 for non-browser clients)."""
    if request.endpoint in ("dashboard.signin", "dashboard.signout") or signed_in():
        return None
    wanted = request.full_path.rstrip("?") if request.query_string else request.path
    if request.method == "GET" and "text/html" in (request.headers.get("Accept") or "text/html"):
        return redirect(url_for("dashboard.signin", next=wanted))
    return render_template("dashboard/signin.html", error="Sign in with the control token.", next=wanted), 401


def handle_signin():
    """GET shows the form; POST checks the token and stores proof of it in the session cookie."""
    target = safe_next(request.values.get("next"))
    if control_token() is None:
        return redirect(target)
    if request.method == "GET":
        return render_template("dashboard/signin.html", error=None, next=target)
    token = (request.form.get("token") or "").strip()
    if not token_matches(token):
        return render_template("dashboard/signin.html", error="That is not the control token.", next=target), 401
    session.clear()
    session[SESSION_KEY] = _proof(control_token())
    return redirect(target)


def handle_signout():
    """Forget the session and return to the sign-in form."""
    session.pop(SESSION_KEY, None)
    return redirect(url_for("dashboard.signin"))
