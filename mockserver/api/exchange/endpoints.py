"""The Exchange request pipeline: the one path of ``POST /adminapi/beta/{tenant}/InvokeCommand`` and ``$batch``,
a WSGI layer in front of Flask.

Why a path of its own: a bulk ``Set-Mailbox -IsExchangeCloudManaged`` run is thousands of these calls, and
Flask's per-request machinery (request and app contexts, URL matching, hook dispatch, response object) cost more
than the cmdlet itself. Flask never serves these POSTs (its router only knows the resources, for other methods'
405 and OPTIONS). Per request, once each: the body is read and its cmdlet call parsed (``calls.py``);
``middleware.begin`` takes the tenant lock, throttles and injects faults; ``invoke`` answers;
``middleware.finish`` journals and flushes the durable store; ``middleware.release`` lets the lock go.
"""

from __future__ import annotations

import re

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request as WerkzeugRequest

from ...domain import bounds
from .. import middleware
from . import invoke
from .calls import ENVIRON_KEY, ExchangeBody

#: The Flask routes of invoke.py, as one pattern over the raw PATH_INFO (case variants as registered there).
_ROUTE = re.compile(
    r"^/(?:(?:adminapi|AdminApi)/beta/([^/]+)/(InvokeCommand|\$batch)"
    r"|adminapi/beta/([^/]+)/(invokecommand))$"
)


class _Request:
    """What the hooks read of an Exchange POST (method, path, environ; the parsed body is in the environ): a
    werkzeug request is built only for the rare cases that need one (query strings, bodies without a length)."""

    __slots__ = ("_full", "environ", "max_content_length", "method", "path")

    def __init__(self, environ: dict, path: str, max_content_length: int | None):
        self.environ, self.path, self.max_content_length = environ, path, max_content_length
        self.method = "POST"
        self._full = None

    def _werkzeug(self) -> WerkzeugRequest:
        if self._full is None:
            self._full = WerkzeugRequest(self.environ)
            self._full.max_content_length = self.max_content_length
        return self._full

    @property
    def args(self):
        """The query string (werkzeug's MultiDict)."""
        return self._werkzeug().args

    def get_data(self) -> bytes:
        """The raw body, through werkzeug (chunked or length-less bodies)."""
        return self._werkzeug().get_data()


def _read_json(environ: dict, req: _Request):
    # One exact read of a Content-Length body (werkzeug's stream wrapper reads twice to find the end); chunked
    # or length-less bodies go through werkzeug, which knows those cases. Over the size limit: werkzeug's 413.
    length = environ.get("CONTENT_LENGTH")
    limit = req.max_content_length
    if length and length.isascii() and length.isdecimal():
        n = int(length)
        if limit is not None and n > limit:
            raise RequestEntityTooLarge()
        data = environ["wsgi.input"].read(n) if n else b""
    else:
        data = req.get_data()
    try:
        if data[:1] == b"{" and data[1:2] != b"\x00":
            # What json.loads would detect for this start (UTF-8: no BOM, no UTF-16 NUL), without detecting it.
            return bounds.loads(data.decode("utf-8", "surrogatepass"))
        return bounds.loads(data)
    except ValueError:  # malformed, or nested past bounds.MAX_JSON_DEPTH: not JSON
        return None


class ExchangeEndpoints:
    """WSGI middleware answering InvokeCommand and ``$batch`` POSTs without entering Flask (their only path)."""

    def __init__(self, app):
        self.app = app
        self.flask_wsgi = app.wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            m = _ROUTE.match(environ.get("PATH_INFO", ""))
            if m is not None:
                return self._serve(environ, start_response, m)
        return self.flask_wsgi(environ, start_response)

    def _serve(self, environ, start_response, m):
        # PATH_INFO carries the raw bytes as latin-1; werkzeug (and so Flask) decode the path as UTF-8. The route
        # matched /<api>/beta/<tenant>/<endpoint>, so the tenant is the third segment of the decoded path.
        path = environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace")
        tenant_key = path.split("/")[3]
        is_batch = m.group(2) == "$batch"
        req = _Request(environ, path, self.app.config.get("MAX_CONTENT_LENGTH"))
        registry = self.app.extensions["hybridsoa"]  # read per request: tests swap the registry of one app
        state = None
        try:
            try:
                body = environ[ENVIRON_KEY] = ExchangeBody(_read_json(environ, req))
                state, refused = middleware.begin(req, registry)
                if refused is not None:
                    status, out, headers = refused
                    return self._send(start_response, self._json(status, out, headers), state, req, registry)
                if is_batch:
                    answer = invoke.answer_batch(state.tenant, environ, tenant_key, body)
                else:
                    query = req.args.to_dict() if environ.get("QUERY_STRING") else {}
                    answer = invoke.answer_invoke(state.tenant, environ, tenant_key, body, query)
            except HTTPException as exc:  # e.g. a body over MAX_CONTENT_LENGTH: the app's own error shape
                answer = self._json(
                    exc.code, {"error": {"code": exc.name.replace(" ", ""), "message": exc.description}}, {}
                )
            except Exception as exc:  # no traceback on the wire, as the app's own handler
                self.app.logger.exception("unhandled error")
                answer = self._json(
                    500,
                    {
                        "error": {
                            "code": "InternalServerError",
                            "message": f"The mock hit an internal error ({type(exc).__name__}).",
                        }
                    },
                    {},
                )
            return self._send(start_response, answer, state, req, registry)
        finally:
            middleware.release(environ)

    def _send(self, start_response, answer, state, req, registry):
        status, data, headers = answer
        try:
            extra = middleware.finish(state, req, status, registry)
        except Exception as exc:  # e.g. the durable store failing to write: say so, no traceback
            self.app.logger.exception("unhandled error after the handler")
            (status, data, headers), extra = (
                self._json(
                    500,
                    {
                        "error": {
                            "code": "InternalServerError",
                            "message": f"The mock hit an internal error ({type(exc).__name__}).",
                        }
                    },
                    {},
                ),
                {},
            )
        if extra:
            lowered = {k.lower() for k in extra}
            headers = [h for h in headers if h[0].lower() not in lowered] + list(extra.items())
        start_response(_status_line(status), headers)
        return [data]

    def _json(self, status: int, body, headers: dict):
        # The rare answers (refusals, errors): exactly what Flask's jsonify would send.
        response = self.app.json.response(body) if body is not None else self.app.response_class(b"")
        if body is None:
            response.headers.pop("Content-Type", None)
        response.headers.update(headers)
        return status, response.get_data(), list(response.headers.items())


_STATUS_LINES: dict[int, str] = {}


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:  # werkzeug's form: the status line of every other answer of the app
        line = _STATUS_LINES[status] = f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"
    return line


def install(app) -> None:
    """Put the Exchange pipeline in front of the Flask app's WSGI callable."""
    app.wsgi_app = ExchangeEndpoints(app)
