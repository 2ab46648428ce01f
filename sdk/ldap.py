"""The on-premises directory over LDAP (a domain controller, or the mock's ``--ldap-port``), on ldap3.

Why ldap3: it is pure Python (no OpenLDAP/SASL C headers to build on an admin's Windows jump host), does LDAPS
and StartTLS through :mod:`ssl` (so the CA can be pinned exactly like the HTTPS clients do), NTLM (``DOMAIN\\user``
binds, AD's everyday case) and Kerberos via the optional ``gssapi`` package, and the Simple Paged Results
control AD needs above its 1000-entry MaxPageSize. python-ldap would add a C build dependency for no feature
the SOA workflows use.

:class:`LdapDirectory` implements :class:`~hybridsoa.sdk.onprem.OnPremDirectory`: users are read with a paged subtree
search under the base DN, attributes of the SOA attribute table are decoded from AD's syntaxes (Boolean
``TRUE``/``FALSE``, multi-valued ``proxyAddresses`` and ``msExchExtensionCustomAttribute*``, octet-string
``objectGUID``/``mS-DS-ConsistencyGuid`` shown as the GUID string / base64 ImmutableId), and writes are one
Modify with ``replace``/``delete`` changes for the attributes that really differ."""

from __future__ import annotations

import base64
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from . import soa_attributes as soa
from .errors import (
    ApiError,
    AuthenticationFailed,
    ConfigError,
    Conflict,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    Transient,
    parse_graph_error,
)
from .onprem import ATTRIBUTE_MAP, MockOnPremDirectory, OnPremDirectory

#: The attributes read for every user: identity/anchor attributes plus every AD attribute of the SOA table.
USER_ATTRIBUTES = (
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "distinguishedName",
    "objectGUID",
    "mS-DS-ConsistencyGuid",
    "msExchRecipientTypeDetails",
    *ATTRIBUTE_MAP.values(),
)
#: AD attributes that hold several values (everything else in the table is single-valued).
MULTI_VALUED = frozenset(a.ad for a in soa.COMPARED if a.kind in (soa.ADDRESSES, soa.MULTI))
#: AD attributes of Boolean syntax (``TRUE``/``FALSE`` on the wire).
BOOLEAN = frozenset(a.ad for a in soa.COMPARED if a.kind == soa.FLAG)
#: Octet-string GUIDs: objectGUID shown as a GUID string, the source anchor as base64 (= onPremisesImmutableId).
GUIDS = frozenset(("objectGUID", "mS-DS-ConsistencyGuid"))
#: Integer syntax.
INTEGERS = frozenset(("msExchRecipientTypeDetails", "msExchRecipientDisplayType", "userAccountControl"))
#: AD's MaxPageSize default; the SDK asks for pages of this size.
PAGE_SIZE = 1000
USER_FILTER = "(&(objectCategory=person)(objectClass=user))"


class DirectoryReferral(ApiError):
    """The domain controller answered with a referral: the object lives in another domain or naming context
    (the base DN points outside this DC's partitions). ``referrals`` lists the LDAP URLs it named."""

    def __init__(self, message: str, *, referrals: list[str] | None = None, **kw):
        super().__init__(message, **kw)
        self.referrals = list(referrals or [])


#: LDAP result code (RFC 4511) -> SDK error class. Anything else is an ApiError with the code.
_ERRORS = {
    32: NotFound,
    49: AuthenticationFailed,
    48: AuthenticationFailed,
    8: AuthenticationFailed,
    7: AuthenticationFailed,
    50: PermissionDenied,
    16: InvalidParameter,
    17: InvalidParameter,
    19: InvalidParameter,
    21: InvalidParameter,
    34: InvalidParameter,
    64: InvalidParameter,
    65: InvalidParameter,
    67: InvalidParameter,
    20: Conflict,
    68: Conflict,
    53: PermissionDenied,
    51: Transient,
    52: Transient,
    80: Transient,
    1: PermissionDenied,
}


