"""hybridsoa SDK: one client code path for real Microsoft 365 tenants and the hybridsoa mock (only the
:class:`Cloud` changes), plus the ``hybridsoa.sdk.soa`` workflows behind the ``hybridsoa`` CLI."""

from .auth import Credentials, TokenProvider
from .clouds import CHINA, CLOUDS, DOD, GCC, GCC_HIGH, GLOBAL, Cloud, get_cloud
from .config import Connection, Settings, connect, connect_mock, load_settings
from .errors import (
    ApiError,
    AuthenticationFailed,
    AuthError,
    ConfigError,
    Conflict,
    HybridSoaError,
    InvalidParameter,
    NotFound,
    NotImplementedByService,
    PermissionDenied,
    SyncedObjectError,
    Throttled,
    Transient,
    WriteScopeError,
)
from .exchange import ExchangeClient
from .graph import GraphClient
from .ldap import DirectoryReferral, LdapDirectory, LdapSettings
from .onprem import MockOnPremDirectory, OnPremDirectory
from .transport import RetryPolicy, Transport

__all__ = [
    "CHINA",
    "CLOUDS",
    "DOD",
    "GCC",
    "GCC_HIGH",
    "GLOBAL",
    "ApiError",
    "AuthError",
    "AuthenticationFailed",
    "Cloud",
    "ConfigError",
    "Conflict",
    "Connection",
    "Credentials",
    "DirectoryReferral",
    "ExchangeClient",
    "GraphClient",
    "HybridSoaError",
    "InvalidParameter",
    "LdapDirectory",
    "LdapSettings",
    "MockOnPremDirectory",
    "NotFound",
    "NotImplementedByService",
    "OnPremDirectory",
    "PermissionDenied",
    "RetryPolicy",
    "Settings",
    "SyncedObjectError",
    "Throttled",
    "TokenProvider",
    "Transient",
    "Transport",
    "WriteScopeError",
    "connect",
    "connect_mock",
    "get_cloud",
    "load_settings",
]
