"""The request body is read before anything else (before a tenant lock, a fault rule or a route) and by at most a
fixed number of threads at once, so a client that promises a body and withholds it holds one thread and nothing
else, and such clients can never take every thread.

Why: the engine (granian's WSGI interface) calls the app once the head has arrived and has no timeout for the
body; a thread reading a withheld body waits until the client disconnects. Read inside a route, that wait
happened under the tenant lock (one slow ``PATCH …/settings`` froze its tenant and the tenant list), and enough
of them (the thread ceiling) froze the whole server. Past the ceiling of readers a request with a body is
answered at once with the 503 its service sends when it is overloaded (``middleware.overload_parts``)."""

from __future__ import annotations

import io
import json
import threading

#: Threads kept for requests that carry no body (health, reads) whatever slow uploads hold: a quarter of the
#: engine's threads, at least this many.
MIN_RESERVED = 4


def readers_for(threads: int) -> int:
    """How many threads may read request bodies at once when the engine runs ``threads`` of them."""
    return max(1, threads - max(MIN_RESERVED, threads // 4))


class BodyGate:
    """WSGI layer in front of the app: reads a request's whole body (at most ``limit`` + 1 bytes) into memory
    while holding one of ``readers`` slots, then hands the app a request whose body is already here."""

    def __init__(self, wsgi_app, readers: int, limit: int | None):
        self.wsgi_app = wsgi_app
        self.limit = limit
        self._slots = threading.BoundedSemaphore(max(1, readers))

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if not length or length == "0":
            if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                return self.wsgi_app(environ, start_response)
            declared = None
        elif length.isascii() and length.isdecimal() and len(length) < 19:
            declared = int(length)
            if self.limit is not None and declared > self.limit:
                return self.wsgi_app(environ, start_response)  # refused unread by the app's own 413
        else:
            return self.wsgi_app(environ, start_response)  # not a length: the app answers its own 400
        if not self._slots.acquire(blocking=False):
            return self._overloaded(environ, start_response)
        try:
            data = self._read(environ["wsgi.input"], declared)
        finally:
            self._slots.release()
        if declared is None and self.limit is not None and len(data) > self.limit:
            # A chunked body past the app's limit: the route decides (a snapshot PUT takes up to its own bound,
            # streamed; any other answers 413), reading what is here, then the rest from the connection.
            environ["wsgi.input"] = _Prefixed(data, environ["wsgi.input"])
            return self.wsgi_app(environ, start_response)
        environ["wsgi.input"] = io.BytesIO(data)
        if declared is None:
            # A chunked body, now whole: what the app reads is a body of known length.
            environ["CONTENT_LENGTH"] = str(len(data))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
        # With a declared length and fewer bytes read (the client went away), the app sees the short body and
        # answers its disconnected-client 400, as it did reading the stream itself.
        return self.wsgi_app(environ, start_response)

    def _read(self, stream, declared: int | None) -> bytes:
        if declared is not None:
            return _read_exactly(stream, declared)
        cap = None if self.limit is None else self.limit + 1
        chunks, total = [], 0
        while cap is None or total < cap:
            chunk = stream.read(65536 if cap is None else min(65536, cap - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)

    def _overloaded(self, environ, start_response):
        from .middleware import overload_parts

        status, body, headers = overload_parts(environ)
        data = json.dumps(body).encode()
        start_response(
            f"{status} SERVICE UNAVAILABLE",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers.items()],
        )
        return [data]


def _read_exactly(stream, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only when the client closed the connection first."""
    data = stream.read(n)
    if len(data) >= n or not data:
        return data
    chunks, total = [data], len(data)
    while total < n:
        chunk = stream.read(n - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


class _Prefixed:
    """A request body stream: ``head`` (already read), then whatever ``rest`` still holds."""

    def __init__(self, head: bytes, rest):
        self._head, self._rest = io.BytesIO(head), rest

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is None or negative)."""
        if size is None or size < 0:
            return self._head.read() + self._rest.read()
        data = self._head.read(size)
        return data if data or size == 0 else self._rest.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        """One line (WSGI's input interface), from what was read first, then from the connection."""
        line = self._head.readline(-1 if size is None else size)
        return (
            line
            if line.endswith(b"\n") or (size is not None and 0 <= size <= len(line))
            else line + self._rest.readline()
        )

    def __iter__(self):
        return iter(self.readline, b"")
