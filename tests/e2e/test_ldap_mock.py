"""The mock's AD over LDAP (the pytest plugin's listener, real sockets and TLS, ldap3 as the client): bind and
isolation, StartTLS, filters/scopes/attribute lists, paging and size limits, writes that the control plane
and Entra Connect see, AD's errors, and a listener that survives malformed BER."""

from __future__ import annotations

import base64
import socket
import ssl
import uuid

import ldap3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsoa.sdk import connect_mock

pytestmark = [pytest.mark.e2e, pytest.mark.mock_tenant(mailboxes=5)]
USERS = "(&(objectCategory=person)(objectClass=user))"


def _server(tenant, *, use_ssl=True):
    url = tenant["onprem"]["ldapUrl"]
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=tenant["ca"], version=ssl.PROTOCOL_TLS_CLIENT)
    return ldap3.Server(host, port=int(port), use_ssl=use_ssl, tls=tls, get_info=ldap3.NONE)


def _bind(tenant, password=None, **kw):
    onprem = tenant["onprem"]
    conn = ldap3.Connection(
        _server(tenant, **kw),
        onprem["bindDn"],
        password or onprem["password"],
        raise_exceptions=False,
        receive_timeout=30,
    )
    conn.open()
    return conn


@pytest.fixture
def ad(tenant):
    conn = _bind(tenant)
    assert conn.bind(), conn.result
    yield conn
    conn.unbind()


def _users(conn, base, flt=USERS, attrs=("sAMAccountName",), scope=ldap3.SUBTREE, **kw):
    ok = conn.search(base, flt, search_scope=scope, attributes=list(attrs), **kw)
    return ok, [e for e in conn.response or [] if e["type"] == "searchResEntry"]


