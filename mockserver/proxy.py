"""``hybridsoa-mock serve --proxy-port``: an HTTPS proxy that answers for the real Microsoft host names.

Clients keep their defaults (``https://login.microsoftonline.com``, ``https://graph.microsoft.com``,
``https://outlook.office365.com`` and the national clouds of docs/clouds.md) and are pointed at the mock with
nothing but ``HTTPS_PROXY`` and a CA bundle, the way Dev Proxy or mitmproxy intercept them. The proxy accepts
``CONNECT`` for those names only (anything else: 403 naming the host; nothing ever reaches the internet),
terminates TLS with one certificate for all of them issued by the local CA, and hands each decrypted request to
the same WSGI application the direct port serves, in the same process: tenants, tokens, faults and the journal
are shared. HTTP/1.1 framing is h11's; the event loop and TLS are the standard library's.
"""
from __future__ import annotations

import asyncio
import io
import logging
import ssl
import sys
import threading
from http import HTTPStatus
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

import h11

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

#: Bounds: request line plus headers, request body (the app's own MAX_CONTENT_LENGTH), open connections.
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_CONNECTIONS = 512
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
#: Framing is the proxy's job (h11 writes Content-Length or chunked itself); these app headers are dropped.
_HOP_BY_HOP = {"transfer-encoding", "keep-alive", "upgrade", "te", "trailer", "proxy-connection"}


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
        return (f"hybridsoa proxy: CONNECT to {shown}:{port} refused: {shown} is not a host the mock emulates "
                "(the login, Graph and Exchange hosts of the global and national clouds). Nothing is forwarded "
                "to the internet.")
    if port != HTTPS_PORT:
        return f"hybridsoa proxy: CONNECT to {shown}:{port} refused: the mock answers for {shown} on port 443 only."
    return None


