"""Per-tenant Exchange Online names (forest partition, NetBIOS domain, DN and OU suffixes) shared by the cmdlet
output objects and -Identity resolution."""

from __future__ import annotations


def tenant_partition(tenant) -> str:
    """The forest-ish partition name Exchange shows in DNs and OUs (stable per tenant)."""
    return f"{tenant.name.replace('-', '').upper()[:8] or 'MOCK'}01A001.PROD.OUTLOOK.COM"


def tenant_constants(tenant) -> dict:
    """Per-tenant strings every output object repeats (computed once per tenant, kept in the tenant)."""
    found = tenant.exchange_names
    if found is None or found["domain"] != tenant.domain:
        partition = tenant_partition(tenant)
        found = tenant.exchange_names = {
            "domain": tenant.domain,
            "dn_suffix": f",OU={tenant.domain},OU=Microsoft Exchange Hosted Organizations,"
            + ",".join(f"DC={p}" for p in partition.split(".")),
            "ou": f"{partition.lower()}/Microsoft Exchange Hosted Organizations/{tenant.domain}",
            "database": f"{partition[:8]}DG001-db001",
            "server": f"MK0PR01A001DC{tenant.id[:3].upper()}.{partition}",
        }
    return found


def exchange_netbios(tenant) -> str:
    """The NetBIOS name of the Exchange Online forest partition (the ``domain`` of ``domain\\account``)."""
    return tenant_partition(tenant).split(".", 1)[0]
