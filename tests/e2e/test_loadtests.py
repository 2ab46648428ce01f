"""The Locust load test (``loadtests/locustfile.py``) runs headless against a real HTTPS server, as its docstring
says to run it: MSAL sign-in, toggles through the InvokeCommand envelope with read-back, paged reads. Only
behaviour is asserted here (requests made, nothing failed, the state changed); speed lives in ``bench.py``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .wire import exchange_token, invoke

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def run_locust(
    server,
    tmp_path: Path,
    tags: str,
    seconds: int,
    tenant: dict | None = None,
    mailboxes: int = 20,
    page_size: int = 1000,
) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """Run the locustfile headless; return the process and its stats rows by request name."""
    env = {
        **os.environ,
        "HYBRIDSOA_CA": server.ca_path,
        "HYBRIDSOA_MAILBOXES": str(mailboxes),
        "HYBRIDSOA_PAGE_SIZE": str(page_size),
    }
    if tenant is not None:
        creds = tmp_path / "tenant.json"
        creds.write_text(json.dumps(tenant))
        env["HYBRIDSOA_TENANT"] = str(creds)
    prefix = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "loadtests" / "locustfile.py"),
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            f"{seconds}s",
            "--stop-timeout",
            "5",
            "--host",
            server.url,
            "--tags",
            tags,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    with open(f"{prefix}_stats.csv") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    return proc, rows


def mailbox_states(session, tenant: dict) -> dict[str, bool]:
    """Alias -> IsExchangeCloudManaged for every mailbox of the tenant, read through the real API."""
    mailboxes = invoke(session, tenant, exchange_token(session, tenant), "Get-Mailbox", ResultSize="Unlimited")
    return {m["Alias"]: m["IsExchangeCloudManaged"] for m in mailboxes["value"]}


@pytest.mark.mock_tenant(mailboxes=12)
def test_toggle_tag_keeps_toggling_every_mailbox_with_read_back(mock_server, mock_session, tenant, tmp_path):
    before = mailbox_states(mock_session, tenant)
    assert before and not all(before.values())
    proc, rows = run_locust(mock_server, tmp_path, "toggle", seconds=5, tenant=tenant)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(rows["Set-Mailbox"]["Request Count"]) > 0 and int(rows["Get-Mailbox (read-back)"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0  # a read-back that disagrees is a failure
    # The server's journal is the exact record (Locust's summary can miss calls in flight when the run ends).
    journal = mock_session.get(
        f"{mock_server.url}/_mock/tenants/{tenant['tenantId']}/requests",
        params={"cmdlet": "Set-Mailbox", "status": "200"},
    ).json()
    reads = mock_session.get(
        f"{mock_server.url}/_mock/tenants/{tenant['tenantId']}/requests",
        params={"cmdlet": "Get-Mailbox", "status": "200"},
    ).json()
    assert journal["dropped"] == 0
    # The load went on after each mailbox had been toggled once, and each toggle was read back by its identity
    # (bar those of the 4 clients stopped between the two calls; the other Get-Mailbox calls list the mailboxes).
    read_backs = [e for e in reads["value"] if "Identity" in (e["parameters"] or {})]
    assert journal["count"] > len(before)
    assert 0 <= journal["count"] - len(read_backs) <= 4
    # Each mailbox's first toggle sets the flag, the next clears it, and so on: its last toggle is its state now.
    sequences: dict[str, list[bool]] = {}
    for entry in journal["value"]:
        sequences.setdefault(entry["parameters"]["Identity"], []).append(entry["parameters"]["IsExchangeCloudManaged"])
    assert set(sequences) == set(before)
    assert all(values == [i % 2 == 0 for i in range(len(values))] for values in sequences.values()), sequences
    assert mailbox_states(mock_session, tenant) == {alias: values[-1] for alias, values in sequences.items()}


def test_read_tag_walks_the_pages_of_a_tenant_it_seeds_and_drops_it_afterwards(mock_server, mock_session, tmp_path):
    tenants_before = {t["tenantId"] for t in mock_session.get(f"{mock_server.url}/_mock/tenants").json()["value"]}
    proc, rows = run_locust(mock_server, tmp_path, "read", seconds=3, mailboxes=15, page_size=5)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, following = (int(rows[f"Get-Mailbox ({which} page)"]["Request Count"]) for which in ("first", "next"))
    # 15 mailboxes, 5 a page: each walk is a first page and two continuations (4 clients may stop mid-walk).
    assert first > 0 and 2 * first - 2 * 4 <= following <= 2 * first
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert "Set-Mailbox" not in rows
    tenants_after = {t["tenantId"] for t in mock_session.get(f"{mock_server.url}/_mock/tenants").json()["value"]}
    assert tenants_after == tenants_before
