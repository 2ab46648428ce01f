"""Big tenants are frozen out of the cyclic GC while they live, and given back to it when deleted or reset."""

import gc

from hybridsoa.mock.domain import tenant as tenant_mod
from hybridsoa.mock.domain.tenant import TenantRegistry


def test_big_tenant_frozen_until_deleted(monkeypatch):
    monkeypatch.setattr(tenant_mod, "FREEZE_THRESHOLD", 10)
    gc.unfreeze()
    try:
        reg = TenantRegistry(seed=1)
        small = reg.create("small", mailboxes=0, seed=3)
        assert gc.get_freeze_count() == 0 or len(small.mailboxes) + len(small.ad_users) >= 10
        big = reg.create("big", mailboxes=25, seed=3)
        assert gc.get_freeze_count() > 0
        assert reg.reset("big") is not big and gc.get_freeze_count() > 0
        reg.delete("big")
        assert gc.get_freeze_count() == 0
        assert reg.get("small") is small
    finally:
        gc.unfreeze()


def test_small_tenant_not_frozen():
    gc.unfreeze()
    reg = TenantRegistry(seed=1)
    reg.create("tiny", mailboxes=5, seed=3)
    assert gc.get_freeze_count() == 0