def error_from_result(result: dict, action: str) -> ApiError:
    """A typed SDK error from an ldap3 result dict (``result``, ``description``, ``message``, ``referrals``)."""
    code = int(result.get("result") or 0)
    name = result.get("description") or str(code)
    text = (result.get("message") or "").strip()
    message = f"{action}: {name} ({code})" + (f": {text}" if text else "")
    if code == 10 or result.get("referrals"):
        return DirectoryReferral(message, status=code, code=name, referrals=result.get("referrals"))
    return _ERRORS.get(code, ApiError)(message, status=code, code=name)


@dataclass(repr=False)
class LdapSettings:
    """Where and how to bind: ``ldap[s]://host[:port]``, the base DN, a bind name (DN, UPN or ``DOMAIN\\user``)
    and its password, the CA bundle to pin, StartTLS on an ``ldap://`` URL, and the authentication kind."""

    url: str
    base_dn: str
    bind_dn: str | None = None
    password: str | None = None
    ca_bundle: str | None = None
    start_tls: bool = False
    auth: str = "simple"  # simple | ntlm | kerberos
    timeout: float = 30.0
    page_size: int = PAGE_SIZE

    def __repr__(self) -> str:
        return (
            f"LdapSettings(url={self.url!r}, base_dn={self.base_dn!r}, bind_dn={self.bind_dn!r}, "
            f"password={'***' if self.password else None}, auth={self.auth!r})"
        )


def _import_ldap3():
    try:
        import ldap3
    except ImportError:  # pragma: no cover - ldap3 is a declared dependency
        raise ConfigError("the LDAP directory needs the ldap3 package (pip install hybridsoa)") from None
    return ldap3


