"""The ``hybridsoa`` CLI as a user runs it, in a subprocess against the plugin's HTTPS mock: CSV in and out, JSON
output, exit codes, the preview-profile silent failure (exit 3), and resume after SIGKILL mid-run with
exactly-once results (one checkpoint outcome and one Set-Mailbox per mailbox)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from hybridsoa.sdk.soa.checkpoint import read_jsonl

pytestmark = pytest.mark.e2e


def _env(tenant, *, user: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDSOA_")}
    app = next(a for a in tenant["apps"] if a["name"] == "automation")
    env.update(
        HYBRIDSOA_CLOUD="local",
        HYBRIDSOA_MOCK_URL=tenant["url"],
        HYBRIDSOA_CA_BUNDLE=tenant["ca"],
        HYBRIDSOA_TENANT=tenant["tenantId"],
        HYBRIDSOA_CLIENT_ID=app["clientId"],
        HYBRIDSOA_CLIENT_SECRET=app["clientSecret"],
    )
    if user:
        u = next(x for x in tenant["users"] if x["userPrincipalName"].startswith(user + "@"))
        env.update(HYBRIDSOA_USERNAME=u["userPrincipalName"], HYBRIDSOA_PASSWORD=u["password"])
    return env


def _run(args, env, **kw):
    return subprocess.run(
        [sys.executable, "-m", "hybridsoa.sdk", *args], env=env, capture_output=True, text=True, timeout=300, **kw
    )


def test_inventory_csv_and_enable_json(tenant, tmp_path):
    env = _env(tenant)
    inv = tmp_path / "inv.csv"
    r = _run(["inventory", "-o", str(inv), "--json"], env)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(inv.open()))
    assert rows and {"Identity", "IsDirSynced", "IsExchangeCloudManaged", "Eligible", "Reason"} <= set(rows[0])
    assert json.loads(r.stdout)["summary"]["total"] == len(rows)
    secret = env["HYBRIDSOA_CLIENT_SECRET"]
    r = _run(["enable", "-i", str(inv), "--wave-size", "2,3", "--dry-run", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == {"would_change": len(rows)}
    r = _run(["enable", "--identity", rows[0]["Identity"], "--json", "-o", str(tmp_path / "out.csv")], env)
    assert r.returncode == 0 and json.loads(r.stdout)["counts"] == {"changed": 1}
    assert next(csv.DictReader((tmp_path / "out.csv").open()))["status"] == "changed"
    r = _run(["preflight", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True
    for out in (r.stdout, r.stderr):
        assert secret not in out


def test_preview_silent_failure_exit_code_1(tenant, mock_session):
    mock_session.patch(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/settings", json={"profile": "preview"})
    env = _env(tenant, user="exchangeadmin")
    r = _run(["enable", "--all-eligible", "--wave-size", "1,100", "--json"], env)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"]["silently_ignored"] == 1 and doc["halted"]
    assert "silently ignored" in r.stderr


@pytest.mark.slow
@pytest.mark.mock_tenant(mailboxes=40)
def test_resume_after_sigkill_is_exactly_once(tenant, tmp_path, mock_session):
    env = _env(tenant)
    inv, cp = tmp_path / "inv.csv", tmp_path / "run.jsonl"
    assert _run(["inventory", "-o", str(inv)], env).returncode == 0
    ids = [row["Identity"] for row in csv.DictReader(inv.open())]
    args = [
        sys.executable,
        "-m",
        "hybridsoa.sdk",
        "enable",
        "-i",
        str(inv),
        "--checkpoint",
        str(cp),
        "--events",
        "--concurrency",
        "3",
        "--rate",
        "500",
        "--no-progress",
        "--backup",
        str(tmp_path / "bk.jsonl"),
    ]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = 0
    for line in proc.stdout:  # one line per item, written after its checkpoint record
        if json.loads(line)["status"] == "changed":
            seen += 1
        if seen == 8:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done_before = {r["identity"] for r in read_jsonl(str(cp)) if r.get("type") == "done"}
    assert 8 <= len(done_before) < len(ids)  # killed mid-run
    r = _run(["enable", "-i", str(inv), "--checkpoint", str(cp), "--json", "--no-progress"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == {"changed": len(ids)}
    done = [rec for rec in read_jsonl(str(cp)) if rec.get("type") == "done"]
    assert sorted(rec["identity"] for rec in done) == sorted(ids)  # each item exactly once, none skipped
    audit = mock_session.get(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/audit", params={"operation": "Set-Mailbox"}
    ).json()["value"]
    targets = [a["parameters"]["Identity"] for a in audit if a["parameters"].get("IsExchangeCloudManaged") is True]
    assert sorted(targets) == sorted(ids)  # one write per mailbox across both runs
    status = _run(["status", "--checkpoint", str(cp), "--json"], env)
    assert status.returncode == 0 and json.loads(status.stdout)["counts"] == {"changed": len(ids), "pending": 0}


@pytest.mark.slow
def test_verify_drift_and_revert_commands(tenant, tmp_path, mock_session):
    env = _env(tenant)
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    inv, cp = tmp_path / "inv.csv", tmp_path / "run.jsonl"
    assert _run(["inventory", "-o", str(inv)], env).returncode == 0
    ids = [row["Identity"] for row in csv.DictReader(inv.open()) if row["RecipientTypeDetails"] == "UserMailbox"][:2]
    r = _run(["enable", *[arg for i in ids for arg in ("--identity", i)], "--checkpoint", str(cp)], env)
    assert r.returncode == 0, r.stderr
    assert mock_session.post(f"{base}/sync/cycles", json={"policyType": "Delta"}).status_code in (200, 201)
    r = _run(["verify", "--checkpoint", str(cp), "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["counts"] == {"ok": 2}
    r = _run(["drift", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["drifted"] == 0
    # A cloud edit is drift until reverted with reconcile, which carries it into AD.
    from hybridsoa.sdk import connect_mock

    conn = connect_mock(tenant["url"], tenant["ca"], tenant)
    conn.exchange.set_mailbox(ids[0], CustomAttribute7="edited-in-cloud")
    r = _run(["drift", "-o", str(tmp_path / "drift.csv")], env)
    assert r.returncode == 1
    rows = list(csv.DictReader((tmp_path / "drift.csv").open()))
    assert [(x["Attribute"], x["Cloud"]) for x in rows] == [("CustomAttribute7", "edited-in-cloud")]
    r = _run(["revert", "--identity", ids[0], "--json"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["items"][0]["reconciled"] == ["extensionAttribute7"]
    mock_session.post(f"{base}/sync/cycles", json={"policyType": "Delta"})
    mbx = conn.exchange.get_mailbox(ids[0])
    assert mbx["IsExchangeCloudManaged"] is False and mbx["CustomAttribute7"] == "edited-in-cloud"
    r = _run(["preflight", "--json"], env)
    checks = {c["name"]: c["status"] for c in json.loads(r.stdout)["checks"]}
    assert checks["connect-version"] == "pass"
