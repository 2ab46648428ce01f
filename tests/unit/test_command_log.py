"""The durable store's command log (``store/commands.py``): a ``Set-Mailbox`` call is logged as what was asked and
run again after a crash, so the recovered tenant is the one in memory before the crash, object for object, audit
record for audit record, journal entry for journal entry, RNG state included; calls that cannot be replayed exactly
write objects instead, and nothing is run twice."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.entra.tokens import issue_access_token
from hybridsoa.mock.store import redo_log

from .test_redo_log import _reopen, _stop_applier


class Session:
    """A tenant served by the app over a durable store whose applier is stopped, and a client with a token."""

    def __init__(self, data_dir, *, frozen: bool = True, before: Session | None = None):
        # ``before``: a session on the same data dir that crashed; this one reloads its tenant, token and aliases.
        self.registry, self.store = _reopen(data_dir)
        self.client = Client(create_app(self.registry))
        if before is not None:
            self.tenant, self.token, self.aliases = self.registry.get("contoso"), before.token, before.aliases
            _stop_applier(self.store)
            return
        self.tenant = self.registry.create("contoso", seed=42, frozen_clock=frozen, mailboxes=40)
        self.store._drain()
        _stop_applier(self.store)
        self.token, _ = issue_access_token(self.tenant, "exchange", app=self.tenant.app_by_name("automation"))
        self.aliases = [
            m.alias for m in self.tenant.mailboxes if m.recipient_type_details == "UserMailbox" and m.is_dir_synced
        ]
        assert len(self.aliases) >= 8
        assert self.get_mailbox(self.aliases[0]).status_code == 200  # writes what issuing the token drew

    def invoke(self, cmdlet: str, params: dict):
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}
        return self.client.post(
            f"/adminapi/beta/{self.tenant.id}/InvokeCommand",
            json=body,
            headers={"Authorization": "Bearer " + self.token},
        )

    def set_mailbox(self, **params):
        return self.invoke("Set-Mailbox", params)

    def get_mailbox(self, identity):
        return self.invoke("Get-Mailbox", {"Identity": identity})

    def records(self) -> list[dict]:
        out = []
        for _n, path in self.store.redo.segments():
            out.extend(redo_log.read(path))
        return out

    def state(self) -> tuple:
        with self.tenant.lock:
            return _state(self.tenant)


def _state(tenant, *, clock: bool = True) -> tuple:
    doc = snapshot.dump_tenant(tenant)
    if not clock:
        doc.pop("clock")
    journal = [{k: v for k, v in e.items() if k != "durationMs"} for e in tenant.journal.entries]
    return json.loads(json.dumps(doc, default=str)), json.loads(json.dumps(journal, default=str))


def _recovered(data_dir, *, clock: bool = True) -> tuple:
    registry, store = _reopen(data_dir)
    tenant = registry.get("contoso")
    with tenant.lock:
        state = _state(tenant, clock=clock)
    store.close()
    return state


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen clock", "running clock"])
def test_commands_replay_to_the_tenant_in_memory_before_the_crash(tmp_path, frozen):
    s = Session(tmp_path, frozen=frozen)
    for alias in s.aliases[:5]:
        assert s.set_mailbox(Identity=alias, IsExchangeCloudManaged=True).status_code == 200
    assert s.set_mailbox(Identity=s.aliases[0], IsExchangeCloudManaged=True).status_code == 200  # no change: a warning
    assert s.set_mailbox(Identity="no-such-mailbox", IsExchangeCloudManaged=True).status_code != 200  # refused, audited
    assert s.get_mailbox(s.aliases[1]).status_code == 200  # a read between: its journal entry rides with the next
    assert s.set_mailbox(Identity=s.aliases[1], CustomAttribute3="x").status_code == 200
    commands = [r for r in s.records() if "cmd" in r]
    assert len(commands) == 8 and [r["cmd"] for r in commands] == sorted(r["cmd"] for r in commands)
    # The session's first read wrote what issuing the token drew; every write after it went as a command.
    assert ["cmd" if "cmd" in r else "rows" for r in s.records()] == ["rows"] + ["cmd"] * 8
    before = s.state()
    if not frozen:
        before = (dict(before[0]), before[1])
        before[0].pop("clock")
    assert _recovered(tmp_path, clock=frozen) == before
    s.store.abandon()


def test_a_whole_object_record_covers_the_commands_before_it_and_they_never_run_twice(tmp_path):
    s = Session(tmp_path, frozen=True)
    assert s.set_mailbox(Identity=s.aliases[0], IsExchangeCloudManaged=True).status_code == 200
    assert s.set_mailbox(Identity=s.aliases[1], IsExchangeCloudManaged=True).status_code == 200
    with s.tenant.lock:  # a write the command log does not take: the next request writes whole objects
        s.tenant.add_audit_record("exchange", "Set-Something", None, target="x")
    assert s.set_mailbox(Identity=s.aliases[2], IsExchangeCloudManaged=True).status_code == 200
    assert s.set_mailbox(Identity=s.aliases[3], IsExchangeCloudManaged=True).status_code == 200
    kinds = ["cmd" if "cmd" in r else "rows" for r in s.records()]
    assert kinds == ["rows", "cmd", "cmd", "rows", "cmd"], kinds
    whole = [r for r in s.records() if "cmd" not in r][-1]
    assert whole["blobs"]["commands"] == "2"  # it covers the two commands before it
    before = s.state()
    recovered = _recovered(tmp_path)
    assert recovered == before
    assert [r["operation"] for r in recovered[0]["audit"]].count("Set-Mailbox") == 4  # none run twice
    s.store.abandon()


def test_a_round_covers_the_commands_and_a_segment_goes_only_once_covered(tmp_path):
    s = Session(tmp_path, frozen=True)
    for alias in s.aliases[:3]:
        assert s.set_mailbox(Identity=alias, IsExchangeCloudManaged=True).status_code == 200
    first = s.store.redo.number
    s.store._drain(reads=True)  # the round: collects the tenant (covering the 3 commands), applies, deletes
    assert first not in [n for n, _ in s.store.redo.segments()]
    for alias in s.aliases[3:6]:
        assert s.set_mailbox(Identity=alias, IsExchangeCloudManaged=True).status_code == 200
    # A round that applies without collecting this tenant (its commands not covered): their segment stays.
    with s.store._cond:
        s.store._pending.clear()
    with s.store._log_lock:
        s.store._pending_apply.records += 1  # something to apply, as another tenant's record would be
    second = s.store.redo.number
    s.store._drain()
    assert second in [n for n, _ in s.store.redo.segments()]
    before = s.state()
    assert _recovered(tmp_path) == before
    s.store.abandon()


def test_a_call_after_an_unlogged_change_writes_whole_objects(tmp_path):
    s = Session(tmp_path, frozen=True)
    assert s.set_mailbox(Identity=s.aliases[0], IsExchangeCloudManaged=True).status_code == 200
    with s.tenant.lock:  # a change nothing logged (as a due sync cycle run before the call would make)
        mbx = s.tenant.mailboxes.get(next(iter(m.guid for m in s.tenant.mailboxes)))
        mbx.custom_attributes = ["changed", *mbx.custom_attributes[1:]]
        s.tenant.mailboxes.touch(mbx.guid)
    assert s.set_mailbox(Identity=s.aliases[1], IsExchangeCloudManaged=True).status_code == 200
    assert ["cmd" if "cmd" in r else "rows" for r in s.records()] == ["rows", "cmd", "rows"]
    assert _recovered(tmp_path) == s.state()
    s.store.abandon()


def _two_toggles_then_a_crash(data_dir) -> Session:
    s = Session(data_dir, frozen=True)
    for alias in s.aliases[:2]:
        assert s.set_mailbox(Identity=alias, IsExchangeCloudManaged=True).status_code == 200
    s.store.abandon()
    return s


def test_recovery_then_a_second_crash_still_replays_once(tmp_path):
    s = _two_toggles_then_a_crash(tmp_path)
    s2 = Session(tmp_path, before=s)
    for alias in s.aliases[2:4]:
        assert s2.set_mailbox(Identity=alias, IsExchangeCloudManaged=True).status_code == 200
    assert len([r for r in s2.records() if "cmd" in r]) == 4  # the first run's two are still there, not covered
    before = s2.state()
    recovered = _recovered(tmp_path)
    assert recovered == before
    assert [r["operation"] for r in recovered[0]["audit"]].count("Set-Mailbox") == 4
    s2.store.abandon()


def test_a_reset_covers_every_command_of_the_tenant_before_it(tmp_path):
    s = Session(tmp_path, frozen=True)
    assert s.set_mailbox(Identity=s.aliases[0], IsExchangeCloudManaged=True).status_code == 200
    fresh = s.registry.reset(s.tenant.id)
    with fresh.lock:
        expected = _state(fresh)
    recovered = _recovered(tmp_path)
    assert recovered[0]["collections"] == expected[0]["collections"]  # the old tenant's command did not run on it
    assert "Set-Mailbox" not in [r["operation"] for r in recovered[0]["audit"]]
    s.store.abandon()


def test_a_tenant_deleted_before_its_commands_ran_again_leaves_no_segment_behind(tmp_path):
    _two_toggles_then_a_crash(tmp_path)
    registry, store = _reopen(tmp_path)
    assert store._replay  # found at start, waiting for the tenant's load
    kept = [n for n, _ in store.redo.segments() if n != store.redo.number]
    assert kept
    registry.delete("contoso")
    assert not store._replay
    store._drain()  # the next round deletes what nothing needs any more
    assert not set(kept) & {n for n, _ in store.redo.segments()}
    store.close()
    registry, store = _reopen(tmp_path)
    assert registry.list() == []
    store.close()


def test_a_command_that_cannot_run_again_is_reported_and_the_tenant_still_loads(tmp_path, caplog):
    s = Session(tmp_path, frozen=True)
    assert s.set_mailbox(Identity=s.aliases[0], IsExchangeCloudManaged=True).status_code == 200
    s.store.abandon()
    registry, store = _reopen(tmp_path)
    for records in store._replay.values():
        records[0]["caller"] = {"no_such_field": 1}  # what a record from an incompatible version would hold
    tenant = registry.get("contoso")
    assert tenant is not None
    assert "could not run again" in caplog.text
    store.close()


def test_a_round_that_never_reached_sqlite_is_still_in_the_log(tmp_path, monkeypatch):
    # C1, a round collects it but dies before SQLite takes it, C2, then a write of whole objects that covers C2: the
    # round's collect must be in the log, or C1's change would be covered by number and found nowhere.
    s = Session(tmp_path, frozen=True)
    assert s.set_mailbox(Identity=s.aliases[0], IsExchangeCloudManaged=True).status_code == 200

    def no_sqlite(plan):
        raise OSError("disk I/O error")

    monkeypatch.setattr(s.store, "_apply_merged", no_sqlite)
    with pytest.raises(OSError):
        s.store._drain(reads=True)
    monkeypatch.undo()
    assert s.set_mailbox(Identity=s.aliases[1], IsExchangeCloudManaged=True).status_code == 200
    with s.tenant.lock:
        s.tenant.add_audit_record("exchange", "Set-Something", None, target="x")
    assert s.set_mailbox(Identity=s.aliases[2], IsExchangeCloudManaged=True).status_code == 200
    before = s.state()
    assert _recovered(tmp_path) == before
    s.store.abandon()


def test_commands_run_again_at_a_load_survive_a_clean_stop_before_any_request(tmp_path):
    _two_toggles_then_a_crash(tmp_path)
    registry, store = _reopen(tmp_path)
    tenant = registry.get("contoso")  # loaded (its two commands run again), then stopped with no request at all
    with tenant.lock:
        expected = _state(tenant)
    store.close()
    assert _recovered(tmp_path) == expected
    assert [r["operation"] for r in expected[0]["audit"]].count("Set-Mailbox") == 2
