"""Entra Connect's attribute flow rules: which AD attributes land on the Entra user (identity, always) and
which on the Exchange Online mailbox (Exchange attributes, only while the mailbox is not
``IsExchangeCloudManaged``), OU scoping, version gating and duplicate-attribute resiliency.

Everything here is a pure function of its arguments so the cycle engine (``sync.py``), forward sync and
write-back share one definition of the mapping."""

from __future__ import annotations

import sys
from operator import itemgetter

from .. import soa_attributes as soa
from ..memory import EMPTY_LIST, SharedList
from ..onprem.ad import REMOTE_TYPE_TO_EXO, REMOTE_USER_MAILBOX, ADUser, recipient_kind

#: Oldest Connect Sync build that honours IsExchangeCloudManaged (the preview docs' minimum; see fidelity.md).
MIN_HONOURING_VERSION = (2, 5, 76, 0)

#: userAccountControl bit ACCOUNTDISABLE.
UAC_ACCOUNTDISABLE = 0x2

# The SOA table's rows as this module reads them (names resolved once, not per synced user).
_ALIAS, _PRIMARY, _ADDRESSES, _HIDDEN, _TYPE = (
    soa.BY_NAME[n]
    for n in ("Alias", "PrimarySmtpAddress", "EmailAddresses", "HiddenFromAddressListsEnabled", "RecipientTypeDetails")
)
_CUSTOM_FIELD, _EXT_CUSTOM_FIELD = "custom_attributes", "extension_custom_attributes"
# Interned, as seeded AD attribute names are: a lookup then matches the key by identity, not by comparing text.
_EXT = tuple(sys.intern(a.ad) for a in soa.rows(_CUSTOM_FIELD))
_EXT_CUSTOM = tuple(sys.intern(a.ad) for a in soa.rows(_EXT_CUSTOM_FIELD))
# One C-level call for all of them instead of a dict.get each: this runs twice per synced user.
_EXT_VALUES = itemgetter(*_EXT)
_EXT_CUSTOM_VALUES = itemgetter(*_EXT_CUSTOM)


def _values(attrs: dict, getter, names: tuple) -> tuple:
    """``attrs.get(name)`` for each of ``names`` (``getter`` is their itemgetter), None when absent."""
    try:
        return getter(attrs)
    except KeyError:  # AD objects made by hand or restored from older snapshots may lack some
        return tuple(map(attrs.get, names))


def parse_version(text) -> tuple[int, ...] | None:
    """``"2.5.76.0"`` -> ``(2, 5, 76, 0)``; None when it is not a dotted version of 2 to 4 numbers."""
    if not isinstance(text, str):
        return None
    parts = text.strip().split(".")
    if not 2 <= len(parts) <= 4 or not all(p.isdecimal() and len(p) <= 9 for p in parts):
        return None
    return tuple(int(p) for p in parts) + (0,) * (4 - len(parts))


def honours_exchange_cloud_managed(version: str) -> bool:
    """Whether a Connect Sync build respects IsExchangeCloudManaged (older builds keep exporting AD values)."""
    parsed = parse_version(version)
    return parsed is not None and parsed >= MIN_HONOURING_VERSION


def in_scope(ou: str, scopes) -> bool:
    """OU-based filtering: the object's OU is one of the selected containers or below one of them.
    An empty selection means the whole domain is in scope (Connect's default without OU filtering)."""
    if not scopes:
        return True
    ou_l = ou.lower()
    for scope in scopes:
        s = scope.lower()
        if ou_l == s or ou_l.endswith("," + s):
            return True
    return False


def scope_filter(scopes):
    """:func:`in_scope` for one OU selection, as a predicate on an OU (a cycle tests every AD user against
    the same selection, so it lower-cases the selection once; tests check both agree)."""
    if not scopes:
        return lambda ou: True
    wanted = [s.lower() for s in scopes]
    below = tuple("," + s for s in wanted)
    # Answers by OU string: AD users share a few OU values, so a cycle rarely lower-cases one twice.
    seen: dict[str, bool] = {}

    def test(ou: str) -> bool:
        hit = seen.get(ou)
        if hit is None:
            ou_l = ou.lower()
            hit = ou_l in wanted or ou_l.endswith(below)
            if len(seen) < 4096:
                seen[ou] = hit
        return hit

    return test


