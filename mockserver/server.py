"""Serving the mock: granian's WSGI interface as the production server (one worker process with threads, because
tenant state lives in that process; side listeners start in that process too), an in-process threaded HTTPS server
for tests, and the demo tenant with the start-up banner that ``make serve`` prints."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .api.body_gate import readers_for
from .app import create_app
from .domain.tenant import Tenant, TenantRegistry
from .tls import TlsFiles, ensure_tls

#: The demo tenant of ``make serve``: fixed id, name and seed so its credentials are the same every start.
DEMO_TENANT_ID = "c0ffee00-5eed-4d3a-9b1e-000000008443"
DEMO_TENANT_NAME = "contoso"
DEMO_SEED = 8443
DEFAULT_DATA_DIR = ".hybridsoa"
#: The Python thread pool's ceiling. Threads start on demand and idle ones go after 30 s, so the ceiling costs
#: nothing at rest; it is high because the engine has no body-read timeout: a client that sends headers and
#: withholds its body holds a thread (blocked in Rust, off the GIL) until it disconnects.
DEFAULT_THREADS = 128
LOOPBACK_NAMES = ("localhost",)
#: The worker's GIL switch interval (Python's default is 5 ms). Requests to one tenant queue on its lock, and a
#: thread that comes in with new work waits a whole interval for the GIL before the running one lets go: at 5 ms
#: that wait chained into the toggle's p99 (docs/benchmarks.md, 2026-12-03). 1 ms cut it without costing CPU.
SWITCH_INTERVAL = 0.001


@dataclass
class ServeOptions:
    """What ``hybridsoa-mock serve`` was asked to do."""

    host: str = "127.0.0.1"
    port: int = 8443
    data_dir: str | None = None
    seed: int = DEMO_SEED
    control_token: str | None = None
    tls: bool = True
    demo: bool = True
    threads: int = DEFAULT_THREADS
    extra_names: list[str] = field(default_factory=list)
    #: Serve every tenant's AD over LDAP on this port too (LDAPS and StartTLS with the local CA); None: off.
    ldap_port: int | None = None
    #: Also run the HTTPS proxy (CONNECT to the real Microsoft host names, mockserver/proxy.py) here; None: off.
    proxy_port: int | None = None
    #: With a data dir, what an acknowledged write survives: "normal" the process dying (kill -9), "full" also
    #: power loss (an fsync per group commit).
    synchronous: str = "normal"

    @property
    def tls_dir(self) -> Path:
        """Where the CA and server certificate live (the data dir, or ``.hybridsoa`` without one)."""
        return Path(self.data_dir or DEFAULT_DATA_DIR)

    @property
    def base_url(self) -> str:
        """The URL clients use (a wildcard bind is reached through 127.0.0.1)."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def proxy_url(self) -> str | None:
        """``http://host:proxy_port`` (the value of ``HTTPS_PROXY``) when the proxy is on."""
        if self.proxy_port is None:
            return None
        return "http://" + self.base_url.split("://", 1)[1].rsplit(":", 1)[0] + f":{self.proxy_port}"

    @property
    def ldap_url(self) -> str | None:
        """``ldaps://host:ldap_port`` when the LDAP listener is on."""
        if self.ldap_port is None:
            return None
        return (
            self.base_url.replace("https://", "ldaps://").replace("http://", "ldap://").rsplit(":", 1)[0]
            + f":{self.ldap_port}"
        )


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_durable_store(registry: TenantRegistry, data_dir: str | None, synchronous: str = "normal"):
    """Hand the registry to the durable store (``hybridsoa.mock.store.open_store``, persisting tenants in the
    snapshot format) when there is a data dir; returns the store, or None."""
    if not data_dir:
        return None
    from .domain import snapshot
    from .store import open_store

    return open_store(registry, data_dir, snapshot, synchronous)


def ensure_demo_tenant(registry: TenantRegistry, seed: int = DEMO_SEED) -> Tenant:
    """The demo tenant (``contoso``, fixed id); kept as recovered from the data dir when it already exists."""
    existing = registry.find(DEMO_TENANT_ID)
    if existing is not None:
        return existing
    return registry.create(DEMO_TENANT_NAME, seed=seed, tenant_id=DEMO_TENANT_ID, mailboxes=25)


