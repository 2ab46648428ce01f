"""The one HTTP transport every client shares: a pooled ``requests`` Session, ``client-request-id`` on every call,
timeouts, TLS verification forced per request, and the retry policy of Microsoft's own guidance.

Retry policy (Graph throttling guidance; Exchange clients of the admin API):
- 429, and 503 carrying ``Retry-After``, mean "not executed, come back later": retried for every request,
  waiting exactly ``Retry-After`` (exponential back-off when absent);
- other 5xx and connection errors are retried only for idempotent requests: Exchange cmdlets are all POSTs, so
  a ``Set-``/``New-``/``Remove-`` cmdlet is never replayed after an error that may have executed it."""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from .errors import Throttled, Transient, Unreachable, describe_connection_error, retry_after_seconds

log = logging.getLogger("hybridsoa.sdk.transport")

USER_AGENT = "hybridsoa-sdk/0.1"


@dataclass
class RetryPolicy:
    """How many times and how long to retry (defaults follow the documented client behaviour)."""

    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    #: Never wait longer than this for one Retry-After (a server asking for an hour is treated as a failure).
    max_retry_after: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Exponential back-off for attempt ``attempt`` (1-based) when the server gave no Retry-After."""
        return min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))


class ResponseObserver:
    """Something that wants to see every response (the adaptive rate controller of bulk workflows)."""

    def observe(self, response: requests.Response) -> None:  # pragma: no cover - interface
        """Called once per HTTP response, retries included."""


class Transport:
    """Shared HTTP transport (one Session, pooled connections) used by the Exchange, Graph and control clients."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        timeout: tuple[float, float] = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        pool_size: int = 64,
        user_agent: str = USER_AGENT,
    ):
        self.verify = verify
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.session = session or requests.Session()
        if session is None:
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = user_agent
        self.observers: list[ResponseObserver] = []
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "throttled": 0}

    def add_observer(self, observer: ResponseObserver) -> None:
        """Register an observer of every response."""
        with self._lock:
            self.observers.append(observer)

    def remove_observer(self, observer: ResponseObserver) -> None:
        """Unregister an observer."""
        with self._lock:
            if observer in self.observers:
                self.observers.remove(observer)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict | None = None,
        json=None,
        data=None,
        params: dict | None = None,
        idempotent: bool | None = None,
        auth: Callable[..., str] | None = None,
        error_parser=None,
        request_id: str | None = None,
    ) -> requests.Response:
        """Send one logical request with retries; return the successful response or raise a typed error.

        ``auth(force_refresh[, claims])`` returns a bearer token; a 401 triggers one forced re-acquisition and one
        retry (the token may have expired on the service's clock or been revoked); a continuous-access-evaluation
        challenge (``error="insufficient_claims", claims="<base64>"``) passes its decoded claims to ``auth``.
        ``error_parser(response)`` turns a final failure into an exception."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        request_id = request_id or str(uuid.uuid4())
        attempt = 0
        refreshed = force_refresh = False
        claims = None
        while True:
            attempt += 1
            hdrs = dict(headers or {})
            hdrs["client-request-id"] = request_id
            hdrs.setdefault("return-client-request-id", "true")
            if auth is not None:
                token = auth(force_refresh, claims) if claims else auth(force_refresh)
                hdrs["Authorization"] = f"Bearer {token}"
                force_refresh, claims = False, None
            self._count("requests")
            try:
                resp = self.session.request(
                    method,
                    url,
                    headers=hdrs,
                    json=json,
                    data=data,
                    params=params,
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    # An untrusted certificate does not heal by retrying.
                    raise Unreachable(describe_connection_error(exc, url, self.verify)) from None
                # A connect failure never reached the service; anything later may have executed the request.
                never = _never_reached(exc)
                if (idempotent or never) and attempt < self.retry.max_attempts:
                    self._count("retries")
                    self.sleep(self.retry.backoff(attempt))
                    continue
                if never:
                    raise Unreachable(describe_connection_error(exc, url, self.verify)) from None
                raise Transient(
                    f"{method} {urlsplit(url).path}: {describe_connection_error(exc, url)}",
                    api="transport",
                    client_request_id=request_id,
                ) from None
            for obs in list(self.observers):
                obs.observe(resp)
            status = resp.status_code
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s -> %s client-request-id=%s %.0f ms",
                    method,
                    urlsplit(url).path,
                    status,
                    request_id,
                    resp.elapsed.total_seconds() * 1000,
                )
            if status == 401 and auth is not None and not refreshed:
                refreshed = force_refresh = True
                claims = claims_challenge(resp.headers.get("WWW-Authenticate"))
                attempt -= 1  # the re-acquisition is not a retry of the operation
                continue
            if status < 400:
                return resp
            retry_after = retry_after_seconds(resp.headers)
            throttled = status == 429 or (status == 503 and retry_after is not None)
            if throttled:
                self._count("throttled")
            retryable = throttled or (status in (500, 502, 503, 504) and idempotent)
            if retryable and attempt < self.retry.max_attempts:
                wait = retry_after if retry_after is not None else self.retry.backoff(attempt)
                if wait <= self.retry.max_retry_after:
                    self._count("retries")
                    log.debug("retrying %s %s after %s (status %s, attempt %s)", method, url, wait, status, attempt)
                    self.sleep(wait)
                    continue
            if error_parser is not None:
                raise error_parser(resp)
            if throttled:
                raise Throttled(
                    f"{method} {url}: HTTP {status}",
                    status=status,
                    retry_after=retry_after,
                    client_request_id=request_id,
                )
            raise Transient(f"{method} {url}: HTTP {status}", status=status, client_request_id=request_id)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()


_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*"([^"]*)"')


def claims_challenge(www_authenticate: str | None) -> str | None:
    """The decoded ``claims`` JSON of a continuous-access-evaluation challenge (``WWW-Authenticate: Bearer ...
    error="insufficient_claims", claims="<base64>"``), or None for any other 401."""
    if not www_authenticate or "insufficient_claims" not in www_authenticate:
        return None
    params = {k.lower(): v for k, v in _CHALLENGE_PARAM.findall(www_authenticate)}
    if params.get("error") != "insufficient_claims" or not params.get("claims"):
        return None
    raw = params["claims"]
    try:
        return base64.b64decode(
            raw + "=" * (-len(raw) % 4), altchars=b"-_" if "-" in raw or "_" in raw else None
        ).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _never_reached(exc: Exception) -> bool:
    """True when the request provably never reached the service (connect refused/timed out), so replaying
    even a non-idempotent cmdlet cannot run it twice."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        inner = inner.reason
    return isinstance(inner, NewConnectionError)