class LdapDirectory(OnPremDirectory):
    """:class:`OnPremDirectory` over LDAP (AD domain controller or the mock's LDAP port)."""

    def __init__(self, settings: LdapSettings):
        self.settings = settings
        self._conn = None
        self._lock = threading.Lock()
        self._dn_by_sam: dict[str, str] = {}
        parts = urlsplit(settings.url)
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ConfigError(f"the LDAP URL must be ldap://host[:port] or ldaps://host[:port], not {settings.url!r}")
        if parts.scheme == "ldap" and not settings.start_tls and settings.auth == "simple" and settings.password:
            raise ConfigError(
                "refusing a simple bind with a password over plain ldap://; use ldaps:// or --ldap-start-tls"
            )
        if not settings.base_dn:
            raise ConfigError("an LDAP base DN is required (--ldap-base-dn or HYBRIDSOA_LDAP_BASE_DN)")
        self._host, self._port = parts.hostname, parts.port or (636 if parts.scheme == "ldaps" else 389)
        self._ssl = parts.scheme == "ldaps"

    # ------------------------------------------------------------------------------------ connection
    def _tls(self):
        ldap3 = _import_ldap3()
        # CERT_REQUIRED with the pinned CA (or the system store): a DC's certificate is always checked.
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=self.settings.ca_bundle,
            version=ssl.PROTOCOL_TLS_CLIENT,
            valid_names=[self._host],
        )

    def connection(self):
        """The bound ldap3 connection (opened, StartTLS'd and bound on first use)."""
        if self._conn is not None and self._conn.bound:
            return self._conn
        ldap3 = _import_ldap3()
        s = self.settings
        server = ldap3.Server(
            self._host,
            port=self._port,
            use_ssl=self._ssl,
            tls=self._tls() if (self._ssl or s.start_tls) else None,
            get_info=ldap3.NONE,
            connect_timeout=max(1, int(min(s.timeout, 15))),
        )
        kind = (s.auth or "simple").lower()
        kwargs = {"user": s.bind_dn, "password": s.password}
        if kind == "ntlm":
            kwargs["authentication"] = ldap3.NTLM
        elif kind == "kerberos":
            try:
                import gssapi  # noqa: F401  (ldap3's Kerberos bind imports it itself)
            except ImportError:
                raise ConfigError(
                    "Kerberos binds need the gssapi package (pip install 'hybridsoa[kerberos]') and a ticket (kinit)"
                ) from None
            kwargs = {"authentication": ldap3.SASL, "sasl_mechanism": ldap3.KERBEROS}
        elif kind == "simple":
            kwargs["authentication"] = ldap3.SIMPLE if s.bind_dn else ldap3.ANONYMOUS
        else:
            raise ConfigError(f"unknown LDAP authentication {s.auth!r} (simple, ntlm or kerberos)")
        conn = ldap3.Connection(
            server,
            auto_bind=ldap3.AUTO_BIND_NONE,
            raise_exceptions=False,
            receive_timeout=max(1, int(s.timeout)),
            auto_referrals=False,
            read_only=False,
            return_empty_attributes=False,
            **kwargs,
        )
        try:
            conn.open()
            if s.start_tls and not self._ssl and not conn.start_tls():
                raise error_from_result(conn.result or {}, "StartTLS")
            if not conn.bind():
                raise error_from_result(conn.result or {}, f"bind to {self._host}")
        except ApiError:
            conn.unbind()
            raise
        except ldap3.core.exceptions.LDAPSocketOpenError as exc:
            raise Transient(f"cannot reach {s.url}: {exc}") from None
        except ldap3.core.exceptions.LDAPStartTLSError as exc:
            raise Transient(f"StartTLS with {s.url} failed: {exc}") from None
        except ldap3.core.exceptions.LDAPException as exc:
            raise Transient(f"LDAP error talking to {s.url}: {exc}") from None
        self._conn = conn
        return conn

    def close(self) -> None:
        """Unbind and close the socket."""
        if self._conn is not None:
            try:
                self._conn.unbind()
            finally:
                self._conn = None

    def __enter__(self) -> LdapDirectory:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------- reads
    def _search(
        self, search_filter: str, *, base: str | None = None, attributes=USER_ATTRIBUTES, size_limit: int = 0
    ) -> Iterator[tuple[str, dict]]:
        ldap3 = _import_ldap3()
        cookie = None
        while True:
            with self._lock:
                conn = self.connection()
                try:
                    ok = conn.search(
                        base or self.settings.base_dn,
                        search_filter,
                        search_scope=ldap3.SUBTREE,
                        attributes=list(attributes),
                        paged_size=self.settings.page_size,
                        paged_cookie=cookie,
                        size_limit=size_limit,
                    )
                except ldap3.core.exceptions.LDAPException as exc:
                    self._conn = None
                    raise Transient(f"LDAP search failed: {exc}") from None
                result = conn.result or {}
                if not ok and result.get("result") not in (0, 4):
                    raise error_from_result(result, f"search under {base or self.settings.base_dn}")
                batch = [
                    (e["dn"], e.get("raw_attributes") or {})
                    for e in conn.response or []
                    if e.get("type") == "searchResEntry"
                ]
                control = (result.get("controls") or {}).get("1.2.840.113556.1.4.319") or {}
                cookie = (control.get("value") or {}).get("cookie")
            # Continuation references (other domains' naming contexts) are not chased: this directory reads
            # the base DN's own partition only.
            yield from batch
            if not cookie:
                return

    @staticmethod
    def decode(dn: str, raw: dict) -> dict:
        """An entry's raw LDAP values in the SDK's shapes (lists for multi-valued, bool, int, GUID strings)."""
        out: dict = {"distinguishedName": dn}
        lowered = {k.lower(): k for k in USER_ATTRIBUTES}
        for name, values in raw.items():
            canonical = lowered.get(name.lower(), name)
            values = list(values or [])
            if canonical == "objectGUID":
                out[canonical] = str(uuid.UUID(bytes_le=bytes(values[0]))) if values and len(values[0]) == 16 else None
            elif canonical == "mS-DS-ConsistencyGuid":
                out[canonical] = base64.b64encode(bytes(values[0])).decode() if values else None
            elif canonical in MULTI_VALUED:
                out[canonical] = [bytes(v).decode("utf-8", "replace") for v in values]
            elif canonical in BOOLEAN:
                out[canonical] = bytes(values[0]).upper() == b"TRUE" if values else None
            elif canonical in INTEGERS:
                try:
                    out[canonical] = int(bytes(values[0])) if values else None
                except ValueError:
                    out[canonical] = bytes(values[0]).decode("utf-8", "replace")
            else:
                out[canonical] = bytes(values[0]).decode("utf-8", "replace") if values else None
        for name in MULTI_VALUED:
            out.setdefault(name, [])
        return out

    def iter_users(self) -> Iterator[dict]:
        """Every user object under the base DN (paged subtree search), decoded."""
        for dn, raw in self._search(USER_FILTER):
            user = self.decode(dn, raw)
            if user.get("sAMAccountName"):
                self._dn_by_sam[user["sAMAccountName"].lower()] = dn
                yield user

    def index(self) -> dict:
        """As :meth:`OnPremDirectory.index`, plus objectGUID as the anchor of users without
        mS-DS-ConsistencyGuid (Entra Connect installs that anchor on objectGUID: ImmutableId = its base64)."""
        out: dict = {}
        for user in self.iter_users():
            anchor = user.get("mS-DS-ConsistencyGuid")
            if not anchor and user.get("objectGUID"):
                anchor = base64.b64encode(uuid.UUID(user["objectGUID"]).bytes_le).decode()
            for key in (
                ("anchor", anchor),
                ("upn", (user.get("userPrincipalName") or "").lower()),
                ("sam", (user.get("sAMAccountName") or "").lower()),
            ):
                if key[1]:
                    out.setdefault(key, user)
        return out

    def get_user(self, sam_account_name: str) -> dict | None:
        """One user by sAMAccountName, or None."""
        ldap3 = _import_ldap3()
        flt = f"(&{USER_FILTER}(sAMAccountName={ldap3.utils.conv.escape_filter_chars(sam_account_name)}))"
        for dn, raw in self._search(flt):
            self._dn_by_sam[sam_account_name.lower()] = dn
            return self.decode(dn, raw)
        return None

    # ---------------------------------------------------------------------------------------- writes
    @staticmethod
    def encode(name: str, value) -> list:
        """A value in AD's wire form: list of strings/bytes; [] clears."""
        if value is None or value == "" or value == []:
            return []
        if name in BOOLEAN:
            return ["TRUE" if value else "FALSE"]
        if name == "mS-DS-ConsistencyGuid":
            return [base64.b64decode(value)]
        if name == "objectGUID":
            return [uuid.UUID(str(value)).bytes_le]
        if isinstance(value, (list, tuple, set)):
            return [str(v) for v in value if v not in (None, "")]
        return [str(value)]

    @staticmethod
    def _same(name: str, old, new) -> bool:
        if name in MULTI_VALUED:
            # AD's proxyAddresses matching is case-insensitive, but the SMTP:/smtp: marker is meaningful.
            key = (
                (lambda v: (v.partition(":")[0], v.partition(":")[2].lower()))
                if name == "proxyAddresses"
                else (lambda v: v)
            )
            return sorted(map(key, old or [])) == sorted(map(key, new or []))
        if name in BOOLEAN:
            return bool(old) == bool(new)
        return (old in (None, "") and new in (None, "")) or str(old) == str(new)

    def changes_for(self, current: dict, attributes: dict) -> dict:
        """The ldap3 ``changes`` of a Modify that turns ``current`` into ``attributes``: ``replace`` for new
        values, ``delete`` (all values) for cleared ones, nothing for what already matches."""
        ldap3 = _import_ldap3()
        changes = {}
        for name, value in attributes.items():
            old = current.get(name)
            if self._same(name, old, value):
                continue
            values = self.encode(name, value)
            if values:
                changes[name] = [(ldap3.MODIFY_REPLACE, values)]
            elif old not in (None, "", []):
                changes[name] = [(ldap3.MODIFY_DELETE, [])]
        return changes

    def update_user(self, sam_account_name: str, attributes: dict) -> dict:
        """One LDAP Modify on the user with only the differing attributes; returns the user as stored after."""
        current = self.get_user(sam_account_name)
        if current is None:
            raise NotFound(
                f"no user with sAMAccountName {sam_account_name!r} under {self.settings.base_dn}",
                status=32,
                code="noSuchObject",
            )
        changes = self.changes_for(current, attributes)
        if changes:
            ldap3 = _import_ldap3()
            with self._lock:
                conn = self.connection()
                try:
                    ok = conn.modify(current["distinguishedName"], changes)
                except ldap3.core.exceptions.LDAPException as exc:
                    self._conn = None
                    raise Transient(f"LDAP modify failed: {exc}") from None
                if not ok:
                    raise error_from_result(conn.result or {}, f"modify {current['distinguishedName']}")
        return self.get_user(sam_account_name) or {}


