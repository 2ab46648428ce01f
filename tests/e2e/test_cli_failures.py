"""Every way the ``hybridsoa`` console script can fail ends in one line on stderr naming the cause (with the
service's code where there is one) and a documented exit code, never a traceback: unknown tenant, wrong secret,
unknown client id, CA file missing / not a certificate / not the issuer, nothing listening, a host name that does
not resolve, malformed and identity-less CSVs, checkpoints of another tenant or operation, and Ctrl-C during a
wave (checkpoint kept, resume command printed, the resumed run finishing every item exactly once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hybridsoa.sdk.soa.checkpoint import Checkpoint

from .wire import free_port

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("hybridsoa"))


def _env(t, **over) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDSOA_")}
    app = next(a for a in t["apps"] if a["name"] == "automation")
    env.update(
        HYBRIDSOA_CLOUD="local",
        HYBRIDSOA_MOCK_URL=t["url"],
        HYBRIDSOA_CA_BUNDLE=t["ca"],
        HYBRIDSOA_TENANT=t["tenantId"],
        HYBRIDSOA_CLIENT_ID=app["clientId"],
        HYBRIDSOA_CLIENT_SECRET=app["clientSecret"],
    )
    env.update({f"HYBRIDSOA_{k.upper()}": v for k, v in over.items()})
    return env


def _fails(args, env, code: int, *needles: str) -> str:
    """Run the console script; it must exit ``code`` with exactly one stderr line containing ``needles``."""
    r = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _flag_writes(mock_session, base: str) -> list[str]:
    """The mailboxes whose IsExchangeCloudManaged the service changed, one entry per change (its audit log)."""
    recs = mock_session.get(f"{base}/audit", params={"operation": "Set-Mailbox", "changed": "true"}).json()["value"]
    return [r["target"] for r in recs if "IsExchangeCloudManaged" in (r.get("parameters") or {})]


def test_sign_in_failures_name_the_entra_code(tenant):
    _fails(
        ["inventory"],
        _env(tenant, tenant="nosuchtenant.onmicrosoft.com"),
        3,
        "tenant 'nosuchtenant.onmicrosoft.com' not found (AADSTS90002)",
    )
    _fails(["inventory"], _env(tenant, client_secret="wrong"), 3, "AADSTS7000215", "invalid_client")
    _fails(["preflight"], _env(tenant, client_id="00000000-0000-0000-0000-00000000abcd"), 3, "AADSTS700016")


def test_tls_and_network_failures(tenant, tmp_path):
    _fails(["inventory"], _env(tenant, ca_bundle=str(tmp_path / "missing.pem")), 2, "CA file not found")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    _fails(["inventory"], _env(tenant, ca_bundle=str(junk)), 2, "holds no PEM certificate")
    import certifi

    _fails(["inventory"], _env(tenant, ca_bundle=certifi.where()), 3, "CERTIFICATE_VERIFY_FAILED")
    port = free_port()
    _fails(
        ["inventory"],
        _env(tenant, mock_url=f"https://127.0.0.1:{port}"),
        3,
        f"nothing is listening at 127.0.0.1:{port}",
    )
    _fails(
        ["inventory"],
        _env(tenant, mock_url="https://no-such-host.invalid:8443"),
        3,
        "cannot resolve host name 'no-such-host.invalid'",
    )


def test_csv_and_checkpoint_refusals(tenant, tmp_path):
    env = _env(tenant)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Identity\n\xff\xfe\x00junk\n")
    _fails(["enable", "-i", str(bad)], env, 2, "not a readable UTF-8 CSV")
    names = tmp_path / "names.csv"
    names.write_text("DisplayName,Department\nAlice,Sales\n")
    _fails(["enable", "-i", str(names)], env, 2, "no identity column")
    cp = tmp_path / "cp.jsonl"
    Checkpoint.open(str(cp), {"operation": "disable", "target": False, "items": ["a@x"], "waves": [1]}).close()
    _fails(["enable", "--checkpoint", str(cp)], env, 2, "belongs to a disable run")
    other = tmp_path / "other.jsonl"
    Checkpoint.open(
        str(other),
        {
            "operation": "enable",
            "target": True,
            "items": ["a@x"],
            "waves": [1],
            "tenant": "someone-else.onmicrosoft.com",
        },
    ).close()
    _fails(["enable", "--checkpoint", str(other)], env, 2, "belongs to tenant someone-else.onmicrosoft.com")


def test_help_is_plain_text_and_lists_exit_codes():
    r = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "``" not in r.stdout and ":class:" not in r.stdout
    assert "3 could not reach or authenticate" in " ".join(r.stdout.split())
    r = subprocess.run([CLI, "enable", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "``" not in r.stdout


def test_verbose_shows_the_sdk_request_log_without_secrets_or_library_debug(tenant):
    env = _env(tenant)
    r = subprocess.run([CLI, "-v", "inventory", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    log = [ln for ln in r.stderr.splitlines() if ln.startswith("INFO hybridsoa.sdk.")]
    assert any("InvokeCommand -> 200 client-request-id=" in ln for ln in log)
    assert "DEBUG" not in r.stderr and "urllib3" not in r.stderr and "msal" not in r.stderr.lower()
    assert env["HYBRIDSOA_CLIENT_SECRET"] not in r.stderr and "Bearer" not in r.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.mock_tenant(mailboxes=12)
def test_ctrl_c_during_a_wave_keeps_the_checkpoint_and_the_resume_finishes_it(tenant, mock_session, tmp_path):
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    env = _env(tenant)
    # Each Exchange call takes 400 ms of (real) service latency, so the run is still going when Ctrl-C arrives.
    r = mock_session.post(f"{base}/faults", json={"api": "exchange", "method": "POST", "latencyMs": [400]})
    assert r.status_code in (200, 201), r.text
    cp = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [
            CLI,
            "enable",
            "--all-eligible",
            "--wave-size",
            "2,100",
            "--concurrency",
            "2",
            "--checkpoint",
            str(cp),
            "--events",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C in a terminal: a suite started in the background (`make test &`, CI shells) ignores SIGINT, and a
        # Python child inherits that and never raises KeyboardInterrupt.
        preexec_fn=_default_sigint,
    )
    first = proc.stdout.readline()  # blocks until the first item is done
    assert json.loads(first)["status"] == "changed"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    assert f"resume with: hybridsoa enable --checkpoint {cp}" in lines[0]
    recorded = Checkpoint.load(str(cp))
    assert 1 <= len(recorded.done) < len(recorded.items)
    mock_session.delete(f"{base}/faults")
    r = subprocess.run(
        [CLI, "enable", "--checkpoint", str(cp), "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["waves"] == [2, len(recorded.items) - 2]  # the same run: its waves
    assert set(doc["counts"]) == {"changed"} and doc["counts"]["changed"] == len(recorded.items)
    sets = _flag_writes(mock_session, base)
    assert len(sets) == len(set(sets)) == len(recorded.items)  # each mailbox written once


def test_resume_keeps_the_pilot_wave_halt_rule(tenant, mock_session, tmp_path):
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    mock_session.patch(f"{base}/settings", json={"profile": "preview"}).raise_for_status()
    u = next(x for x in tenant["users"] if x["userPrincipalName"].startswith("exchangeadmin@"))
    env = _env(tenant, username=u["userPrincipalName"], password=u["password"])
    cp = tmp_path / "run.jsonl"
    r = subprocess.run(
        [CLI, "enable", "--all-eligible", "--wave-size", "5,100", "--checkpoint", str(cp), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1, r.stderr
    first = json.loads(r.stdout)
    assert first["counts"]["silently_ignored"] == 5 and first["halted"]
    assert "silently ignored (5):" in r.stderr  # the mailboxes are named on screen
    assert first["identities"]["silently_ignored"][0] in r.stderr
    r = subprocess.run(
        [CLI, "enable", "--checkpoint", str(cp), "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    again = json.loads(r.stdout)
    assert r.returncode == 1 and again["halted"], r.stderr  # pilot fails again: later waves wait
    assert again["waves"] == first["waves"] and again["waves"][0] == 5
    assert again["counts"]["pending"] == len(Checkpoint.load(str(cp)).items) - 5


def test_mock_scenario_run_finds_the_data_dir_ca_or_says_why_not(tenant, tmp_path):
    mock = str(Path(sys.executable).with_name("hybridsoa-mock"))
    data_dir = str(Path(tenant["ca"]).parent)  # the plugin server's CA is <dir>/ca.pem
    r = subprocess.run(
        [mock, "scenario", "run", "old-connect-version", "--url", tenant["url"], "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    r = subprocess.run(
        [
            mock,
            "scenario",
            "run",
            "old-connect-version",
            "--url",
            tenant["url"],
            "--data-dir",
            str(tmp_path / "nothing-here"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 3 and len(lines) == 1 and "TLS:" in lines[0], r.stderr
