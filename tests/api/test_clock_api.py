"""Tenant clock over the control plane: read, advance (due work runs), bad input changes nothing."""

from __future__ import annotations

import pytest


@pytest.fixture
def base(make_tenant):
    t = make_tenant(name="clockapi", seed=2, mailboxes=4)
    return f"/_mock/tenants/{t.id}"


def test_read_and_advance(client, base):
    clock = client.get(f"{base}/clock").get_json()
    assert clock["now"] == "2026-01-05T09:00:00Z" and clock["frozen"] is True
    assert clock["nextDueDateTime"] == "2026-01-05T09:30:00Z"
    resp = client.post(f"{base}/clock/advance", json={"minutes": 61})
    body = resp.get_json()
    assert resp.status_code == 200 and body["now"] == "2026-01-05T10:01:00Z" and body["ran"] == 2
    assert body["previous"] == "2026-01-05T09:00:00Z" and body["nextDueDateTime"] == "2026-01-05T10:30:00Z"
    history = client.get(f"{base}/sync/cycles").get_json()
    assert [r["trigger"] for r in history["value"]] == ["Manual", "Scheduler", "Scheduler"]


@pytest.mark.parametrize("body", [{}, {"minutes": -5}, {"minutes": "ten"}, {"minutes": 10**9}, {"minutes": None}])
def test_bad_advance_is_refused(client, base, body):
    resp = client.post(f"{base}/clock/advance", json=body)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "ValidationError"
    assert client.get(f"{base}/clock").get_json()["now"] == "2026-01-05T09:00:00Z"


def test_unknown_tenant(client):
    assert client.get("/_mock/tenants/ghost/clock").status_code == 404
    assert client.post("/_mock/tenants/ghost/clock/advance", json={"minutes": 1}).status_code == 404


def test_patch_speed_and_freeze(client, base, registry):
    resp = client.patch(f"{base}/clock", json={"frozen": False, "speed": 60})
    assert resp.status_code == 200 and resp.get_json()["speed"] == 60 and resp.get_json()["frozen"] is False
    tenant = registry.get("clockapi")
    clock = tenant.clock
    real = [clock._real()]
    clock._real = lambda: real[0]
    clock.configure()  # re-anchor on the fake wall clock
    real[0] += 30  # 30 real seconds at 60x = 30 tenant minutes: the scheduled cycle comes due
    history = client.get(f"{base}/sync/cycles").get_json()["value"]
    assert history[-1]["trigger"] == "Scheduler"
    resp = client.patch(f"{base}/clock", json={"frozen": True})
    now = resp.get_json()["now"]
    real[0] += 600
    assert client.get(f"{base}/clock").get_json()["now"] == now
    for bad in ({"speed": 0}, {"speed": "fast"}, {"frozen": "no"}, {"frozen": 1}):
        assert client.patch(f"{base}/clock", json=bad).status_code == 400
