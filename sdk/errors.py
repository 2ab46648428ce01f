"""Typed SDK exceptions, and the parsers that turn Exchange admin API and Microsoft Graph error bodies into them.

Exchange errors carry the "error triple" in ``error.details[*].message`` (``<ErrId>|<ExceptionType>|<text>``);
Graph errors carry ``error.code``/``error.message``/``error.innerError``."""

from __future__ import annotations

import json
from dataclasses import dataclass


class HybridSoaError(Exception):
    """Root of every error the SDK raises on purpose."""


class ConfigError(HybridSoaError):
    """Missing or contradictory configuration (CLI exit code 2)."""


class AuthError(HybridSoaError):
    """MSAL could not get a token (bad secret, unknown app, unknown tenant, user cancelled device code...)."""

    def __init__(self, message: str, *, error: str | None = None, error_codes: list | None = None):
        super().__init__(message)
        self.error = error
        self.error_codes = error_codes or []


class Unreachable(HybridSoaError):
    """The service could not be reached: name not resolved, nothing listening, TLS not trusted, timeout."""


def describe_connection_error(exc: Exception, url: str, verify=None) -> str:
    """One line naming why ``url`` could not be reached (for :class:`Unreachable` and the CLI)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    text = repr(exc) + " " + str(exc)
    low = text.lower()
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        ca = f"the CA in {verify}" if isinstance(verify, str) else "the system's CAs"
        return f"TLS: the certificate of {where} is not signed by {ca} (CERTIFICATE_VERIFY_FAILED)"
    if "ssl" in type(exc).__name__.lower() or "sslerror" in low:
        return f"TLS handshake with {where} failed ({type(exc).__name__})"
    if any(
        m in low
        for m in (
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "name resolution",
            "no address associated",
            "temporary failure in name",
        )
    ):
        return f"cannot resolve host name '{host}'"
    if "connection refused" in low or "errno 111" in low or "actively refused" in low:
        return f"nothing is listening at {where} (connection refused)"
    if "connecttimeout" in low or "connect timeout" in low:
        return f"connecting to {where} timed out"
    if "readtimeout" in low or "read timed out" in low:
        return f"{where} did not answer in time (read timeout)"
    return f"cannot reach {where} ({type(exc).__name__})"


class ApiError(HybridSoaError):
    """An error answer from Exchange Online or Microsoft Graph, with its parsed parts."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        error_id: str | None = None,
        exception_type: str | None = None,
        api: str = "",
        request_id: str | None = None,
        client_request_id: str | None = None,
        body: object = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error_id = error_id
        self.exception_type = exception_type
        self.api = api
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.api or 'api'} {self.status}"]
        if self.code:
            parts.append(self.code)
        return f"{' '.join(parts)}: {self.message}"


class NotFound(ApiError):
    """The addressed object does not exist (ManagementObjectNotFoundException; Graph Request_ResourceNotFound)."""


class WriteScopeError(ApiError):
    """Exchange "out of the current user's write scope": the object or attribute cannot be written by this caller."""


class SyncedObjectError(WriteScopeError):
    """The object (or attribute) is mastered on-premises: "being synchronized from your on-premises organization"
    (Exchange) or "on-premises mastered Directory Sync objects" (Graph)."""


class PermissionDenied(ApiError):
    """The caller is authenticated but not allowed (403; Exchange RBAC; Graph Authorization_RequestDenied)."""


class AuthenticationFailed(PermissionDenied):
    """The service refused the token (401): missing grants, expired or wrong-audience token."""


class InvalidParameter(ApiError):
    """A parameter is unknown to the cmdlet (or hidden by RBAC) or its value is invalid."""


class Conflict(ApiError):
    """The change conflicts with existing state (duplicate value, concurrency violation)."""


class Throttled(ApiError):
    """429 (or 503 with Retry-After) that persisted past the retry budget; ``retry_after`` in seconds."""


class Transient(ApiError):
    """5xx or a connection problem that persisted past the retry budget, or was not safe to retry."""


class NotImplementedByService(ApiError):
    """501 notImplemented: the service (or the mock) does not offer this operation."""


#: Phrases of the hybrid write-scope family (Exchange EAC/PowerShell text; Graph/DualWrite text).
_SYNCED_PHRASES = (
    "being synchronized from your on-premises organization",
    "on-premises mastered directory sync objects",
)
_WRITE_SCOPE_PHRASES = ("out of the current user's write scope",)
_PARAM_PHRASES = (
    "a parameter cannot be found that matches parameter name",
    "cannot bind parameter",
    "ambiguousparameterset",
    "cannot process argument transformation",
    "cannot convert value",
)


@dataclass
class ErrorTriple:
    """One ``error.details[*].message`` of an Exchange error split into its three parts."""

    error_id: str
    exception_type: str
    text: str

    @classmethod
    def parse(cls, message: str) -> ErrorTriple:
        """Split ``<ErrId>|<ExceptionType>|<text>``; the text may itself contain ``|``."""
        parts = (message or "").split("|", 2)
        if len(parts) == 3:
            return cls(parts[0].strip(), parts[1].strip(), parts[2].strip())
        return cls("", "", (message or "").strip())


