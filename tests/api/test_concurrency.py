"""Per-tenant serialization: concurrent Exchange toggles, Graph edits and running sync cycles never interleave
half-applied changes; the audit log and the final state agree."""

from __future__ import annotations

import random
import threading

import pytest

from hybridsoa.mock.domain.entra.tokens import issue_access_token


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="contoso", seed=42, mailboxes=12)


def _toggles(tenant, guid):
    """Succeeded Set-Mailbox records for one mailbox, in the order they were applied."""
    with tenant.lock:
        return [
            r
            for r in tenant.audit.records
            if r.operation == "Set-Mailbox"
            and r.succeeded
            and r.target
            in (
                guid,
                tenant.mailboxes.get(guid).external_directory_object_id,
                tenant.mailboxes.get(guid).user_principal_name,
                tenant.mailboxes.get(guid).alias,
            )
        ]


def _flag(record):
    params = record.parameters
    value = params.get("IsExchangeCloudManaged")
    if isinstance(value, str):
        return value.strip("$").lower() == "true"
    return bool(value)


def _day_long(tenant, api):
    # The cycles below move the clock five hours: tokens must outlive that.
    token, _ = issue_access_token(tenant, api, app=tenant.app_by_name("automation"), lifetime=86400)
    return {"Authorization": f"Bearer {token}"}


def test_many_threads_toggling_and_editing_while_cycles_run(app, tenant, set_mailbox):
    exo = _day_long(tenant, "exchange")
    graph = _day_long(tenant, "graph")
    with tenant.lock:
        mailboxes = [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"][:4]
        cloud_users = [u for u in tenant.users if u.password][:3]
    acked = {m.guid: 0 for m in mailboxes}
    acked_lock = threading.Lock()
    errors: list[str] = []

    def toggler(n):
        rng = random.Random(n)
        client = app.test_client()
        for _ in range(15):
            m = rng.choice(mailboxes)
            rv = set_mailbox(client, tenant.id, exo, m.user_principal_name, rng.random() < 0.5)
            if rv.status_code == 200:
                with acked_lock:
                    acked[m.guid] += 1
            else:
                errors.append(f"{rv.status_code} {rv.get_data(as_text=True)[:200]}")

    def editor(n):
        rng = random.Random(100 + n)
        client = app.test_client()
        for i in range(15):
            u = rng.choice(cloud_users)
            rv = client.patch(f"/v1.0/users/{u.id}", json={"jobTitle": f"t{n}-{i}"}, headers=graph)
            if rv.status_code != 204:
                errors.append(f"{rv.status_code} {rv.get_data(as_text=True)[:200]}")

    def cycles():
        for _ in range(10):
            with tenant.lock:
                ad = tenant.ad_users.values()[0]
                ad.attrs["department"] = f"Dept-{tenant.clock.now()}"
                tenant.ad_users.touch(ad.sam_account_name.lower())
                tenant.advance(31)

    threads = (
        [threading.Thread(target=toggler, args=(n,)) for n in range(4)]
        + [threading.Thread(target=editor, args=(n,)) for n in range(2)]
        + [threading.Thread(target=cycles)]
    )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for m in mailboxes:
        records = _toggles(tenant, m.guid)
        assert len(records) == acked[m.guid]
        if records:
            assert tenant.mailboxes.get(m.guid).is_exchange_cloud_managed == _flag(records[-1])
    for u in cloud_users:
        edits = [r for r in tenant.audit.records if r.operation == "Update user" and r.target == u.id]
        if edits:
            assert tenant.users.get(u.id).job_title == edits[-1].parameters["jobTitle"]
    assert len(tenant.sync.history) >= 11  # the Initial cycle and at least ten scheduled ones ran meanwhile


def test_two_concurrent_toggles_of_one_mailbox_end_consistent_and_both_audited(app, tenant, auth_header, set_mailbox):
    exo = auth_header(tenant, "exchange")
    with tenant.lock:
        mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
    for round_no in range(5):
        start = threading.Barrier(2)
        statuses = []

        def toggle(value, start=start, statuses=statuses):
            client = app.test_client()
            start.wait()
            statuses.append(set_mailbox(client, tenant.id, exo, mbx.user_principal_name, value).status_code)

        before = len(_toggles(tenant, mbx.guid))
        threads = [threading.Thread(target=toggle, args=(v,)) for v in (True, False)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200, 200]
        records = _toggles(tenant, mbx.guid)
        assert len(records) == before + 2, f"round {round_no}"
        assert {_flag(r) for r in records[-2:]} == {True, False}
        assert tenant.mailboxes.get(mbx.guid).is_exchange_cloud_managed == _flag(records[-1])


def test_concurrent_writes_with_a_data_dir_are_all_on_disk(tmp_path, auth_header, set_mailbox):
    """With the durable store attached, what many threads changed is exactly what a reopened store holds."""
    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.store import open_store

    registry = TenantRegistry(seed=5)
    store = open_store(registry, str(tmp_path), snapshot)
    tenant = registry.create("durable", seed=9, frozen_clock=True, mailboxes=10, options={"mix": "uniform"})
    app = create_app(registry)
    exo = auth_header(tenant, "exchange")
    with tenant.lock:
        upns = [m.user_principal_name for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"]

    def worker(n):
        rng = random.Random(n)
        client = app.test_client()
        for _ in range(12):
            rv = set_mailbox(client, tenant.id, exo, rng.choice(upns), rng.random() < 0.5)
            assert rv.status_code == 200

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.abandon()
    reopened = TenantRegistry(seed=5)
    again = open_store(reopened, str(tmp_path), snapshot)
    try:
        with tenant.lock:
            expected = snapshot.dump_tenant(tenant)
        actual = snapshot.dump_tenant(reopened.get("durable"))
        assert actual["collections"] == expected["collections"]
        assert actual["audit"] == expected["audit"]
        assert len([r for r in actual["audit"] if r["operation"] == "Set-Mailbox"]) == 48
    finally:
        again.abandon()
