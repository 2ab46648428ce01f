"""The SOA attribute table: the mock's and the SDK's copies agree row by row, the names it uses exist in each
service's vocabulary (Graph v1.0 metadata, the Mailbox record, the AD schema subset, Set-Mailbox), and every
consumer derives its attribute lists from it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hybridsoa.mock.domain import read_models
from hybridsoa.mock.domain import soa_attributes as mock_soa
from hybridsoa.mock.domain.connect import writeback
from hybridsoa.mock.domain.connect.sync_rules import entra_exchange_values, mailbox_exchange_values
from hybridsoa.mock.domain.entra.directory import EntraUser
from hybridsoa.mock.domain.exchange.mailbox_cmdlets import SET_MAILBOX_PARAMS
from hybridsoa.mock.domain.exchange.mailboxes import Mailbox
from hybridsoa.mock.domain.onprem import ad as onprem_ad
from hybridsoa.mock.domain.onprem.ad import ADUser
from hybridsoa.mock.domain.onprem.ad_admin import ATTRIBUTE_TYPES
from hybridsoa.sdk import exchange as sdk_exchange
from hybridsoa.sdk import ldap as sdk_ldap
from hybridsoa.sdk import onprem as sdk_onprem
from hybridsoa.sdk import soa_attributes as sdk_soa

SHARED_COLUMNS = (
    "name",
    "parameters",
    "graph",
    "graph_source",
    "ad",
    "ad_also",
    "kind",
    "moves",
    "synced",
    "written_back",
)
# shared/ sits beside the repository (CI) or at /work/shared (developers' machines).
CSDL = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared/reference/graph-v1.0.csdl",
            Path("/work/shared/reference/graph-v1.0.csdl"),
        )
        if p.exists()
    ),
    Path("/work/shared/reference/graph-v1.0.csdl"),
)


def test_mock_and_sdk_tables_agree_row_by_row():
    mock_rows = [tuple(getattr(a, c) for c in SHARED_COLUMNS) for a in mock_soa.SOA_ATTRIBUTES]
    sdk_rows = [tuple(getattr(a, c) for c in SHARED_COLUMNS) for a in sdk_soa.SOA_ATTRIBUTES]
    assert mock_rows == sdk_rows
    # Same vocabulary for kinds and Graph sources, and no column the SDK has that the mock lacks.
    for name in ("TEXT", "SMTP", "ADDRESSES", "FLAG", "MULTI", "RECIPIENTS", "TYPE", "FROM_EXCHANGE", "FROM_AD"):
        assert getattr(mock_soa, name) == getattr(sdk_soa, name)
    assert {f.name for f in dataclasses.fields(sdk_soa.SoaAttribute)} == set(SHARED_COLUMNS)


def test_names_are_unique():
    rows = mock_soa.SOA_ATTRIBUTES
    assert len({a.name for a in rows}) == len(rows)
    assert len({a.ad for a in rows}) == len(rows)
    params = [p for a in rows for p in a.parameters]
    assert len(set(params)) == len(params)


def test_every_name_exists_in_its_service():
    mailbox_fields = {f.name for f in dataclasses.fields(Mailbox)}
    entra_fields = {f.name for f in dataclasses.fields(EntraUser)}
    set_mailbox = {p.name for p in SET_MAILBOX_PARAMS}
    for a in mock_soa.SOA_ATTRIBUTES:
        assert a.field in mailbox_fields, a
        assert set(a.parameters) <= set_mailbox, a
        assert a.ad in ATTRIBUTE_TYPES or a.ad in ("cn",), a
        assert all(n in ATTRIBUTE_TYPES for n in a.ad_also), a
        assert (a.entra_field is None) or a.entra_field in entra_fields, a
        # Every Graph property is stored on the Entra user.
        assert (a.graph is None) == (a.entra_field is None), a
        assert (a.graph is None) == (a.graph_source is None), a


@pytest.mark.skipif(not CSDL.exists(), reason="the shared Graph metadata is not on this machine")
def test_graph_names_are_user_properties_in_the_v1_metadata():
    text = CSDL.read_text()
    user = text[text.index('<EntityType Name="user"') :]
    user = user[: user.index("</EntityType>")]
    ext = text[text.index('<ComplexType Name="onPremisesExtensionAttributes"') :]
    ext = ext[: ext.index("</ComplexType>")]
    for a in mock_soa.SOA_ATTRIBUTES:
        if a.graph is None:
            continue
        top, _, sub = a.graph.partition("/")
        assert re.search(rf'<Property Name="{top}"', user), a.graph
        if sub:
            assert re.search(rf'<Property Name="{sub}"', ext), a.graph


def test_the_documented_groups():
    # domain-behaviour.md §1.10: the 24 written-back AD attributes; mailNickname and the address-list flag are not.
    assert len(onprem_ad.WRITEBACK_ATTRIBUTES) == 24
    assert set(onprem_ad.WRITEBACK_ATTRIBUTES) == {
        "mail",
        "proxyAddresses",
        "msExchRecipientDisplayType",
        "msExchRecipientTypeDetails",
    } | {f"extensionAttribute{i}" for i in range(1, 16)} | {f"msExchExtensionCustomAttribute{i}" for i in range(1, 6)}
    assert [a.ad for a in mock_soa.NOT_WRITTEN_BACK] == ["mailNickname", "msExchHideFromAddressLists"]
    # Identity attributes never move; Exchange attributes do.
    assert {a.name for a in mock_soa.IDENTITY} == {"DisplayName", "Name", "UserPrincipalName"}
    assert mock_soa.EXCHANGE_PARAMETERS.isdisjoint(mock_soa.IDENTITY_PARAMETERS)
    assert {a.graph for a in mock_soa.ENTRA_MIRRORED} == {"mail", "mailNickname", "proxyAddresses"}


def test_consumers_derive_from_the_table():
    synced = mock_soa.SYNCED_EXCHANGE
    assert tuple((a.name, a.ad) for a in synced) == read_models.EXCHANGE_PAIRS
    ad = ADUser(
        sam_account_name="t",
        object_guid="00000000-0000-0000-0000-000000000001",
        ou="OU=x",
        attrs={
            "mailNickname": "t",
            "mail": "t@x.test",
            "proxyAddresses": ["SMTP:t@x.test"],
            "msExchRecipientTypeDetails": onprem_ad.REMOTE_USER_MAILBOX,
        },
    )
    assert set(mailbox_exchange_values(ad)) == {a.field for a in synced}
    assert set(entra_exchange_values(ad)) == {a.entra_field for a in mock_soa.ENTRA_MIRRORED}
    mbx = Mailbox(
        guid="g",
        exchange_guid="e",
        external_directory_object_id="u",
        name="t",
        alias="t",
        display_name="t",
        user_principal_name="t@x.test",
        primary_smtp_address="t@x.test",
        email_addresses=["SMTP:t@x.test"],
    )
    assert set(writeback.writeback_values(mbx)) == set(onprem_ad.WRITEBACK_ATTRIBUTES)
    # The SDK: drift/reconcile map, backed-up properties and the LDAP reader's multi-valued attributes.
    assert {a.name: a.ad for a in sdk_soa.COMPARED} == sdk_onprem.ATTRIBUTE_MAP
    assert sdk_exchange.EXCHANGE_ATTRIBUTES == sdk_soa.EXCHANGE_PROPERTIES
    assert {sdk_onprem.ATTRIBUTE_MAP[n] for n in sdk_onprem.MULTI_VALUED} == sdk_ldap.MULTI_VALUED
