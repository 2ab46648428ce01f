"""On-prem AD administration as the control plane drives it (what ``New-ADUser``, ``Set-ADUser``,
``Remove-ADUser`` and ``Move-ADObject`` do to a user object): attribute names and types checked against the
schema subset the mock models, ``whenChanged`` and the change index (``uSNChanged``) bumped on every change.
Entra Connect sees these changes at its next cycle."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..clock import iso
from ..connect.sync_rules import in_scope
from ..errors import Conflict, InvalidArgument, NotFound
from .ad import EXO_TO_REMOTE_TYPE, ONPREM_MAIL_USER, ONPREM_MAILBOX_TYPES, REMOTE_USER_MAILBOX, ADUser

#: msExchRecipientTypeDetails values the control plane can create (remote, on-premises, mail user).
KNOWN_KINDS = frozenset(EXO_TO_REMOTE_TYPE.values()) | frozenset(ONPREM_MAILBOX_TYPES) | {ONPREM_MAIL_USER}

_STRING = "string"
_STRINGS = "strings"
_BOOL = "bool"
_INT = "int"

#: The AD schema subset the mock models: LDAP display name -> syntax (single string, multi-valued strings, ...).
ATTRIBUTE_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "cn",
            "userPrincipalName",
            "displayName",
            "givenName",
            "sn",
            "initials",
            "department",
            "title",
            "company",
            "manager",
            "telephoneNumber",
            "mobile",
            "physicalDeliveryOfficeName",
            "streetAddress",
            "l",
            "st",
            "postalCode",
            "c",
            "co",
            "description",
            "employeeID",
            "employeeType",
            "info",
            "mail",
            "mailNickname",
            "targetAddress",
            "msExchMailboxGuid",
            "mS-DS-ConsistencyGuid",
        ),
        _STRING,
    ),
    **{f"extensionAttribute{i}": _STRING for i in range(1, 16)},
    **dict.fromkeys(("proxyAddresses", "publicDelegates", "otherTelephone"), _STRINGS),
    **{f"msExchExtensionCustomAttribute{i}": _STRINGS for i in range(1, 6)},
    "msExchHideFromAddressLists": _BOOL,
    **dict.fromkeys(
        ("msExchRecipientTypeDetails", "msExchRecipientDisplayType", "msExchRemoteRecipientType", "userAccountControl"),
        _INT,
    ),
}

#: Attributes AD (or the mock) maintains itself; a PATCH naming them is refused.
READ_ONLY = (
    "sAMAccountName",
    "objectGUID",
    "distinguishedName",
    "whenCreated",
    "whenChanged",
    "uSNChanged",
    "mS-DS-ConsistencyGuid",
)

#: rangeUpper of the string attributes that have a tighter bound than the default.
MAX_LENGTH = {
    "displayName": 256,
    "givenName": 64,
    "sn": 64,
    "title": 128,
    "department": 64,
    "company": 64,
    "mailNickname": 64,
    "userPrincipalName": 1024,
    "mail": 256,
    "cn": 64,
}
DEFAULT_MAX_LENGTH = 1024
#: sAMAccountName: at most 20 characters, none of " / \ [ ] : ; | = , + * ? < > @ and not ending in a dot.
_SAM_FORBIDDEN = set('"/\\[]:;|=,+*?<>@')


def validate_attributes(patch: dict, *, allow_read_only: tuple = ()) -> dict:
    """Check names and types of an attribute patch; returns it normalised (None clears a value)."""
    if not isinstance(patch, dict):
        raise InvalidArgument("The body must be a JSON object of AD attributes.")
    out = {}
    for name, value in patch.items():
        if name in READ_ONLY and name not in allow_read_only:
            raise InvalidArgument(
                f"The attribute '{name}' is maintained by Active Directory and cannot be set.", attribute=name
            )
        kind = ATTRIBUTE_TYPES.get(name)
        if kind is None:
            raise InvalidArgument(f"The attribute '{name}' is not part of the modelled AD schema.", attribute=name)
        out[name] = _coerce(name, kind, value)
    if "userPrincipalName" in out and out["userPrincipalName"] is not None and "@" not in out["userPrincipalName"]:
        raise InvalidArgument("userPrincipalName must have the form prefix@suffix.", attribute="userPrincipalName")
    if "mS-DS-ConsistencyGuid" in out and out["mS-DS-ConsistencyGuid"] is not None:
        try:
            if len(base64.b64decode(out["mS-DS-ConsistencyGuid"], validate=True)) != 16:
                raise ValueError
        except (binascii.Error, ValueError):
            raise InvalidArgument(
                "mS-DS-ConsistencyGuid must be 16 bytes, base64-encoded.", attribute="mS-DS-ConsistencyGuid"
            ) from None
    return out


def _coerce(name: str, kind: str, value):
    if value is None:
        return [] if kind == _STRINGS else None
    if kind == _STRING:
        if not isinstance(value, str):
            raise InvalidArgument(f"The attribute '{name}' takes a single string value.", attribute=name)
        if len(value) > MAX_LENGTH.get(name, DEFAULT_MAX_LENGTH):
            raise InvalidArgument(
                f"The value of '{name}' is longer than its schema allows ({MAX_LENGTH.get(name, DEFAULT_MAX_LENGTH)}).",
                attribute=name,
            )
        return value if value != "" else None
    if kind == _STRINGS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidArgument(f"The attribute '{name}' takes a list of non-empty strings.", attribute=name)
        if name == "proxyAddresses":
            for v in value:
                prefix, sep, rest = v.partition(":")
                if not sep or not prefix or not rest:
                    raise InvalidArgument(f"The proxy address '{v}' must have the form prefix:address.", attribute=name)
            if sum(1 for v in value if v.startswith("SMTP:")) > 1:
                raise InvalidArgument("proxyAddresses may hold only one primary (SMTP:) address.", attribute=name)
        lowered = [v.lower() for v in value]
        if len(set(lowered)) != len(lowered):
            raise InvalidArgument(f"The attribute '{name}' has duplicate values.", attribute=name)
        return list(value)
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise InvalidArgument(f"The attribute '{name}' takes true or false.", attribute=name)
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise InvalidArgument(f"The attribute '{name}' takes an integer.", attribute=name)
    return value


def validate_ou(tenant, ou) -> str:
    """An OU distinguished name inside this forest (``OU=...,DC=<tenant>,DC=local``)."""
    from ..seed import ad_base_dn

    base = ad_base_dn(tenant)
    if not isinstance(ou, str) or not ou.strip():
        raise InvalidArgument("ou must be a distinguished name such as OU=Users,OU=Corp," + base + ".")
    ou = ou.strip()
    parts = [p.strip() for p in ou.split(",")]
    if (
        not all("=" in p and p.split("=", 1)[1].strip() for p in parts)
        or not ou.lower().endswith(base.lower())
        or not parts[0].upper().startswith(("OU=", "CN="))
    ):
        raise InvalidArgument(f"ou must be a container inside the forest ({base}), e.g. OU=Users,OU=Corp,{base}.")
    return ou


def get_ad_user(tenant, sam: str) -> ADUser:
    """The AD user with this sAMAccountName (case-insensitive) or NotFound."""
    ad = tenant.ad_users.get(str(sam).lower())
    if ad is None:
        raise NotFound(f"Cannot find an object with identity: '{sam}' under: '{_base(tenant)}'.")
    return ad


def create_ad_user(tenant, body: dict) -> ADUser:
    """``New-ADUser`` for a remote mailbox user: defaults like Exchange hybrid stamps them, then ``body``."""
    from ..seed import default_ous, new_ad_user

    body = dict(body or {})
    sam = body.pop("sAMAccountName", None)
    if (
        not isinstance(sam, str)
        or not 1 <= len(sam) <= 20
        or any(ch in _SAM_FORBIDDEN for ch in sam)
        or sam.endswith(".")
        or sam.strip() != sam
    ):
        raise InvalidArgument(
            'sAMAccountName is required: 1-20 characters, none of " / \\ [ ] : ; | = , + * ? '
            "< > @, not ending with a period.",
            attribute="sAMAccountName",
        )
    if sam.lower() in tenant.ad_users:
        raise Conflict(f"The specified account already exists: '{sam}'.", attribute="sAMAccountName")
    ou = validate_ou(tenant, body.pop("ou")) if "ou" in body else default_ous(tenant)["Users"]
    attrs = validate_attributes(body, allow_read_only=("mS-DS-ConsistencyGuid",))
    upn = attrs.get("userPrincipalName") or f"{sam}@{tenant.domain}"
    _check_upn_free(tenant, upn, None)
    anchor = attrs.get("mS-DS-ConsistencyGuid")
    if anchor and any(u.attrs.get("mS-DS-ConsistencyGuid") == anchor for u in tenant.ad_users):
        raise Conflict("Another AD object already has this mS-DS-ConsistencyGuid.", attribute="mS-DS-ConsistencyGuid")
    # Without msExchRecipientTypeDetails the user is a remote mailbox (Enable-RemoteMailbox's stamp); an explicit
    # null makes a user without Exchange attributes, and the on-prem/mail-user codes make those kinds.
    kind = attrs.get("msExchRecipientTypeDetails", REMOTE_USER_MAILBOX)
    if kind is not None and kind not in KNOWN_KINDS:
        raise InvalidArgument(
            f"msExchRecipientTypeDetails {kind} is not a recipient type the mock models (known: "
            f"{', '.join(str(k) for k in sorted(KNOWN_KINDS))}).",
            attribute="msExchRecipientTypeDetails",
        )
    display = attrs.get("displayName") or sam
    extra = {k: v for k, v in attrs.items() if v is not None}
    if kind is None:
        extra = {k: v for k, v in extra.items() if k not in ("mail", "mailNickname", "proxyAddresses")} | {
            k: v for k, v in attrs.items() if k in ("mail", "mailNickname", "proxyAddresses") and v
        }
    return new_ad_user(
        tenant,
        sam,
        display=display,
        given=attrs.get("givenName"),
        sn=attrs.get("sn"),
        kind=kind,
        ou=ou,
        department=attrs.get("department"),
        title=attrs.get("title"),
        extra=extra,
    )


def update_ad_user(tenant, sam: str, patch: dict) -> ADUser:
    """``Set-ADUser -Replace/-Clear``: validate everything, then apply; bumps whenChanged only on real change."""
    ad = get_ad_user(tenant, sam)
    values = validate_attributes(patch)
    if values.get("userPrincipalName"):
        _check_upn_free(tenant, values["userPrincipalName"], ad)
    if "userPrincipalName" in values and not values["userPrincipalName"]:
        raise InvalidArgument(
            "userPrincipalName cannot be cleared on a synchronized user.", attribute="userPrincipalName"
        )
    changed = {k: v for k, v in values.items() if ad.attrs.get(k) != v}
    if changed:
        ad.attrs.update(changed)
        _bump(tenant, ad)
    return ad


def delete_ad_user(tenant, sam: str) -> ADUser:
    """``Remove-ADUser``: the object leaves AD; the next cycle exports the delete."""
    ad = get_ad_user(tenant, sam)
    tenant.ad_users.delete(ad.sam_account_name.lower())
    return ad


def move_ad_user(tenant, sam: str, ou) -> ADUser:
    """``Move-ADObject -TargetPath``: a move outside the sync scope is a delete at the next cycle."""
    ad = get_ad_user(tenant, sam)
    ou = validate_ou(tenant, ou)
    if ad.ou != ou:
        ad.ou = ou
        _bump(tenant, ad)
    return ad


def list_ad_users(tenant, *, ou: str | None = None, top: int = 1000, skip: int = 0) -> tuple[list[ADUser], int]:
    """AD users in creation order, optionally only those under ``ou``; returns (page, total matching)."""
    users = tenant.ad_users.values()
    if ou:
        users = [u for u in users if in_scope(u.ou, [ou])]
    return users[skip : skip + top], len(users)


def render_ad_user(tenant, ad: ADUser) -> dict:
    """An AD user as JSON with LDAP attribute names (plus the object's own bookkeeping attributes)."""
    out: dict[str, Any] = {
        "sAMAccountName": ad.sam_account_name,
        "distinguishedName": ad.distinguished_name,
        "objectGUID": ad.object_guid,
        "mS-DS-ConsistencyGuid": ad.consistency_guid,
    }
    for name, value in ad.attrs.items():
        if name not in out:
            out[name] = list(value) if isinstance(value, list) else value
    out.update(
        {
            "whenCreated": iso(ad.when_created),
            "whenChanged": iso(ad.when_changed),
            "uSNChanged": tenant.ad_users.seq(ad.sam_account_name.lower()),
            "inSyncScope": in_scope(ad.ou, tenant.sync.settings.get("ouScope")),
        }
    )
    return out


def _bump(tenant, ad: ADUser) -> None:
    ad.when_changed = tenant.clock.now()
    tenant.ad_users.touch(ad.sam_account_name.lower())


def _check_upn_free(tenant, upn: str, me) -> None:
    lowered = upn.lower()
    for other in tenant.ad_users:
        if other is not me and (other.attrs.get("userPrincipalName") or "").lower() == lowered:
            raise Conflict(
                f"The userPrincipalName '{upn}' is already used by '{other.sam_account_name}'.",
                attribute="userPrincipalName",
            )


def _base(tenant) -> str:
    from ..seed import ad_base_dn

    return ad_base_dn(tenant)
