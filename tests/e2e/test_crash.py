"""Crash safety of ``hybridsoa-mock serve --data-dir``: a client toggles mailboxes through the Exchange admin
API, the server is killed with SIGKILL at a random point, restarted on the same data dir, and every toggle the
client saw acknowledged is there (nothing half-applied: in-flight toggles are either fully in or fully out)."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from .wire import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _serve_command() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point through ``-c``."""
    script = Path(sys.executable).with_name("hybridsoa-mock")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-c", "import sys; from hybridsoa.mock.cli import main; sys.exit(main())", "serve"]


SERVE = _serve_command()


class Server:
    """One ``hybridsoa-mock serve`` process group (plain HTTP on loopback)."""

    def __init__(self, data_dir: Path, *extra: str, token: str | None = None):
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir.parent / f"serve-{self.port}.log", "wb")  # noqa: SIM115  (the server's log, closed at stop)
        self.proc = subprocess.Popen(
            SERVE
            + [
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                "--no-tls",
                "--no-demo",
                "--threads",
                "8",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
        )
        self._wait_for_banner()

    def _wait_for_banner(self, deadline: float = 60.0) -> None:
        # Block on the server's own output (the banner is printed once the app is built), no polling sleeps.
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        seen = b""
        while b"control plane" not in seen:
            if not sel.select(timeout=deadline):
                raise AssertionError(f"server did not start: {seen!r}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"server exited: {seen!r} {self.proc.wait()}")
            seen += chunk
        sel.close()
        for _ in range(200):  # the worker may still be binding its threads: retry the connection, not a timer
            try:
                requests.get(f"{self.url}/_mock/health", timeout=5, headers=self.headers).raise_for_status()
                return
            except requests.ConnectionError:
                continue
        raise AssertionError("server never answered /_mock/health")

    def kill9(self) -> None:
        """SIGKILL the whole process group (gunicorn arbiter and worker), like a host crash would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        """Graceful stop."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()


def _token(url, creds) -> dict:
    app = next(a for a in creds["apps"] if a["name"] == "automation")
    rv = requests.post(
        f"{url}/{creds['tenantId']}/oauth2/v2.0/token",
        timeout=30,
        data={
            "client_id": app["clientId"],
            "client_secret": app["clientSecret"],
            "grant_type": "client_credentials",
            "scope": "https://outlook.office365.com/.default",
        },
    )
    rv.raise_for_status()
    return {"Authorization": f"Bearer {rv.json()['access_token']}"}


def _invoke(url, tenant_id, headers, cmdlet, timeout=30, **params):
    return requests.post(
        f"{url}/adminapi/beta/{tenant_id}/InvokeCommand",
        headers=headers,
        timeout=timeout,
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
    )


def _cloud_managed(url, name) -> dict[str, bool]:
    doc = requests.get(f"{url}/_mock/tenants/{name}/snapshot", timeout=60).json()
    return {
        row[2]["user_principal_name"].lower(): row[2]["is_exchange_cloud_managed"]
        for row in doc["collections"]["mailboxes"]["items"]
    }, doc


class Run:
    """What one client saw while toggling mailboxes of one tenant until the server was killed."""

    def __init__(self, seed: int):
        self.seed, self.name = seed, f"crash-{seed}"
        self.acked: dict[str, bool] = {}
        self.in_flight: dict[str, bool] = {}
        self.count = 0
        self.upns: list[str] = []
        self.creds: dict = {}
        self.headers: dict = {}


def _toggle_until_killed(server: Server, seed: int) -> Run:
    """Four client threads toggle IsExchangeCloudManaged; after a seeded random number of acknowledged
    toggles the server is SIGKILLed while the others are still in flight."""
    run, rng = Run(seed), random.Random(seed)
    run.creds = requests.post(
        f"{server.url}/_mock/tenants",
        timeout=60,
        json={"name": run.name, "seed": seed, "frozenClock": True, "mailboxes": 16, "options": {"mix": "uniform"}},
    ).json()
    run.headers = _token(server.url, run.creds)
    rv = _invoke(server.url, run.creds["tenantId"], run.headers, "Get-Mailbox", RecipientTypeDetails="UserMailbox")
    run.upns = sorted(m["UserPrincipalName"].lower() for m in rv.json()["value"])
    assert len(run.upns) >= 8
    lock, enough = threading.Lock(), threading.Event()
    kill_after = rng.randint(15, 60)

    def client(worker: int):
        mine = run.upns[worker::4]
        local = random.Random(seed * 100 + worker)
        state = dict.fromkeys(mine, False)
        while True:
            upn = local.choice(mine)
            value = not state[upn]
            with lock:
                run.in_flight[upn] = value
            try:
                reply = _invoke(
                    server.url,
                    run.creds["tenantId"],
                    run.headers,
                    "Set-Mailbox",
                    timeout=10,
                    Identity=upn,
                    IsExchangeCloudManaged=value,
                )
            except requests.RequestException:
                return  # the server died with this toggle in flight
            assert reply.status_code == 200, reply.text
            with lock:
                run.in_flight.pop(upn, None)
                run.acked[upn] = state[upn] = value
                run.count += 1
                if run.count >= kill_after:
                    enough.set()

    workers = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    assert enough.wait(timeout=120)
    server.kill9()
    for w in workers:
        w.join(timeout=60)
    return run


def _verify(server: Server, run: Run) -> None:
    """Every acknowledged toggle is there; an in-flight one is either fully applied or not at all."""
    final, doc = _cloud_managed(server.url, run.name)
    for upn, value in run.acked.items():
        allowed = {value} | ({run.in_flight[upn]} if upn in run.in_flight else set())
        assert final[upn] in allowed, (run.seed, upn, value, run.in_flight.get(upn), final[upn])
    for upn in set(run.upns) - set(run.acked) - set(run.in_flight):
        assert final[upn] is False
    toggles = [r for r in doc["audit"] if r["operation"] == "Set-Mailbox" and r["succeeded"]]
    assert run.count <= len(toggles) <= run.count + len(run.in_flight)


def _tear_newest_segment(data_dir: Path) -> None:
    """The default ``--synchronous normal`` answers from the redo log: prove it is in use, and leave half a record
    at its end, as a kill -9 in the middle of a ``write()`` would (the restart must ignore it, not fail)."""
    segments = sorted(data_dir.glob("hybridsoa.redo.*"), key=lambda p: int(p.suffix[1:]))
    assert segments, sorted(p.name for p in data_dir.iterdir())
    with segments[-1].open("ab") as fh:
        fh.write(b'{"tid":"00000000-0000-0000-0000-000000000000","rows":[["')


def test_acknowledged_toggles_survive_kill_9(tmp_path):
    """Three seeds, chained: each restart must keep the previous runs' tenants intact too."""
    data_dir = tmp_path / "data"
    runs: list[Run] = []
    server = Server(data_dir)
    try:
        for seed in (11, 23, 37):
            runs.append(_toggle_until_killed(server, seed))
            _tear_newest_segment(data_dir)
            server = Server(data_dir)
            for run in runs:
                _verify(server, run)
        # Same tenant id and signing key after restarts: a token from before the crashes still works.
        run = runs[0]
        upn = run.upns[0]
        before = _cloud_managed(server.url, run.name)[0][upn]
        reply = _invoke(
            server.url,
            run.creds["tenantId"],
            run.headers,
            "Set-Mailbox",
            Identity=upn,
            IsExchangeCloudManaged=not before,
        )
        assert reply.status_code == 200
        assert _cloud_managed(server.url, run.name)[0][upn] is (not before)
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_acknowledged_toggles_survive_kill_9_with_synchronous_full(tmp_path):
    """``--synchronous full`` (group commit, per-tenant durability): two seeds chained, as above."""
    data_dir = tmp_path / "data"
    runs: list[Run] = []
    server = Server(data_dir, "--synchronous", "full")
    try:
        for seed in (11, 23):
            runs.append(_toggle_until_killed(server, seed))
            server = Server(data_dir, "--synchronous", "full")
            for run in runs:
                _verify(server, run)
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_control_token_and_loopback_refusal(tmp_path):
    data_dir = tmp_path / "data"
    server = Server(data_dir, "--control-token", "s3cret", token="s3cret")
    try:
        assert requests.get(f"{server.url}/_mock/tenants", timeout=10).status_code == 401
        rv = requests.post(
            f"{server.url}/_mock/tenants",
            timeout=60,
            json={"name": "guarded", "mailboxes": 2},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert rv.status_code == 201
    finally:
        server.stop()
    refused = subprocess.run(
        SERVE + ["--no-tls", "--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(data_dir)],
        capture_output=True,
        timeout=60,
    )
    assert refused.returncode != 0 and b"--insecure-bind" in refused.stderr