class _MockSyncFacts:
    """The mock-only sync engine helpers (what an admin reads or starts on the Entra Connect server)."""

    # Supplied by the class this is mixed into: the HTTP transport, the tenant's control-plane URL, its headers.
    transport: Any
    base: str
    headers: dict

    def _control(self, method: str, path: str, json=None):
        resp = self.transport.send(
            method,
            f"{self.base}/{path}",
            json=json,
            headers=self.headers,
            idempotent=method != "POST",
            error_parser=parse_graph_error,
        )
        return resp.json() if resp.content else None

    def sync_settings(self) -> dict:
        """``GET /_mock/tenants/{t}/sync``: connectVersion, interval, scope..."""
        return self._control("GET", "sync") or {}

    def run_sync_cycle(self, policy_type: str = "Delta") -> dict:
        """``POST /_mock/tenants/{t}/sync/cycles`` (Start-ADSyncSyncCycle)."""
        return self._control("POST", "sync/cycles", json={"policyType": policy_type}) or {}


class MockLdapDirectory(_MockSyncFacts, LdapDirectory):
    """:class:`LdapDirectory` on the mock's LDAP port, plus the mock's sync-engine helpers."""

    def __init__(self, settings: LdapSettings, base: str, transport, headers: dict):
        LdapDirectory.__init__(self, settings)
        self.base, self.transport, self.headers = base, transport, headers