def build_environ(request: h11.Request, body: bytes, host: str, peer) -> dict:
    """The PEP 3333 environ of a request received inside the tunnel to ``host`` (https, port 443).
    Raises ValueError when the target is not origin-form (``/path?query``)."""
    target = request.target.decode("latin-1")
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        raise ValueError("request target is not origin-form")
    environ = {
        "REQUEST_METHOD": request.method.decode("latin-1"), "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query,
        "RAW_URI": target, "REQUEST_URI": target, "SERVER_NAME": host, "SERVER_PORT": str(HTTPS_PORT),
        "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("latin-1"),
        "REMOTE_ADDR": str(peer[0]) if peer else "127.0.0.1", "REMOTE_PORT": str(peer[1]) if peer else "0",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1")
        if "_" in name:
            # As gunicorn and werkzeug do: X_Foo would otherwise be indistinguishable from X-Foo in the environ.
            continue
        value = raw_value.decode("latin-1")
        if name in ("content-length", "transfer-encoding"):
            continue  # the body is already de-framed; CONTENT_LENGTH is set from it below
        key = "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    if body or any(n == b"content-length" for n, _ in request.headers):
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
    """The HTTPS proxy on ``host:port`` (0: a free port) for ``app``, with the certificate in ``tls``;
    its event loop runs in a daemon thread and requests run on a thread pool of ``threads``.
    ``.url`` is what ``HTTPS_PROXY`` takes; :meth:`start` and :meth:`stop` (a side service of ``serve``)."""

    def __init__(self, app, tls: TlsFiles, host: str = "127.0.0.1", port: int = 0, *, threads: int = 32,
                 max_connections: int = MAX_CONNECTIONS):
        self.app, self.host, self.port = app, host, port
        self.max_connections = max_connections
        #: Requests answered inside tunnels so far (what a test checks to know its client went through here).
        self.served = 0
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # TLS 1.2 as the floor, as the direct port and Microsoft 365's endpoints; HTTP/1.1 is all the proxy speaks.
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(tls.cert), str(tls.key))
        self._context.set_alpn_protocols(["http/1.1"])
        self._executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="hybridsoa-proxy")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hybridsoa-proxy-loop", daemon=True)

    @property
    def url(self) -> str:
        """``http://host:port``, the value of ``HTTPS_PROXY``."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("::1" if self.host == "::" else self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> "ProxyServer":
        """Bind and start serving; raises OSError when the port cannot be bound."""
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop accepting, close every tunnel and the thread pool."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop has already finished
                pass
        self._thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "ProxyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ event loop
    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 (a bind failure is re-raised by start())
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._client, self.host, self.port, limit=_READ_CHUNK, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            if len(self._tasks) > self.max_connections:
                raise _Refused(503, "hybridsoa proxy: too many open connections; retry shortly.")
            await self._serve(reader, writer)
        except _Refused as refused:
            await self._send_refusal(writer, None, refused, reader)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError, h11.ProtocolError):
            pass  # the client went away, stalled, or broke the protocol after we could answer: just close
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 (never a traceback to a client; one line in the log)
            log.warning("hybridsoa proxy: connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._tasks.discard(task)
            try:
                writer.close()
            except Exception:  # noqa: BLE001 (already broken)
                pass

    # ------------------------------------------------------------------------------------------ protocol
    async def _serve(self, reader, writer) -> None:
        """The proxy request: a CONNECT to an emulated host opens a TLS tunnel; everything else is refused."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            event = await self._read_head(conn, reader, HEAD_TIMEOUT)
        except h11.RemoteProtocolError as exc:
            raise _Refused(exc.error_status_hint, "hybridsoa proxy: malformed request.") from None
        if not isinstance(event, h11.Request):
            return
        if event.method != b"CONNECT":
            target = event.target.lower()
            if target.startswith((b"http://", b"https://")) or target.startswith(b"ftp://"):
                raise _Refused(403, "hybridsoa proxy: plain-HTTP proxy requests are refused; the proxy answers "
                                    "https only, through CONNECT to an emulated Microsoft host. Nothing is "
                                    "forwarded to the internet.")
            raise _Refused(400, "hybridsoa proxy: this port is an HTTPS proxy (set HTTPS_PROXY to it); the mock's "
                                "API is on its direct port.")
        parsed = parse_connect_target(event.target.decode("latin-1"))
        if parsed is None:
            raise _Refused(400, "hybridsoa proxy: a CONNECT target must be host:port.")
        refusal = connect_refusal(*parsed)
        if refusal is not None:
            raise _Refused(403, refusal, f"Forbidden (hybridsoa proxy does not emulate {parsed[0][:100]}:{parsed[1]})")
        host = parsed[0]
        if conn.trailing_data[0]:
            # A client that sends its TLS hello before our 200 would have bytes in our plaintext buffer.
            return
        writer.write(conn.send(h11.Response(status_code=200, reason=b"Connection Established", headers=[])))
        # No await between the 200 and start_tls (asyncio.timeout, unlike wait_for, starts no task): the loop
        # must not read the client's TLS hello as plaintext before the transport is switched to TLS.
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            await writer.start_tls(self._context)
        await self._tunnel(reader, writer, host)

    async def _tunnel(self, reader, writer, host: str) -> None:
        """HTTP/1.1 requests inside the TLS tunnel to ``host``, each answered by the app, kept alive."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        peer = writer.get_extra_info("peername")
        loop = asyncio.get_running_loop()
        while True:
            try:
                event = await self._read_head(conn, reader, IDLE_TIMEOUT)
                if not isinstance(event, h11.Request):
                    return
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                async with asyncio.timeout(BODY_TIMEOUT):
                    body = await self._read_body(conn, reader)
            except h11.RemoteProtocolError as exc:
                raise _Refused(exc.error_status_hint, "hybridsoa proxy: malformed request.") from None
            except _Refused as refused:
                await self._send_refusal(writer, conn, refused)
                return
            try:
                environ = build_environ(event, body, _request_host(event, host), peer)
            except _Refused as refused:
                await self._send_refusal(writer, conn, refused)
                return
            except ValueError:
                await self._send_refusal(writer, conn, _Refused(400, "hybridsoa proxy: the request target must "
                                                                     "be a path (origin-form)."))
                return
            try:
                code, reason, headers, payload = await loop.run_in_executor(self._executor, call_wsgi, self.app,
                                                                            environ)
            except Exception as exc:  # noqa: BLE001 (the app renders its own errors; this is a bug, said once)
                log.warning("hybridsoa proxy: the app failed: %s: %s", type(exc).__name__, exc)
                code, reason, payload = 500, b"Internal Server Error", b'{"error":{"code":"InternalServerError",' \
                    b'"message":"The mock hit an internal error."}}'
                headers = [("Content-Type", "application/json")]
            out = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
            if code not in (204, 304) and not any(k.lower() == "content-length" for k, _ in out):
                out.append(("Content-Length", str(len(payload))))
            writer.write(conn.send(h11.Response(status_code=code, reason=reason, headers=out)))
            if payload and event.method != b"HEAD" and code not in (204, 304):
                writer.write(conn.send(h11.Data(data=payload)))
            writer.write(conn.send(h11.EndOfMessage()))
            self.served += 1
            await self._drain(writer)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_head(self, conn: h11.Connection, reader, first_byte_timeout: float):
        """The next request head: the first bytes may take ``first_byte_timeout``, the rest HEAD_TIMEOUT."""
        event = conn.next_event()
        if event is h11.NEED_DATA:
            async with asyncio.timeout(first_byte_timeout):
                conn.receive_data(await reader.read(_READ_CHUNK))
            async with asyncio.timeout(HEAD_TIMEOUT):
                event = await self._next_event(conn, reader)
        return event

    @staticmethod
    async def _next_event(conn: h11.Connection, reader):
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await reader.read(_READ_CHUNK))

    async def _read_body(self, conn: h11.Connection, reader) -> bytes:
        parts, size = [], 0
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY_BYTES:
                    raise _Refused(413, "hybridsoa proxy: the request body is larger than 32 MiB.")
                parts.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            else:  # ConnectionClosed mid-body
                raise ConnectionResetError("client closed mid-body")

    async def _send_refusal(self, writer, conn: h11.Connection | None, refused: _Refused, reader=None) -> None:
        """Answer a client mistake in plain text and close (a fresh h11 state when none is usable)."""
        if conn is None or conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(b"GET / HTTP/1.1\r\nHost: proxy\r\n\r\n")  # puts h11 in SEND_RESPONSE
            conn.next_event()
        body = (refused.message + "\n").encode("utf-8", "backslashreplace")
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                   ("Connection", "close"), (_NOTE, "answered by the hybridsoa proxy, not by an emulated service")]
        if refused.status == 503:
            headers.append(("Retry-After", "1"))
        try:
            reason = refused.reason or _phrase(refused.status)
            writer.write(conn.send(h11.Response(status_code=refused.status, headers=headers,
                                                reason=reason.encode("latin-1", "replace"))))
            writer.write(conn.send(h11.Data(data=body)))
            writer.write(conn.send(h11.EndOfMessage()))
            await self._drain(writer)
            if reader is not None and writer.can_write_eof():
                # Lingering close: closing with unread input would reset the connection and could destroy the
                # answer before the client reads it; so half-close, then discard a bounded amount of input.
                writer.write_eof()
                async with asyncio.timeout(LINGER_TIMEOUT):
                    await self._discard(reader)
        except (ConnectionError, TimeoutError, h11.LocalProtocolError, ssl.SSLError):
            pass

    @staticmethod
    async def _drain(writer) -> None:
        async with asyncio.timeout(WRITE_TIMEOUT):
            await writer.drain()

    @staticmethod
    async def _discard(reader) -> None:
        left = LINGER_BYTES
        while left > 0:
            chunk = await reader.read(min(left, _READ_CHUNK))
            if not chunk:
                return
            left -= len(chunk)


def _request_host(request: h11.Request, tunnel_host: str) -> str:
    """The tunnel's host, after checking the request's Host names it (a request for another name on this tunnel
    is 421 Misdirected Request, RFC 9110 section 15.5.20)."""
    for name, value in request.headers:
        if name == b"host":
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
