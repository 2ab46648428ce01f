"""Exchange Online admin API client: ``POST {host}/adminapi/beta/{tenant}/InvokeCommand`` with the ``CmdletInput``
envelope the ExchangeOnlineManagement v3 module sends, ``X-AnchorMailbox`` routing, page-size preference,
``@odata.nextLink`` paging by POST (same body), ``$select``, and typed errors (see :mod:`hybridsoa.sdk.errors`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

from requests.structures import CaseInsensitiveDict

from . import soa_attributes as soa
from .errors import ApiError, NotFound, parse_exchange_error, retry_after_seconds

#: The system mailbox the module anchors app-only sessions on.
APP_ANCHOR_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
#: Read-only verbs: safe to replay after any transient failure (every cmdlet is a POST).
IDEMPOTENT_VERBS = ("Get", "Test", "Search", "Export")
MAX_PAGE_SIZE = 1000
#: Requests the admin API's ``$batch`` takes at once.
MAX_BATCH = 10

#: The Exchange attributes whose source of authority IsExchangeCloudManaged moves (backed up before changes):
#: the SOA attribute table's moving rows, as Get-Mailbox properties.
EXCHANGE_ATTRIBUTES = soa.EXCHANGE_PROPERTIES
#: Identity and state properties the SOA workflows read with every mailbox.
MAILBOX_STATE = (
    "Guid",
    "ExchangeGuid",
    "ExternalDirectoryObjectId",
    "Identity",
    "Name",
    "DisplayName",
    "UserPrincipalName",
    "RecipientTypeDetails",
    "IsDirSynced",
    "IsExchangeCloudManaged",
    "ImmutableId",
)
MAILBOX_SELECT = MAILBOX_STATE + EXCHANGE_ATTRIBUTES


def is_idempotent(cmdlet: str) -> bool:
    """Whether a cmdlet only reads (``Get-``/``Test-``...): only those are replayed after non-throttling errors."""
    return cmdlet.split("-", 1)[0].capitalize() in IDEMPOTENT_VERBS


def clean(obj: dict) -> dict:
    """A cmdlet output object without OData annotations (``X@odata.type``, ``X@data.type``, ``@odata.*``)."""
    return {k: v for k, v in obj.items() if "@" not in k}


def encode_parameters(params: dict) -> dict:
    """Cmdlet parameters as the module serialises them: switches as ``true``, hashtables typed
    ``#Exchange.GenericHashTable``, ``None`` as JSON null (clears a value)."""
    out = {}
    for name, value in params.items():
        if isinstance(value, dict) and "@odata.type" not in value:
            value = {"@odata.type": "#Exchange.GenericHashTable", **value}
        elif isinstance(value, (set, tuple)):
            value = list(value)
        out[name] = value
    return out


@dataclass
class BatchItem:
    """One cmdlet run inside an Exchange ``$batch``: its objects and warnings, or its typed error."""

    cmdlet: str
    params: dict
    select: Iterable[str] | None = None
    status: int = 0
    objects: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        """Whether the cmdlet ran without error."""
        return self.error is None and 200 <= self.status < 400


class _SubResponse:
    """A ``$batch`` response item seen through the attributes :func:`parse_exchange_error` reads."""

    def __init__(self, item: dict):
        self.status_code = int(item.get("status") or 0)
        self.headers = CaseInsensitiveDict(item.get("headers") or {})
        self._body = item.get("body")
        self.content = b"" if self._body is None else b"{}"
        self.reason = ""
        self.request = None

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body


class InvokeResult(list):
    """The objects a cmdlet returned (all pages), with the service's warnings."""

    def __init__(self, items: Iterable = (), warnings: list[str] | None = None):
        super().__init__(items)
        self.warnings = warnings or []


