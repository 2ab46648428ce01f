"""The body gate (issue 21): bodies are read before the app runs, by at most a fixed number of threads; past that
ceiling a request with a body is answered 503 in its service's shape, and chunked bodies reach the app whole."""

from __future__ import annotations

import io
import json
import threading

from hybridsoa.mock.api.body_gate import BodyGate, readers_for


def _app(seen: list):
    def app(environ, start_response):
        seen.append((environ["wsgi.input"].read(), environ.get("CONTENT_LENGTH")))
        start_response("200 OK", [])
        return [b"ok"]

    return app


def _call(gate, environ):
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(gate(environ, start_response))
    return answer["status"], answer["headers"], body


def test_chunked_bodies_reach_the_app_whole_under_and_over_the_limit():
    seen: list = []
    gate = BodyGate(_app(seen), readers=2, limit=10)
    for body in (b"x" * 5, b"y" * 25):
        environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True}
        assert _call(gate, environ)[0] == "200 OK"
    assert seen == [(b"x" * 5, "5"), (b"y" * 25, None)]  # over the limit: the route decides (413 or its own bound)


class _Withheld(io.RawIOBase):
    """A body that never arrives until released (a client that promised one and waits)."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    def read(self, size=-1):
        self.started.set()
        self.release.wait()
        return b""


def test_past_the_readers_ceiling_a_body_is_refused_in_its_services_shape():
    seen: list = []
    gate = BodyGate(_app(seen), readers=1, limit=1000)
    withheld = _Withheld()
    slow = threading.Thread(
        target=_call, args=(gate, {"CONTENT_LENGTH": "10", "wsgi.input": withheld, "PATH_INFO": "/_mock/tenants"})
    )
    slow.start()
    try:
        assert withheld.started.wait(10)
        shapes = {}
        for path in ("/_mock/tenants", "/v1.0/users/x", "/adminapi/beta/t/InvokeCommand", "/t/oauth2/v2.0/token"):
            status, headers, body = _call(
                gate, {"CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}"), "PATH_INFO": path}
            )
            assert status.startswith("503") and headers["Retry-After"] == "1", path
            shapes[path] = json.loads(body)
        assert shapes["/_mock/tenants"]["error"]["code"] == "ServiceUnavailable"
        assert shapes["/v1.0/users/x"]["error"]["code"] == "serviceNotAvailable"
        assert "request-id" in shapes["/v1.0/users/x"]["error"]["innerError"]
        assert (
            "ServerUnavailableException" in shapes["/adminapi/beta/t/InvokeCommand"]["error"]["details"][0]["message"]
        )
        assert shapes["/t/oauth2/v2.0/token"]["error"] == "temporarily_unavailable"
        # A request without a body needs no reader: it goes through.
        assert _call(gate, {"PATH_INFO": "/_mock/health", "wsgi.input": io.BytesIO()})[0] == "200 OK"
    finally:
        withheld.release.set()
        slow.join(10)
    assert _call(gate, {"CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}"), "PATH_INFO": "/x"})[0] == "200 OK"


def test_readers_leave_a_quarter_of_the_threads_free():
    assert readers_for(128) == 96 and readers_for(8) == 4 and readers_for(1) == 1
