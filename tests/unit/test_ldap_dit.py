"""The mock AD's LDAP rules without a socket: DNs, filter evaluation (three-valued), attribute selection, the
service account, and `serve --ldap-port` starting the listener in the process that builds the app."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.onprem import ldap_tree as dit
from hybridsoa.mock.domain.tenant import TenantRegistry


@pytest.fixture(scope="module")
def tenant():
    return TenantRegistry(seed=7).create("dit-unit", mailboxes=3, frozen_clock=True)


def F(kind, attribute="", value=b"", **kw):
    return dit.Filter(kind=kind, attribute=attribute, value=value, **kw)


def test_dns_compare_case_insensitively_and_bad_dns_are_invalid_syntax():
    assert dit.dn_key("CN=A B,OU=Users,DC=x,DC=local") == dit.dn_key("cn=a b, ou=users,dc=X,dc=LOCAL")
    assert dit.parse_dn("CN=Smith\\, John,DC=x")[0] == ("cn", "Smith, John")
    for bad in ("not a dn", "CN=,DC=x", "=x"):
        with pytest.raises(dit.DirectoryError) as info:
            dit.parse_dn(bad)
        assert info.value.code == dit.INVALID_DN_SYNTAX


def test_filters_are_three_valued(tenant):
    tree = dit.Tree(tenant)
    user = next(tree.lookup(k) for k in tree.keys() if tree.lookup(k).user is not None)
    sam = user.user.sam_account_name.encode()
    assert dit.matches(F("eq", "SAMACCOUNTNAME", sam.upper()), user) is True
    assert dit.matches(F("eq", "unknownAttr", b"x"), user) is None
    assert dit.matches(dit.Filter(kind="not", children=[F("eq", "unknownAttr", b"x")]), user) is None
    assert (
        dit.matches(dit.Filter(kind="or", children=[F("eq", "unknownAttr", b"x"), F("present", "mail")]), user) is True
    )
    assert (
        dit.matches(dit.Filter(kind="and", children=[F("eq", "unknownAttr", b"x"), F("present", "mail")]), user) is None
    )
    assert dit.matches(F("sub", "mail", initial=sam[:2], final=b".onmicrosoft.com"), user) is True
    assert dit.matches(F("ge", "msExchRecipientTypeDetails", b"2147483648"), user) is True
    assert dit.matches(F("le", "msExchRecipientTypeDetails", b"1"), user) is False
    assert dit.matches(F("ext", "msExchRecipientTypeDetails", b"2147483648", rule="1.2.840.113556.1.4.803"), user)
    assert dit.matches(F("ext", "msExchRecipientTypeDetails", b"1", rule="9.9.9"), user) is None
    assert dit.matches(F("eq", "objectCategory", b"person"), user) is True


def test_attribute_selection(tenant):
    tree = dit.Tree(tenant)
    user = next(tree.lookup(k) for k in tree.keys() if tree.lookup(k).user is not None)
    assert dit.select(user, ["1.1"]) == []
    assert [n for n, _ in dit.select(user, ["MAIL", "nope"])] == ["mail"]
    assert {n for n, _ in dit.select(user, [])} == {n for n, _ in dit.select(user, ["*"])}


def test_service_account_binds_only_with_its_password(tenant):
    registry = TenantRegistry(seed=1)
    registry.tenants[tenant.id] = tenant
    assert dit.authenticate(registry, dit.bind_dn(tenant), dit.bind_password(tenant)) is tenant
    assert dit.authenticate(registry, f"hybridsoa-ldap@{tenant.domain}".upper(), dit.bind_password(tenant)) is tenant
    assert dit.authenticate(registry, "DITUNIT\\hybridsoa-ldap", dit.bind_password(tenant)) is tenant
    for name, password in ((dit.bind_dn(tenant), "wrong"), ("CN=x,DC=y", dit.bind_password(tenant))):
        with pytest.raises(dit.DirectoryError) as info:
            dit.authenticate(registry, name, password)
        assert info.value.code == dit.INVALID_CREDENTIALS
    with pytest.raises(dit.DirectoryError) as info:
        dit.authenticate(registry, dit.bind_dn(tenant), "")
    assert info.value.code == dit.UNWILLING_TO_PERFORM


def test_serve_with_ldap_port_starts_the_listener_in_the_app_process(tmp_path):
    from hybridsoa.mock import cli, server

    parsed = cli._parser().parse_args(["serve", "--ldap-port", "0", "--data-dir", str(tmp_path), "--no-demo"])
    assert parsed.ldap_port == 0
    options = server.ServeOptions(data_dir=str(tmp_path), demo=False, ldap_port=0)
    app, registry, _ = server.build(options)
    handle = app.extensions["hybridsoa_ldap"]
    try:
        assert registry.ldap_url == handle.url and handle.url.startswith("ldaps://127.0.0.1:")
        tenant = registry.create("served", mailboxes=1, frozen_clock=True)
        creds = app.test_client().get(f"/_mock/tenants/{tenant.id}/credentials").get_json()
        assert creds["onprem"]["ldapUrl"] == handle.url
    finally:
        handle.stop()
        store = app.extensions.get("hybridsoa_store")
        if store is not None:
            store.close()
