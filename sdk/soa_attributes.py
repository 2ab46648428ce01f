"""The SOA attribute table as the SDK needs it: one row per mailbox attribute the hybrid rules care about, naming
it in each service (Exchange parameter and property, Graph user property, AD attribute) and saying where its
source of authority lies (moves to Exchange Online with ``IsExchangeCloudManaged``, flowed from AD by Entra
Connect, written back to AD by Cloud Sync, which side Graph mirrors).

The SDK talks to the real services and cannot import the mock, so the mock keeps its own copy
(``mockserver/domain/soa_attributes.py``, with its storage fields); ``tests/unit/test_soa_attributes.py`` checks
the two agree row by row. Drift, reconcile, backup and the LDAP reader all derive their attribute lists from
here. Sources: docs/fidelity.md, "The SOA attribute table"."""

from __future__ import annotations

from dataclasses import dataclass

#: Value kinds: how values compare across the services.
TEXT = "text"  # single string; empty string and None are the same
SMTP = "smtp"  # an SMTP address or alias: compared case-insensitively
ADDRESSES = "addresses"  # proxy addresses: a set; the SMTP:/smtp: primary marker counts, the address does not
FLAG = "flag"  # Boolean; AD's absent value is False
MULTI = "multi"  # multi-valued strings
RECIPIENTS = "recipients"  # multi-valued recipient references (names in Exchange, DNs in AD)
TYPE = "type"  # RecipientTypeDetails <-> msExchRecipientTypeDetails (numbers in AD)

#: Which service's value Graph shows for a row.
FROM_EXCHANGE = "exchange"
FROM_AD = "ad"


@dataclass(frozen=True)
class SoaAttribute:
    """One mailbox attribute in Exchange, Graph and AD, and where its source of authority lies."""

    name: str  # the Get-Mailbox property
    parameters: tuple[str, ...]  # Set-Mailbox parameters that write it
    graph: str | None  # Graph v1.0 user property ("a/b" inside a complex property)
    graph_source: str | None  # FROM_EXCHANGE or FROM_AD
    ad: str  # the AD (LDAP) attribute
    ad_also: tuple[str, ...]  # further AD attributes derived from the same value
    kind: str
    moves: bool  # SOA moves to Exchange Online with IsExchangeCloudManaged
    synced: bool  # Entra Connect flows the AD value to the mailbox
    written_back: bool  # Cloud Sync writes the cloud value back to AD


def _row(
    name, parameters, graph, graph_source, ad, kind, *, moves=True, synced=True, written_back=False, ad_also=()
) -> SoaAttribute:
    return SoaAttribute(
        name, tuple(parameters), graph, graph_source, ad, tuple(ad_also), kind, moves, synced, written_back
    )


SOA_ATTRIBUTES: tuple[SoaAttribute, ...] = (
    (
        _row("Alias", ("Alias",), "mailNickname", FROM_EXCHANGE, "mailNickname", SMTP),
        _row(
            "PrimarySmtpAddress",
            ("PrimarySmtpAddress", "WindowsEmailAddress"),
            "mail",
            FROM_EXCHANGE,
            "mail",
            SMTP,
            written_back=True,
        ),
        _row(
            "EmailAddresses",
            ("EmailAddresses",),
            "proxyAddresses",
            FROM_EXCHANGE,
            "proxyAddresses",
            ADDRESSES,
            written_back=True,
        ),
        _row(
            "HiddenFromAddressListsEnabled",
            ("HiddenFromAddressListsEnabled",),
            None,
            None,
            "msExchHideFromAddressLists",
            FLAG,
        ),
        _row(
            "RecipientTypeDetails",
            ("Type",),
            None,
            None,
            "msExchRecipientTypeDetails",
            TYPE,
            written_back=True,
            ad_also=("msExchRecipientDisplayType",),
        ),
        _row("GrantSendOnBehalfTo", ("GrantSendOnBehalfTo",), None, None, "publicDelegates", RECIPIENTS, synced=False),
    )
    + tuple(
        _row(
            f"CustomAttribute{i}",
            (f"CustomAttribute{i}",),
            f"onPremisesExtensionAttributes/extensionAttribute{i}",
            FROM_AD,
            f"extensionAttribute{i}",
            TEXT,
            written_back=True,
        )
        for i in range(1, 16)
    )
    + tuple(
        _row(
            f"ExtensionCustomAttribute{i}",
            (f"ExtensionCustomAttribute{i}",),
            None,
            None,
            f"msExchExtensionCustomAttribute{i}",
            MULTI,
            written_back=True,
        )
        for i in range(1, 6)
    )
    + (
        _row("DisplayName", ("DisplayName",), "displayName", FROM_AD, "displayName", TEXT, moves=False),
        _row("Name", ("Name",), None, None, "cn", TEXT, moves=False),
        _row("UserPrincipalName", (), "userPrincipalName", FROM_AD, "userPrincipalName", SMTP, moves=False),
    )
)

BY_NAME: dict[str, SoaAttribute] = {a.name: a for a in SOA_ATTRIBUTES}

#: The Exchange attributes drift compares and reconcile copies to AD: those whose SOA moves and that Connect maps
#: from AD (RecipientTypeDetails is left out: converting a mailbox is not a reconcile step).
COMPARED: tuple[SoaAttribute, ...] = tuple(a for a in SOA_ATTRIBUTES if a.moves and a.synced and a.kind != TYPE)
#: Get-Mailbox properties of the Exchange attributes the workflows back up and read back (every parameter name
#: of a moving attribute except Type).
EXCHANGE_PROPERTIES: tuple[str, ...] = tuple(
    p for a in SOA_ATTRIBUTES if a.moves and a.kind != TYPE for p in a.parameters
)
