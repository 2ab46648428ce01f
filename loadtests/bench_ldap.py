"""The on-prem directory's two transports against the same mock tenant (issue 22): the SDK's LDAP directory
(the mock's LDAP port, LDAPS) against the HTTP control plane (``MockOnPremDirectory``), as ratios measured in
the same run on the same server process.

    .venv/bin/python loadtests/bench_ldap.py [--users 1000] [--lookups 100]

Prints one JSON document: seconds for a full read of every AD user and for ``--lookups`` reads by
sAMAccountName through each transport, and the LDAP/HTTP ratios.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main(argv=None) -> int:
    """Run the comparison and print it as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=100)
    args = parser.parse_args(argv)
    from hybridsoa.mock.api.onprem.ldap import start_ldap_listener
    from hybridsoa.mock.domain.onprem.ldap_tree import onprem_document
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.server import InProcessServer
    from hybridsoa.sdk.clouds import Cloud
    from hybridsoa.sdk.ldap import LdapDirectory, LdapSettings
    from hybridsoa.sdk.onprem import MockOnPremDirectory
    from hybridsoa.sdk.transport import Transport

    registry = TenantRegistry(seed=22)
    server = InProcessServer(registry, data_dir=tempfile.mkdtemp(prefix="bench-ldap-")).start()
    listener = start_ldap_listener(registry, "127.0.0.1", 0, server.tls.ssl_context())
    try:
        tenant = registry.create("benchldap", mailboxes=args.users, frozen_clock=True)
        onprem = onprem_document(tenant, registry.ldap_url)
        ldap = LdapDirectory(
            LdapSettings(
                url=onprem["ldapUrl"],
                base_dn=onprem["baseDn"],
                bind_dn=onprem["bindDn"],
                password=onprem["password"],
                ca_bundle=server.ca_path,
            )
        )
        http = MockOnPremDirectory(Cloud.local(server.url, server.ca_path), tenant.id, Transport(verify=server.ca_path))
        out: dict = {"users": len(tenant.ad_users), "lookups": args.lookups}
        for name, directory in (("http", http), ("ldap", ldap)):
            start = time.perf_counter()
            users = list(directory.iter_users())
            out[f"{name}_read_all_s"] = round(time.perf_counter() - start, 3)
            sams = [u["sAMAccountName"] for u in users[: args.lookups]]
            start = time.perf_counter()
            for sam in sams:
                directory.get_user(sam)
            out[f"{name}_lookups_s"] = round(time.perf_counter() - start, 3)
        out["ratio_read_all_ldap_over_http"] = round(out["ldap_read_all_s"] / out["http_read_all_s"], 2)
        out["ratio_lookups_ldap_over_http"] = round(out["ldap_lookups_s"] / out["http_lookups_s"], 2)
        ldap.close()
        print(json.dumps(out, indent=2))
    finally:
        listener.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