def mock_directory(cloud, tenant: str, transport, *, control_token: str | None = None) -> OnPremDirectory:
    """The local cloud's on-prem directory: LDAP to the mock's LDAP port with the account the tenant's
    credentials name (``onprem``), or the HTTP control plane when the mock serves no LDAP port."""
    http = MockOnPremDirectory(cloud, tenant, transport, control_token=control_token)
    creds = http._call("GET", "credentials") or {}
    onprem = creds.get("onprem") or {}
    if not onprem.get("ldapUrl"):
        return http
    settings = LdapSettings(
        url=onprem["ldapUrl"],
        base_dn=onprem["baseDn"],
        bind_dn=onprem["bindDn"],
        password=onprem["password"],
        ca_bundle=cloud.verify if isinstance(cloud.verify, str) else None,
    )
    return MockLdapDirectory(settings, http.base, transport, http.headers)


def settings_from(url: str, base_dn: str, bind_dn: str | None, password: str | None, **kw) -> LdapSettings:
    """:class:`LdapSettings` from CLI/profile values (``ldaps://`` URL with an optional ``?starttls`` query)."""
    start_tls = kw.pop("start_tls", None)
    if start_tls is None:
        start_tls = "starttls" in (urlsplit(url).query or "").lower()
    parts = urlsplit(url)
    clean = f"{parts.scheme}://{parts.netloc}"
    return LdapSettings(
        url=clean, base_dn=unquote(base_dn), bind_dn=bind_dn, password=password, start_tls=bool(start_tls), **kw
    )