class VerifyingHttpClient:
    """The ``http_client`` handed to MSAL: the shared Session with ``verify=`` forced on each call, so
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` in the environment cannot silently replace the mock's CA."""

    def __init__(self, transport: Transport, *, origin: str | None = None):
        self.transport = transport
        self.origin = urlsplit(origin) if origin else None

    def _url(self, url: str) -> str:
        # MSAL builds its user-realm discovery URL from the authority's host name alone, dropping a
        # non-default port: a local authority (the mock on 127.0.0.1:<port>) needs the port put back.
        if self.origin is None or not isinstance(url, str) or self.origin.port is None:
            return url
        parts = urlsplit(url)
        if parts.hostname == self.origin.hostname and parts.port is None and parts.scheme == self.origin.scheme:
            return urlunsplit(parts._replace(netloc=self.origin.netloc))
        return url

    def _kw(self, kwargs: dict) -> dict:
        kwargs = dict(kwargs)
        kwargs["verify"] = self.transport.verify
        kwargs.setdefault("timeout", self.transport.timeout)
        return kwargs

    def _send(self, method: str, url: str, **kwargs):
        url = self._url(url)
        try:
            resp = self.transport.session.request(method, url, **self._kw(kwargs))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unreachable(describe_connection_error(exc, url, self.transport.verify)) from None
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s -> %s %.0f ms", method, urlsplit(url).path, resp.status_code, resp.elapsed.total_seconds() * 1000
            )
        return resp

    def get(self, url, params=None, headers=None, **kwargs):
        """MSAL's GET (OIDC discovery, JWKS)."""
        return self._send("GET", url, params=params, headers=headers, **kwargs)

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        """MSAL's POST (token and device-code endpoints)."""
        return self._send("POST", url, params=params, data=data, headers=headers, **kwargs)

    def close(self):
        """Nothing to close: the transport owns the Session."""