def _http_user(mock_session, tenant, sam):
    r = mock_session.get(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/onprem/users/{sam}")
    return r.status_code, r.json() if r.content else None


def test_credentials_name_the_ldap_account_and_bad_passwords_fail_like_ad(tenant, mock_session):
    onprem = tenant["onprem"]
    assert onprem["ldapUrl"].startswith("ldaps://127.0.0.1:")
    assert onprem["baseDn"] == f"DC={tenant['name'].replace('-', '')},DC=local"
    assert onprem["bindDn"].endswith(onprem["baseDn"]) and onprem["password"]
    again = mock_session.get(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/credentials").json()
    assert again["onprem"] == onprem
    conn = _bind(tenant, password="wrong")
    assert not conn.bind()
    assert conn.result["result"] == 49 and "data 52e" in conn.result["message"]
    # The UPN form binds too (AD accepts DN, UPN and DOMAIN\user names).
    upn = ldap3.Connection(_server(tenant), onprem["userPrincipalName"], onprem["password"], raise_exceptions=False)
    assert upn.bind()


def test_unbound_operations_need_a_bind_and_start_tls_works_on_the_same_port(tenant):
    conn = _bind(tenant, use_ssl=False)
    assert not conn.search(tenant["onprem"]["baseDn"], USERS)
    assert conn.result["result"] == 1 and conn.result["message"].startswith("000004DC")
    assert conn.start_tls()
    assert conn.bind()
    ok, users = _users(conn, tenant["onprem"]["baseDn"])
    assert ok and len(users) == 5
    assert conn.extend.standard.who_am_i().endswith("\\hybridsoa-ldap")


@pytest.mark.mock_tenant(mailboxes=3)
def test_another_tenants_directory_is_invisible(tenant, tenant_factory, ad):
    other = tenant_factory(mailboxes=3)
    ok, users = _users(ad, other["onprem"]["baseDn"])
    assert not ok and ad.result["result"] == 32 and users == []
    # Its account does not open this tenant's directory either.
    theirs = _bind(other)
    assert theirs.bind()
    assert not theirs.search(tenant["onprem"]["baseDn"], USERS) and theirs.result["result"] == 32


def test_filters_scopes_and_attribute_lists(tenant, ad, mock_session):
    base = tenant["onprem"]["baseDn"]
    ok, users = _users(
        ad,
        base,
        attrs=[
            "sAMAccountName",
            "mail",
            "objectGUID",
            "mS-DS-ConsistencyGuid",
            "msExchHideFromAddressLists",
            "proxyAddresses",
        ],
    )
    assert ok and len(users) == 5
    first = users[0]["raw_attributes"]
    sam = first["sAMAccountName"][0].decode()
    status, http = _http_user(mock_session, tenant, sam)
    assert status == 200
    # AD's syntaxes: octet-string GUIDs, Boolean TRUE/FALSE, multi-valued proxyAddresses.
    assert str(uuid.UUID(bytes_le=first["objectGUID"][0])) == http["objectGUID"]
    assert base64.b64encode(first["mS-DS-ConsistencyGuid"][0]).decode() == http["mS-DS-ConsistencyGuid"]
    assert first["msExchHideFromAddressLists"] == [b"FALSE"]
    assert sorted(v.decode() for v in first["proxyAddresses"]) == sorted(http["proxyAddresses"])
    # Equality is case-insensitive; substrings, NOT, OR and presence behave as AD evaluates them.
    assert len(_users(ad, base, f"(sAMAccountName={sam.upper()})")[1]) == 1
    assert len(_users(ad, base, f"(&{USERS}(mail=*@{tenant['domain']}))")[1]) == 5
    assert len(_users(ad, base, f"(&{USERS}(!(sAMAccountName={sam})))")[1]) == 4
    assert len(_users(ad, base, f"(|(sAMAccountName={sam})(sAMAccountName=nobody))")[1]) == 1
    assert len(_users(ad, base, "(&(objectClass=user)(extensionAttribute15=*))")[1]) == 0
    guid = ldap3.utils.conv.escape_bytes(first["objectGUID"][0])
    assert [u["dn"] for u in _users(ad, base, f"(objectGUID={guid})")[1]] == [users[0]["dn"]]
    # A filter on an attribute the schema does not have matches nothing (Undefined), also under NOT.
    assert _users(ad, base, "(!(noSuchAttribute=x))")[1] == []
    # Scopes: the user itself, the OU's direct children, the whole tree.
    dn = users[0]["dn"]
    assert [e["dn"] for e in _users(ad, dn, "(objectClass=*)", scope=ldap3.BASE)[1]] == [dn]
    ou = dn.split(",", 1)[1]
    one = _users(ad, ou, "(objectClass=*)", scope=ldap3.LEVEL)[1]
    assert one and all(e["dn"].split(",", 1)[1].lower() == ou.lower() for e in one)
    # 1.1 asks for no attributes; unknown names are ignored.
    none = _users(ad, dn, "(objectClass=*)", attrs=["1.1"], scope=ldap3.BASE)[1]
    assert not any(none[0]["raw_attributes"].values())
    some = _users(ad, dn, "(objectClass=*)", attrs=["mail", "bogusAttr"], scope=ldap3.BASE)[1]
    assert {k for k, v in some[0]["raw_attributes"].items() if v} == {"mail"}


@pytest.mark.mock_tenant(mailboxes=12)
def test_paged_results_and_size_limits(tenant, ad):
    base = tenant["onprem"]["baseDn"]
    everyone = {e["dn"] for e in _users(ad, base)[1]}
    assert len(everyone) == 12
    paged, cookie, pages = set(), None, 0
    while True:
        ok, batch = _users(ad, base, paged_size=5, paged_cookie=cookie)
        assert ok and len(batch) <= 5
        paged |= {e["dn"] for e in batch}
        pages += 1
        cookie = ad.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        if not cookie:
            break
    assert paged == everyone and pages == 3
    _, batch = _users(ad, base, size_limit=4)
    assert ad.result["result"] == 4 and len(batch) == 4
    # A cookie the server did not hand out is refused.
    ok, _ = _users(ad, base, paged_size=5, paged_cookie=b"forged")
    assert not ok and ad.result["result"] == 53


def test_ldap_writes_reach_the_control_plane_and_the_cloud_on_the_next_cycle(tenant, ad, mock_session):
    base = tenant["onprem"]["baseDn"]
    entry = _users(ad, base, attrs=["sAMAccountName", "proxyAddresses", "userPrincipalName"])[1][0]
    dn, sam = entry["dn"], entry["raw_attributes"]["sAMAccountName"][0].decode()
    extra = f"smtp:alias-{sam}@{tenant['domain']}"
    assert ad.modify(
        dn,
        {
            "extensionAttribute3": [(ldap3.MODIFY_REPLACE, ["from-ldap"])],
            "proxyAddresses": [(ldap3.MODIFY_ADD, [extra])],
            "msExchHideFromAddressLists": [(ldap3.MODIFY_REPLACE, ["TRUE"])],
        },
    ), ad.result
    _, http = _http_user(mock_session, tenant, sam)
    assert http["extensionAttribute3"] == "from-ldap" and extra in http["proxyAddresses"]
    assert http["msExchHideFromAddressLists"] is True
    audit = mock_session.get(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/audit").json()["value"]
    assert any(r["api"] == "ldap" and r["operation"] == "Modify" for r in audit)
    r = mock_session.post(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/sync/cycles", json={"policyType": "Delta"}
    )
    assert r.status_code in (200, 201, 202)
    conn = connect_mock(tenant["url"], tenant["ca"], tenant)
    try:
        upn = entry["raw_attributes"]["userPrincipalName"][0].decode()
        mailbox = conn.exchange.get_mailbox(upn)
        assert mailbox["CustomAttribute3"] == "from-ldap"
        assert mailbox["HiddenFromAddressListsEnabled"] is True
    finally:
        conn.close()
    # Delete one value, then clear the attribute.
    assert ad.modify(
        dn, {"proxyAddresses": [(ldap3.MODIFY_DELETE, [extra])], "extensionAttribute3": [(ldap3.MODIFY_DELETE, [])]}
    ), ad.result
    _, http = _http_user(mock_session, tenant, sam)
    assert extra not in http["proxyAddresses"] and http.get("extensionAttribute3") is None


def test_add_rename_move_and_delete(tenant, ad, mock_session):
    base = tenant["onprem"]["baseDn"]
    dn = f"CN=Ldap Added,OU=Users,OU=Corp,{base}"
    assert ad.add(
        dn,
        ["top", "person", "organizationalPerson", "user"],
        {
            "sAMAccountName": "ldapadded",
            "displayName": "Ldap Added",
            "userPrincipalName": f"ldapadded@{tenant['domain']}",
        },
    ), ad.result
    status, http = _http_user(mock_session, tenant, "ldapadded")
    assert status == 200 and http["distinguishedName"] == dn
    assert not ad.add(dn, ["user"], {"sAMAccountName": "ldapadded2"}) and ad.result["result"] == 68
    assert ad.modify_dn(dn, "CN=Ldap Renamed"), ad.result
    renamed = f"CN=Ldap Renamed,OU=Users,OU=Corp,{base}"
    assert _http_user(mock_session, tenant, "ldapadded")[1]["distinguishedName"] == renamed
    assert ad.modify_dn(renamed, "CN=Ldap Renamed", new_superior=f"OU=Disabled,{base}"), ad.result
    moved = _http_user(mock_session, tenant, "ldapadded")[1]
    assert moved["distinguishedName"] == f"CN=Ldap Renamed,OU=Disabled,{base}" and moved["inSyncScope"] is False
    assert not ad.delete(f"OU=Corp,{base}") and ad.result["result"] == 66
    assert ad.delete(f"CN=Ldap Renamed,OU=Disabled,{base}"), ad.result
    assert _http_user(mock_session, tenant, "ldapadded")[0] == 404
    assert not ad.delete(f"CN=Ldap Renamed,OU=Disabled,{base}") and ad.result["result"] == 32


@pytest.mark.parametrize(
    "changes,code",
    [
        ({"noSuchAttribute": [(ldap3.MODIFY_REPLACE, ["x"])]}, 17),
        ({"extensionAttribute1": [(ldap3.MODIFY_REPLACE, ["a", "b"])]}, 19),
        ({"msExchHideFromAddressLists": [(ldap3.MODIFY_REPLACE, ["yes"])]}, 21),
        ({"objectGUID": [(ldap3.MODIFY_REPLACE, [b"x" * 16])]}, 19),
        ({"extensionAttribute14": [(ldap3.MODIFY_DELETE, [])]}, 16),
        ({"displayName": [(ldap3.MODIFY_REPLACE, ["x" * 300])]}, 19),
    ],
)
def test_refused_modifications_change_nothing(tenant, ad, mock_session, changes, code):
    entry = _users(ad, tenant["onprem"]["baseDn"])[1][0]
    sam = entry["raw_attributes"]["sAMAccountName"][0].decode()
    before = _http_user(mock_session, tenant, sam)[1]
    assert not ad.modify(entry["dn"], changes)
    assert ad.result["result"] == code, ad.result
    assert _http_user(mock_session, tenant, sam)[1] == before
    assert not ad.modify(
        f"CN=Nobody,OU=Users,OU=Corp,{tenant['onprem']['baseDn']}",
        {"extensionAttribute1": [(ldap3.MODIFY_REPLACE, ["x"])]},
    )
    assert ad.result["result"] == 32


def _raw(tenant, payload: bytes) -> bytes:
    url = tenant["onprem"]["ldapUrl"]
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk


NOTICE_OID = b"1.3.6.1.4.1.1466.20036"


@pytest.mark.parametrize(
    "payload",
    [
        b"\x30\x03\x02\x01",  # truncated, then the client closes
        b"\x30\x80\x02\x01\x01\x00\x00",  # indefinite length (not allowed in LDAP)
        b"\x30\x84\x7f\xff\xff\xff" + b"\x00" * 8,  # announces a 2 GiB message
        b"\x30\x05\x02\x01\x01\x04\x00",  # a sequence that is no LDAPMessage
        b"\x30\x06\x02\x01\x01\x64\x01\x00",  # searchResEntry sent as a request
        b"\x31\x00",  # not a SEQUENCE
        b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\xff",  # lengths that overrun
    ],
)
def test_malformed_ber_gets_a_notice_and_the_listener_keeps_serving(tenant, payload):
    answer = _raw(tenant, payload)
    assert answer == b"" or NOTICE_OID in answer
    conn = _bind(tenant)
    assert conn.bind()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(min_size=0, max_size=200))
def test_random_bytes_never_break_the_listener(tenant, body):
    payload = b"\x30" + bytes([min(len(body), 127)]) + body
    answer = _raw(tenant, payload)
    assert answer == b"" or answer[:1] == b"\x30"
    conn = _bind(tenant)
    assert conn.bind()
    conn.unbind()


def _valid_search() -> bytes:
    from ldap3.operation.search import search_operation
    from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
    from pyasn1.codec.ber import encoder

    request = search_operation(
        "DC=x,DC=local",
        "(&(objectClass=user)(|(cn=a*)(!(mail=*))))",
        ldap3.SUBTREE,
        ldap3.DEREF_ALWAYS,
        ["mail"],
        0,
        0,
        False,
        None,
        None,
    )
    message = LDAPMessage()
    message["messageID"] = MessageID(7)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
    return encoder.encode(message)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_requests_never_break_the_listener(tenant, flips):
    data = bytearray(_valid_search())
    for position, value in flips:
        data[position % len(data)] = value
    answer = _raw(tenant, bytes(data))
    assert answer == b"" or answer[:1] == b"\x30"
    conn = _bind(tenant)
    assert conn.bind()
    conn.unbind()