def build(options: ServeOptions):
    """Registry (recovered from the durable store when there is one), demo tenant, and the Flask app."""
    registry = TenantRegistry(seed=options.seed)
    store = open_durable_store(registry, options.data_dir, options.synchronous)
    demo = ensure_demo_tenant(registry, options.seed) if options.demo else None
    # Bodies are read by at most this many of the engine's threads at once; the rest stay free for everyone else.
    readers = readers_for(options.threads)
    app = create_app(registry, control_token=options.control_token, config={"HYBRIDSOA_BODY_READERS": readers})
    app.extensions["hybridsoa_store"] = store
    if options.ldap_port is not None:
        # The listener runs in the process that builds the app (the WSGI worker), so it sees these tenants.
        from .api.onprem.ldap import start_ldap_listener

        tls = ensure_tls(options.tls_dir, [options.host, *options.extra_names]) if options.tls else None
        app.extensions["hybridsoa_ldap"] = start_ldap_listener(
            registry, options.host, options.ldap_port, tls.ssl_context() if tls else None
        )
    return app, registry, demo


def msal_snippet(base_url: str, ca: str | None, tenant_id: str, client_id: str, secret: str) -> str:
    """A self-contained MSAL example that works even when REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE are set."""
    verify = repr(ca) if ca else "True"
    return f'''import msal, requests

class PinnedSession(requests.Session):
    """Pass verify= on every request: REQUESTS_CA_BUNDLE would otherwise override Session.verify."""
    def request(self, *args, **kwargs):
        kwargs["verify"] = {verify}
        return super().request(*args, **kwargs)

app = msal.ConfidentialClientApplication(
    "{client_id}", client_credential="{secret}",
    authority="{base_url}/{tenant_id}", instance_discovery=False, http_client=PinnedSession())
result = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])
print(result["access_token"][:40] if "access_token" in result else result)'''


def banner(options: ServeOptions, tenant: Tenant | None, ca: str | None) -> str:
    """What ``serve`` prints at start: base URL, CA path, demo credentials and the MSAL snippet."""
    lines = ["", "hybridsoa mock server", f"  base URL      {options.base_url}"]
    lines.append(f"  CA            {ca}" if ca else "  TLS           off (plain HTTP; MSAL needs https)")
    lines.append(f"  control plane {options.base_url}/_mock/tenants  (OpenAPI: /_mock/openapi.json)")
    if options.control_token:
        lines.append("  control token required: Authorization: Bearer <token>")
    if options.ldap_port is not None:
        lines.append(f"  on-prem AD    {options.ldap_url}  (LDAPS; plain LDAP + StartTLS on the same port)")
    if options.proxy_port is not None:
        from .proxy import EMULATED_HOSTS
        from .tls import ensure_ca_bundle

        bundle = ensure_ca_bundle(options.tls_dir)
        lines += [
            f"  HTTPS proxy   {options.proxy_url}  (CONNECT to {len(EMULATED_HOSTS)} Microsoft hosts: "
            "login.microsoftonline.com, graph.microsoft.com, outlook.office365.com, national clouds)",
            f"  CA bundle     {bundle}  (local CA + public roots)",
            "  zero code changes:",
            f"    export HTTPS_PROXY={options.proxy_url} REQUESTS_CA_BUNDLE={bundle} SSL_CERT_FILE={bundle}",
        ]
    if options.data_dir:
        lines.append(f"  data dir      {Path(options.data_dir).resolve()}")
    if tenant is not None:
        with tenant.lock:
            creds = tenant.credentials()
        lines += [
            "",
            f"demo tenant {creds['domain']}  tenant id {creds['tenantId']}  profile {creds['profile']}",
            "  apps (client id / secret):",
        ]
        for app in creds["apps"]:
            lines.append(f"    {app['name']:<22} {app['clientId']}  {app['clientSecret']}")
        lines.append("  users (UPN / password):")
        for user in creds["users"]:
            roles = ", ".join(user["directoryRoles"]) or "no role"
            lines.append(f"    {user['userPrincipalName']:<40} {user['password']}  ({roles})")
        lines.append(f"  certificates and keys: GET {options.base_url}/_mock/tenants/{creds['tenantId']}/credentials")
        automation = next(a for a in creds["apps"] if a["name"] == "automation")
        lines += [
            "",
            "MSAL (paste into python):",
            "",
            msal_snippet(options.base_url, ca, creds["tenantId"], automation["clientId"], automation["clientSecret"]),
        ]
    return "\n".join(lines) + "\n"