def smtp_addresses(proxies) -> list[str]:
    """Lower-cased SMTP addresses of a proxyAddresses / EmailAddresses list (other prefixes ignored)."""
    return [p[5:].lower() for p in proxies or () if isinstance(p, str) and p[:5].lower() == "smtp:"]


def smtp_address_tuple(proxies) -> tuple[str, ...]:
    """:func:`smtp_addresses` as a tuple, remembered for the last SharedList asked about: a cycle asks for the
    same seeded list three times in a row (conflict check, user index, mailbox index)."""
    global _last_smtp
    last = _last_smtp
    if last[0] is proxies:
        return last[1]
    addrs = tuple(smtp_addresses(proxies))
    if type(proxies) is SharedList:  # unchangeable, and held here so its id cannot be reused
        _last_smtp = (proxies, addrs)
    return addrs


_last_smtp: tuple = (None, ())


def primary_smtp(attrs: dict) -> str | None:
    """The primary SMTP address: ``mail`` when set, else the ``SMTP:`` (upper-case prefix) proxy."""
    mail = attrs.get(_PRIMARY.ad)
    if mail:
        return mail
    for p in attrs.get(_ADDRESSES.ad) or ():
        if isinstance(p, str) and p.startswith("SMTP:"):
            return p[5:]
    return None


def entra_identity_values(ad: ADUser, domain_name: str) -> dict:
    """Identity attributes (plus the onPremises* shadow) as EntraUser fields: they always flow AD -> Entra."""
    a = ad.attrs
    uac = a.get("userAccountControl")
    return {
        "user_principal_name": a.get("userPrincipalName"),
        "display_name": a.get("displayName") or ad.sam_account_name,
        "given_name": a.get("givenName"),
        "surname": a.get("sn"),
        "job_title": a.get("title"),
        "department": a.get("department"),
        "account_enabled": not (isinstance(uac, int) and uac & UAC_ACCOUNTDISABLE),
        "on_premises_immutable_id": ad.consistency_guid,
        "on_premises_sam_account_name": ad.sam_account_name,
        "on_premises_distinguished_name": ad.distinguished_name,
        "on_premises_user_principal_name": a.get("userPrincipalName"),
        "on_premises_domain_name": domain_name,
        "on_premises_extension_attributes": list(_values(a, _EXT_VALUES, _EXT)),
    }


def entra_exchange_values(ad: ADUser, dropped: frozenset = frozenset()) -> dict:
    """Exchange attributes Exchange Online masters on the Entra user (the SOA table's FROM_EXCHANGE rows: mail,
    mailNickname, proxyAddresses) as AD has them, for Connect to export while AD is their authority; ``dropped``
    are lower-cased addresses quarantined by duplicate-attribute resiliency."""
    a = ad.attrs
    return {field: (_kept(a, dropped) if addresses else a.get(name)) for field, name, addresses in _ENTRA_EXCHANGE}


def recipient_name(ad: ADUser) -> str:
    """Exchange Online's Name of a synced recipient: the AD object's ``cn`` (its RDN)."""
    a = ad.attrs
    return a.get("cn") or a.get("displayName") or ad.sam_account_name


def mailbox_identity_values(ad: ADUser) -> dict:
    """Identity attributes Exchange shows on the mailbox (read-only there while synced)."""
    a = ad.attrs
    return {
        "name": recipient_name(ad),
        "display_name": a.get("displayName") or ad.sam_account_name,
        "user_principal_name": a.get("userPrincipalName"),
        "is_dir_synced": True,
        "immutable_id": ad.consistency_guid,
    }


