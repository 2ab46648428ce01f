"""The on-premises directory as the SOA workflows see it (drift and reconcile-before-revert), and the Exchange
parameter ↔ AD attribute mapping of the Exchange attributes whose SOA ``IsExchangeCloudManaged`` moves.

:class:`OnPremDirectory` is the interface; :class:`~hybridsoa.sdk.ldap.LdapDirectory` implements it over LDAP (a domain
controller, or the mock's LDAP port: :func:`hybridsoa.sdk.ldap.mock_directory` returns ``MockLdapDirectory`` for the
local cloud, so the mock exercises the code real admins run). :class:`MockOnPremDirectory` implements it over the
mock's HTTP control plane (``/_mock/tenants/{t}/onprem/users``) and is used only when the mock serves no LDAP
port."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from urllib.parse import quote

from . import soa_attributes as soa
from .errors import ApiError, NotFound, parse_graph_error

#: Exchange (Get-Mailbox) property -> AD attribute, for the attributes compared by drift and copied by reconcile
#: (the SOA table's COMPARED rows). PrimarySmtpAddress maps to ``mail`` (WindowsEmailAddress is the same value in
#: Exchange Online).
ATTRIBUTE_MAP: dict[str, str] = {a.name: a.ad for a in soa.COMPARED}
MULTI_VALUED = frozenset(a.name for a in soa.COMPARED if a.kind in (soa.ADDRESSES, soa.MULTI))
BOOLEAN = frozenset(a.name for a in soa.COMPARED if a.kind == soa.FLAG)
#: Compared case-insensitively (addresses and aliases).
_CASELESS = frozenset(a.name for a in soa.COMPARED if a.kind == soa.SMTP)


def normalize(attribute: str, value):
    """A comparable form of an Exchange attribute value: empty string/None/[] alike; multi-valued as a sorted
    tuple (proxy addresses keep their ``SMTP:``/``smtp:`` primary marker, the address compares case-insensitively)."""
    if attribute in BOOLEAN:
        return bool(value) if value not in (None, "") else False
    if attribute in MULTI_VALUED:
        items = value if isinstance(value, (list, tuple, set)) else ([value] if value else [])
        if attribute == "EmailAddresses":
            out = []
            for addr in items:
                prefix, sep, rest = str(addr).partition(":")
                out.append(f"{prefix}:{rest.lower()}" if sep else str(addr).lower())
            return tuple(sorted(out))
        return tuple(sorted(str(v) for v in items))
    if value in (None, "", [], ()):
        return None
    if attribute in _CASELESS:
        return str(value).lower()
    return str(value)


def to_ad_value(attribute: str, value):
    """An Exchange attribute value in the form AD stores it (lists for multi-valued, None for empty)."""
    if attribute in BOOLEAN:
        return bool(value)
    if attribute in MULTI_VALUED:
        if value in (None, ""):
            return []
        return list(value) if isinstance(value, (list, tuple, set)) else [value]
    return None if value in ("", []) else value


class OnPremDirectory(abc.ABC):
    """Read and write Exchange attributes of on-premises AD users (the source the sync engine exports)."""

    @abc.abstractmethod
    def iter_users(self) -> Iterator[dict]:
        """Every AD user as a dict of LDAP-named attributes (``sAMAccountName``, ``userPrincipalName``, ...)."""

    @abc.abstractmethod
    def get_user(self, sam_account_name: str) -> dict | None:
        """One AD user by sAMAccountName, or None."""

    @abc.abstractmethod
    def update_user(self, sam_account_name: str, attributes: dict) -> dict:
        """Write LDAP-named attributes on one AD user; returns the user as stored afterwards."""

    def backup(self, sam_account_names=None) -> list[dict]:
        """The SOA-table attributes of every user (or the named sAMAccountNames) as they are now: what an admin
        records before enabling cloud edits, and what :meth:`restore` writes back."""
        wanted = {s.lower() for s in sam_account_names} if sam_account_names is not None else None
        keep = ("sAMAccountName", "distinguishedName", "objectGUID", "mS-DS-ConsistencyGuid", *ATTRIBUTE_MAP.values())
        return [
            {k: u.get(k) for k in keep}
            for u in self.iter_users()
            if wanted is None or (u.get("sAMAccountName") or "").lower() in wanted
        ]

    def restore(self, records: list[dict]) -> list[str]:
        """Write a :meth:`backup` back, only the attributes that differ; returns the sAMAccountNames changed."""
        changed = []
        for record in records:
            sam = record.get("sAMAccountName") if isinstance(record, dict) else None
            if not sam:
                continue
            current = self.get_user(sam)
            if current is None:
                raise NotFound(f"no on-prem user with sAMAccountName {sam!r}", status=404, code="NotFound")
            wanted = {}
            for exo, ad in ATTRIBUTE_MAP.items():
                if ad in record and normalize(exo, record[ad]) != normalize(exo, current.get(ad)):
                    wanted[ad] = to_ad_value(exo, record[ad])
            if wanted:
                self.update_user(sam, wanted)
                changed.append(sam)
        return changed

    def find_for_mailbox(self, mailbox: dict, index: dict | None = None) -> dict | None:
        """The AD user behind a synced mailbox: by source anchor (ImmutableId = ms-DS-ConsistencyGuid), then UPN,
        then alias = sAMAccountName."""
        index = index if index is not None else self.index()
        for key in (
            ("anchor", mailbox.get("ImmutableId")),
            ("upn", (mailbox.get("UserPrincipalName") or "").lower()),
            ("sam", (mailbox.get("Alias") or mailbox.get("Name") or "").lower()),
        ):
            if key[1] and key in index:
                return index[key]
        return None

    def index(self) -> dict:
        """Lookup table for :meth:`find_for_mailbox` (built once per workflow run)."""
        out: dict = {}
        for user in self.iter_users():
            sam = user.get("sAMAccountName") or ""
            for key in (
                ("anchor", user.get("mS-DS-ConsistencyGuid")),
                ("upn", (user.get("userPrincipalName") or "").lower()),
                ("sam", sam.lower()),
            ):
                if key[1]:
                    out.setdefault(key, user)
        return out


class MockOnPremDirectory(OnPremDirectory):
    """:class:`OnPremDirectory` over the mock control plane (``/_mock/tenants/{t}/onprem/users``)."""

    def __init__(self, cloud, tenant: str, transport, *, control_token: str | None = None):
        if not cloud.control_url:
            raise ValueError("the mock on-prem directory needs the local cloud (Cloud.local)")
        self.base = f"{cloud.control_url}/tenants/{quote(tenant)}"
        self.transport = transport
        self.headers = {"Accept": "application/json"}
        if control_token:
            self.headers["Authorization"] = f"Bearer {control_token}"

    def _call(self, method: str, path: str, json=None, params: dict | None = None):
        resp = self.transport.send(
            method,
            f"{self.base}/{path}",
            json=json,
            params=params,
            headers=self.headers,
            idempotent=method != "POST",
            error_parser=parse_graph_error,
        )
        return resp.json() if resp.content else None

    @staticmethod
    def _flatten(user: dict) -> dict:
        # The control plane may nest LDAP attributes under "attributes"/"attrs"; the SDK wants them flat.
        if not isinstance(user, dict):
            return {}
        nested = user.get("attributes") or user.get("attrs")
        flat = {k: v for k, v in user.items() if k not in ("attributes", "attrs")}
        if isinstance(nested, dict):
            flat = {**flat, **nested}
        return flat

    def iter_users(self) -> Iterator[dict]:
        """Every AD user of the mock tenant (flattened LDAP attributes)."""
        skip: int | None = 0
        while skip is not None:
            data = self._call("GET", "onprem/users", params={"top": 1000, "skip": skip})
            if not isinstance(data, dict):
                yield from (self._flatten(u) for u in data or [])
                return
            for user in data.get("value") or []:
                yield self._flatten(user)
            skip = data.get("nextSkip")

    def get_user(self, sam_account_name: str) -> dict | None:
        """One AD user by sAMAccountName, or None."""
        try:
            return self._flatten(self._call("GET", f"onprem/users/{quote(sam_account_name)}"))
        except NotFound:
            return None
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def update_user(self, sam_account_name: str, attributes: dict) -> dict:
        """``PATCH /_mock/tenants/{t}/onprem/users/{sam}`` with LDAP-named attributes."""
        return self._flatten(self._call("PATCH", f"onprem/users/{quote(sam_account_name)}", json=attributes))

    # -- mock-only helpers the workflows' callers use (sync engine facts, cycles) ---------------------------
    def sync_settings(self) -> dict:
        """``GET /_mock/tenants/{t}/sync``: connectVersion, interval, scope... (what a real admin reads on the
        Connect server with Get-ADSyncScheduler / Get-ADSyncGlobalSettings)."""
        return self._call("GET", "sync") or {}

    def run_sync_cycle(self, policy_type: str = "Delta") -> dict:
        """``POST /_mock/tenants/{t}/sync/cycles`` (Start-ADSyncSyncCycle)."""
        return self._call("POST", "sync/cycles", json={"policyType": policy_type}) or {}
