"""The Flask application: one origin serving every emulated host, routed by path (DESIGN.md URL map)."""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface

from .domain import bounds
from .domain.tenant import TenantRegistry

#: The engine's Python thread ceiling when the app is not told its own (``serve --threads``; server.py).
DEFAULT_ENGINE_THREADS = 128


class _LazyCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions (the dashboard sign-in), without building the signer for the API requests
    that carry no session cookie: same outcome, one fewer per-request cost on the hot path."""

    def open_session(self, app, request):
        # No Cookie header at all (every API client): skip parsing cookies and building the signer.
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies
        ):
            return self.session_class()
        return super().open_session(app, request)


class _BoundedJSON(DefaultJSONProvider):
    """Flask's JSON, except that request bodies nested deeper than ``bounds.MAX_JSON_DEPTH`` (or holding NaN or
    Infinity) fail to parse like any malformed body: each API then answers its own 400, never a RecursionError."""

    def loads(self, s, **kwargs):
        """Parse a request body within the mock's bounds."""
        if kwargs:
            return super().loads(s, **kwargs)
        return bounds.loads(s)


class _Response(Response):
    """Flask's response, except that a text body holding a lone surrogate (a client can send ``"\\ud800"`` in any
    JSON string, and pages show what clients sent) is written as its escape instead of failing to encode."""

    def set_data(self, value) -> None:
        """Store the body; text is UTF-8 with unencodable code points as backslash escapes."""
        if isinstance(value, str):
            value = value.encode("utf-8", "backslashreplace")
        super().set_data(value)


def _snapshot_limit() -> int:
    """The largest snapshot body (bytes): env ``HYBRIDSOA_SNAPSHOT_MAX_BYTES`` or ``bounds.MAX_SNAPSHOT_BYTES``."""
    value = bounds.parse_int(os.environ.get("HYBRIDSOA_SNAPSHOT_MAX_BYTES", ""))
    return value if value is not None else bounds.MAX_SNAPSHOT_BYTES


def create_app(
    registry: TenantRegistry | None = None, *, control_token: str | None = None, config: dict | None = None
) -> Flask:
    """Build the mock server app around a tenant registry (a new empty one by default)."""
    app = Flask(__name__)
    app.json = _BoundedJSON(app)
    app.response_class = _Response
    app.config.update(
        JSON_SORT_KEYS=False,
        HYBRIDSOA_CONTROL_TOKEN=control_token,
        SECRET_KEY=(config or {}).get("SECRET_KEY") or "hybridsoa-dashboard",
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
        # Snapshot PUTs only (api/control/snapshot.py): a big tenant's snapshot is streamed to a temporary file.
        SNAPSHOT_MAX_CONTENT_LENGTH=_snapshot_limit(),
    )
    app.json.sort_keys = False
    app.config.update(config or {})
    app.session_interface = _LazyCookieSessions()
    app.extensions["hybridsoa"] = registry if registry is not None else TenantRegistry()

    from .api import middleware
    from .api.control import bp as control_bp
    from .api.dashboard import bp as dashboard_bp
    from .api.entra.graph import bp as graph_bp
    from .api.entra.login import bp as identity_bp
    from .api.exchange import bp as exchange_bp

    app.register_blueprint(identity_bp)
    app.register_blueprint(exchange_bp)
    app.register_blueprint(graph_bp)
    app.register_blueprint(control_bp)
    app.register_blueprint(dashboard_bp)
    middleware.install(app)
    from .api.exchange import endpoints as exchange_endpoints

    exchange_endpoints.install(app)
    # With a durable store, an answer waits for its request's group commit.
    app.wsgi_app = middleware.DurableAck(app.wsgi_app)
    # Doubled slashes: Graph reads them as one; elsewhere they reach routing as sent, never an HTML 308 redirect.
    from .api.entra.graph.paths import GraphSlashes

    app.url_map.merge_slashes = False
    app.wsgi_app = GraphSlashes(app.wsgi_app)
    # Outermost: the body is read before any lock is taken, by a bounded number of threads (api/body_gate.py).
    from .api.body_gate import BodyGate, readers_for

    readers = app.config.get("HYBRIDSOA_BODY_READERS") or readers_for(DEFAULT_ENGINE_THREADS)
    app.wsgi_app = BodyGate(app.wsgi_app, readers, app.config.get("MAX_CONTENT_LENGTH"))

    @app.errorhandler(404)
    def _not_found(_exc):
        return jsonify(error={"code": "NotFound", "message": "No emulated endpoint at this path."}), 404

    @app.errorhandler(405)
    def _method_not_allowed(exc):
        # RFC 9110 15.5.6: a 405 names the methods the resource does allow.
        response = jsonify(error={"code": "MethodNotAllowed", "message": "This endpoint does not accept that method."})
        response.status_code = 405
        response.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc):
        # The mock promises no 5xx for any input: a bug still answers in a readable shape, never a traceback.
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return jsonify(error={"code": exc.name.replace(" ", ""), "message": exc.description}), exc.code
        app.logger.exception("unhandled error")  # noqa: LOG004  (Flask runs handlers inside its except)
        return jsonify(
            error={"code": "InternalServerError", "message": f"The mock hit an internal error ({type(exc).__name__})."}
        ), 500

    return app
