"""``hybridsoa-mock serve --proxy-port``: an HTTPS proxy that answers for the real Microsoft host names.

Clients keep their defaults (``https://login.microsoftonline.com``, ``https://graph.microsoft.com``,
``https://outlook.office365.com`` and the national clouds of docs/clouds.md) and are pointed at the mock with
nothing but ``HTTPS_PROXY`` and a CA bundle, the way Dev Proxy or mitmproxy intercept them. The proxy accepts
``CONNECT`` for those names only (anything else: 403 naming the host; nothing ever reaches the internet),
terminates TLS with one certificate for all of them issued by the local CA, and hands each decrypted request to
the same WSGI application the direct port serves, in the same process: tenants, tokens, faults and the journal
are shared. Requests are parsed by llhttp (Node.js's HTTP/1.1 parser, through httptools); sockets, threads
and TLS are the standard library's: both choices were measured against h11 and asyncio (docs/benchmarks.md).
"""

from __future__ import annotations

import errno
import io
import logging
import socket
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

import httptools

from .tls import TlsFiles

log = logging.getLogger("hybridsoa.proxy")

#: The host names the proxy answers for: (cloud, service) per name, as listed in docs/clouds.md.
EMULATED_HOSTS: dict[str, tuple[str, str]] = {
    "login.microsoftonline.com": ("global", "login"),
    "graph.microsoft.com": ("global", "graph"),
    "outlook.office365.com": ("global", "exchange"),
    "login.microsoftonline.us": ("gcchigh", "login"),
    "graph.microsoft.us": ("gcchigh", "graph"),
    "outlook.office365.us": ("gcchigh", "exchange"),
    "dod-graph.microsoft.us": ("dod", "graph"),
    "outlook-dod.office365.us": ("dod", "exchange"),
    "login.chinacloudapi.cn": ("china", "login"),
    "microsoftgraph.chinacloudapi.cn": ("china", "graph"),
    "outlook.office365.cn": ("china", "exchange"),
}
HTTPS_PORT = 443

#: Bounds: request line plus headers, request body (the app's own MAX_CONTENT_LENGTH), open connections (each
#: holds one thread while open; the timeouts below close idle and stalled ones).
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_CONNECTIONS = 256
#: Seconds: a request head must arrive within HEAD_TIMEOUT once it has started; an idle kept-alive tunnel is
#: closed after IDLE_TIMEOUT; a body must arrive within BODY_TIMEOUT; a slow reader gets WRITE_TIMEOUT.
HEAD_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
BODY_TIMEOUT = 60.0
WRITE_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 10.0
#: After refusing a request, unread input up to LINGER_BYTES is discarded for at most LINGER_TIMEOUT seconds.
LINGER_TIMEOUT = 2.0
LINGER_BYTES = 256 * 1024
_READ_CHUNK = 16 * 1024
_NOTE = "x-hybridsoa-note"
#: Framing is the proxy's job (it sends the whole body with a Content-Length); these app headers are dropped.
_HOP_BY_HOP = {"transfer-encoding", "keep-alive", "upgrade", "te", "trailer", "proxy-connection", "connection"}


@dataclass
class Request:
    """One HTTP/1.1 request as llhttp parsed it: method, target, headers as sent, version, whole body."""

    method: bytes
    target: bytes
    headers: list
    version: str = "1.1"
    body: bytes = b""
    keep_alive: bool = True