class ExchangeClient:
    """Runs Exchange Online cmdlets over the admin API's InvokeCommand endpoint."""

    #: Whether bulk workflows may group cmdlets into ``$batch`` requests (the test fake turns it off).
    supports_batch = True

    def __init__(
        self,
        cloud,
        tenant: str,
        tokens,
        transport,
        *,
        anchor_mailbox: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ):
        self.cloud = cloud
        self.tenant = tenant
        self.tokens = tokens
        self.transport = transport
        self.page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
        self._anchor = anchor_mailbox
        self.url = f"{cloud.exchange_url.rstrip('/')}/adminapi/beta/{tenant}/InvokeCommand"

    # -- wire -----------------------------------------------------------------------------------------------
    @property
    def anchor_mailbox(self) -> str:
        """``X-AnchorMailbox``: ``UPN:<admin>`` for delegated sessions, the app system mailbox for app-only."""
        if self._anchor:
            return self._anchor
        creds = getattr(self.tokens, "credentials", None)
        if creds is not None and creds.username:
            return f"UPN:{creds.username}"
        return f"APP:{APP_ANCHOR_MAILBOX}@{self.tenant}"

    def _headers(self, cmdlet: str, page_size: int) -> dict:
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-AnchorMailbox": self.anchor_mailbox,
            "Prefer": f"odata.maxpagesize={page_size}",
            "X-ResponseFormat": "json",
            "X-CmdletName": cmdlet,
            "X-ClientApplication": "hybridsoa-sdk",
        }

    def _post(self, url: str, cmdlet: str, body: dict, page_size: int) -> dict:
        auth = self.tokens.auth_for("exchange") if hasattr(self.tokens, "auth_for") else self.tokens
        resp = self.transport.send(
            "POST",
            url,
            headers=self._headers(cmdlet, page_size),
            json=body,
            idempotent=is_idempotent(cmdlet),
            auth=auth,
            error_parser=lambda r: parse_exchange_error(r, cmdlet=cmdlet),
        )
        if not resp.content or not resp.content.strip(b"\x00 \r\n"):
            return {"value": []}
        try:
            data = resp.json()
        except ValueError:
            return {"value": []}
        return data if isinstance(data, dict) else {"value": data}

    def iter_invoke(
        self,
        cmdlet: str,
        *,
        select: Iterable[str] | None = None,
        page_size: int | None = None,
        warnings: list | None = None,
        **params,
    ) -> Iterator[dict]:
        """Run a cmdlet and yield its output objects lazily, POSTing to ``@odata.nextLink`` for each next page."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": encode_parameters(params)}}
        size = self.page_size if page_size is None else max(1, min(int(page_size), MAX_PAGE_SIZE))
        url: str | None = self.url
        if select:
            url = f"{url}?$select={','.join(select)}"
        while url:
            page = self._post(url, cmdlet, body, size)
            if warnings is not None:
                warnings.extend(page.get("@adminapi.warnings") or [])
            yield from page.get("value") or []
            next_link = page.get("@odata.nextLink")
            url = urljoin(self.url, next_link) if next_link else None

    def invoke(
        self, cmdlet: str, *, select: Iterable[str] | None = None, page_size: int | None = None, **params
    ) -> InvokeResult:
        """Run a cmdlet and return every output object (all pages) with the service's warnings."""
        warnings: list[str] = []
        items = list(self.iter_invoke(cmdlet, select=select, page_size=page_size, warnings=warnings, **params))
        return InvokeResult(items, warnings)

    def batch(
        self, items: list[BatchItem], *, max_rounds: int = 6, sleep: Callable[[float], None] | None = None
    ) -> list[BatchItem]:
        """Run up to :data:`MAX_BATCH` cmdlets in one ``POST /adminapi/beta/{tenant}/$batch`` and fill in each
        item's outcome. Items answered 429 (not executed) are sent again after their ``Retry-After``; any other
        item error is final, so a ``Set-`` whose outcome is unknown is never replayed. The HTTP request itself
        gets the transport's retries (a batch of writes is not replayed after a 5xx)."""
        if len(items) > MAX_BATCH:
            raise ValueError(f"an Exchange $batch takes at most {MAX_BATCH} requests")
        if not self.supports_batch:
            return self._one_by_one(items)
        sleep = sleep or getattr(self.transport, "sleep", None) or (lambda s: None)
        batch_url = self.url.rsplit("/", 1)[0] + "/$batch"
        auth = self.tokens.auth_for("exchange") if hasattr(self.tokens, "auth_for") else self.tokens
        pending = list(items)
        for _round in range(max_rounds):
            if not pending:
                break
            requests_ = []
            for n, item in enumerate(pending):
                url = self.url + (f"?$select={','.join(item.select)}" if item.select else "")
                headers = {
                    "X-CmdletName": item.cmdlet,
                    "Prefer": f"odata.maxpagesize={self.page_size}",
                    "X-AnchorMailbox": self.anchor_mailbox,
                }
                requests_.append(
                    {
                        "id": str(n + 1),
                        "method": "POST",
                        "url": url,
                        "headers": headers,
                        "body": {
                            "CmdletInput": {"CmdletName": item.cmdlet, "Parameters": encode_parameters(item.params)}
                        },
                    }
                )
            headers = self._headers("$batch", self.page_size)
            headers.pop("X-CmdletName", None)
            try:
                resp = self.transport.send(
                    "POST",
                    batch_url,
                    headers=headers,
                    json={"requests": requests_},
                    idempotent=all(is_idempotent(i.cmdlet) for i in pending),
                    auth=auth,
                    error_parser=lambda r: parse_exchange_error(r, cmdlet="$batch"),
                )
            except ApiError as exc:
                if exc.status not in (400, 404, 405, 501) or _round:
                    raise
                # The endpoint does not take $batch (it refused the request as a whole, so nothing in it ran):
                # send the cmdlets one by one, now and for the rest of this client's life.
                self.supports_batch = False
                return self._one_by_one(items)
            try:
                answers = {str(r.get("id")): r for r in (resp.json() or {}).get("responses") or []}
            except (ValueError, AttributeError):
                answers = {}
            retry, wait = [], 0.0
            for n, item in enumerate(pending):
                answer = answers.get(str(n + 1))
                if answer is None:
                    item.status, item.error = (
                        0,
                        ApiError(f"{item.cmdlet}: no answer in the $batch response", api="exchange"),
                    )
                    continue
                item.status = int(answer.get("status") or 0)
                body = answer.get("body") if isinstance(answer.get("body"), dict) else {}
                if item.status == 429 and _round + 1 < max_rounds:
                    retry.append(item)
                    wait = max(wait, retry_after_seconds(CaseInsensitiveDict(answer.get("headers") or {})) or 1.0)
                    continue
                if item.status >= 400:
                    item.error = parse_exchange_error(_SubResponse(answer), cmdlet=item.cmdlet)
                    continue
                item.objects = [clean(o) for o in body.get("value") or []]
                item.warnings = list(body.get("@adminapi.warnings") or [])
            pending = retry
            if pending:
                sleep(wait)
        return items

    def _one_by_one(self, items: list[BatchItem]) -> list[BatchItem]:
        """:meth:`batch`'s outcomes through single InvokeCommand calls (targets without ``$batch``)."""
        for item in items:
            try:
                result = self.invoke(item.cmdlet, select=item.select, **item.params)
            except ApiError as exc:
                item.status, item.error = exc.status, exc
                continue
            item.status, item.objects, item.warnings = 200, [clean(o) for o in result], list(result.warnings)
        return items

    # -- typed helpers --------------------------------------------------------------------------------------
    def get_mailbox(self, identity: str, *, select: Iterable[str] | None = MAILBOX_SELECT) -> dict:
        """``Get-Mailbox -Identity``: one mailbox (annotations removed); :class:`NotFound` when absent."""
        items = self.invoke("Get-Mailbox", select=select, Identity=identity)
        if not items:
            raise NotFound(f"Get-Mailbox: object '{identity}' couldn't be found", status=404, api="exchange")
        return clean(items[0])

    def find_mailbox(self, identity: str, *, select: Iterable[str] | None = MAILBOX_SELECT) -> dict | None:
        """Like :meth:`get_mailbox` but None when the mailbox does not exist."""
        try:
            return self.get_mailbox(identity, select=select)
        except NotFound:
            return None

    def iter_mailboxes(
        self,
        *,
        filter: str | None = None,
        select: Iterable[str] | None = MAILBOX_SELECT,
        recipient_type_details: Iterable[str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict]:
        """``Get-Mailbox -ResultSize Unlimited [-Filter] [-RecipientTypeDetails]``, lazily, page by page."""
        params: dict = {"ResultSize": "Unlimited"}
        if filter:
            params["Filter"] = filter
        if recipient_type_details:
            params["RecipientTypeDetails"] = list(recipient_type_details)
        for item in self.iter_invoke("Get-Mailbox", select=select, page_size=page_size, **params):
            yield clean(item)

    def set_mailbox(self, identity: str, **params) -> list[str]:
        """``Set-Mailbox -Identity <id> ...``; returns the service's warnings (Set-Mailbox outputs nothing)."""
        return self.invoke("Set-Mailbox", Identity=identity, **params).warnings

    def set_cloud_managed(self, identity: str, value: bool) -> list[str]:
        """``Set-Mailbox -IsExchangeCloudManaged $true|$false`` (moves the Exchange attributes' SOA)."""
        return self.set_mailbox(identity, IsExchangeCloudManaged=bool(value))

    def get_organization_config(self) -> dict:
        """``Get-OrganizationConfig`` (tenant default ``ExchangeAttributesCloudManagedByDefault`` and friends)."""
        items = self.invoke("Get-OrganizationConfig")
        return clean(items[0]) if items else {}

    def set_organization_config(self, **params) -> list[str]:
        """``Set-OrganizationConfig`` (e.g. ``ExchangeAttributesCloudManagedByDefault=True`` as a switch)."""
        return self.invoke("Set-OrganizationConfig", **params).warnings

    def get_user(self, identity: str) -> dict:
        """``Get-User -Identity`` (identity attributes, which stay AD-mastered)."""
        items = self.invoke("Get-User", Identity=identity)
        if not items:
            raise NotFound(f"Get-User: object '{identity}' couldn't be found", status=404, api="exchange")
        return clean(items[0])

    def get_mail_users(self) -> Iterator[dict]:
        """``Get-MailUser -ResultSize Unlimited`` (mail users are not eligible for IsExchangeCloudManaged)."""
        for item in self.iter_invoke("Get-MailUser", ResultSize="Unlimited"):
            yield clean(item)
