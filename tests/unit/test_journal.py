"""The request journal ring buffer: redaction, filters, counts, bounds."""

from __future__ import annotations

from hybridsoa.mock.domain.journal import REDACTED, RequestJournal, redact


def _entry(i, api="exchange", status=200, cmdlet="Get-Mailbox"):
    return {"time": 1000.0 + i, "api": api, "method": "POST", "path": f"/p/{i}", "cmdlet": cmdlet, "status": status}


def test_redaction_hides_secrets_at_any_depth():
    data = {
        "client_secret": "s",
        "Password": "p",
        "client_assertion": "a",
        "refresh_token": "r",
        "Identity": "bob",
        "nested": {"NewPassword": "x", "list": [{"access_token": "t", "keep": 1}]},
    }
    out = redact(data)
    assert out["client_secret"] == out["Password"] == out["client_assertion"] == out["refresh_token"] == REDACTED
    assert out["nested"]["NewPassword"] == REDACTED
    assert out["nested"]["list"][0] == {"access_token": REDACTED, "keep": 1}
    assert out["Identity"] == "bob"
    assert data["Password"] == "p"  # the original is untouched


def test_ring_buffer_keeps_newest_and_counts_drops():
    j = RequestJournal(limit=3)
    for i in range(5):
        j.add(_entry(i))
    assert [e["seq"] for e in j.entries] == [3, 4, 5]
    assert j.dropped == 2
    j.resize(2)
    assert [e["seq"] for e in j.entries] == [4, 5]
    assert j.clear() == 2 and len(j.entries) == 0


def test_filters_and_counts():
    j = RequestJournal()
    j.add(_entry(0))
    j.add(_entry(1, status=429))
    j.add(_entry(2, cmdlet="Set-Mailbox", status=503))
    j.add(_entry(3, api="graph", cmdlet=None, status=200))
    assert [e["seq"] for e in j.query(api="exchange")] == [1, 2, 3]
    assert [e["seq"] for e in j.query(cmdlet="set-mailbox")] == [3]
    assert [e["seq"] for e in j.query(status="5xx")] == [3]
    assert [e["seq"] for e in j.query(status="429,503")] == [2, 3]
    assert [e["seq"] for e in j.query(since=1002.0)] == [3, 4]
    assert [e["seq"] for e in j.query(limit=2)] == [3, 4]
    counts = j.counts(j.query())
    assert counts == {
        "total": 4,
        "byApi": {"exchange": 3, "graph": 1},
        "byStatus": {"200": 2, "429": 1, "503": 1},
        "byCmdlet": {"Get-Mailbox": 2, "Set-Mailbox": 1},
    }


def test_a_huge_value_is_journalled_within_a_fixed_budget():
    import json

    from hybridsoa.mock.domain.journal import MAX_ENTRY_CHARS, MAX_ITEMS

    many = {f"p{i}": "v" * 2000 for i in range(5000)}  # 10 MB of parameters
    for value in (many, {"k" * 70_000: 1}, {"Identity": [["x" * 2000] * 200] * 200}, {"a" * 5000: {"b" * 5000: 1}}):
        kept = redact(value)
        assert len(json.dumps(kept)) < 2 * MAX_ENTRY_CHARS, len(json.dumps(kept))
    kept = redact(many)
    assert len(kept) == MAX_ITEMS + 1 or len(kept) < MAX_ITEMS  # cut by count or by budget, marked "..."
    assert kept["..."] == "..."
    small = {"Identity": "a", "Filter": "Name -eq 'x'"}
    assert redact(small) is small  # the common case is still shared, not copied
