"""The body of an Exchange admin API POST, read once per request: the ``CmdletInput`` envelope of InvokeCommand and
the Admin API v2.0 (wire-formats §1.2), or the items of ``$batch``. The request pipeline journals what this reads,
decides read or write from the registration of the cmdlet it names, and the handler runs that same call: nothing
below parses the body or looks the cmdlet up again."""

from __future__ import annotations

from ...domain.bounds import clip
from ...domain.errors import InvalidArgument
from ...domain.exchange import dispatch
from ...domain.journal import MAX_VALUE_CHARS, redact

ODATA_EXCEPTION_TYPE = "Microsoft.OData.ODataException"
#: Where the pipeline keeps the parsed body in the WSGI environ (one parse whoever asks first).
ENVIRON_KEY = "hybridsoa.exchange_body"
#: Where the pipeline puts the durable store's capture of a call it may log as a command (``store/commands.py``).
COMMAND_KEY = "hybridsoa.command"


class CmdletCall:
    """One cmdlet call as sent: its name and parameters, the registered cmdlet the name names (None: missing or
    unknown, which the dispatcher refuses in the real shape) and, for a malformed envelope, the refusal."""

    __slots__ = ("name", "params", "refusal", "spec")

    def __init__(self, body):
        self.name = self.spec = self.refusal = None
        self.params: dict = {}
        if not isinstance(body, dict) or not isinstance(body.get("CmdletInput"), dict):
            self.refusal = InvalidArgument(
                "The request body must be a JSON object with a CmdletInput object holding CmdletName and Parameters.",
                exception_type=ODATA_EXCEPTION_TYPE,
                err_id="",
                category="Client",
            )
            return
        cmd = body["CmdletInput"]
        self.name = cmd.get("CmdletName")
        if isinstance(self.name, str):
            self.spec = dispatch.get_cmdlet(self.name)
        params = cmd.get("Parameters")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self.refusal = InvalidArgument(
                "CmdletInput.Parameters must be a JSON object.",
                exception_type=ODATA_EXCEPTION_TYPE,
                err_id="",
                category="Client",
            )
            return
        self.params = params

    def check(self) -> None:
        """Raise the envelope's refusal, if any (the first error InvokeCommand answers)."""
        if self.refusal is not None:
            raise self.refusal

    @property
    def writes(self) -> bool:
        """Whether the call may change the tenant: the registered cmdlet's own ``writes`` (unknown names run
        nothing)."""
        return self.spec is not None and self.spec.writes

    @property
    def rows_only(self) -> bool:
        """Whether the call's cmdlet changes only objects and audit records (``register_cmdlet(rows_only=...)``)."""
        return self.spec is not None and self.spec.rows_only


class ExchangeBody:
    """An Exchange POST body parsed once: the JSON, the cmdlet call it holds, the ``$batch`` items' calls, and
    what the request journal shows of it."""

    __slots__ = ("batch", "call", "journal_cmdlet", "journal_parameters", "json")

    def __init__(self, body):
        self.json = body
        self.call = CmdletCall(body)
        self.batch: list[CmdletCall | None] | None = None
        self.journal_cmdlet: str | None = None
        self.journal_parameters: dict | None = None
        if not isinstance(body, dict):
            return
        if isinstance(body.get("requests"), list):
            # Any part of a $batch item may be junk: its call is None unless the item is an object.
            self.batch = [CmdletCall(item.get("body")) if isinstance(item, dict) else None for item in body["requests"]]
        cmd = body.get("CmdletInput")
        if isinstance(cmd, dict):
            name = cmd.get("CmdletName")
            # Bounded like every journalled value: a 70,000-character name is kept as its first 2,048 characters.
            self.journal_cmdlet = clip(name, MAX_VALUE_CHARS) if isinstance(name, str) else None
            params = cmd.get("Parameters")
            self.journal_parameters = redact(params) if isinstance(params, dict) else {}
        elif self.batch is not None:
            self.journal_parameters = {
                "batch": [
                    clip(c.name, MAX_VALUE_CHARS) for c in self.batch if c is not None and isinstance(c.name, str)
                ]
            }

    @property
    def writes(self) -> bool:
        """Whether the request may change the tenant: a call it holds (the envelope's, or a ``$batch`` item's)
        names a cmdlet registered as a write."""
        return self.call.writes or (self.batch is not None and any(c is not None and c.writes for c in self.batch))

    @property
    def rows_only(self) -> bool:
        """Whether every write the request holds changes only objects and audit records (a single call: a
        ``$batch`` compares the state blobs)."""
        return self.batch is None and self.call.rows_only


def body_of(req) -> ExchangeBody:
    """The parsed Exchange body of a request (werkzeug's, or the pipeline's own), parsed on the first call."""
    found = req.environ.get(ENVIRON_KEY)
    if found is None:
        # force: PowerShell clients do not always send a JSON content type.
        found = req.environ[ENVIRON_KEY] = ExchangeBody(req.get_json(silent=True, force=True, cache=True))
    return found
