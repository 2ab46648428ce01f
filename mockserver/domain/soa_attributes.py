"""The SOA attribute table: one row per mailbox attribute the hybrid rules care about, naming it in each service
(Exchange parameter and property, the Mailbox field, the Graph user property, the AD attribute) and saying where
its source of authority lies: whether it moves to Exchange Online with ``IsExchangeCloudManaged``, whether Entra
Connect flows it from AD to the mailbox, whether Cloud Sync writes it back to AD, and which side Graph mirrors.

Every hybrid rule reads this table: ``Set-Mailbox`` (which parameters the write rules refuse, and what it writes
through to the Entra user), the Connect cycle (``connect/sync_rules.py``), forward sync, write-back
(``connect/writeback.py``), the AD model (``onprem/ad.py``) and the dashboard's drift view (``read_models.py``).
The SDK keeps the same table in ``sdk/soa_attributes.py`` (it cannot import the mock);
``tests/unit/test_soa_attributes.py`` checks the two agree. Sources: docs/fidelity.md, "The SOA attribute table".

This module imports nothing from the domain, so every room may import it."""

from __future__ import annotations

from dataclasses import dataclass

#: Value kinds, which decide how values compare across the three services.
TEXT = "text"  # single string; empty string and None are the same
SMTP = "smtp"  # an SMTP address or alias: compared case-insensitively
ADDRESSES = "addresses"  # proxy addresses: a set; the SMTP:/smtp: primary marker counts, the address does not
FLAG = "flag"  # Boolean; AD's absent value is False
MULTI = "multi"  # multi-valued strings: compared as a sorted list
RECIPIENTS = "recipients"  # multi-valued recipient references (names in Exchange, DNs in AD)
TYPE = "type"  # RecipientTypeDetails <-> msExchRecipientTypeDetails (numbers in AD)

#: Which service's value Graph shows for a row.
FROM_EXCHANGE = "exchange"  # Exchange Online masters it in the directory: Graph shows the mailbox's value
FROM_AD = "ad"  # Connect flows it from AD to Entra every cycle, whatever IsExchangeCloudManaged says


@dataclass(frozen=True, slots=True)
class SoaAttribute:
    """One attribute of a mailbox in the three services and where its source of authority lies."""

    #: The Get-Mailbox property.
    name: str
    #: Set-Mailbox parameters that write it (``Type`` writes RecipientTypeDetails); empty when none does.
    parameters: tuple[str, ...]
    #: The Mailbox field and, for the numbered attributes, the index in that list field.
    field: str
    index: int | None
    #: The Graph v1.0 user property ("a/b" for a property of a complex property), or None when Graph has none.
    graph: str | None
    #: The EntraUser field Graph serves it from (a list field for the numbered attributes), or None.
    entra_field: str | None
    #: Which side Graph mirrors while the user is synced: FROM_EXCHANGE or FROM_AD (None without a Graph
    #: property). For a user that is not (cloud-only, or its object SOA moved to the cloud) Exchange Online
    #: masters every Exchange attribute Graph shows, FROM_AD ones included.
    graph_source: str | None
    #: The AD (LDAP) attribute, and further AD attributes derived from the same value.
    ad: str
    ad_also: tuple[str, ...]
    kind: str
    #: Whether the attribute's SOA moves to Exchange Online with IsExchangeCloudManaged (an "Exchange attribute");
    #: False for identity attributes, which stay AD-mastered while the user is synced.
    moves: bool
    #: Whether Entra Connect flows the AD value to the mailbox (while Exchange attributes are AD-mastered).
    synced: bool
    #: Whether Cloud Sync's "EXO to AD attribute sync" writes the cloud value back to AD.
    written_back: bool


def _row(
    name,
    parameters,
    field,
    graph,
    entra_field,
    graph_source,
    ad,
    kind,
    *,
    moves=True,
    synced=True,
    written_back=False,
    index=None,
    ad_also=(),
) -> SoaAttribute:
    return SoaAttribute(
        name=name,
        parameters=tuple(parameters),
        field=field,
        index=index,
        graph=graph,
        entra_field=entra_field,
        graph_source=graph_source,
        ad=ad,
        ad_also=tuple(ad_also),
        kind=kind,
        moves=moves,
        synced=synced,
        written_back=written_back,
    )