def _json(resp):
    try:
        return resp.json()
    except (ValueError, json.JSONDecodeError):
        return None


def retry_after_seconds(headers) -> float | None:
    """``Retry-After`` as seconds (integer/float form, or an HTTP date relative to ``Date``)."""
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
        now = parsedate_to_datetime(headers.get("Date")) if headers.get("Date") else None
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if now is None:
        import datetime as _dt

        now = _dt.datetime.now(tz=when.tzinfo or _dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _classify(status: int, code: str | None, exc_type: str, text: str):
    low = f"{code or ''} {exc_type} {text}".lower()
    if status == 429 or "throttl" in low or (code or "").lower() == "toomanyrequests":
        return Throttled
    if any(p in low for p in _SYNCED_PHRASES):
        return SyncedObjectError
    if any(p in low for p in _WRITE_SCOPE_PHRASES):
        return WriteScopeError
    if status == 404 or "notfound" in low.replace(" ", "") or "couldn't be found" in low:
        return NotFound
    if status == 401:
        return AuthenticationFailed
    if status == 403 or "accessdenied" in low or "authorization_requestdenied" in low:
        return PermissionDenied
    if status == 501:
        return NotImplementedByService
    if status == 409 or "concurrency" in low:
        return Conflict
    if status >= 500:
        return Transient
    if any(p in low for p in _PARAM_PHRASES) or "parameter" in low:
        return InvalidParameter
    return ApiError


def parse_exchange_error(resp, *, cmdlet: str | None = None) -> ApiError:
    """Turn a failed InvokeCommand answer into a typed :class:`ApiError` (keeps the last triple part as text)."""
    body = _json(resp)
    code = message = exc_type = error_id = None
    text = ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code, message = err.get("code"), err.get("message")
        for detail in err.get("details") or []:
            if isinstance(detail, dict) and detail.get("message"):
                triple = ErrorTriple.parse(detail["message"])
                error_id, exc_type, text = triple.error_id or None, triple.exception_type or None, triple.text
                break
        if not text:
            inner = err.get("innererror") or err.get("innerError") or {}
            text = (inner.get("message") if isinstance(inner, dict) else None) or message or ""
            exc_type = exc_type or (inner.get("type") if isinstance(inner, dict) else None)
    if not text:
        # RBAC denials and unknown cmdlets come back as 403 with an empty (or NUL) body; the reason, if any,
        # is in x-ms-diagnostics.
        text = resp.headers.get("x-ms-diagnostics") or (resp.reason or "") or f"HTTP {resp.status_code}"
    cls = _classify(resp.status_code, code, exc_type or "", text)
    prefix = f"{cmdlet}: " if cmdlet else ""
    return cls(
        prefix + text,
        status=resp.status_code,
        code=code,
        error_id=error_id,
        exception_type=exc_type,
        api="exchange",
        request_id=resp.headers.get("request-id"),
        client_request_id=resp.headers.get("client-request-id") or _sent_request_id(resp),
        body=body,
        retry_after=retry_after_seconds(resp.headers),
    )


def parse_graph_error(resp) -> ApiError:
    """Turn a failed Graph answer into a typed :class:`ApiError` (``error.code`` / ``error.message``)."""
    body = _json(resp)
    code = message = None
    inner_code = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code, message = err.get("code"), err.get("message")
        inner = err.get("innerError") or err.get("innererror") or {}
        if isinstance(inner, dict):
            inner_code = inner.get("code")
    text = message or resp.headers.get("x-ms-diagnostics") or f"HTTP {resp.status_code}"
    cls = _classify(resp.status_code, code, inner_code or "", text)
    return cls(
        text,
        status=resp.status_code,
        code=code,
        api="graph",
        request_id=resp.headers.get("request-id"),
        client_request_id=resp.headers.get("client-request-id") or _sent_request_id(resp),
        body=body,
        retry_after=retry_after_seconds(resp.headers),
    )


def graph_error_from_batch(item: dict) -> ApiError:
    """Typed error for one failed ``$batch`` response item (``{id,status,headers,body}``)."""
    raw_body = item.get("body")
    body: dict = raw_body if isinstance(raw_body, dict) else {}
    raw_err = body.get("error")
    err: dict = raw_err if isinstance(raw_err, dict) else {}
    status = int(item.get("status") or 0)
    headers = item.get("headers") or {}
    text = err.get("message") or f"HTTP {status}"
    cls = _classify(status, err.get("code"), "", text)
    ra = headers.get("Retry-After") or headers.get("retry-after")
    return cls(
        text,
        status=status,
        code=err.get("code"),
        api="graph",
        body=body,
        retry_after=float(ra) if ra not in (None, "") and str(ra).replace(".", "", 1).isdigit() else None,
    )


def _sent_request_id(resp) -> str | None:
    req = getattr(resp, "request", None)
    return req.headers.get("client-request-id") if req is not None and req.headers is not None else None
