"""Requests-level fakes for unit-testing code built on the SDK without a server: a ``requests`` adapter that
answers like the real services (Exchange InvokeCommand envelopes, error triples, 429 with ``Retry-After``), and
helpers to build a :class:`~hybridsoa.sdk.config.Connection`-like client set over it. No sockets, no sleeping."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .clouds import Cloud
from .exchange import ExchangeClient
from .graph import GraphClient
from .transport import RetryPolicy, Transport


def make_response(request, status: int = 200, body=None, headers: dict | None = None) -> requests.Response:
    """A ``requests.Response`` for ``request`` with a JSON (or raw bytes/str) body."""
    resp = requests.Response()
    resp.status_code = status
    resp.request = request
    resp.url = getattr(request, "url", "")
    resp.reason = {
        200: "OK",
        204: "No Content",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "")
    hdrs = CaseInsensitiveDict(headers or {})
    if isinstance(body, (bytes, bytearray)):
        resp._content = bytes(body)
    elif isinstance(body, str):
        resp._content = body.encode()
    elif body is None:
        resp._content = b""
    else:
        resp._content = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json;odata.metadata=minimal;charset=utf-8")
    resp.headers = hdrs
    return resp


class FakeAdapter(BaseAdapter):
    """A ``requests`` adapter that hands every prepared request to ``handler(request) -> Response`` and keeps a log."""

    def __init__(self, handler: Callable):
        super().__init__()
        self.handler = handler
        self.requests: list = []
        self.send_kwargs: list[dict] = []

    def send(self, request, **kwargs):
        """Record the request (and the verify/timeout it was sent with) and answer it through the handler."""
        self.requests.append(request)
        self.send_kwargs.append(kwargs)
        return self.handler(request)

    def close(self):
        """Nothing to release."""


def exchange_error(
    status: int, text: str, *, exception_type: str, code: str = "InternalServerError", error_id: str = ""
) -> dict:
    """An Exchange admin API error body with the error triple in ``details``."""
    return {
        "error": {
            "code": code,
            "message": "Error executing cmdlet",
            "details": [{"code": "Context", "target": "", "message": f"{error_id}|{exception_type}|{text}"}],
            "innererror": {"message": text, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"},
        },
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": [],
    }


class FakeExchange:
    """An in-memory Exchange Online for SDK unit tests: Get-/Set-Mailbox, Get-OrganizationConfig, paging by
    POSTed nextLink, the preview-profile silent failure, and scripted faults (``fail_next``)."""

    def __init__(self, mailboxes: list[dict], *, page_size_cap: int = 1000, silent: bool = False):
        self.mailboxes = {m["Guid"]: copy.deepcopy(m) for m in mailboxes}
        self.page_size_cap = page_size_cap
        self.silent = silent
        self.org = {"Identity": "contoso", "ExchangeAttributesCloudManagedByDefault": False}
        #: queue of (cmdlet or "*", status, body, headers) answered before the real handling
        self.faults: list[tuple] = []
        self.calls: list[tuple[str, dict]] = []
        self.bodies: list[dict] = []

    def fail_next(self, cmdlet: str, status: int, body=None, headers: dict | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``cmdlet`` (or "*") with this status/body/headers."""
        for _ in range(times):
            self.faults.append((cmdlet, status, body, headers or {}))

    def _find(self, identity: str) -> dict | None:
        key = str(identity).lower()
        for m in self.mailboxes.values():
            if key in (
                m["Guid"].lower(),
                str(m.get("PrimarySmtpAddress", "")).lower(),
                str(m.get("UserPrincipalName", "")).lower(),
                str(m.get("Alias", "")).lower(),
            ):
                return m
        return None

    def __call__(self, request):
        body = json.loads(request.body or b"{}")
        self.bodies.append(body)
        cmd = body["CmdletInput"]["CmdletName"]
        params = body["CmdletInput"].get("Parameters") or {}
        self.calls.append((cmd, params))
        for n, (which, status, fbody, fheaders) in enumerate(self.faults):
            if which in (cmd, "*"):
                del self.faults[n]
                return make_response(request, status, fbody, fheaders)
        if cmd == "Get-Mailbox":
            if "Identity" in params:
                m = self._find(params["Identity"])
                if m is None:
                    return make_response(
                        request,
                        404,
                        exchange_error(
                            404,
                            f"The operation couldn't be performed because object '{params['Identity']}' couldn't "
                            "be found on 'DM3PR01A001DC01.prod.outlook.com'.",
                            exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                            code="NotFound",
                            error_id="Ex6F9304",
                        ),
                    )
                return make_response(request, 200, {"value": [self._annotate(m)]})
            items = sorted(self.mailboxes.values(), key=lambda m: m["Guid"])
            size = self._page_size(request)
            start = 0
            if "skiptoken=" in request.url:
                start = int(request.url.split("skiptoken=")[1].split("&")[0])
            page = {"value": [self._annotate(m) for m in items[start : start + size]]}
            if start + size < len(items):
                page["@odata.nextLink"] = f"{request.url.split('?')[0]}?$skiptoken={start + size}"
            return make_response(request, 200, page)
        if cmd == "Set-Mailbox":
            m = self._find(params.get("Identity", ""))
            if m is None:
                return make_response(
                    request,
                    404,
                    exchange_error(
                        404, "couldn't be found", exception_type="ManagementObjectNotFoundException", code="NotFound"
                    ),
                )
            for k, v in params.items():
                if k == "Identity":
                    continue
                if k == "IsExchangeCloudManaged" and self.silent:
                    continue
                m[k] = v
            return make_response(request, 200, {"value": [], "@adminapi.warnings": []})
        if cmd == "Get-OrganizationConfig":
            return make_response(request, 200, {"value": [self.org]})
        return make_response(request, 403, b"")

    def _page_size(self, request) -> int:
        prefer = request.headers.get("Prefer", "")
        if "odata.maxpagesize=" in prefer:
            return min(self.page_size_cap, int(prefer.split("odata.maxpagesize=")[1]))
        return self.page_size_cap

    @staticmethod
    def _annotate(m: dict) -> dict:
        out = dict(m)
        out["EmailAddresses@odata.type"] = "#Collection(String)"
        out["Guid@data.type"] = "System.Guid"
        return out


