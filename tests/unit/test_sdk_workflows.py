"""SOA workflows over the requests-level fake Exchange: read-back, silent failure, skip, backup, checkpoint resume
with exactly-once outcomes, dry-run, waves and halting, adaptive rate, verify, drift and revert/reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridsoa.sdk.onprem import OnPremDirectory
from hybridsoa.sdk.soa import (
    AdaptiveRate,
    Checkpoint,
    drift,
    enable,
    inventory,
    plan,
    preflight,
    read_identities_csv,
    revert,
    summarize,
    verify,
)
from hybridsoa.sdk.soa.checkpoint import read_jsonl
from hybridsoa.sdk.testing import FakeExchange, fake_clients, fake_mailboxes, make_response


def _setup(n=6, **kw):
    svc = FakeExchange(fake_mailboxes(n), **kw)
    exo, graph, transport, adapter = fake_clients(svc)
    return svc, exo


def _sets(svc):
    return [p["Identity"] for c, p in svc.calls if c == "Set-Mailbox"]


def test_plan_waves_and_csv(tmp_path):
    p = plan([f"u{i}" for i in range(25)] + ["u1", " ", "U2"], [2, 5])
    assert [len(w) for w in p.waves] == [2, 5, 5, 5, 5, 3]
    assert len(p) == 25
    f = tmp_path / "ids.csv"
    f.write_text("DisplayName,PrimarySmtpAddress\nA,a@x.com\nB,b@x.com\n")
    assert read_identities_csv(str(f)) == ["a@x.com", "b@x.com"]
    f.write_text("a@x.com\nb@x.com\n")
    assert read_identities_csv(str(f)) == ["a@x.com", "b@x.com"]


def test_inventory_eligibility_reasons():
    boxes = fake_mailboxes(3) + fake_mailboxes(1, synced=False)
    boxes[-1]["Guid"] = "cloud-only"
    boxes[1]["RecipientTypeDetails"] = "MailUser"
    exo, *_ = fake_clients(FakeExchange(boxes))
    rows = {r.Identity: r for r in inventory(exo)}
    assert rows["cloud-only"].Eligible is False and "not directory-synchronized" in rows["cloud-only"].Reason
    assert rows[boxes[1]["Guid"]].Eligible is False and "MailUser" in rows[boxes[1]["Guid"]].Reason
    s = summarize(list(rows.values()))
    assert s["eligible"] == 2 and s["toEnable"] == 2 and s["total"] == 4


def test_enable_reads_back_skips_already_and_backs_up(tmp_path):
    svc, exo = _setup(4)
    first = next(iter(svc.mailboxes.values()))
    first["IsExchangeCloudManaged"] = True
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    res = enable(exo, plan(ids, [10]), checkpoint=str(tmp_path / "cp.jsonl"), backup=str(tmp_path / "bk.jsonl"))
    assert res.counts == {"already": 1, "changed": 3}
    assert res.exit_code == 0
    assert len(_sets(svc)) == 3  # the already-enabled one was not written
    backups = read_jsonl(str(tmp_path / "bk.jsonl"))
    assert sorted(b["mailbox"]["Alias"] for b in backups) == sorted(ids[1:])
    assert all(b["mailbox"]["IsExchangeCloudManaged"] is False for b in backups)
    assert all(r["after"]["IsExchangeCloudManaged"] for r in res.records)


def test_silent_failure_is_never_success_and_halts_later_waves():
    svc, exo = _setup(6, silent=True)
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    res = enable(exo, plan(ids, [2, 4]))
    assert res.counts == {"pending": 4, "silently_ignored": 2}
    assert res.exit_code == 1
    assert "silently ignored" in res.halted
    assert all("still False" in r["reason"] for r in res.silent_failures)


def test_ineligible_and_not_found_are_reported(tmp_path):
    boxes = fake_mailboxes(2)
    boxes[1]["IsDirSynced"] = False
    svc = FakeExchange(boxes)
    exo, *_ = fake_clients(svc)
    res = enable(exo, ["user0000", "user0001", "ghost"], max_failure_ratio=1.0)
    by = {r["identity"]: r["status"] for r in res.records}
    assert by == {"user0000": "changed", "user0001": "ineligible", "ghost": "not_found"}
    assert res.exit_code == 1


def test_dry_run_changes_nothing_and_writes_no_files(tmp_path):
    svc, exo = _setup(3)
    res = enable(
        exo,
        [m["Alias"] for m in svc.mailboxes.values()],
        dry_run=True,
        checkpoint=str(tmp_path / "cp.jsonl"),
        backup=str(tmp_path / "bk.jsonl"),
    )
    assert res.counts == {"would_change": 3}
    assert _sets(svc) == []
    assert not (tmp_path / "cp.jsonl").exists() and not (tmp_path / "bk.jsonl").exists()


def test_resume_after_a_kill_between_write_and_checkpoint_is_exactly_once(tmp_path):
    svc, exo = _setup(5)
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    cp_path = str(tmp_path / "cp.jsonl")
    # First run completes two items.
    enable(exo, plan(ids[:2], [10]), checkpoint=cp_path, concurrency=1)
    # Simulate the process dying right after sending the third item's Set-Mailbox: a start record, the change
    # applied on the service, no done record, and a torn last line.
    header_plan = plan(ids, [10])
    lines = Path(cp_path).read_text().splitlines()
    hdr = json.loads(lines[0])
    hdr["items"], hdr["plan"] = header_plan.identities, header_plan.fingerprint()
    lines[0] = json.dumps(hdr)
    lines.append(json.dumps({"type": "start", "identity": ids[2]}))
    lines.append('{"type":"done","identity":"' + ids[3][:3])  # torn write
    Path(cp_path).write_text("\n".join(lines))
    svc.mailboxes[next(m for m in svc.mailboxes if svc.mailboxes[m]["Alias"] == ids[2])]["IsExchangeCloudManaged"] = (
        True
    )
    before = len(_sets(svc))
    res = enable(exo, header_plan, checkpoint=cp_path, concurrency=2)
    assert len(_sets(svc)) - before == 2  # only ids[3], ids[4] are written now
    assert [r["status"] for r in res.records] == ["changed"] * 5
    cp = Checkpoint.load(cp_path)
    done = [r for r in read_jsonl(cp_path) if r.get("type") == "done"]
    assert sorted(r["identity"] for r in done) == sorted(ids)  # one done record per item, none missing
    assert cp.counts() == {"changed": 5, "pending": 0}


def test_resume_refuses_a_checkpoint_of_another_operation(tmp_path):
    import pytest

    from hybridsoa.sdk.errors import ConfigError
    from hybridsoa.sdk.soa import disable

    svc, exo = _setup(1)
    enable(exo, ["user0000"], checkpoint=str(tmp_path / "cp.jsonl"))
    with pytest.raises(ConfigError):
        disable(exo, ["user0000"], checkpoint=str(tmp_path / "cp.jsonl"))


def test_adaptive_rate_backs_off_on_429_and_low_budget():
    clock = [0.0]
    waits: list = []
    rate = AdaptiveRate(initial=10, clock=lambda: clock[0], sleep=waits.append)
    req = type("R", (), {})()
    ok = make_response(req, 200, {}, {"Rate-Limit-Limit": "30000", "Rate-Limit-Remaining": "29000"})
    rate.observe(ok)
    assert rate.rate > 10
    rate.observe(make_response(req, 429, {}, {"Retry-After": "5"}))
    after_429 = rate.rate
    assert after_429 < 10
    rate.acquire()
    assert waits == [5.0]  # paused until Retry-After
    rate.observe(make_response(req, 429, {}, {"Retry-After": "5"}))  # in flight with the first: no second cut
    assert rate.rate == after_429
    rate.observe(make_response(req, 200, {}, {"Rate-Limit-Limit": "30000", "Rate-Limit-Remaining": "100"}))
    assert rate.rate == after_429 and rate.events == {"throttled": 2, "low_budget": 1}  # low budget: no growth
    clock[0] = 6.0
    rate.observe(make_response(req, 429, {}, {"Retry-After": "5"}))  # a new overshoot: cut again
    assert rate.rate == after_429 / 2


def test_enable_under_throttling_honours_retry_after_and_completes():
    svc = FakeExchange(fake_mailboxes(3))
    sleeps: list = []
    exo, *_ = fake_clients(svc, sleeps=sleeps)
    svc.fail_next("Set-Mailbox", 429, {"error": {"code": "TooManyRequests", "message": "x"}}, {"Retry-After": "9"})
    res = enable(exo, [m["Alias"] for m in svc.mailboxes.values()], concurrency=1)
    assert res.counts == {"changed": 3}
    assert 9.0 in sleeps  # the transport waited out Retry-After
    assert len(_sets(svc)) == 4  # the throttled write was replayed once


class MemoryOnPrem(OnPremDirectory):
    """In-memory AD for unit tests."""

    def __init__(self, mailboxes):
        self.users = {}
        for m in mailboxes:
            self.users[m["Alias"]] = {
                "sAMAccountName": m["Alias"],
                "userPrincipalName": m["UserPrincipalName"],
                "mailNickname": m["Alias"],
                "mail": m["PrimarySmtpAddress"],
                "proxyAddresses": list(m["EmailAddresses"]),
                "extensionAttribute1": m.get("CustomAttribute1"),
            }

    def iter_users(self):
        return iter([dict(u) for u in self.users.values()])

    def get_user(self, sam):
        return dict(self.users[sam]) if sam in self.users else None

    def update_user(self, sam, attributes):
        self.users[sam].update(attributes)
        return dict(self.users[sam])


def test_drift_verify_and_revert_with_and_without_reconcile():
    svc, exo = _setup(3)
    onprem = MemoryOnPrem(svc.mailboxes.values())
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    run = enable(exo, ids)
    assert verify(run, exo).counts == {"ok": 3}
    # Cloud edits after the switch: drift shows them attribute by attribute.
    for m in svc.mailboxes.values():
        m["CustomAttribute1"] = "cloud-" + m["Alias"]
    report = drift(exo, onprem)
    assert report.drifted == 3
    assert {d["attribute"] for it in report.items for d in it["differences"]} == {"CustomAttribute1"}
    # verify compares with the run's read-back: the edits show as differences.
    assert verify(run, exo).counts == {"overwritten": 3}
    # Revert with reconcile copies the cloud values to AD first, then flips.
    res = revert(exo, onprem, [ids[0]], reconcile=True)
    assert res.records[0]["status"] == "changed" and res.records[0]["reconciled"] == ["extensionAttribute1"]
    assert onprem.users[ids[0]]["extensionAttribute1"] == "cloud-" + ids[0]
    # Without reconcile, it warns what the next cycle will overwrite and leaves AD alone.
    res = revert(exo, onprem, [ids[1]], reconcile=False)
    assert any("CustomAttribute1" in w for w in res.records[0]["overwriteWarnings"])
    assert onprem.users[ids[1]]["extensionAttribute1"] != "cloud-" + ids[1]


def test_reconcile_failure_leaves_the_flag_alone():
    svc, exo = _setup(1)
    enable(exo, ["user0000"])

    class Broken(MemoryOnPrem):
        def update_user(self, sam, attributes):
            return dict(self.users[sam])  # accepts but never stores

    onprem = Broken(svc.mailboxes.values())
    next(iter(svc.mailboxes.values()))["CustomAttribute1"] = "cloud-only"
    res = revert(exo, onprem, ["user0000"])
    assert res.records[0]["status"] == "failed" and res.records[0]["stage"] == "pre_change"
    assert next(iter(svc.mailboxes.values()))["IsExchangeCloudManaged"] is True


def test_preflight_from_token_claims():
    svc, exo = _setup(2)

    class Claims:
        def claims(self, api):
            return {
                "idtyp": "app",
                "roles": ["Exchange.ManageAsApp"],
                "wids": ["29232cdf-9323-42fd-ade2-1d097af3e4de"],
                "appid": "a",
                "oid": "o",
                "tid": "t",
            }

    report = preflight(exo, tokens=Claims())
    status = {c.name: c.status for c in report.checks}
    assert status["exchange-app-permission"] == "pass"
    assert status["directory-roles"] == "warn"  # Exchange Administrator only
    assert status["tenant-default"] == "pass"
    assert status["eligibility"] == "pass" and report.summary["toEnable"] == 2
    assert report.exit_code == 0


@pytest.mark.parametrize(
    "wids,status",
    [
        (["8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"], "fail"),  # Hybrid Identity Administrator alone
        (["8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", "29232cdf-9323-42fd-ade2-1d097af3e4de"], "pass"),
        (["62e90394-69f5-4237-9190-012177145e10"], "pass"),
    ],
)  # Global Administrator
def test_preflight_hybrid_identity_admin_counts_only_with_an_exchange_role(wids, status):
    svc, exo = _setup(1)

    class Claims:
        def claims(self, api):
            return {"idtyp": "user", "scp": "Exchange.Manage", "wids": wids, "oid": "o", "tid": "t"}

    report = preflight(exo, tokens=Claims())
    assert {c.name: c.status for c in report.checks}["directory-roles"] == status


def test_large_plans_prefetch_with_paged_reads_but_read_back_each_change():
    svc, exo = _setup(150)
    exo.page_size = 100
    res = enable(exo, [m["PrimarySmtpAddress"] for m in svc.mailboxes.values()], concurrency=4)
    assert res.counts == {"changed": 150}
    gets = [p for c, p in svc.calls if c == "Get-Mailbox"]
    assert len([g for g in gets if "Identity" not in g]) == 2  # two pages instead of 150 reads
    assert len([g for g in gets if "Identity" in g]) == 150  # one read-back per change
    assert len(_sets(svc)) == 150


def test_resume_after_fixing_roles_retries_silent_items_once(tmp_path):
    svc, exo = _setup(5, silent=True)
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    cp_path = str(tmp_path / "cp.jsonl")
    first = enable(exo, plan(ids, [2, 3]), checkpoint=cp_path)
    assert first.counts == {"pending": 3, "silently_ignored": 2} and first.exit_code == 1
    svc.silent = False  # the admin got Hybrid Identity Administrator
    second = enable(exo, plan(ids, [2, 3]), checkpoint=cp_path)
    assert second.counts == {"changed": 5} and second.exit_code == 0
    guid = {m["Alias"]: g for g, m in svc.mailboxes.items()}
    assert sorted(_sets(svc)) == sorted(guid[i] for i in ids[:2] * 2 + ids[2:])  # silent ones re-sent once
    assert Checkpoint.load(cp_path).counts() == {"changed": 5, "pending": 0}


def test_verify_against_a_captured_baseline_accepts_later_cloud_edits():
    from hybridsoa.sdk.soa import capture_baseline

    svc, exo = _setup(2)
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    run = enable(exo, ids)
    for m in svc.mailboxes.values():
        m["CustomAttribute1"] = "edited-after-the-run"
    base = capture_baseline(exo, ids)
    assert verify(None, exo, baseline=base).counts == {"ok": 2}
    assert verify(run, exo).counts == {"overwritten": 2}
    next(iter(svc.mailboxes.values()))["IsExchangeCloudManaged"] = False
    assert verify(None, exo, baseline=base).counts == {"flag_lost": 1, "ok": 1}


def test_a_target_without_batch_gets_single_calls_and_every_item_done_once():
    """An endpoint that refuses $batch (404) gets the same run through single InvokeCommand calls."""
    svc = FakeExchange(fake_mailboxes(12))
    batch_posts = []

    def handler(request):
        if request.url.split("?")[0].endswith("/$batch"):
            batch_posts.append(request.url)
            return make_response(request, 404, b"")
        return svc(request)

    exo, *_ = fake_clients(handler)
    exo.supports_batch = True  # the client believes the target takes $batch
    ids = [m["Alias"] for m in svc.mailboxes.values()]
    res = enable(exo, plan(ids, [4, 8]), concurrency=2, batch_size=10)
    assert res.counts == {"changed": 12} and res.exit_code == 0
    assert 1 <= len(batch_posts) <= 2 and exo.supports_batch is False  # tried by the first chunks only
    assert sorted(_sets(svc)) == sorted(m["Guid"] for m in svc.mailboxes.values())  # one write each