class RequestReader:
    """Feeds received bytes to llhttp (``httptools.HttpRequestParser``) and queues every complete request; the
    head (request line and headers) is bounded by MAX_HEAD_BYTES and the body by MAX_BODY_BYTES. A CONNECT
    request ends the parse: ``upgrade_at`` is where the tunnel's bytes start in the data last fed."""

    def __init__(self):
        self.parser = httptools.HttpRequestParser(self)
        self.done: deque[Request] = deque()
        self.upgrade_at: int | None = None
        #: Bytes that followed a CONNECT head in the same read, and whether this request got 100 Continue.
        self.leftover, self.continue_sent = b"", False
        self.in_head, self.head_bytes, self.body_too_large = True, 0, False
        self._url, self._headers, self._body, self._size = b"", [], [], 0

    def feed(self, data: bytes) -> None:
        """Parse ``data``; raises _Refused for a malformed or oversized request."""
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                raise _Refused(431, "hybridsoa proxy: the request line and headers are larger than 64 KiB.")
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgrade_at = int(upgrade.args[0]) if upgrade.args else len(data)
        except httptools.HttpParserError:
            raise _Refused(400, "hybridsoa proxy: malformed request.") from None
        if self.body_too_large:
            raise _Refused(413, "hybridsoa proxy: the request body is larger than 32 MiB.")

    # llhttp's callbacks
    def on_message_begin(self) -> None:
        """llhttp: a new request starts."""
        self.in_head, self._url, self._headers, self._body, self._size = True, b"", [], [], 0
        self.continue_sent = False

    def on_url(self, url: bytes) -> None:
        """llhttp: (part of) the request target."""
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        """llhttp: one header field, as sent."""
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        """llhttp: the head is complete; the body (if any) follows."""
        self.in_head, self.head_bytes = False, 0

    def on_body(self, body: bytes) -> None:
        """llhttp: a piece of the de-framed body (Content-Length or chunked)."""
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:
            self.body_too_large = True  # raised by feed(): an exception here would be wrapped by httptools
        elif not self.body_too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        """llhttp: the request is complete: queue it."""
        self.done.append(
            Request(
                self.parser.get_method(),
                self._url,
                self._headers,
                self.parser.get_http_version(),
                b"".join(self._body),
                self.parser.should_keep_alive(),
            )
        )
        self.in_head, self.head_bytes = True, 0


def serialize_response(code: int, reason: bytes, headers, body: bytes, *, keep_alive: bool = True) -> bytes:
    """A response head plus body. Headers are the app's (Werkzeug refuses CR and LF in them; any such header is
    dropped here anyway): the proxy's own framing, Content-Length, replaces theirs."""
    lines = [b"HTTP/1.1 %d %s\r\n" % (code, reason)]
    for name, value in headers:
        if name.lower() in _HOP_BY_HOP or "\n" in name or "\r" in name or "\n" in value or "\r" in value:
            continue
        lines.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines) + body


def parse_connect_target(target: str) -> tuple[str, int] | None:
    """The ``host:port`` authority form of a CONNECT request target (RFC 9110 section 9.3.6) as a lower-case
    host without a trailing dot and a port; None when it is not that form."""
    if target.startswith("["):
        host, sep, rest = target[1:].partition("]")
        if not sep or not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, sep, port = target.rpartition(":")
        if not sep or ":" in host:
            return None
    if not host or not (port.isascii() and port.isdigit()) or len(port) > 5 or not 0 < int(port) < 65536:
        return None
    return host.lower().rstrip("."), int(port)


def connect_refusal(host: str, port: int) -> str | None:
    """Why the proxy refuses ``CONNECT host:port`` (a sentence naming the host), or None when it answers for it."""
    shown = host if len(host) <= 255 else host[:255] + "..."
    if host not in EMULATED_HOSTS:
        return (
            f"hybridsoa proxy: CONNECT to {shown}:{port} refused: {shown} is not a host the mock emulates "
            "(the login, Graph and Exchange hosts of the global and national clouds). Nothing is forwarded "
            "to the internet."
        )
    if port != HTTPS_PORT:
        return f"hybridsoa proxy: CONNECT to {shown}:{port} refused: the mock answers for {shown} on port 443 only."
    return None