def fake_mailboxes(n: int, *, synced: bool = True, rtd: str = "UserMailbox") -> list[dict]:
    """``n`` Get-Mailbox-shaped objects with deterministic GUIDs."""
    out = []
    for i in range(n):
        alias = f"user{i:04d}"
        out.append(
            {
                "Guid": f"00000000-0000-4000-8000-{i:012d}",
                "Identity": alias,
                "Name": alias,
                "Alias": alias,
                "DisplayName": f"User {i}",
                "UserPrincipalName": f"{alias}@contoso.com",
                "PrimarySmtpAddress": f"{alias}@contoso.com",
                "EmailAddresses": [f"SMTP:{alias}@contoso.com", f"smtp:{alias}@contoso.mail.onmicrosoft.com"],
                "RecipientTypeDetails": rtd,
                "IsDirSynced": synced,
                "IsExchangeCloudManaged": False,
                "CustomAttribute1": f"dept-{i % 3}",
                "ExternalDirectoryObjectId": f"10000000-0000-4000-8000-{i:012d}",
            }
        )
    return out


class StaticTokens:
    """A token provider that never signs in (unit tests): ``auth_for(api)`` returns a constant bearer token and
    counts forced refreshes."""

    def __init__(self, token: str = "test-token"):
        self.token_value = token
        self.refreshes = 0
        self.credentials = None

    def auth_for(self, api: str):
        """``force_refresh -> token``."""

        def _auth(force: bool = False) -> str:
            if force:
                self.refreshes += 1
            return self.token_value

        return _auth


def fake_clients(handler: Callable, *, sleeps: list | None = None, retry: RetryPolicy | None = None):
    """(ExchangeClient, GraphClient, Transport, FakeAdapter) wired over ``handler`` for ``https://fake.test``;
    waits are appended to ``sleeps`` instead of sleeping."""
    sleeps = sleeps if sleeps is not None else []
    session = requests.Session()
    adapter = FakeAdapter(handler)
    session.mount("https://", adapter)
    transport = Transport(session=session, sleep=sleeps.append, retry=retry, verify="/fake/ca.pem")
    cloud = Cloud.local("https://fake.test", "/fake/ca.pem")
    tokens = StaticTokens()
    exchange = ExchangeClient(cloud, "contoso.onmicrosoft.com", tokens, transport)
    exchange.supports_batch = False  # the fake answers InvokeCommand only
    return (exchange, GraphClient(cloud, tokens, transport), transport, adapter)
