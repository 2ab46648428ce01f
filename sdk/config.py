"""Configuration from arguments, ``HYBRIDSOA_*`` environment variables and a TOML profile file (in that order of
precedence), and the :class:`Connection` that wires cloud, transport, MSAL and the clients together.

Secrets (client secret, password, certificate password, control token) are never printed or logged: ``repr`` and
:meth:`Settings.redacted` mask them."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from .auth import Credentials, TokenProvider
from .clouds import Cloud, get_cloud
from .errors import ConfigError
from .transport import RetryPolicy, Transport

SECRET_FIELDS = frozenset({"client_secret", "password", "certificate_password", "control_token", "ldap_password"})
DEFAULT_PROFILE_FILE = os.path.join(os.path.expanduser("~"), ".config", "hybridsoa", "profiles.toml")


@dataclass(repr=False)
class Settings:
    """Everything needed to connect: cloud, tenant and one credential (plus the mock's URL/CA for ``local``)."""

    cloud: str = "global"
    tenant: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    certificate: str | None = None
    certificate_password: str | None = None
    username: str | None = None
    password: str | None = None
    device_code: bool = False
    token_cache: str | None = None
    #: Local cloud only: the mock's base URL, its CA bundle and the optional control-plane token.
    mock_url: str | None = None
    ca_bundle: str | None = None
    control_token: str | None = None
    #: Anchor mailbox override for X-AnchorMailbox.
    anchor_mailbox: str | None = None
    timeout: float = 120.0
    #: On-prem AD over LDAP (drift, revert's reconcile, on-prem backup): ``ldaps://dc:636`` (or ``ldap://`` with
    #: ``ldap_start_tls``), base DN, bind name (DN, UPN or DOMAIN\\user) and password, auth simple|ntlm|kerberos,
    #: and the CA that signed the DC's certificate (default: ``ca_bundle``, then the system store).
    ldap_url: str | None = None
    ldap_base_dn: str | None = None
    ldap_bind_dn: str | None = None
    ldap_password: str | None = None
    ldap_auth: str | None = None
    ldap_start_tls: bool = False
    ldap_ca_bundle: str | None = None

    def redacted(self) -> dict:
        """The settings as a dict with secrets replaced by ``***`` (safe to print)."""
        return {
            f.name: ("***" if f.name in SECRET_FIELDS and getattr(self, f.name) else getattr(self, f.name))
            for f in fields(self)
        }

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.redacted().items() if v not in (None, False))})"

    def resolve_cloud(self) -> Cloud:
        """The :class:`Cloud` these settings point at (``local`` needs ``mock_url``)."""
        if self.ca_bundle:
            check_ca_file(self.ca_bundle)
        if (self.cloud or "").lower() == "local" or (self.mock_url and not self.cloud):
            if not self.mock_url:
                raise ConfigError("cloud 'local' needs --mock-url (or HYBRIDSOA_MOCK_URL)")
            return Cloud.local(self.mock_url, self.ca_bundle)
        try:
            cloud = get_cloud(self.cloud)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cloud.with_verify(self.ca_bundle) if self.ca_bundle else cloud

    def credentials(self) -> Credentials:
        """The MSAL credentials described by these settings."""
        if not self.tenant:
            raise ConfigError("a tenant is required (--tenant or HYBRIDSOA_TENANT): its id or *.onmicrosoft.com")
        return Credentials(
            tenant=self.tenant,
            client_id=self.client_id,
            client_secret=self.client_secret,
            certificate_path=self.certificate,
            certificate_password=self.certificate_password,
            username=self.username,
            password=self.password,
            device_code=self.device_code,
            token_cache_path=self.token_cache,
        )


def check_ca_file(path: str) -> None:
    """Refuse a CA bundle that is missing or holds no PEM certificate, before any connection uses it."""
    import ssl

    if not os.path.isfile(path):
        raise ConfigError(f"CA file not found: {path}")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError, OSError, UnicodeDecodeError):
        raise ConfigError(f"CA file {path} holds no PEM certificate") from None


