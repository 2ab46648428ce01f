"""Big snapshots through the real engine (issue 21): ``hybridsoa-mock serve --snapshot-max-bytes`` takes a
snapshot body over the 32 MiB every other route keeps, streamed from the socket; over either bound the same 413
shape; a snapshot GET arrives with its Content-Length and restores byte for byte."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from .wire import free_port

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def served():
    """One plain-HTTP ``hybridsoa-mock serve`` (in memory) whose snapshot bound is 40 MiB."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridsoa.mock.cli", "serve", "--port", str(port), "--no-tls", "--no-demo"]
        + ["--snapshot-max-bytes", str(40 * MiB)],
        cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("control plane"):
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # never a full pipe
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    for _ in range(100):  # listening once the banner is out; retry the connection, not a timer
        try:
            session.get(f"{url}/_mock/health", timeout=5)
            break
        except requests.ConnectionError:
            continue
    try:
        yield url, session
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _padded(data: bytes, size: int) -> bytes:
    # The same snapshot made bigger with whitespace before its closing brace.
    return data[:-2] + b" " * (size - len(data)) + b"}\n"


def test_a_big_snapshot_goes_through_the_engine_and_other_routes_keep_32_mib(served):
    url, session = served
    created = session.post(f"{url}/_mock/tenants", json={"name": "src", "mailboxes": 20, "frozenClock": True})
    assert created.status_code == 201, created.text
    got = session.get(f"{url}/_mock/tenants/src/snapshot", timeout=60)
    assert got.status_code == 200 and int(got.headers["Content-Length"]) == len(got.content)
    body = _padded(got.content, 33 * MiB)
    headers = {"Content-Type": "application/json"}
    put = session.put(f"{url}/_mock/tenants/copy/snapshot", data=body, headers=headers, timeout=120)
    assert put.status_code == 201, put.text[:300]
    assert put.json()["counts"] == session.get(f"{url}/_mock/tenants/src").json()["counts"]
    in_place = session.put(f"{url}/_mock/tenants/src/snapshot", data=body, headers=headers, timeout=120)
    assert in_place.status_code == 200
    assert session.get(f"{url}/_mock/tenants/src/snapshot").content == got.content
    for method, path, size in (("POST", "/_mock/tenants", 33 * MiB), ("PUT", "/_mock/tenants/x/snapshot", 41 * MiB)):
        status, error = _head_only(url, method, path, size)
        assert status == 413
        assert error["code"] == "RequestEntityTooLarge" and set(error) == {"code", "message"}
    assert json.loads(session.get(f"{url}/_mock/health").content)  # still serving


def _head_only(url: str, method: str, path: str, size: int) -> tuple[int, dict]:
    # A request announcing ``size`` bytes and sending none: the bound is checked on Content-Length, before any
    # read, so the answer comes back without the client having to push (and the server to drain) the body.
    host, port = url.split("://")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.putrequest(method, path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read())["error"]
    finally:
        conn.close()