def build_environ(request: Request, host: str, peer) -> dict:
    """The PEP 3333 environ of a request received inside the tunnel to ``host`` (https, port 443).
    Raises ValueError when the target is not origin-form (``/path?query``)."""
    target = request.target.decode("latin-1")
    body = request.body
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        raise ValueError("request target is not origin-form")
    environ = {
        "REQUEST_METHOD": request.method.decode("latin-1"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "RAW_URI": target,
        "REQUEST_URI": target,
        "SERVER_NAME": host,
        "SERVER_PORT": str(HTTPS_PORT),
        "SERVER_PROTOCOL": "HTTP/" + request.version,
        "REMOTE_ADDR": str(peer[0]) if peer else "127.0.0.1",
        "REMOTE_PORT": str(peer[1]) if peer else "0",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1").lower()
        if "_" in name:
            # As gunicorn and werkzeug do: X_Foo would otherwise be indistinguishable from X-Foo in the environ.
            continue
        value = raw_value.decode("latin-1")
        if name in ("content-length", "transfer-encoding"):
            continue  # the body is already de-framed; CONTENT_LENGTH is set from it below
        key = "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    if body or any(n.lower() == b"content-length" for n, _ in request.headers):
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call_wsgi(app, environ: dict) -> tuple[int, bytes, list[tuple[str, str]], bytes]:
    """Run the WSGI app on ``environ``; returns status code, reason, headers and the whole body."""
    started: list = []
    chunks: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    code, _, reason = status.partition(" ")
    return int(code), reason.encode("latin-1"), headers, b"".join(chunks)


class _Refused(Exception):
    """A client mistake answered with ``status`` and a one-line ``message``, then the connection is closed;
    ``reason`` replaces the standard reason phrase (clients such as urllib3 show only the status line of a refused
    CONNECT, so that line names the host)."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


class ProxyServer:
    """The HTTPS proxy on ``host:port`` (0: a free port) for ``app``, with the certificate in ``tls``: one thread
    accepts, and each connection gets its own thread (at most ``max_connections``), which reads the CONNECT,
    terminates TLS and runs the app for each request of the tunnel. ``.url`` is what ``HTTPS_PROXY`` takes;
    :meth:`start` and :meth:`stop` (a side service of ``serve``)."""

    def __init__(
        self, app, tls: TlsFiles, host: str = "127.0.0.1", port: int = 0, *, max_connections: int = MAX_CONNECTIONS
    ):
        self.app, self.host, self.port = app, host, port
        self.max_connections = max_connections
        #: Requests answered inside tunnels so far (what a test checks to know its client went through here).
        self.served = 0
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # TLS 1.2 as the floor, as the direct port and Microsoft 365's endpoints; HTTP/1.1 is all the proxy speaks.
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(tls.cert), str(tls.key))
        self._context.set_alpn_protocols(["http/1.1"])
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._accept_loop, name="hybridsoa-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://host:port``, the value of ``HTTPS_PROXY``."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("::1" if self.host == "::" else self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> ProxyServer:
        """Bind and start serving; raises OSError when the port cannot be bound."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.create_server((self.host, self.port), family=family, backlog=512)
        self.port = self._listener.getsockname()[1]
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every open tunnel."""
        self._stopping = True
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        with self._lock:
            open_now = list(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ connections
    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                sock, peer = self._listener.accept()
            except OSError as exc:
                if self._stopping:
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.1)  # out of descriptors or memory for a moment: do not spin
                continue  # e.g. the client reset before accept
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                crowded = len(self._open) >= self.max_connections
                if not crowded:
                    self._open.add(sock)
            if crowded:
                # Answered here, briefly, so a flood of connections cannot make a thread each; what the client
                # already sent is read without waiting, so closing does not reset the connection over it.
                self._refuse(
                    sock, _Refused(503, "hybridsoa proxy: too many open connections; retry shortly."), linger=False
                )
                try:
                    sock.setblocking(False)
                    sock.recv(MAX_HEAD_BYTES)
                except OSError:
                    pass
                sock.close()
                continue
            threading.Thread(
                target=self._connection, args=(sock, peer), name="hybridsoa-proxy-conn", daemon=True
            ).start()

    def _connection(self, sock: socket.socket, peer) -> None:
        channel = [sock]  # the socket in use: the TLS one once the tunnel is open (it takes over the descriptor)
        try:
            self._serve(channel, peer)
        except _Refused as refused:
            self._refuse(channel[0], refused)
        except (OSError, _Closed):
            pass  # the client went away, stalled, or broke the protocol after we could answer: just close
        except Exception as exc:  # noqa: BLE001 (never a traceback to a client; one line in the log)
            log.warning("hybridsoa proxy: connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            with self._lock:
                self._open.discard(sock)
                self._open.discard(channel[0])
            for each in {id(s): s for s in (channel[0], sock)}.values():
                try:
                    each.close()
                except OSError:
                    pass

    # ------------------------------------------------------------------------------------------ protocol
    def _serve(self, channel: list, peer) -> None:
        """The proxy request: a CONNECT to an emulated host opens a TLS tunnel; everything else is refused.
        ``channel[0]`` is the connection's socket, replaced by the TLS socket once the tunnel is open."""
        sock = channel[0]
        reader = RequestReader()
        request = _next_request(reader, sock, HEAD_TIMEOUT, connect=True)
        if request is None:
            return
        if request.method != b"CONNECT":
            target = request.target.lower()
            if target.startswith((b"http://", b"https://", b"ftp://")):
                raise _Refused(
                    403,
                    "hybridsoa proxy: plain-HTTP proxy requests are refused; the proxy answers "
                    "https only, through CONNECT to an emulated Microsoft host. Nothing is "
                    "forwarded to the internet.",
                )
            raise _Refused(
                400,
                "hybridsoa proxy: this port is an HTTPS proxy (set HTTPS_PROXY to it); the mock's "
                "API is on its direct port.",
            )
        parsed = parse_connect_target(request.target.decode("latin-1"))
        if parsed is None:
            raise _Refused(400, "hybridsoa proxy: a CONNECT target must be host:port.")
        refusal = connect_refusal(*parsed)
        if refusal is not None:
            raise _Refused(403, refusal, f"Forbidden (hybridsoa proxy does not emulate {parsed[0][:100]}:{parsed[1]})")
        if reader.leftover:
            # A client that sends its TLS hello before our 200 would have bytes in our plaintext buffer.
            return
        sock.settimeout(WRITE_TIMEOUT)
        sock.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        tls = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        channel[0] = tls
        with self._lock:
            self._open.discard(sock)
            self._open.add(tls)  # what stop() shuts down from now on
        tls.settimeout(HANDSHAKE_TIMEOUT)
        tls.do_handshake()
        self._tunnel(tls, parsed[0], peer)

    def _tunnel(self, tls: ssl.SSLSocket, host: str, peer) -> None:
        """HTTP/1.1 requests inside the TLS tunnel to ``host``, each answered by the app, kept alive."""
        reader = RequestReader()
        while not self._stopping:
            try:
                request = _next_request(reader, tls, IDLE_TIMEOUT)
                if request is None:
                    return
                environ = build_environ(request, _request_host(request, host), peer)
            except _Refused as refused:
                self._refuse(tls, refused)
                return
            except ValueError:
                self._refuse(tls, _Refused(400, "hybridsoa proxy: the request target must be a path (origin-form)."))
                return
            try:
                code, reason, headers, payload = call_wsgi(self.app, environ)
            except Exception as exc:  # noqa: BLE001 (the app renders its own errors; this is a bug, said once)
                log.warning("hybridsoa proxy: the app failed: %s: %s", type(exc).__name__, exc)
                code, reason, headers = 500, b"Internal Server Error", [("Content-Type", "application/json")]
                payload = b'{"error":{"code":"InternalServerError","message":"The mock hit an internal error."}}'
            if code in (204, 304):
                headers, payload = [(k, v) for k, v in headers if k.lower() != "content-length"], b""
            elif request.method == b"HEAD":
                payload = b""  # the app's headers stand, Content-Length of the GET included
            else:
                # The whole body is known: its length is the framing.
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(payload))))
            tls.settimeout(WRITE_TIMEOUT)
            # One write for head and body: one TLS record train, one system call.
            tls.sendall(serialize_response(code, reason, headers, payload, keep_alive=request.keep_alive))
            self.served += 1
            if not request.keep_alive:
                return

    def _refuse(self, sock, refused: _Refused, linger: bool = True) -> None:
        """Answer a client mistake in plain text and close."""
        body = (refused.message + "\n").encode("utf-8", "backslashreplace")
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            (_NOTE, "answered by the hybridsoa proxy, not by an emulated service"),
        ]
        if refused.status == 503:
            headers.append(("Retry-After", "1"))
        reason = (refused.reason or _phrase(refused.status)).encode("latin-1", "replace")
        try:
            sock.settimeout(WRITE_TIMEOUT if linger else 1.0)
            sock.sendall(serialize_response(refused.status, reason, headers, body, keep_alive=False))
            if linger and not isinstance(sock, ssl.SSLSocket):
                # Lingering close: closing with unread input would reset the connection and could destroy the
                # answer before the client reads it; so half-close, then discard a bounded amount of input.
                sock.shutdown(socket.SHUT_WR)
                deadline, left = time.monotonic() + LINGER_TIMEOUT, LINGER_BYTES
                while left > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    sock.settimeout(remaining)
                    chunk = sock.recv(min(left, _READ_CHUNK))
                    if not chunk:
                        break
                    left -= len(chunk)
        except OSError:
            pass