def _coerce(name: str, value):
    if value is None:
        return None
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind in (bool, "bool") and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if kind in (float, "float"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, not {value!r}") from None
    return value


def load_settings(
    args: dict | None = None, *, env: dict | None = None, profile: str | None = None, profile_file: str | None = None
) -> Settings:
    """Merge profile file < environment (``HYBRIDSOA_<FIELD>``) < explicit arguments into :class:`Settings`."""
    env = os.environ if env is None else env
    args = {k: v for k, v in (args or {}).items() if v is not None}
    names = [f.name for f in fields(Settings)]
    merged: dict = {}
    profile = profile or args.pop("profile", None) or env.get("HYBRIDSOA_PROFILE")
    path = profile_file or args.pop("profile_file", None) or env.get("HYBRIDSOA_PROFILE_FILE")
    if profile:
        path = path or DEFAULT_PROFILE_FILE
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"profile file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"profile file {path} is not valid TOML: {exc}") from None
        section = (doc.get("profile") or {}).get(profile) or doc.get(profile)
        if not isinstance(section, dict):
            raise ConfigError(f"profile {profile!r} not found in {path}")
        unknown = set(section) - set(names)
        if unknown:
            raise ConfigError(f"profile {profile!r}: unknown keys {sorted(unknown)}")
        merged.update(section)
    for name in names:
        value = env.get(f"HYBRIDSOA_{name.upper()}")
        if value not in (None, ""):
            merged[name] = value
    for name in names:
        if name in args:
            merged[name] = args[name]
    return Settings(**{k: _coerce(k, v) for k, v in merged.items()})


@dataclass
class Connection:
    """A signed-in session on one tenant: the shared transport, tokens, and the Exchange/Graph clients
    (plus the on-prem directory over LDAP: the ``ldap_*`` settings' domain controller, or the mock's)."""

    cloud: Cloud
    tenant: str
    transport: Transport
    tokens: TokenProvider
    settings: Settings | None = None
    _exchange: object = field(default=None, repr=False)
    _graph: object = field(default=None, repr=False)
    _onprem: object = field(default=None, repr=False)

    @property
    def exchange(self):
        """The :class:`~hybridsoa.sdk.exchange.ExchangeClient` of this connection."""
        if self._exchange is None:
            from .exchange import ExchangeClient

            self._exchange = ExchangeClient(
                self.cloud,
                self.tenant,
                self.tokens,
                self.transport,
                anchor_mailbox=self.settings.anchor_mailbox if self.settings else None,
            )
        return self._exchange

    @property
    def graph(self):
        """The :class:`~hybridsoa.sdk.graph.GraphClient` of this connection."""
        if self._graph is None:
            from .graph import GraphClient

            self._graph = GraphClient(self.cloud, self.tokens, self.transport)
        return self._graph

    @property
    def onprem(self):
        """The on-prem directory over LDAP: the ``ldap_*`` settings (a domain controller); for the local cloud
        without them, the mock's own LDAP port as the tenant's credentials name it (the HTTP control plane
        only when the mock serves no LDAP port); None when nothing is configured."""
        if self._onprem is None:
            s = self.settings
            if s is not None and s.ldap_url:
                from .ldap import LdapDirectory, settings_from

                self._onprem = LdapDirectory(
                    settings_from(
                        s.ldap_url,
                        s.ldap_base_dn or "",
                        s.ldap_bind_dn,
                        s.ldap_password,
                        ca_bundle=s.ldap_ca_bundle or s.ca_bundle,
                        auth=s.ldap_auth or "simple",
                        start_tls=True if s.ldap_start_tls else None,
                        timeout=min(float(s.timeout), 60.0),
                    )
                )
            elif self.cloud.is_local:
                from .ldap import mock_directory

                self._onprem = mock_directory(
                    self.cloud, self.tenant, self.transport, control_token=s.control_token if s else None
                )
        return self._onprem

    def close(self) -> None:
        """Close the transport's pooled connections (and the LDAP connection, if one was opened)."""
        if self._onprem is not None and hasattr(self._onprem, "close"):
            self._onprem.close()
        self.transport.close()


def connect(
    settings: Settings,
    *,
    sleep: Callable[[float], None] | None = None,
    retry: RetryPolicy | None = None,
    pool_size: int = 64,
) -> Connection:
    """Build a :class:`Connection` from settings (no network call until the first request)."""
    cloud = settings.resolve_cloud()
    kwargs: dict[str, Any] = {"sleep": sleep} if sleep else {}
    transport = Transport(
        verify=cloud.verify, timeout=(10.0, float(settings.timeout)), retry=retry, pool_size=pool_size, **kwargs
    )
    tokens = TokenProvider(cloud, settings.credentials(), transport)
    return Connection(cloud=cloud, tenant=settings.tenant, transport=transport, tokens=tokens, settings=settings)


def connect_mock(
    url: str,
    ca_path: str | None,
    credentials: dict,
    *,
    app: str | None = "automation",
    user: str | None = None,
    control_token: str | None = None,
    **kw,
) -> Connection:
    """Connect to a mock tenant from its ``POST /_mock/tenants`` answer: app-only as ``app`` (default
    ``automation``), or delegated as ``user`` (UPN or seeded name, password grant through the automation app).
    An answer that names a ``cloud`` other than ``local`` (the pytest plugin's ``--hybridsoa-proxy``) connects
    exactly as to a real tenant in that cloud: the mock is then reached through ``HTTPS_PROXY`` and the CA bundle
    in ``REQUESTS_CA_BUNDLE``, and ``url``/``ca_path`` are not used."""
    apps = {a["name"]: a for a in credentials.get("apps", [])}
    cloud = credentials.get("cloud") or "local"
    if cloud == "local":
        settings = Settings(
            cloud="local", tenant=credentials["tenantId"], mock_url=url, ca_bundle=ca_path, control_token=control_token
        )
    else:
        settings = Settings(cloud=cloud, tenant=credentials["tenantId"])
        onprem = credentials.get("onprem") or {}
        if onprem.get("ldapUrl"):
            # The on-prem DC as configured for a real tenant: its LDAPS URL, account and the CA that signed it.
            settings.ldap_url, settings.ldap_base_dn = onprem["ldapUrl"], onprem.get("baseDn")
            settings.ldap_bind_dn, settings.ldap_password = onprem.get("bindDn"), onprem.get("password")
            settings.ldap_ca_bundle = ca_path
    if user:
        upn = user if "@" in user else f"{user}@{credentials['domain']}"
        match = [u for u in credentials.get("users", []) if u["userPrincipalName"].lower() == upn.lower()]
        if not match:
            raise ConfigError(f"no seeded user {upn}")
        settings.username, settings.password = upn, match[0]["password"]
        chosen = apps.get(app or "automation", {})
        settings.client_id, settings.client_secret = chosen.get("clientId"), chosen.get("clientSecret")
    else:
        if app not in apps:
            raise ConfigError(f"no seeded app {app!r}")
        settings.client_id, settings.client_secret = apps[app]["clientId"], apps[app]["clientSecret"]
    return connect(settings, **kw)