def mailbox_exchange_values(ad: ADUser, dropped: frozenset = frozenset()) -> dict:
    """The SOA table's synced Exchange attributes (those whose SOA moves with IsExchangeCloudManaged and that
    Connect maps from AD) as Mailbox fields. PrimarySmtpAddress and RecipientTypeDetails appear only when AD has
    a value for them (and the primary address is not quarantined)."""
    a = ad.attrs
    custom = _values(a, _EXT_CUSTOM_VALUES, _EXT_CUSTOM)
    values = {
        _ALIAS.field: a.get(_ALIAS.ad) or ad.sam_account_name,
        _ADDRESSES.field: _kept(a, dropped),
        _CUSTOM_FIELD: list(_values(a, _EXT_VALUES, _EXT)),
        # Usually all five are empty: the shared empty list five times, as the general expression gives.
        _EXT_CUSTOM_FIELD: (
            [list(v) if v else EMPTY_LIST for v in custom] if any(custom) else [EMPTY_LIST] * len(custom)
        ),
        _HIDDEN.field: bool(a.get(_HIDDEN.ad)),
    }
    primary = primary_smtp(a)
    if primary and primary.lower() not in dropped:
        values[_PRIMARY.field] = primary
    rtd = REMOTE_TYPE_TO_EXO.get(a.get(_TYPE.ad))
    if rtd:
        values[_TYPE.field] = rtd
    return values


def mail_user_values(ad: ADUser, values: dict) -> dict:
    """``values`` for a MailUser: its type, and ExternalEmailAddress from ``targetAddress`` (a mail user, an
    unprovisioned remote mailbox) or, for an on-premises mailbox, its primary address (mail routes on-premises)."""
    values["recipient_type_details"] = "MailUser"
    target = ad.attrs.get("targetAddress")
    primary = values.get("primary_smtp_address")
    values["external_email_address"] = target or (f"SMTP:{primary}" if primary else None)
    return values


def mailbox_type(ad: ADUser) -> str | None:
    """RecipientTypeDetails of the cloud mailbox this AD user stands for, or None (not a remote mailbox)."""
    return REMOTE_TYPE_TO_EXO.get(ad.attrs.get("msExchRecipientTypeDetails"))


def cloud_recipient_type(ad: ADUser, licensed: bool, current: str | None) -> str | None:
    """RecipientTypeDetails of the Exchange Online recipient an AD user stands for: a remote mailbox's cloud type
    (a remote *user* mailbox only once an Exchange plan is licensed: until then, and until the provisioning
    timer converts an existing MailUser, a MailUser); MailUser for on-premises mailboxes and mail users; None
    for users without Exchange attributes. ``current`` is the existing recipient's type."""
    rtd = ad.attrs.get("msExchRecipientTypeDetails")
    if rtd == REMOTE_USER_MAILBOX:
        if current == "MailUser" or (current is None and not licensed):
            return "MailUser"
        return "UserMailbox"
    cloud = REMOTE_TYPE_TO_EXO.get(rtd)
    if cloud:
        return cloud
    return "MailUser" if recipient_kind(ad.attrs) in ("onprem", "mailuser") else None


def apply_values(obj, values: dict) -> list[str]:
    """Set each field that differs; return the names of the fields that changed."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def differs(obj, values: dict) -> bool:
    """Whether applying ``values`` would change ``obj``."""
    return any(getattr(obj, name) != value for name, value in values.items())


#: (EntraUser field, AD attribute, is the proxy address list) of the rows Exchange masters on the Entra user.
_ENTRA_EXCHANGE = tuple((a.entra_field, a.ad, a.kind == soa.ADDRESSES) for a in soa.ENTRA_MIRRORED)


def _kept(attrs: dict, dropped) -> list:
    """proxyAddresses minus the quarantined addresses. A seeded AD value is a change-refusing SharedList, so with
    nothing dropped the Entra user and the mailbox hold that very list (two fewer lists per synced mailbox)."""
    proxies = attrs.get(_ADDRESSES.ad) or ()
    if not dropped and type(proxies) is SharedList:
        return proxies
    return [p for p in proxies if not _is_dropped(p, dropped)]


def _is_dropped(proxy, dropped) -> bool:
    return bool(dropped) and isinstance(proxy, str) and proxy[:5].lower() == "smtp:" and proxy[5:].lower() in dropped
