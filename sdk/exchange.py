"""Exchange Online admin API client: ``POST {host}/adminapi/beta/{tenant}/InvokeCommand`` with the ``CmdletInput``
envelope the ExchangeOnlineManagement v3 module sends, ``X-AnchorMailbox`` routing, page-size preference,
``@odata.nextLink`` paging by POST (same body), ``$select``, and typed errors (see :mod:`sdk.errors`)."""
from __future__ import annotations

from typing import Iterable, Iterator
from urllib.parse import urljoin

from .errors import NotFound, parse_exchange_error

#: The system mailbox the module anchors app-only sessions on.
APP_ANCHOR_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"
#: Read-only verbs: safe to replay after any transient failure (every cmdlet is a POST).
IDEMPOTENT_VERBS = ("Get", "Test", "Search", "Export")
MAX_PAGE_SIZE = 1000

#: The Exchange attributes whose source of authority IsExchangeCloudManaged moves (backed up before changes).
EXCHANGE_ATTRIBUTES = (("Alias", "PrimarySmtpAddress", "WindowsEmailAddress", "EmailAddresses",
                        "HiddenFromAddressListsEnabled", "GrantSendOnBehalfTo")
                       + tuple(f"CustomAttribute{i}" for i in range(1, 16))
                       + tuple(f"ExtensionCustomAttribute{i}" for i in range(1, 6)))
#: Identity and state properties the SOA workflows read with every mailbox.
MAILBOX_STATE = ("Guid", "ExchangeGuid", "ExternalDirectoryObjectId", "Identity", "Name", "DisplayName",
                 "UserPrincipalName", "RecipientTypeDetails", "IsDirSynced", "IsExchangeCloudManaged",
                 "ImmutableId")
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


class InvokeResult(list):
    """The objects a cmdlet returned (all pages), with the service's warnings."""

    def __init__(self, items: Iterable = (), warnings: list[str] | None = None):
        super().__init__(items)
        self.warnings = warnings or []


class ExchangeClient:
    """Runs Exchange Online cmdlets over the admin API's InvokeCommand endpoint."""

    def __init__(self, cloud, tenant: str, tokens, transport, *, anchor_mailbox: str | None = None,
                 page_size: int = MAX_PAGE_SIZE):
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
        return {"Content-Type": "application/json", "Accept": "application/json",
                "X-AnchorMailbox": self.anchor_mailbox, "Prefer": f"odata.maxpagesize={page_size}",
                "X-ResponseFormat": "json", "X-CmdletName": cmdlet, "X-ClientApplication": "hybridsoa-sdk"}

    def _post(self, url: str, cmdlet: str, body: dict, page_size: int) -> dict:
        auth = self.tokens.auth_for("exchange") if hasattr(self.tokens, "auth_for") else self.tokens
        resp = self.transport.send("POST", url, headers=self._headers(cmdlet, page_size), json=body,
                                   idempotent=is_idempotent(cmdlet), auth=auth,
                                   error_parser=lambda r: parse_exchange_error(r, cmdlet=cmdlet))
        if not resp.content or not resp.content.strip(b"\x00 \r\n"):
            return {"value": []}
        try:
            data = resp.json()
        except ValueError:
            return {"value": []}
        return data if isinstance(data, dict) else {"value": data}

    def iter_invoke(self, cmdlet: str, *, select: Iterable[str] | None = None, page_size: int | None = None,
                    warnings: list | None = None, **params) -> Iterator[dict]:
        """Run a cmdlet and yield its output objects lazily, POSTing to ``@odata.nextLink`` for each next page."""
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": encode_parameters(params)}}
        size = self.page_size if page_size is None else max(1, min(int(page_size), MAX_PAGE_SIZE))
        url = self.url
        if select:
            url = f"{url}?$select={','.join(select)}"
        while url:
            page = self._post(url, cmdlet, body, size)
            if warnings is not None:
                warnings.extend(page.get("@adminapi.warnings") or [])
            for item in page.get("value") or []:
                yield item
            next_link = page.get("@odata.nextLink")
            url = urljoin(self.url, next_link) if next_link else None

    def invoke(self, cmdlet: str, *, select: Iterable[str] | None = None, page_size: int | None = None,
               **params) -> InvokeResult:
        """Run a cmdlet and return every output object (all pages) with the service's warnings."""
        warnings: list[str] = []
        items = list(self.iter_invoke(cmdlet, select=select, page_size=page_size, warnings=warnings, **params))
        return InvokeResult(items, warnings)

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

    def iter_mailboxes(self, *, filter: str | None = None, select: Iterable[str] | None = MAILBOX_SELECT,
                       recipient_type_details: Iterable[str] | None = None, page_size: int | None = None
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
