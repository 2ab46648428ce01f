"""The emulated on-premises AD as an LDAP directory information tree (what a domain controller answers over
LDAP for one domain): the tenant's AD users under their OUs, the containers above them, the service account
the LDAP port authenticates, and the bind/search/modify/add/delete/modify-DN rules applied to the same
:class:`~.onprem.ADUser` objects the control plane and Entra Connect use. No wire format here: the listener in
``hybridsoa.mock.api.onprem.ldap`` decodes requests into these calls and encodes what they return."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field

from ..errors import Conflict, DomainError, InvalidArgument, NotFound
from . import ad_admin
from .ad import ADUser

#: LDAP result codes (RFC 4511 section 4.1.9) the directory answers with.
SUCCESS = 0
OPERATIONS_ERROR = 1
PROTOCOL_ERROR = 2
SIZE_LIMIT_EXCEEDED = 4
AUTH_METHOD_NOT_SUPPORTED = 7
REFERRAL = 10
UNAVAILABLE_CRITICAL_EXTENSION = 12
NO_SUCH_ATTRIBUTE = 16
UNDEFINED_ATTRIBUTE_TYPE = 17
CONSTRAINT_VIOLATION = 19
ATTRIBUTE_OR_VALUE_EXISTS = 20
INVALID_ATTRIBUTE_SYNTAX = 21
NO_SUCH_OBJECT = 32
INVALID_DN_SYNTAX = 34
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
UNWILLING_TO_PERFORM = 53
NAMING_VIOLATION = 64
OBJECT_CLASS_VIOLATION = 65
NOT_ALLOWED_ON_NON_LEAF = 66
NOT_ALLOWED_ON_RDN = 67
ENTRY_ALREADY_EXISTS = 68

#: AD's MaxPageSize default: the most entries one search answer (or one page) carries.
MAX_PAGE_SIZE = 1000
#: Paged searches a connection may keep open at once (AD's MaxResultSetsPerConn default is 10).
MAX_PAGED_SEARCHES = 10
#: The account the LDAP port authenticates (one per tenant), in AD's default Users container.
SERVICE_ACCOUNT = "hybridsoa-ldap"

#: AD's well-known diagnostic texts (see docs/fidelity.md, "On-prem AD over LDAP").
BIND_REQUIRED_TEXT = (
    "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful "
    "bind must be completed on the connection., data 0, v4563"
)
BAD_CREDENTIALS_TEXT = "80090308: LdapErr: DSID-0C090439, comment: AcceptSecurityContext error, data 52e, v4563"

_USER_CLASSES = ("top", "person", "organizationalPerson", "user")
_OU_CLASSES = ("top", "organizationalUnit")
_CONTAINER_CLASSES = ("top", "container")
_DOMAIN_CLASSES = ("top", "domain", "domainDNS")
#: Attributes AD keeps itself (or the mock derives) and that LDAP writes cannot set.
_SYSTEM = frozenset(
    a.lower()
    for a in (
        "objectClass",
        "objectCategory",
        "objectGUID",
        "distinguishedName",
        "name",
        "whenCreated",
        "whenChanged",
        "uSNChanged",
        "uSNCreated",
        "sAMAccountName",
    )
)
_BINARY = frozenset(("objectguid", "ms-ds-consistencyguid"))
_INTEGER_ATTRIBUTES = frozenset(n.lower() for n, k in ad_admin.ATTRIBUTE_TYPES.items() if k == "int") | {"usnchanged"}
_BIT_AND, _BIT_OR = "1.2.840.113556.1.4.803", "1.2.840.113556.1.4.804"


class DirectoryError(DomainError):
    """An LDAP operation refused with an RFC 4511 result code (the listener renders ``code`` and ``message``)."""

    def __init__(self, code: int, message: str = "", *, matched_dn: str = "", **details):
        super().__init__(message, **details)
        self.code = code
        self.matched_dn = matched_dn


def matched_dn_for(exc: DomainError) -> str:
    """The matchedDN of an LDAP result for a domain error (only the directory's own errors name one)."""
    return exc.matched_dn if isinstance(exc, DirectoryError) else ""


def result_code_for(exc: DomainError) -> int:
    """The LDAP result code of a domain error raised by the AD rules the control plane shares."""
    if isinstance(exc, DirectoryError):
        return exc.code
    if isinstance(exc, NotFound):
        return NO_SUCH_OBJECT
    if isinstance(exc, Conflict):
        return ENTRY_ALREADY_EXISTS if exc.details.get("attribute") == "sAMAccountName" else CONSTRAINT_VIOLATION
    if isinstance(exc, InvalidArgument):
        return CONSTRAINT_VIOLATION
    return UNWILLING_TO_PERFORM


# ------------------------------------------------------------------------------------------------- DNs
def parse_dn(dn: str) -> tuple[tuple[str, str], ...]:
    """A DN as (attribute, value) pairs, attribute lower-cased; RFC 4514 escapes resolved. InvalidDNSyntax when
    it is not a DN."""
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn as _parse

    if not dn:
        return ()
    if len(dn) > 4096:
        raise DirectoryError(INVALID_DN_SYNTAX, "The DN is longer than the directory accepts.")
    try:
        parts = _parse(dn, escape=False, strip=True)
    except (LDAPInvalidDnError, ValueError, IndexError, TypeError):
        raise DirectoryError(INVALID_DN_SYNTAX, f"invalid DN syntax: '{dn}'") from None
    out = []
    for attr, value, _sep in parts:
        if not attr or not value:
            raise DirectoryError(INVALID_DN_SYNTAX, f"invalid DN syntax: '{dn}'")
        out.append((attr.strip().lower(), _unescape(value.strip())))
    return tuple(out)


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    raw = bytearray()
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                raw.append(int(pair, 16))
                i += 3
                continue
            out.append(raw.decode("utf-8", "replace")) if raw else None
            raw.clear()
            out.append(value[i + 1])
            i += 2
            continue
        if raw:
            out.append(raw.decode("utf-8", "replace"))
            raw.clear()
        out.append(ch)
        i += 1
    if raw:
        out.append(raw.decode("utf-8", "replace"))
    return "".join(out)


def dn_key(dn: str) -> tuple:
    """A comparable form of a DN: attribute names and values case-insensitive (AD's DN matching)."""
    return tuple((a, v.lower()) for a, v in parse_dn(dn))


def _escape_rdn_value(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


# ----------------------------------------------------------------------------------------- the account
def base_dn(tenant) -> str:
    """The domain's naming context (``DC=<name>,DC=local``)."""
    from ..seed import ad_base_dn

    return ad_base_dn(tenant)


def bind_dn(tenant) -> str:
    """The DN of the tenant's LDAP service account."""
    return f"CN={SERVICE_ACCOUNT},CN=Users,{base_dn(tenant)}"


def bind_password(tenant) -> str:
    """The service account's password: derived from the tenant's signing key, so stable across restarts and
    reset, and not guessable from the tenant id."""
    digest = hmac.new(tenant.signing_key_pem.encode(), b"hybridsoa-ldap-service-account", hashlib.sha256)
    return "Ld!" + base64.urlsafe_b64encode(digest.digest()[:18]).decode()


def netbios_name(tenant) -> str:
    """The domain's NetBIOS name (``DOMAIN`` in ``DOMAIN\\user``): the tenant name without dashes, upper case,
    at most 15 characters."""
    return tenant.name.replace("-", "").upper()[:15]


def onprem_document(tenant, ldap_url: str | None) -> dict:
    """The ``onprem`` part of a tenant's credentials: where and as whom to reach its AD over LDAP."""
    return {
        "ldapUrl": ldap_url,
        "baseDn": base_dn(tenant),
        "bindDn": bind_dn(tenant),
        "userPrincipalName": f"{SERVICE_ACCOUNT}@{tenant.domain}",
        "password": bind_password(tenant),
    }


def authenticate(registry, name: str, password: str):
    """Simple bind: the tenant whose service account this DN (or UPN) and password name. Bad names and bad
    passwords fail alike (AD's ``data 52e``), so a bind cannot probe which tenants exist."""
    if not password:
        # RFC 4513 5.1.2: an unauthenticated bind (name, no password) is refused rather than made anonymous.
        raise DirectoryError(UNWILLING_TO_PERFORM, "DSID-0C090285, comment: unauthenticated binds are not allowed")
    wanted = None
    if "\\" in name and "=" not in name:
        wanted = ("netbios", name.strip().lower())
    elif "@" in name and "=" not in name:
        wanted = ("upn", name.strip().lower())
    else:
        try:
            wanted = ("dn", dn_key(name))
        except DirectoryError:
            wanted = None
    if wanted is not None:
        # The bind name picks the tenant from names and domains alone (the registry's directory, which loads
        # nothing): only a tenant the name matches is loaded, to check the password against it.
        for tenant_id, tenant_name, domain in registry.directory():
            named = _Named(tenant_name, domain)
            if wanted[0] == "upn":
                match = wanted[1] == f"{SERVICE_ACCOUNT}@{domain}".lower()
            elif wanted[0] == "netbios":
                match = wanted[1] == f"{netbios_name(named)}\\{SERVICE_ACCOUNT}".lower()
            else:
                match = wanted[1] == dn_key(bind_dn(named))
            tenant = registry.find(tenant_id) if match else None
            if tenant is not None and hmac.compare_digest(password.encode(), bind_password(tenant).encode()):
                return tenant
    raise DirectoryError(INVALID_CREDENTIALS, BAD_CREDENTIALS_TEXT)


@dataclass
class _Named:
    """A tenant's name and domain, all the service account's DN, UPN and NetBIOS name derive from."""

    name: str
    domain: str


# ---------------------------------------------------------------------------------------------- entries
@dataclass
class Entry:
    """One directory object as LDAP shows it: DN and attributes (canonical name -> list of str/bytes)."""

    dn: str
    attributes: dict
    user: ADUser | None = None
    key: tuple = field(default=())


def _generalized(ts: float) -> str:
    return time.strftime("%Y%m%d%H%M%S.0Z", time.gmtime(ts))


def _guid_bytes(guid: str) -> bytes:
    try:
        return uuid.UUID(guid).bytes_le
    except ValueError:
        return guid.encode()


def _ldap_values(name: str, value) -> list:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, bool):
        return ["TRUE" if value else "FALSE"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v not in (None, "")]
    if name == "mS-DS-ConsistencyGuid":
        try:
            return [base64.b64decode(value)]
        except (binascii.Error, ValueError):
            return []
    return [str(value)]


def user_entry(tenant, ad: ADUser) -> Entry:
    """An AD user as LDAP returns it (AD's syntaxes: Boolean TRUE/FALSE, octet-string GUIDs, GeneralizedTime)."""
    dn = ad.distinguished_name
    attrs: dict = {
        "objectClass": list(_USER_CLASSES),
        "objectCategory": [f"CN=Person,CN=Schema,CN=Configuration,{base_dn(tenant)}"],
    }
    for name, value in ad.attrs.items():
        values = _ldap_values(name, value)
        if values:
            attrs[name] = values
    cn = ad.attrs.get("cn") or ad.attrs.get("displayName") or ad.sam_account_name
    attrs.update(
        {
            "cn": [cn],
            "name": [cn],
            "distinguishedName": [dn],
            "sAMAccountName": [ad.sam_account_name],
            "objectGUID": [_guid_bytes(ad.object_guid)],
            "mS-DS-ConsistencyGuid": _ldap_values("mS-DS-ConsistencyGuid", ad.consistency_guid),
            "whenCreated": [_generalized(ad.when_created)],
            "whenChanged": [_generalized(ad.when_changed)],
            "uSNChanged": [str(tenant.ad_users.seq(ad.sam_account_name.lower()))],
        }
    )
    return Entry(dn=dn, attributes=attrs, user=ad)


def _container_entry(dn: str, base: str) -> Entry:
    first_attr, first_value = parse_dn(dn)[0]
    if dn_key(dn) == dn_key(base):
        attrs = {"objectClass": list(_DOMAIN_CLASSES), "dc": [first_value], "name": [first_value]}
    elif first_attr == "ou":
        attrs = {"objectClass": list(_OU_CLASSES), "ou": [first_value], "name": [first_value]}
    else:
        attrs = {"objectClass": list(_CONTAINER_CLASSES), "cn": [first_value], "name": [first_value]}
    attrs["distinguishedName"] = [dn]
    return Entry(dn=dn, attributes=attrs, key=dn_key(dn))


_INDEX: weakref.WeakKeyDictionary = None  # set below (tenant -> (stamp, containers, users))
_INDEX_LOCK = threading.Lock()


class Tree:
    """One tenant's directory for one operation (built under the tenant lock). Containers are built at once;
    users are indexed by DN and rendered as entries only when an operation looks at them."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.base = base_dn(tenant)
        self.base_key = dn_key(self.base)
        self._rendered: dict[tuple, Entry] = {}
        users = tenant.ad_users
        # The DN index changes only when a user is added, changed, moved or deleted, each of which moves the
        # collection's change sequence: rebuild it then, not for every lookup of a large directory.
        stamp = (id(users), users.current_seq(), len(users))
        with _INDEX_LOCK:
            cached = _INDEX.get(tenant)
        if cached is not None and cached[0] == stamp:
            self._containers, self._users = cached[1], cached[2]
            return
        self._containers, self._users = self._index(tenant)
        with _INDEX_LOCK:
            _INDEX[tenant] = (stamp, self._containers, self._users)

    def _index(self, tenant) -> tuple[dict, dict]:
        from ..seed import default_ous

        containers_by_key: dict[tuple, Entry] = {}
        users_by_key: dict[tuple, ADUser] = {}
        ou_keys: dict[str, tuple | None] = {}
        containers = {self.base, f"CN=Users,{self.base}", *default_ous(tenant).values()}
        users = tenant.ad_users.values()
        for ad in users:
            containers.add(ad.ou)
        for dn in list(containers):
            # Every container between an OU and the domain root exists too.
            parts = dn.split(",")
            for i in range(1, len(parts)):
                parent = ",".join(parts[i:])
                if len(parent) >= len(self.base):
                    containers.add(parent)
        n = len(self.base_key)
        for dn in containers:
            try:
                key = dn_key(dn)
            except DirectoryError:
                continue
            if key[-n:] == self.base_key:
                containers_by_key.setdefault(key, _container_entry(dn, self.base))
        for ad in users:
            ou = ad.ou
            if ou not in ou_keys:
                try:
                    ou_keys[ou] = dn_key(ou)
                except DirectoryError:
                    ou_keys[ou] = None
            parent = ou_keys[ou]
            if parent is None or parent[-n:] != self.base_key:
                continue
            cn = ad.attrs.get("cn") or ad.attrs.get("displayName") or ad.sam_account_name
            users_by_key.setdefault((("cn", str(cn).lower()),) + parent, ad)
        return containers_by_key, users_by_key

    def lookup(self, key: tuple) -> Entry | None:
        """The entry with this DN key, or None."""
        entry = self._containers.get(key) or self._rendered.get(key)
        if entry is None:
            ad = self._users.get(key)
            if ad is not None:
                entry = user_entry(self.tenant, ad)
                entry.key = key
                self._rendered[key] = entry
        return entry

    def keys(self) -> list[tuple]:
        """Every DN key, containers first."""
        return [*self._containers, *self._users]

    def user_keys(self, sams) -> list[tuple]:
        """DN keys of the users with these (lower-case) sAMAccountNames (the equality fast path)."""
        wanted = {s.lower() for s in sams}
        return [k for k, ad in self._users.items() if ad.sam_account_name.lower() in wanted]

    def get(self, dn: str) -> Entry:
        """The entry at ``dn`` or NoSuchObject (with the closest existing ancestor as matchedDN)."""
        key = dn_key(dn)
        entry = self.lookup(key)
        if entry is not None:
            return entry
        matched = ""
        for i in range(1, len(key)):
            parent = self.lookup(key[i:])
            if parent is not None:
                matched = parent.dn
                break
        raise DirectoryError(
            NO_SUCH_OBJECT,
            f"0000208D: NameErr: DSID-0310028D, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'{matched}'\n",
            matched_dn=matched,
        )

    def scope(self, base: str, scope: int, flt: Filter | None = None) -> list[tuple]:
        """DN keys in ``scope`` (0 base, 1 one level, 2 subtree) of ``base`` matching ``flt`` (True, not
        Undefined), base first, then in tree order."""
        root = self.get(base)
        if scope == 0:
            candidates = [root.key]
        else:
            n = len(root.key)
            sams = _equality_sams(flt) if flt is not None else None
            pool = [*self._containers, *self.user_keys(sams)] if sams is not None else self.keys()
            candidates = [root.key] if scope == 2 else []
            candidates += [k for k in pool if len(k) > n and k[-n:] == root.key and (scope == 2 or len(k) == n + 1)]
        if flt is None:
            return candidates
        return [k for k in candidates if matches(flt, self.lookup(k)) is True]

    def has_children(self, key: tuple) -> bool:
        """Whether any entry sits below ``key``."""
        n = len(key)
        return any(len(k) > n and k[-n:] == key for k in self.keys())


_INDEX = weakref.WeakKeyDictionary()


def _equality_sams(flt) -> set | None:
    """sAMAccountNames a filter can only match (an equality on sAMAccountName, possibly inside an AND), so a
    lookup by name does not render every user; None when the filter does not pin one."""
    if flt.kind == "eq" and flt.attribute.lower() == "samaccountname":
        return {_text(flt.value).lower()}
    if flt.kind == "and":
        found = None
        for child in flt.children:
            sams = _equality_sams(child)
            if sams is not None:
                found = sams if found is None else found & sams
        return found
    return None


# ----------------------------------------------------------------------------------------------- filters
@dataclass
class Filter:
    """A search filter (RFC 4515) as the wire layer decoded it."""

    kind: str  # and, or, not, eq, sub, ge, le, present, approx, ext
    children: list = field(default_factory=list)
    attribute: str = ""
    value: bytes = b""
    initial: bytes | None = None
    any: list = field(default_factory=list)
    final: bytes | None = None
    rule: str = ""


def _known_attribute(name: str) -> bool:
    lowered = name.lower()
    return lowered in _KNOWN or lowered.startswith(("extensionattribute", "msexchextensioncustomattribute"))


_KNOWN = frozenset(
    {n.lower() for n in ad_admin.ATTRIBUTE_TYPES}
    | {
        "objectclass",
        "objectcategory",
        "distinguishedname",
        "name",
        "samaccountname",
        "objectguid",
        "ms-ds-consistencyguid",
        "whencreated",
        "whenchanged",
        "usnchanged",
        "dc",
        "ou",
        "cn",
    }
)


def _values(entry: Entry, name: str) -> list | None:
    lowered = name.lower()
    for key, values in entry.attributes.items():
        if key.lower() == lowered:
            return values
    return None


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _equal(name: str, stored, asserted: bytes, entry: Entry) -> bool:
    lowered = name.lower()
    if lowered in _BINARY:
        return (stored if isinstance(stored, bytes) else str(stored).encode()) == asserted
    text = _text(asserted)
    if lowered == "objectcategory":
        # AD matches objectCategory=person against the category's DN (its defaultObjectCategory shortcut).
        return text.lower() in (_text(stored).lower(), _text(stored).split(",")[0][3:].lower())
    if lowered == "distinguishedname":
        try:
            return dn_key(text) == dn_key(_text(stored))
        except DirectoryError:
            return False
    if lowered in _INTEGER_ATTRIBUTES:
        try:
            return int(_text(stored)) == int(text)
        except ValueError:
            return False
    return _text(stored).lower() == text.lower()


def matches(f: Filter, entry: Entry):
    """Three-valued filter evaluation (RFC 4511 4.5.1.7): True, False or None (Undefined)."""
    kind = f.kind
    if kind == "and":
        result = True
        for child in f.children:
            r = matches(child, entry)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    if kind == "or":
        result = False
        for child in f.children:
            r = matches(child, entry)
            if r is True:
                return True
            if r is None:
                result = None
        return result
    if kind == "not":
        r = matches(f.children[0], entry)
        return None if r is None else not r
    if not _known_attribute(f.attribute) and kind != "ext":
        return None
    values = _values(entry, f.attribute) if f.attribute else None
    if kind == "present":
        return bool(values)
    if not values:
        return False
    if kind in ("eq", "approx"):
        return any(_equal(f.attribute, v, f.value, entry) for v in values)
    if kind in ("ge", "le"):
        lowered = f.attribute.lower()
        for v in values:
            if lowered in _INTEGER_ATTRIBUTES:
                try:
                    a, b = int(_text(v)), int(_text(f.value))
                except ValueError:
                    continue
            else:
                a, b = _text(v).lower(), _text(f.value).lower()
            if (a >= b) if kind == "ge" else (a <= b):
                return True
        return False
    if kind == "sub":
        for v in values:
            text = _text(v).lower()
            pos = 0
            if f.initial is not None:
                head = _text(f.initial).lower()
                if not text.startswith(head):
                    continue
                pos = len(head)
            ok = True
            for piece in f.any:
                piece = _text(piece).lower()
                found = text.find(piece, pos)
                if found < 0:
                    ok = False
                    break
                pos = found + len(piece)
            if ok and f.final is not None:
                tail = _text(f.final).lower()
                ok = len(text) - pos >= len(tail) and text.endswith(tail)
            if ok:
                return True
        return False
    if kind == "ext":
        if f.rule not in (_BIT_AND, _BIT_OR) or not f.attribute:
            return None
        try:
            mask = int(_text(f.value))
        except ValueError:
            return False
        for v in values:
            try:
                number = int(_text(v))
            except ValueError:
                continue
            if (number & mask == mask) if f.rule == _BIT_AND else (number & mask != 0):
                return True
        return False
    return None


def select(entry: Entry, requested: list[str]) -> list[tuple[str, list]]:
    """The attributes a search returns for ``requested`` (RFC 4511 4.5.1.8: none or ``*`` = all user attributes;
    ``1.1`` alone = none; unknown names are ignored)."""
    names = [r for r in requested if r]
    if names == ["1.1"]:
        return []
    everything = not names or "*" in names
    wanted = {n.lower() for n in names}
    return [
        (name, values) for name, values in entry.attributes.items() if values and (everything or name.lower() in wanted)
    ]
