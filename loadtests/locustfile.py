"""Locust load test of the bulk-toggle path: simulated admin clients sign in once with MSAL, then toggle
mailboxes with ``Set-Mailbox -IsExchangeCloudManaged`` through the real InvokeCommand envelope and read each
change back. A client holds one mailbox at a time, so no two clients toggle the same mailbox at once: it sets
the flag (``$true`` on a mailbox's first pass, ``$false`` on the next, and so on), reads it back, and hands the
mailbox on. The load lasts for the whole run, whatever the tenant's size.

Tags: ``toggle`` (toggle + read-back), ``read`` (paged ``Get-Mailbox``, each client walking the pages), and
both for a mixed load.

    locust -f loadtests/locustfile.py --headless -u 16 -r 16 -t 30s --host https://127.0.0.1:8443 \
        --tags toggle

Environment: ``HYBRIDSOA_CA`` (the mock's CA, default ``.hybridsoa/ca.pem``), ``HYBRIDSOA_MAILBOXES`` (size of
the tenant seeded for the run, default 2000), ``HYBRIDSOA_PAGE_SIZE`` (mailboxes per page on the read path,
default 1000, the service's maximum), ``HYBRIDSOA_TENANT`` (reuse an existing tenant's credentials JSON
file instead of seeding one).
"""

from __future__ import annotations

import json
import os
import queue
import time

import msal
import requests
from locust import HttpUser, between, constant, events, tag, task

CA = os.environ.get("HYBRIDSOA_CA", ".hybridsoa/ca.pem")
MAILBOXES = int(os.environ.get("HYBRIDSOA_MAILBOXES", "2000"))
PAGE_SIZE = int(os.environ.get("HYBRIDSOA_PAGE_SIZE", "1000"))
EXCHANGE_SCOPE = ["https://outlook.office365.com/.default"]

_state: dict = {}
#: (mailbox alias, the value its next toggle sets): taken by one client at a time, put back when done.
_identities: queue.Queue[tuple[str, bool]] = queue.Queue()


class VerifyingSession(requests.Session):
    """A Session whose every request verifies against the mock CA, whatever REQUESTS_CA_BUNDLE says."""

    def request(self, *args, **kwargs):
        kwargs["verify"] = CA
        return super().request(*args, **kwargs)


@events.test_start.add_listener
def seed_tenant(environment, **_kwargs):
    """Create (or load) the tenant for the run and queue every mailbox, to be set cloud-managed first."""
    host = environment.host.rstrip("/")
    session = VerifyingSession()
    if os.environ.get("HYBRIDSOA_TENANT"):
        with open(os.environ["HYBRIDSOA_TENANT"]) as fh:
            creds = json.load(fh)
    else:
        resp = session.post(
            f"{host}/_mock/tenants", json={"mailboxes": MAILBOXES, "options": {"mix": "uniform"}}, timeout=600
        )
        resp.raise_for_status()
        creds = resp.json()
    _state["creds"] = creds
    app = next(a for a in creds["apps"] if a["name"] == "automation")
    token = _sign_in(host, creds["tenantId"], app)
    url = f"{host}/adminapi/beta/{creds['tenantId']}/InvokeCommand?$select=Alias"
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=1000"}
    while url:
        page = session.post(url, json=body, headers=headers, timeout=120).json()
        for item in page.get("value", []):
            _identities.put((item["Alias"], True))
        url = page.get("@odata.nextLink")


@events.test_stop.add_listener
def drop_tenant(environment, **_kwargs):
    """Delete the seeded tenant unless it was supplied."""
    if "creds" in _state and not os.environ.get("HYBRIDSOA_TENANT"):
        VerifyingSession().delete(f"{environment.host.rstrip('/')}/_mock/tenants/{_state['creds']['tenantId']}")


def _sign_in(host: str, tenant_id: str, app: dict) -> str:
    cca = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential=app["clientSecret"],
        authority=f"{host}/{tenant_id}",
        instance_discovery=False,
        http_client=VerifyingSession(),
    )
    result = cca.acquire_token_for_client(scopes=EXCHANGE_SCOPE)
    if "access_token" not in result:
        raise RuntimeError(f"sign-in failed: {result.get('error_description')}")
    return result["access_token"]


class ExchangeAdmin(HttpUser):
    """An automation client: signs in once, then toggles distinct mailboxes with read-back."""

    wait_time = constant(0) if os.environ.get("HYBRIDSOA_NO_WAIT", "1") == "1" else between(0.1, 0.5)

    def on_start(self):
        """Sign in with MSAL (client credentials) once per simulated client."""
        creds = _state["creds"]
        app = next(a for a in creds["apps"] if a["name"] == "automation")
        self.token = _sign_in(self.host.rstrip("/"), creds["tenantId"], app)
        self.invoke_url = f"/adminapi/beta/{creds['tenantId']}/InvokeCommand"
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "X-AnchorMailbox": f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{creds['tenantId']}",
        }

    def _invoke(self, cmdlet: str, params: dict, name: str, query: str = ""):
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}
        return self.client.post(self.invoke_url + query, json=body, headers=self.headers, name=name, verify=CA)

    @tag("toggle")
    @task(3)
    def toggle_with_read_back(self):
        """Set-Mailbox -IsExchangeCloudManaged on the next free mailbox, Get-Mailbox it, and hand it on."""
        try:
            identity, value = _identities.get_nowait()
        except queue.Empty:
            time.sleep(0.01)  # more clients than mailboxes: wait for one to be handed back (gevent-aware)
            return
        try:
            self._invoke("Set-Mailbox", {"Identity": identity, "IsExchangeCloudManaged": value}, "Set-Mailbox")
            with self.client.post(
                self.invoke_url + "?$select=IsExchangeCloudManaged",
                name="Get-Mailbox (read-back)",
                headers=self.headers,
                verify=CA,
                json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": identity}}},
                catch_response=True,
            ) as resp:
                try:
                    read = (resp.json() or {}).get("value") or [{}]
                except ValueError:  # not JSON: Locust already counts a non-2xx answer as failed
                    read = [{}]
                if resp.status_code == 200 and read[0].get("IsExchangeCloudManaged") is not value:
                    resp.failure("toggle did not stick")
        finally:
            _identities.put((identity, not value))

    @tag("read")
    @task(1)
    def page_mailboxes(self):
        """Read the next page of mailboxes (the inventory path): the first page, then each ``@odata.nextLink``
        re-POSTed with the same body, starting over after the last page."""
        url = getattr(self, "next_page", None)
        name = "Get-Mailbox (next page)" if url else "Get-Mailbox (first page)"
        url = url or self.invoke_url + "?$select=Alias,IsDirSynced,IsExchangeCloudManaged"
        with self.client.post(
            url,
            json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}},
            headers={**self.headers, "Prefer": f"odata.maxpagesize={PAGE_SIZE}"},
            name=name,
            verify=CA,
            catch_response=True,
        ) as resp:
            try:
                page = resp.json() if resp.status_code == 200 else {}
            except ValueError:
                resp.failure("the page is not JSON")
                page = {}
            self.next_page = page.get("@odata.nextLink")