#: Environment variable carrying the serve options from ``hybridsoa-mock serve`` to the engine's worker process.
OPTIONS_ENV = "HYBRIDSOA_SERVE_OPTIONS"
CA_ENV = "HYBRIDSOA_SERVE_CA"

#: Side listeners (LDAP, HTTPS proxy...) started next to the HTTP engine, in the process that holds the tenants:
#: each entry is ``factory(options, registry, app) -> service or None`` (None when its option is off); a service
#: has ``start()`` and ``stop()``. They are started after the registry is built and before the engine accepts
#: its first request, and stopped after the engine has stopped, in reverse order. Other listeners append here.
SIDE_SERVICES: list = []


def _proxy_service(options: ServeOptions, registry: TenantRegistry, app):
    """The HTTPS proxy side listener (``--proxy-port``): same process and app as the engine."""
    if options.proxy_port is None:
        return None
    from .proxy import ProxyServer, proxy_hosts
    from .tls import ensure_proxy_tls

    return ProxyServer(app, ensure_proxy_tls(options.tls_dir, proxy_hosts()), options.host, options.proxy_port)


SIDE_SERVICES.append(_proxy_service)


def start_side_services(options: ServeOptions, registry: TenantRegistry, app) -> list:
    """Start every configured side listener (see :data:`SIDE_SERVICES`); returns the started ones."""
    started = []
    for factory in SIDE_SERVICES:
        service = factory(options, registry, app)
        if service is not None:
            service.start()
            started.append(service)
    return started


def stop_side_services(services: list) -> None:
    """Stop side listeners in reverse start order; one failing to stop does not keep the others running."""
    for service in reversed(services):
        try:
            service.stop()
        except Exception:  # shutting down: report and go on
            logging.getLogger("hybridsoa").exception("stopping %r failed", service)


def _options_to_env(options: ServeOptions) -> str:
    return json.dumps(dataclasses.asdict(options))


def _options_from_env() -> ServeOptions:
    return ServeOptions(**json.loads(os.environ[OPTIONS_ENV]))


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this worker when the ``serve`` process that started it dies. Without it, a
    ``kill -9`` of ``serve`` left the worker serving on as an orphan, holding the port and the data dir."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1  # <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
    if os.getppid() == 1:  # the parent died before the request above: nobody is left to signal
        os._exit(1)


def granian_app():
    """The engine's app factory (``granian --factory``), run inside the worker process that will hold every
    tenant: builds the registry (recovering the data dir), starts the side listeners, prints the banner and
    returns the WSGI app. Everything is stopped and the store checkpointed when the worker exits."""
    import multiprocessing.util

    options = _options_from_env()
    _die_with_parent()
    sys.setswitchinterval(SWITCH_INTERVAL)
    app, registry, demo = build(options)
    services = start_side_services(options, registry, app)
    if options.proxy_port == 0:  # a free port was asked for: the banner names the one bound
        from .proxy import ProxyServer

        options.proxy_port = next((s.port for s in services if isinstance(s, ProxyServer)), 0)
    store = app.extensions.get("hybridsoa_store")

    def _shutdown():
        stop_side_services(services)
        if store is not None:
            store.close()

    # multiprocessing's exit path (not atexit) is what a worker process runs when its target returns.
    multiprocessing.util.Finalize(app, _shutdown, exitpriority=10)
    text = banner(options, demo, os.environ.get(CA_ENV) or None)
    # The engine starts listening once this factory returns: print the banner when a connection succeeds, so
    # whoever waits for it (a user, a test, a script) can connect right away.
    threading.Thread(target=_banner_when_listening, args=(options, text), name="hybridsoa-banner", daemon=True).start()
    return app


def _banner_when_listening(options: ServeOptions, text: str, timeout: float = 60.0) -> None:
    import socket
    import time

    host = options.base_url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, options.port), timeout=1):
                break
        except OSError:
            time.sleep(0.02)
    sys.stdout.write(text)
    sys.stdout.flush()


#: The open lock file of the data dir this process serves (kept open, so locked, for the process's lifetime).
_DATA_DIR_LOCK: list = []
DATA_DIR_LOCK_NAME = "hybridsoa.lock"