#: The table, in the order the dashboard shows the Exchange attributes (domain-behaviour.md §1.3, §1.10).
SOA_ATTRIBUTES: tuple[SoaAttribute, ...] = (
    (
        _row("Alias", ("Alias",), "alias", "mailNickname", "mail_nickname", FROM_EXCHANGE, "mailNickname", SMTP),
        _row(
            "PrimarySmtpAddress",
            ("PrimarySmtpAddress", "WindowsEmailAddress"),
            "primary_smtp_address",
            "mail",
            "mail",
            FROM_EXCHANGE,
            "mail",
            SMTP,
            written_back=True,
        ),
        _row(
            "EmailAddresses",
            ("EmailAddresses",),
            "email_addresses",
            "proxyAddresses",
            "proxy_addresses",
            FROM_EXCHANGE,
            "proxyAddresses",
            ADDRESSES,
            written_back=True,
        ),
        _row(
            "HiddenFromAddressListsEnabled",
            ("HiddenFromAddressListsEnabled",),
            "hidden_from_address_lists_enabled",
            None,
            None,
            None,
            "msExchHideFromAddressLists",
            FLAG,
        ),
        _row(
            "RecipientTypeDetails",
            ("Type",),
            "recipient_type_details",
            None,
            None,
            None,
            "msExchRecipientTypeDetails",
            TYPE,
            written_back=True,
            ad_also=("msExchRecipientDisplayType",),
        ),
        # Moves with the flag (Set-Mailbox refuses it on AD-mastered mailboxes); Connect does not map publicDelegates.
        _row(
            "GrantSendOnBehalfTo",
            ("GrantSendOnBehalfTo",),
            "grant_send_on_behalf_to",
            None,
            None,
            None,
            "publicDelegates",
            RECIPIENTS,
            synced=False,
        ),
    )
    + tuple(
        _row(
            f"CustomAttribute{i}",
            (f"CustomAttribute{i}",),
            "custom_attributes",
            f"onPremisesExtensionAttributes/extensionAttribute{i}",
            "on_premises_extension_attributes",
            FROM_AD,
            f"extensionAttribute{i}",
            TEXT,
            written_back=True,
            index=i - 1,
        )
        for i in range(1, 16)
    )
    + tuple(
        _row(
            f"ExtensionCustomAttribute{i}",
            (f"ExtensionCustomAttribute{i}",),
            "extension_custom_attributes",
            None,
            None,
            None,
            f"msExchExtensionCustomAttribute{i}",
            MULTI,
            written_back=True,
            index=i - 1,
        )
        for i in range(1, 6)
    )
    + (
        # Identity attributes: AD-mastered while the user is synced, whatever IsExchangeCloudManaged says.
        _row(
            "DisplayName",
            ("DisplayName",),
            "display_name",
            "displayName",
            "display_name",
            FROM_AD,
            "displayName",
            TEXT,
            moves=False,
        ),
        _row("Name", ("Name",), "name", None, None, None, "cn", TEXT, moves=False),
        _row(
            "UserPrincipalName",
            (),
            "user_principal_name",
            "userPrincipalName",
            "user_principal_name",
            FROM_AD,
            "userPrincipalName",
            SMTP,
            moves=False,
        ),
    )
)

BY_NAME: dict[str, SoaAttribute] = {a.name: a for a in SOA_ATTRIBUTES}
BY_PARAMETER: dict[str, SoaAttribute] = {p: a for a in SOA_ATTRIBUTES for p in a.parameters}
BY_AD: dict[str, SoaAttribute] = {a.ad: a for a in SOA_ATTRIBUTES}