class _Closed(Exception):
    """The client closed the connection in the middle of a request."""


def _next_request(reader: RequestReader, sock, first_byte_timeout: float, connect: bool = False) -> Request | None:
    """The next complete request on ``sock`` (None when the client closed between requests): the first bytes may
    take ``first_byte_timeout``, the rest of the request HEAD_TIMEOUT plus BODY_TIMEOUT. With ``connect``, stops
    at the end of a CONNECT head and keeps what followed it in ``reader.leftover``."""
    reader.leftover = b""
    if reader.done:
        return reader.done.popleft()
    deadline = time.monotonic() + first_byte_timeout
    started = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        sock.settimeout(remaining)
        data = sock.recv(_READ_CHUNK)
        if not data:
            if started or reader.done:
                break
            return None
        if not started:
            started, deadline = True, time.monotonic() + HEAD_TIMEOUT + BODY_TIMEOUT
        reader.feed(data)
        if (
            not reader.in_head
            and not reader.done
            and not reader.continue_sent
            and any(n.lower() == b"expect" and v.lower() == b"100-continue" for n, v in reader._headers)
        ):
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # RFC 9110 10.1.1: the client waits for it
            reader.continue_sent = True
        if reader.upgrade_at is not None:
            reader.leftover = data[reader.upgrade_at :]
            if connect:
                return Request(reader.parser.get_method(), reader._url, reader._headers)
            raise _Refused(400, "hybridsoa proxy: CONNECT and upgrades are not accepted inside a tunnel.")
        if reader.done:
            return reader.done.popleft()
    if reader.done:
        return reader.done.popleft()
    raise _Closed()


def _request_host(request: Request, tunnel_host: str) -> str:
    """The tunnel's host, after checking the request's Host names it (a request for another name on this tunnel
    is 421 Misdirected Request, RFC 9110 section 15.5.20)."""
    for name, value in request.headers:
        if name.lower() == b"host":
            named = value.decode("latin-1").lower()
            if named.startswith("["):
                named = named.partition("]")[0] + "]"
            elif named.endswith(":443"):
                named = named[:-4]
            if named.rstrip(".") != tunnel_host:
                raise _Refused(421, f"hybridsoa proxy: this tunnel is for {tunnel_host}, not {named[:255]}.")
            break
    return tunnel_host


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def proxy_hosts() -> list[str]:
    """Every host name the proxy answers for (the certificate's names)."""
    return list(EMULATED_HOSTS)
