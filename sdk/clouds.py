"""Microsoft cloud endpoint sets (Global, GCC, GCC High, DoD, China/21Vianet) and the local mock.

Only the endpoint set changes between a real tenant and the mock; every client goes through the same code.
Hosts and their sources are listed in docs/clouds.md."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Cloud:
    """One Microsoft cloud: where to sign in, where Graph and the Exchange admin API live, and which resource
    identifiers go into token scopes (these stay the public resource URIs even when the URLs point elsewhere)."""

    name: str
    #: Microsoft Entra authority host root, e.g. ``https://login.microsoftonline.com``.
    login_url: str
    #: Microsoft Graph service root, without the version segment.
    graph_url: str
    #: Exchange Online admin API root (``{exchange_url}/adminapi/beta/{tenant}/InvokeCommand``).
    exchange_url: str
    #: Resource identifier for Graph scopes (``<resource>/.default``).
    graph_resource: str
    #: Resource identifier for Exchange scopes.
    exchange_resource: str
    #: TLS verification: True (system/env bundle) or a CA bundle path forced on every request.
    verify: bool | str = True
    #: True for the local mock: MSAL must skip instance discovery (the mock is not a known Microsoft host).
    is_local: bool = False
    #: Mock control-plane root (``/_mock``) for the local cloud only.
    control_url: str | None = None

    def authority(self, tenant: str) -> str:
        """The MSAL authority for a tenant id or domain."""
        return f"{self.login_url.rstrip('/')}/{tenant}"

    @property
    def graph_scope(self) -> str:
        """The app-only/``.default`` scope for Microsoft Graph in this cloud."""
        return f"{self.graph_resource}/.default"

    @property
    def exchange_scope(self) -> str:
        """The ``.default`` scope for the Exchange Online admin API in this cloud."""
        return f"{self.exchange_resource}/.default"

    def scope_for(self, api: str) -> str:
        """``.default`` scope for ``"exchange"`` or ``"graph"``."""
        if api == "exchange":
            return self.exchange_scope
        if api == "graph":
            return self.graph_scope
        raise ValueError(f"unknown api {api!r} (expected 'exchange' or 'graph')")

    @classmethod
    def local(cls, url: str, ca_path: str | None = None) -> Cloud:
        """The hybridsoa mock at ``url`` (one origin for login, Graph, Exchange and ``/_mock``), trusting ``ca_path``.

        Scopes keep the public resource identifiers: the mock derives token audiences from them exactly as
        Entra does, so tokens look like real ones."""
        root = url.rstrip("/")
        return cls(
            name="local",
            login_url=root,
            graph_url=root,
            exchange_url=root,
            graph_resource=GLOBAL.graph_resource,
            exchange_resource=GLOBAL.exchange_resource,
            verify=ca_path if ca_path else True,
            is_local=True,
            control_url=f"{root}/_mock",
        )

    def with_verify(self, verify: bool | str) -> Cloud:
        """The same cloud with a different TLS verification setting (e.g. a corporate proxy CA bundle)."""
        return replace(self, verify=verify)


GLOBAL = Cloud(
    name="global",
    login_url="https://login.microsoftonline.com",
    graph_url="https://graph.microsoft.com",
    exchange_url="https://outlook.office365.com",
    graph_resource="https://graph.microsoft.com",
    exchange_resource="https://outlook.office365.com",
)
#: GCC (moderate) uses the commercial endpoints for sign-in, Graph and Exchange.
GCC = replace(GLOBAL, name="gcc")
GCC_HIGH = Cloud(
    name="gcchigh",
    login_url="https://login.microsoftonline.us",
    graph_url="https://graph.microsoft.us",
    exchange_url="https://outlook.office365.us",
    graph_resource="https://graph.microsoft.us",
    exchange_resource="https://outlook.office365.us",
)
DOD = Cloud(
    name="dod",
    login_url="https://login.microsoftonline.us",
    graph_url="https://dod-graph.microsoft.us",
    exchange_url="https://outlook-dod.office365.us",
    graph_resource="https://dod-graph.microsoft.us",
    exchange_resource="https://outlook-dod.office365.us",
)
CHINA = Cloud(
    name="china",
    login_url="https://login.chinacloudapi.cn",
    graph_url="https://microsoftgraph.chinacloudapi.cn",
    exchange_url="https://outlook.office365.cn",
    graph_resource="https://microsoftgraph.chinacloudapi.cn",
    exchange_resource="https://outlook.office365.cn",
)

CLOUDS: dict[str, Cloud] = {c.name: c for c in (GLOBAL, GCC, GCC_HIGH, DOD, CHINA)}
_ALIASES = {
    "commercial": "global",
    "worldwide": "global",
    "azurecloud": "global",
    "gcc-high": "gcchigh",
    "gcc_high": "gcchigh",
    "usgov": "gcchigh",
    "usgovhigh": "gcchigh",
    "usgovdod": "dod",
    "21vianet": "china",
    "azurechinacloud": "china",
    "mooncake": "china",
}


def get_cloud(name: str) -> Cloud:
    """Look a cloud up by name (``global``, ``gcc``, ``gcchigh``, ``dod``, ``china``, or a common alias)."""
    key = (name or "global").strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return CLOUDS[key]
    except KeyError:
        raise ValueError(f"unknown cloud {name!r}; expected one of {', '.join(CLOUDS)} or 'local'") from None