#: Exchange attributes (their SOA moves with the flag) and identity attributes.
EXCHANGE: tuple[SoaAttribute, ...] = tuple(a for a in SOA_ATTRIBUTES if a.moves)
IDENTITY: tuple[SoaAttribute, ...] = tuple(a for a in SOA_ATTRIBUTES if not a.moves)
#: Exchange attributes Entra Connect flows from AD to the mailbox.
SYNCED_EXCHANGE: tuple[SoaAttribute, ...] = tuple(a for a in EXCHANGE if a.synced)
#: The write-back set (24 AD attributes counting ``ad_also``), and the synced Exchange attributes it leaves out.
WRITTEN_BACK: tuple[SoaAttribute, ...] = tuple(a for a in EXCHANGE if a.written_back)
NOT_WRITTEN_BACK: tuple[SoaAttribute, ...] = tuple(a for a in SYNCED_EXCHANGE if not a.written_back)
#: Exchange attributes Exchange Online masters on the Entra user (Graph shows the mailbox's value).
ENTRA_MIRRORED: tuple[SoaAttribute, ...] = tuple(a for a in EXCHANGE if a.graph_source == FROM_EXCHANGE)
#: Exchange attributes Graph shows from AD while the user is synced and from Exchange once it is not
#: (onPremisesExtensionAttributes = CustomAttribute1-15).
CLOUD_USER_MIRRORED: tuple[SoaAttribute, ...] = tuple(a for a in EXCHANGE if a.graph_source == FROM_AD)

#: Set-Mailbox parameters of Exchange attributes and of identity attributes (the hybrid write rules).
EXCHANGE_PARAMETERS: frozenset[str] = frozenset(p for a in EXCHANGE for p in a.parameters)
IDENTITY_PARAMETERS: frozenset[str] = frozenset(p for a in IDENTITY for p in a.parameters)

#: AD attribute names, by group.
AD_EXCHANGE_ATTRIBUTES: tuple[str, ...] = tuple(n for a in EXCHANGE for n in (a.ad, *a.ad_also))
AD_WRITEBACK_ATTRIBUTES: tuple[str, ...] = tuple(n for a in WRITTEN_BACK for n in (a.ad, *a.ad_also))
AD_MULTI_VALUED: frozenset[str] = frozenset(a.ad for a in SOA_ATTRIBUTES if a.kind in (ADDRESSES, MULTI, RECIPIENTS))


def rows(field: str) -> tuple[SoaAttribute, ...]:
    """The rows stored in one Mailbox field, in index order (``custom_attributes`` gives CustomAttribute1..15)."""
    return tuple(sorted((a for a in SOA_ATTRIBUTES if a.field == field), key=lambda a: a.index or 0))


def mailbox_value(mbx, attr: SoaAttribute):
    """The Get-Mailbox value of ``attr`` on a Mailbox (copies of lists; the empty multi-valued value is [])."""
    value = getattr(mbx, attr.field)
    if attr.index is not None:
        values = value or []
        value = values[attr.index] if attr.index < len(values) else None
    if attr.kind in (ADDRESSES, MULTI, RECIPIENTS):
        return list(value or [])
    if attr.kind == FLAG:
        return bool(value)
    return value


def entra_values(mbx, *, synced_owner: bool = True) -> dict:
    """The EntraUser fields Exchange Online masters in the directory, from a mailbox whose Exchange attributes
    Exchange Online is the authority for: mail, mailNickname and proxyAddresses; for an owner that is not synced
    also onPremisesExtensionAttributes (CustomAttribute1-15)."""
    values = {a.entra_field: mailbox_value(mbx, a) for a in ENTRA_MIRRORED}
    if not synced_owner:
        for a in CLOUD_USER_MIRRORED:
            values.setdefault(a.entra_field, [None] * 15)[a.index] = mailbox_value(mbx, a) or None
    return values


def normalize(attr: SoaAttribute, value):
    """A comparable form of a value of ``attr`` as any of the three services stores it: empty string, None and []
    alike; proxy addresses as a set keeping the SMTP:/smtp: marker with the address lower-cased."""
    kind = attr.kind
    if kind == FLAG:
        return bool(value) if value not in (None, "") else False
    if kind == ADDRESSES:
        out = set()
        for v in value or ():
            prefix, sep, rest = str(v).partition(":")
            out.add(f"{prefix}:{rest.lower()}" if sep else str(v).lower())
        return frozenset(out)
    if kind in (MULTI, RECIPIENTS):
        items = value if isinstance(value, (list, tuple, set, frozenset)) else ([value] if value else [])
        return tuple(sorted(str(v) for v in items if v not in (None, "")))
    if value in (None, "", [], ()):
        return None
    if kind == SMTP:
        return str(value).lower()
    return value


def differs(attr: SoaAttribute, a, b) -> bool:
    """Whether two values of ``attr`` differ once normalized (TYPE values must be given in one vocabulary)."""
    return normalize(attr, a) != normalize(attr, b)
