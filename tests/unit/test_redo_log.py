"""Crash safety of the durable store's redo log (``serve --data-dir``, default ``synchronous=normal``): torn
records, a second replay, a kill -9 during the background apply, a full disk, file modes and bounded size."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store import open_store, redo_log


def _reopen(data_dir):
    registry = TenantRegistry(seed=1234)
    return registry, open_store(registry, str(data_dir), snapshot)


def _stop_applier(store) -> None:
    """What a kill -9 does to the background thread: from here on nothing is applied to SQLite."""
    with store._cond:
        store._closing = True
        store._cond.notify_all()
    store._committer.join()


def _toggle(store, tenant, index, value=True) -> str:
    """One Set-Mailbox request as the middleware ends it: the change and its audit record under the tenant's lock,
    ``request_done`` (the redo-log append), then ``wait_durable`` before the answer (raises: a 500)."""
    with tenant.lock:
        mbx = [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"][index]
        mbx.is_exchange_cloud_managed = value
        tenant.mailboxes.touch(mbx.guid)
        tenant.add_audit_record(
            "exchange", "Set-Mailbox", None, target=mbx.guid, changes={"IsExchangeCloudManaged": {"new": value}}
        )
        ticket = store.request_done(tenant)
    store.wait_durable(ticket)
    return mbx.guid


def _managed(registry, guid) -> bool:
    return registry.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed


@pytest.fixture
def crashed(tmp_path):
    """A store whose applier is stopped (every write lives only in the redo log), and a tenant in SQLite."""
    registry, store = _reopen(tmp_path)
    tenant = registry.create("contoso", seed=42, frozen_clock=True, mailboxes=12)
    store._drain()
    _stop_applier(store)
    yield tmp_path, store, tenant
    store.abandon()


def _assert_restart_holds(data_dir, tenant, *managed) -> None:
    """A restart on ``data_dir`` has each of ``managed`` cloud-managed and the tenant exactly as in memory."""
    registry2, store2 = _reopen(data_dir)
    for guid in managed:
        assert _managed(registry2, guid) is True
    assert snapshot.dump_tenant(registry2.get("contoso")) == snapshot.dump_tenant(tenant)
    store2.close()


def _segment_files(data_dir) -> list[str]:
    return sorted(n for n in os.listdir(data_dir) if n.startswith(redo_log.PREFIX))


def test_a_torn_last_record_is_ignored_and_earlier_records_replay(crashed):
    data_dir, store, tenant = crashed
    first, second = _toggle(store, tenant, 0), _toggle(store, tenant, 1)
    whole = redo_log.encode({key: [] for key in redo_log.RECORD_KEYS})
    with open(os.path.join(data_dir, f"{redo_log.PREFIX}{store.redo.number}"), "ab") as fh:
        fh.write(whole[: len(whole) // 2])  # kill -9 (or a full disk) in the middle of the next write()
    registry2, store2 = _reopen(data_dir)  # the restart does not fail
    assert _managed(registry2, first) is True and _managed(registry2, second) is True
    assert snapshot.dump_tenant(registry2.get("contoso")) == snapshot.dump_tenant(tenant)
    assert _segment_files(data_dir) == [f"{redo_log.PREFIX}{store2.redo.number}"]  # the torn one is gone
    store2.close()


def test_read_skips_a_bad_line_and_keeps_the_records_after_it(tmp_path):
    good = redo_log.encode({key: [] for key in redo_log.RECORD_KEYS})
    path = tmp_path / "hybridsoa.redo.1"
    path.write_bytes(good + b'{"tid": "x", "ro' + b"\n" + b"[1]\n" + good + good[:7])
    assert len(redo_log.read(str(path))) == 2


def test_a_segment_committed_but_not_deleted_is_not_applied_twice(crashed, monkeypatch):
    data_dir, store, tenant = crashed
    guid = _toggle(store, tenant, 0)
    monkeypatch.setattr(store.redo, "remove", lambda numbers: None)
    store._drain()  # SQLite has the rows and the segment number; the crash comes before the unlink
    assert len(_segment_files(data_dir)) == 2
    registry2, store2 = _reopen(data_dir)
    again = registry2.get("contoso")
    assert _managed(registry2, guid) is True
    assert len(again.audit.records) == len(tenant.audit.records)  # not appended a second time
    assert snapshot.dump_tenant(again) == snapshot.dump_tenant(tenant)
    store2.close()
    registry3, store3 = _reopen(data_dir)  # and a second restart changes nothing either
    assert snapshot.dump_tenant(registry3.get("contoso")) == snapshot.dump_tenant(tenant)
    store3.close()


def test_kill_9_during_the_background_apply_loses_nothing_acknowledged(tmp_path):
    # A real SIGKILL inside the apply transaction, after every row is written and before COMMIT.
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_redo_log import _reopen, _stop_applier, _toggle
        registry, store = _reopen({str(tmp_path)!r})
        tenant = registry.create("contoso", seed=42, frozen_clock=True, mailboxes=12)
        store._drain()
        _stop_applier(store)
        for index in range(4):
            _toggle(store, tenant, index)
        store._commit = lambda: os.kill(os.getpid(), signal.SIGKILL)
        store._drain()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    registry, store = _reopen(tmp_path)
    tenant = registry.get("contoso")
    users = [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"]
    assert [m.is_exchange_cloud_managed for m in users[:4]] == [True] * 4
    assert [r.operation for r in tenant.audit.records].count("Set-Mailbox") == 4
    store.close()


def test_a_full_disk_fails_the_write_and_leaves_no_torn_record(crashed, monkeypatch):
    data_dir, store, tenant = crashed
    real_write = os.write

    def half_then_enospc(fd, data):
        if len(data) > 8:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(redo_log.os, "write", half_then_enospc)
    with pytest.raises(OSError):
        _toggle(store, tenant, 0)  # the request is answered 500: not acknowledged
    monkeypatch.setattr(redo_log.os, "write", real_write)
    path = os.path.join(data_dir, f"{redo_log.PREFIX}{store.redo.number}")
    assert os.path.getsize(path) == 0  # the partial bytes were cut back
    # The failed change stays in memory (the mock does not roll objects back) and is still dirty, so the next
    # acknowledged write of the tenant carries it: memory and disk agree again from then on.
    second = _toggle(store, tenant, 1)
    _assert_restart_holds(data_dir, tenant, second)


def test_a_failed_append_that_cannot_be_cut_back_continues_in_a_new_segment(crashed, monkeypatch):
    data_dir, store, tenant = crashed
    real_write = os.write
    monkeypatch.setattr(redo_log.os, "ftruncate", lambda fd, size: (_ for _ in ()).throw(OSError(errno.EIO, "EIO")))
    monkeypatch.setattr(
        redo_log.os, "write", lambda fd, data: real_write(fd, bytes(data[:5])) if len(data) > 8 else 1 / 0
    )
    before = store.redo.number
    with pytest.raises(ZeroDivisionError):
        _toggle(store, tenant, 0)
    monkeypatch.setattr(redo_log.os, "write", real_write)
    assert store.redo.number == before + 1
    second = _toggle(store, tenant, 1)
    _assert_restart_holds(data_dir, tenant, second)


def test_a_failed_segment_switch_in_the_apply_keeps_the_records_queued(crashed, monkeypatch):
    data_dir, store, tenant = crashed
    first = _toggle(store, tenant, 0)
    real_switch = store.redo._switch

    def no_inode(number):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.redo, "_switch", no_inode)
    with pytest.raises(OSError):
        store._drain()  # the background apply fails and will retry
    monkeypatch.setattr(store.redo, "_switch", real_switch)
    second = _toggle(store, tenant, 1)
    store._drain()  # the retry applies both and deletes their segment
    _assert_restart_holds(data_dir, tenant, first, second)


def test_segments_are_private_files_in_a_private_dir(tmp_path):
    old = os.umask(0)  # even with a permissive umask
    try:
        registry, store = _reopen(tmp_path / "data")
        registry.create("contoso", seed=42, frozen_clock=True, mailboxes=2)
    finally:
        os.umask(old)
    data_dir = tmp_path / "data"
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    names = _segment_files(data_dir)
    assert names
    for name in names:
        assert stat.S_IMODE(os.stat(data_dir / name).st_mode) == 0o600
    store.close()


def test_applied_segments_are_deleted(crashed):
    data_dir, store, tenant = crashed
    for round_ in range(5):
        for index in range(3):
            _toggle(store, tenant, index, value=bool(round_ % 2))
        assert len(_segment_files(data_dir)) == 1  # the one being written
        store._drain()
        assert _segment_files(data_dir) == [f"{redo_log.PREFIX}{store.redo.number}"]
        assert os.path.getsize(os.path.join(data_dir, _segment_files(data_dir)[0])) == 0
    store.close()
    assert _segment_files(data_dir) == []


def test_object_texts_go_into_a_record_as_json_and_come_back_as_the_same_texts(crashed):
    # A record carries the objects' JSON as JSON (not as escaped strings); a value orjson refuses elsewhere in the
    # record (a lone surrogate) sends it to the standard library with the texts as strings. Both read back alike.
    data_dir, store, tenant = crashed
    with tenant.lock:
        mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
        mbx.display_name = "zz\ud800zz"  # a lone surrogate in an object: its text escapes it
        tenant.mailboxes.touch(mbx.guid)
        plan = store._collect(tenant, True)
    assert plan["rows"]
    fast = redo_log._encode_plan(plan)
    odd = dict(plan, gone=[(tenant.id, "mailboxes", "zz\ud800zz")])
    slow = redo_log._encode_plan(odd)
    text = plan["rows"][0][5].encode()
    assert text in fast and text not in slow  # as JSON in the one, as an escaped string in the other
    for line, expected in ((fast, plan), (slow, odd)):
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        tid, rows, gone, audit, _journal, _blobs, _card = redo_log.item(json.loads(line))
        assert [tuple(r) for r in rows] == [tuple(r) for r in expected["rows"]]
        assert [tuple(g) for g in gone] == [tuple(g) for g in expected["gone"]]
        assert audit == [text for _t, text in expected["audit_rows"]]
    store._undo(plan)
    first = _toggle(store, tenant, 0)
    _assert_restart_holds(data_dir, tenant, first)


def test_a_failed_apply_keeps_its_round_in_front_of_the_records_that_came_after_it(crashed, monkeypatch):
    # The failed round toggles one mailbox and deletes another; the next round flips the first back and puts the
    # deleted one back: the retry must write the state of applying both rounds in order.
    data_dir, store, tenant = crashed
    _toggle(store, tenant, 0, True)
    with tenant.lock:
        gone = [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"][2]
        tenant.mailboxes.delete(gone.guid)
        store.wait_durable(store.request_done(tenant))

    def broken(plan):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_apply_merged", broken)
    with pytest.raises(sqlite3.OperationalError):
        store._drain()
    monkeypatch.undo()
    first = _toggle(store, tenant, 0, False)
    with tenant.lock:
        tenant.mailboxes.put(gone.guid, gone)
        store.wait_durable(store.request_done(tenant))
    store._drain()
    assert not _segment_files(data_dir)[:-1]  # applied: only the open segment is left
    registry2, store2 = _reopen(data_dir)
    assert _managed(registry2, first) is False
    assert snapshot.dump_tenant(registry2.get("contoso")) == snapshot.dump_tenant(tenant)
    store2.close()


_KEYS = st.sampled_from([("t", "mailboxes", k) for k in "abc"] + [("u", "users", "a")])
_RECORDS = st.lists(
    st.tuples(
        st.sampled_from(["t", "u"]),
        st.lists(st.tuples(_KEYS, st.integers(1, 9), st.booleans()), max_size=3),
        st.lists(_KEYS, max_size=2),
        st.lists(st.sampled_from(["a1", "a2"]), max_size=2),
        st.one_of(st.none(), st.tuples(st.booleans(), st.lists(st.integers(1, 50), max_size=2), st.none())),
        st.lists(st.tuples(st.sampled_from(["ids", "clock"]), st.text(max_size=2)), max_size=2),
        st.one_of(st.none(), st.text(max_size=2)),
    ),
    max_size=8,
)


def _as_item(record) -> tuple:
    tid, rows, gone, audit, journal, blobs, card = record
    rows = [(*key, seq, "path", None if tomb else f'{{"seq": {seq}}}') for key, seq, tomb in rows]
    journal = None if journal is None else (journal[0], [(tid, n, str(n)) for n in journal[1]], journal[2])
    return (tid, rows, gone, audit, journal, blobs, card)


@settings(max_examples=300, deadline=None)
@given(_RECORDS, st.integers(0, 8))
def test_folding_a_later_round_into_an_earlier_one_equals_folding_every_record_in_order(records, cut):
    items = [_as_item(r) for r in records]
    whole = redo_log.Pending()
    for item in items:
        whole.add(*item)
    earlier, later = redo_log.Pending(), redo_log.Pending()
    for item in items[:cut]:
        earlier.add(*item)
    for item in items[cut:]:
        later.add(*item)
    earlier.absorb(later)
    assert list(earlier.last.items()) == list(whole.last.items())  # order matters: it is the reload order
    assert (earlier.audit, earlier.journal, earlier.blobs, earlier.cards) == (
        whole.audit,
        whole.journal,
        whole.blobs,
        whole.cards,
    )
    assert earlier.records == whole.records == len(items)
