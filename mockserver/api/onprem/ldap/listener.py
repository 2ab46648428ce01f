"""The LDAP listener: a thread per connection on one TCP port, inside the process that holds the tenants (the
WSGI app's registry), so LDAP and HTTP see the same objects.

One port answers both LDAPS and plain LDAP with StartTLS: the first byte of a connection tells them apart (a TLS
ClientHello starts with 0x16, an LDAPMessage with 0x30), which saves the mock a second port. Every input is
bounded: message size, connections, idle time, paged-search state per connection; a message that cannot be
decoded gets a Notice of Disconnection and the connection is closed; nothing a client sends reaches the
listener thread itself."""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading

from . import codec
from .session import Session

log = logging.getLogger("hybridsoa.ldap")

#: Largest request accepted (AD's MaxReceiveBuffer is 10 MB; the attributes the mock models need far less).
MAX_MESSAGE_BYTES = 1024 * 1024
#: Concurrent connections; more are closed at once.
MAX_CONNECTIONS = 256
#: Idle seconds before the listener drops a connection (AD's MaxConnIdleTime default is 900).
IDLE_TIMEOUT = 900.0
_TLS_RECORD_HANDSHAKE = 0x16


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        server = self.server
        try:
            sock.settimeout(IDLE_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = sock.recv(1, socket.MSG_PEEK)
            if not first:
                return
            tls = False
            if first[0] == _TLS_RECORD_HANDSHAKE:
                if server.tls_context is None:
                    return
                sock = server.tls_context.wrap_socket(sock, server_side=True)
                tls = True
            session = Session(server.registry, tls_active=tls, can_start_tls=server.tls_context is not None)
            self._converse(sock, session)
        except (TimeoutError, OSError, ssl.SSLError):
            pass  # the client went away or spoke TLS badly: nothing to answer
        except Exception:  # never let one connection take the listener down
            log.exception("LDAP connection failed")
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _converse(self, sock, session: Session) -> None:
        buffer = b""
        while not session.closed and not self.server.stopping:
            try:
                size = codec.message_size(buffer) if buffer else -1
            except codec.ProtocolError as exc:
                sock.sendall(codec.notice_of_disconnection(str(exc)))
                return
            if size > MAX_MESSAGE_BYTES:
                sock.sendall(codec.notice_of_disconnection("the request is larger than the server accepts"))
                return
            if size == -1 or len(buffer) < size:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                # Sixteen bytes always hold a definite length; still -1 means it is not BER.
                if size == -1 and len(buffer) > 16 and codec.message_size(buffer) == -1:
                    sock.sendall(codec.notice_of_disconnection("not an LDAP message"))
                    return
                continue
            data, buffer = buffer[:size], buffer[size:]
            try:
                request = codec.decode(data)
                responses = session.handle(request)
            except codec.ProtocolError as exc:
                sock.sendall(codec.notice_of_disconnection(str(exc)))
                return
            except Exception:
                log.exception("LDAP request failed")
                sock.sendall(codec.notice_of_disconnection("the server could not process the request"))
                return
            if responses:
                # One write per request: separate small writes meet Nagle + delayed ACK (40 ms stalls).
                sock.sendall(b"".join(responses))
            if session.start_tls_now:
                session.start_tls_now = False
                if buffer:
                    return  # RFC 4511 4.14.1: nothing may follow StartTLS before the handshake
                sock = self.server.tls_context.wrap_socket(sock, server_side=True)
                session.tls_active = True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address, registry, tls_context):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.registry = registry
        self.tls_context = tls_context
        self.stopping = False
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class LdapListener:
    """A running listener: ``host``, ``port``, ``url``; :meth:`stop` closes it."""

    def __init__(self, registry, host: str, port: int, tls_context: ssl.SSLContext | None):
        self._server = _Server((host, port), registry, tls_context)
        self.host = host
        self.port = self._server.server_address[1]
        self.tls = tls_context is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"hybridsoa-ldap-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``ldaps://host:port`` (or ``ldap://`` without a certificate); the same port takes StartTLS."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        return f"{'ldaps' if self.tls else 'ldap'}://{host}:{self.port}"

    def stop(self) -> None:
        """Stop accepting, close the socket and end the serving thread."""
        self._server.stopping = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