def retry_for(seconds: float, attempt) -> str | None:
    """Call ``attempt`` (None on success, else why not) until it succeeds or ``seconds`` have passed; its last
    answer."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        problem = attempt()
        if problem is None or time.monotonic() >= deadline:
            return problem
        time.sleep(0.1)


def port_in_use(host: str, port: int) -> str | None:
    """Why ``serve`` cannot take ``host:port`` (another listener holds it), or None. A plain bind, without the
    SO_REUSEPORT the engine uses, fails while any other socket listens there."""
    import socket

    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        return f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server running there?"
    return None


def claim_data_dir(data_dir: str) -> str | None:
    """Lock ``data_dir`` for this process (an exclusive ``flock`` on its lock file, released when the process
    ends, however it ends); the reason it cannot, when another ``serve`` holds it."""
    import fcntl

    path = Path(data_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path / DATA_DIR_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return f"data dir {data_dir} is in use by another hybridsoa-mock serve"
    _DATA_DIR_LOCK.append(fd)
    return None


def run_granian(options: ServeOptions) -> None:
    """Serve with granian's WSGI interface (Rust HTTP/1.1 and TLS; see docs/benchmarks.md for why): one worker
    process, because tenant state lives in it, running the app on ``options.threads`` Python threads. Resets,
    half-open and slow connections stay in the Rust runtime and never occupy a Python thread."""
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    tls: TlsFiles | None = ensure_tls(options.tls_dir, [options.host, *options.extra_names]) if options.tls else None
    if options.proxy_port is not None:
        # Created here, once, before the worker starts: the worker then reuses the certificate and bundle.
        from .proxy import proxy_hosts
        from .tls import ensure_ca_bundle, ensure_proxy_tls

        ensure_proxy_tls(options.tls_dir, proxy_hosts())
        ensure_ca_bundle(options.tls_dir)
    os.environ[OPTIONS_ENV] = _options_to_env(options)
    os.environ[CA_ENV] = str(tls.ca) if tls is not None else ""
    kwargs = {}
    if tls is not None:
        # TLS 1.2 as the floor: what Microsoft 365 endpoints accept, so older clients that work there work here.
        kwargs.update(ssl_cert=Path(tls.cert), ssl_key=Path(tls.key), ssl_protocol_min=SSLProtocols.tls12)
    engine = Server(
        "hybridsoa.mock.server:granian_app",
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        # HTTP/1.1 only (clients negotiate it through ALPN): granian 2.8's WSGI body reader spins forever on an
        # HTTP/2 stream whose connection is gone, so one client could park every thread (docs/fidelity.md).
        http=HTTPModes.http1,
        factory=True,
        workers=1,
        blocking_threads=max(1, options.threads),
        runtime_threads=1,
        # Requests admitted to Python at once; the rest wait in the Rust runtime.
        backpressure=max(1, options.threads) * 2,
        # A client that opens a connection and never finishes its headers is dropped after 10 s (Rust side).
        http1_settings=HTTP1Settings(header_read_timeout=10_000),
        log_level=LogLevels.warning,
        **kwargs,
    )
    # The thread ceiling is deliberate (see DEFAULT_THREADS): drop granian's start-up advice against it.
    logging.getLogger("_granian").addFilter(
        lambda record: "Python threads, which seems quite high" not in record.getMessage()
    )
    engine.serve()


class InProcessServer:
    """A threaded HTTPS server in this process on a free port (the pytest plugin's ``mock_server``):
    ``.url``, ``.ca_path``, ``.registry``, ``.app``; stop with :meth:`stop`."""

    def __init__(
        self,
        registry: TenantRegistry | None = None,
        *,
        data_dir: str | os.PathLike,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        control_token: str | None = None,
    ):
        from werkzeug.serving import make_server

        self.registry = registry if registry is not None else TenantRegistry(seed=0)
        self.app = create_app(self.registry, control_token=control_token)
        self.tls = ensure_tls(data_dir, [host]) if tls else None
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(
            host, port, self.app, threaded=True, ssl_context=self.tls.ssl_context() if self.tls else None
        )
        self.host, self.port = host, self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="hybridsoa-mock", daemon=True)

    @property
    def url(self) -> str:
        """Base URL (``https://127.0.0.1:<port>``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_path(self) -> str | None:
        """The CA certificate clients pass as ``verify=``."""
        return str(self.tls.ca) if self.tls else None

    def start(self) -> InProcessServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> InProcessServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
