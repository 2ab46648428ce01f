"""``serve --data-dir`` with a full disk: a write whose redo record cannot be written is answered 500 with the
JSON error body, and later acknowledged writes (which carry its change) are on disk after a restart."""

from __future__ import annotations

import errno
import os

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store import open_store, redo_log


def test_a_full_disk_answers_500_and_loses_no_acknowledged_write(tmp_path, auth_header, monkeypatch, set_mailbox):
    registry = TenantRegistry(seed=5)
    store = open_store(registry, str(tmp_path), snapshot)
    tenant = registry.create("durable", seed=9, frozen_clock=True, mailboxes=6, options={"mix": "uniform"})
    client = create_app(registry).test_client()
    exo = auth_header(tenant, "exchange")
    with tenant.lock:
        first, second = [m.user_principal_name for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"][
            :2
        ]
    real_write = os.write

    def enospc(fd, data):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(redo_log.PREFIX):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(redo_log.os, "write", enospc)
    rv = set_mailbox(client, tenant.id, exo, first, True)
    assert rv.status_code == 500
    assert rv.get_json()["error"]["code"] == "InternalServerError"
    monkeypatch.setattr(redo_log.os, "write", real_write)
    assert set_mailbox(client, tenant.id, exo, second, True).status_code == 200
    store.close()
    reopened = TenantRegistry(seed=5)
    again = open_store(reopened, str(tmp_path), snapshot)
    try:
        managed = {
            m.user_principal_name: m.is_exchange_cloud_managed
            for m in reopened.get("durable").mailboxes
            if m.user_principal_name in (first, second)
        }
        # The refused write's change stayed in memory and went to disk with the next acknowledged one.
        assert managed == {first: True, second: True}
    finally:
        again.close()
