"""Locust user classes driven by ``loadtests/bench.py`` (one class per target, selected on the command line).

- ``MockToggle``: ``Set-Mailbox -IsExchangeCloudManaged`` through the real InvokeCommand envelope, each request
  a real state change (identities cycle through true, then false).
- ``BaselineToggle``: the same request to a minimal Flask endpoint on the same server stack and TLS.
- ``MotoTagUser``: moto's server mode doing IAM ``TagUser`` (a stateful single-item update) on a pool of users.

Configuration comes from the environment the driver sets: ``BENCH_CA``, ``BENCH_TENANT``, ``BENCH_TOKEN``,
``BENCH_IDENTITIES`` (file, one per line), ``BENCH_RPS_PER_USER`` (0 = closed loop, as fast as possible).
"""

from __future__ import annotations

import itertools
import os
import threading
from urllib.parse import urlencode

from locust import FastHttpUser, HttpUser, constant, constant_throughput, task  # noqa: F401

CA = os.environ.get("BENCH_CA") or False
TENANT = os.environ.get("BENCH_TENANT", "bench")
TOKEN = os.environ.get("BENCH_TOKEN", "")
RPS = float(os.environ.get("BENCH_RPS_PER_USER", "0") or 0)
_IDENTITIES = []
if os.environ.get("BENCH_IDENTITIES"):
    with open(os.environ["BENCH_IDENTITIES"]) as fh:
        _IDENTITIES = [line.strip() for line in fh if line.strip()]
_cursor = itertools.count()
_cursor_lock = threading.Lock()


def _next(pool):
    with _cursor_lock:
        n = next(_cursor)
    return pool[n % len(pool)], (n // len(pool)) % 2 == 0


def _pinned_tls():
    """TLS context trusting only the mock's CA (the bench serves both mock and baseline with it)."""
    import gevent.ssl

    return gevent.ssl.create_default_context(cafile=CA)


def _wait():
    return constant_throughput(RPS) if RPS > 0 else constant(0)


class MockToggle(FastHttpUser):
    """Toggle distinct mailboxes on the mock. FastHttpUser: with the requests-based HttpUser one Locust core
    tops out near 400 req/s over TLS, below the bare-Flask baseline's server capacity, so the baseline would be
    client-bound and the ratio meaningless."""

    wait_time = _wait()
    insecure = not CA
    ssl_context_factory = staticmethod(_pinned_tls) if CA else None

    def on_start(self):
        """Reuse the token the driver obtained with MSAL (sign in once)."""
        self.url = f"/adminapi/beta/{TENANT}/InvokeCommand"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    @task
    def toggle(self):
        """One Set-Mailbox -IsExchangeCloudManaged."""
        identity, value = _next(_IDENTITIES)
        body = {
            "CmdletInput": {
                "CmdletName": "Set-Mailbox",
                "Parameters": {"Identity": identity, "IsExchangeCloudManaged": value},
            }
        }
        self.client.post(self.url, json=body, headers=self.headers, name="Set-Mailbox")


class BaselineToggle(MockToggle):
    """The same request against the bare Flask baseline."""


class MotoTagUser(FastHttpUser):
    """IAM TagUser against moto's server mode."""

    wait_time = _wait()

    @task
    def tag_user(self):
        """One TagUser (query protocol, form POST)."""
        user, value = _next(_IDENTITIES)
        form = {
            "Action": "TagUser",
            "Version": "2010-05-08",
            "UserName": user,
            "Tags.member.1.Key": "IsExchangeCloudManaged",
            "Tags.member.1.Value": str(value).lower(),
        }
        self.client.post(
            "/",
            data=urlencode(form),
            name="TagUser",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/"
                "us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
