"""The mock's on-premises AD over LDAPv3 (``hybridsoa-mock serve --ldap-port PORT``): a listener in the process
that holds the tenants. :func:`start_ldap_listener` is the whole interface servers use."""

from __future__ import annotations

import ssl


def start_ldap_listener(registry, host: str, port: int, tls_context: ssl.SSLContext | None):
    """Serve every tenant's AD over LDAP on ``host:port`` (LDAPS and StartTLS with ``tls_context``); returns a
    handle with ``url``, ``port`` and ``stop()``. Also tells the registry the URL, which each tenant's
    credentials document shows as ``onprem.ldapUrl``."""
    from .listener import LdapListener

    handle = LdapListener(registry, host, port, tls_context)
    registry.ldap_url = handle.url
    return handle


__all__ = ["start_ldap_listener"]
