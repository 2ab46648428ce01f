"""The one place Exchange admin API errors are rendered: the OData error envelope with the
``ErrId|ExceptionType|text`` triple (wire-formats §1.5), 401/403 with an empty body and an
``x-ms-diagnostics`` header, 429 with ``Retry-After``."""

from __future__ import annotations

import re

from ...domain.bounds import MAX_ECHO, clip
from ...domain.errors import (
    CmdletNotRecognized,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    NotImplementedInMock,
    SyncedObjectReadOnly,
    Throttled,
    Unauthenticated,
    UnknownParameter,
    WriteScopeViolation,
)
from ...domain.exchange import errors as exo_errors

ODATA_EXCEPTION = "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
#: Fallback .NET exception type and ErrId per domain error class (errors raised without Exchange details).
_DEFAULT_TYPES = [
    (NotFound, exo_errors.NOT_FOUND_TYPE, "Ex6F9304", "Context"),
    (UnknownParameter, exo_errors.BINDING_TYPE, "NamedParameterNotFound", "Client"),
    (WriteScopeViolation, exo_errors.TASK_INVALID_TYPE, "", "Context"),
    (SyncedObjectReadOnly, exo_errors.TASK_INVALID_TYPE, "", "Context"),
    (Conflict, "Microsoft.Exchange.Management.Tasks.ADObjectAlreadyExistsException", "", "Context"),
]
_CODES = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests"}
_HEADER_UNSAFE = re.compile(r"[^\x20-\x7e]")
#: The mock's own response header: what the mock wants to tell the caller that the real service would not say.
NOTE_HEADER = "x-hybridsoa-note"


def header_safe(text: str) -> str:
    """``text`` as a printable-ASCII header value."""
    return _HEADER_UNSAFE.sub(" ", text)


def diagnostics_header(code: str, reason: str, category: str) -> str:
    """A well-formed ``x-ms-diagnostics`` value: ``<code>;reason="<text>";error_category="<category>"``."""
    # Bounded: a header over the client's line limit (64 KB in http.client) would make the answer unreadable.
    clean = _HEADER_UNSAFE.sub(" ", clip(reason, 2 * MAX_ECHO)).replace('"', "'").replace("\\", "/")
    return f'{code};reason="{clean}";error_category="{category}"'


def envelope(
    status: int,
    message: str,
    exception_type: str,
    err_id: str = "",
    category: str = "Client",
    warnings: list[str] | None = None,
) -> dict:
    """The Exchange admin API error body (OData v4 error + Exchange details and warnings)."""
    message = clip(message, 8 * MAX_ECHO)
    return {
        "error": {
            "code": _CODES.get(status, "BadRequest" if status < 500 else "InternalServerError"),
            "message": "Error executing cmdlet",
            "details": [{"code": category, "target": "", "message": f"{err_id}|{exception_type}|{message}"}],
            "innererror": {
                "message": message,
                "type": ODATA_EXCEPTION,
                "stacktrace": "",
                "internalexception": {"message": message, "type": exception_type, "stacktrace": ""},
            },
        },
        "adminapi.warnings@odata.type": "#Collection(String)",
        "@adminapi.warnings": list(warnings or []),
    }


def error_parts(exc: DomainError) -> tuple[int, dict | None, dict]:
    """(status, body or None, headers) for a domain error, as the real service shapes it: the one mapping the
    InvokeCommand and $batch routes use."""
    details = exc.details or {}
    if isinstance(exc, (CmdletNotRecognized, NotImplementedInMock)):
        # The real field keeps PowerShell's own CommandNotFoundException text; why the mock refused (not emulated,
        # or outside the caller's role entries) goes in the mock's own header.
        own = exc.cmdlet if isinstance(exc, CmdletNotRecognized) else ""
        cmdlet = clip(details.get("cmdlet") or own or "", MAX_ECHO // 2)
        text = CmdletNotRecognized(cmdlet).message if cmdlet else exc.message
        note = details.get("reason") or "the cmdlet is not emulated by hybridsoa (see docs/coverage.md)"
        return (
            403,
            None,
            {
                "x-ms-diagnostics": diagnostics_header("2000001", text, "invalid_cmdlet"),
                NOTE_HEADER: header_safe(f"{cmdlet or 'cmdlet'}: {note}"),
            },
        )
    if isinstance(exc, Unauthenticated):
        reason = details.get("reason") or "invalid_token"
        headers = {
            "WWW-Authenticate": (
                'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
                'token_types="app_asserted_user_v1 service_asserted_app_v1", '
                'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                + (
                    f'error="insufficient_claims", claims="{details["claims"]}"'
                    if details.get("claims")
                    else 'error="invalid_token"'
                )
            ),
            "x-ms-diagnostics": diagnostics_header(
                details.get("diagnostics_code", "2000003"), exc.message, details.get("diagnostics_category", reason)
            ),
        }
        if details.get("note"):
            headers[NOTE_HEADER] = header_safe(details["note"])
        return 401, None, headers
    if isinstance(exc, Forbidden):
        headers = {
            "x-ms-diagnostics": diagnostics_header(
                details.get("diagnostics_code", "2000010"),
                exc.message,
                details.get("diagnostics_category", "insufficient_role"),
            )
        }
        if details.get("note"):
            headers[NOTE_HEADER] = header_safe(details["note"])
        return 403, None, headers
    if isinstance(exc, Throttled):
        body = envelope(429, exc.message, "Microsoft.Exchange.Admin.OData.Core.ThrottlingException", "", "Server")
        return 429, body, {"Retry-After": str(exc.retry_after)}
    exc_type, err_id, category = details.get("exception_type"), details.get("err_id"), details.get("category")
    if exc_type is None:
        for cls, default_type, default_id, default_category in _DEFAULT_TYPES:
            if isinstance(exc, cls):
                exc_type, err_id, category = default_type, err_id or default_id, category or default_category
                break
        else:
            exc_type = exo_errors.TASK_ARGUMENT_TYPE
    status = exc.status if 400 <= exc.status < 500 else 400
    note = details.get("note")
    return (
        status,
        envelope(status, exc.message, exc_type, err_id or "", category or "Client"),
        ({NOTE_HEADER: header_safe(note)} if note else {}),
    )
