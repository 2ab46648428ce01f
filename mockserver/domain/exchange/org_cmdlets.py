"""Organization cmdlets: Get-OrganizationConfig and Set-OrganizationConfig with the tenant-level default for
new synced mailboxes (-ExchangeAttributesCloudManagedByDefault / -ExchangeAttributesServerManagedByDefault,
read back as BlockExchangeProvisioningFromOnPremEnabled).
``tenant.org_config["ExchangeAttributesCloudManagedByDefault"]`` is the source of truth the sync engine reads."""

from __future__ import annotations

from . import rules
from .cmdlets import Param, register_cmdlet
from .objects import org_config_object

CLOUD_DEFAULT = "ExchangeAttributesCloudManagedByDefault"


def get_organization_config(ctx, params):
    """Get-OrganizationConfig: the one organization object of the tenant."""
    return [org_config_object(ctx.tenant)]


def set_organization_config(ctx, params):
    """Set-OrganizationConfig: switch whether newly synced mailboxes start cloud-managed (future users only)."""
    tenant = ctx.tenant
    ctx.target = tenant.domain
    cfg = tenant.org_config
    old = bool(cfg.get(CLOUD_DEFAULT))
    new = old
    if params.get("ExchangeAttributesCloudManagedByDefault"):
        new = True
    elif params.get("ExchangeAttributesServerManagedByDefault"):
        new = False
    if new != old:
        cfg[CLOUD_DEFAULT] = new
        cfg["WhenChanged"] = tenant.clock.now()
        ctx.changes = {"BlockExchangeProvisioningFromOnPremEnabled": {"old": old, "new": new}}
    else:
        ctx.warn(rules.no_change_warning(tenant.domain))
    return []


register_cmdlet(
    "Get-OrganizationConfig",
    get_organization_config,
    [],
    writes=False,
    noun="OrganizationConfig",
    description="The organization configuration.",
)
register_cmdlet(
    "Set-OrganizationConfig",
    set_organization_config,
    [
        Param("ExchangeAttributesCloudManagedByDefault", "Switch", group="CloudManaged"),
        Param("ExchangeAttributesServerManagedByDefault", "Switch", group="ServerManaged"),
        Param("Confirm", "Switch", no_op=True),
        Param("Force", "Switch", no_op=True),
    ],
    writes=True,
    noun="OrganizationConfig",
    description="Tenant-level default for the Exchange attributes' SOA of new synced mailboxes.",
)
