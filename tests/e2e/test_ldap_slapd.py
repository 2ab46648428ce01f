"""The SDK's LDAP directory against a real directory server: OpenLDAP's slapd from Debian's packages, started by
the test with a schema carrying the AD attributes of the SOA attribute table (``sAMAccountName``,
``proxyAddresses``, ``msExchHideFromAddressLists``, ``extensionAttribute1-15``,
``msExchExtensionCustomAttribute1-5``, octet-string ``objectGUID``/``mS-DS-ConsistencyGuid``...). The cloud side
is a mock tenant; the on-prem side is slapd: backup, drift and revert with reconcile, plus the failures a real
server gives (bad credentials, insufficient rights, a constraint violation, a referral).

Samba's AD DC is not used: ``samba-tool domain provision`` takes longer than this suite's budget and needs
root-owned system paths; slapd is started in a temporary directory in about a second."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading

import ldap3
import pytest

from hybridsoa.mock.tls import ensure_tls
from hybridsoa.sdk import connect_mock
from hybridsoa.sdk.errors import AuthenticationFailed, ConfigError, InvalidParameter, PermissionDenied
from hybridsoa.sdk.ldap import DirectoryReferral, LdapDirectory, LdapSettings
from hybridsoa.sdk.soa import drift, enable, inventory, revert

from .wire import free_port

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if os.path.exists("/usr/sbin/slapd") else None)
SCHEMA_DIR = "/etc/ldap/schema"
MODULES = "/usr/lib/ldap"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slapd,
    pytest.mark.mock_tenant(mailboxes=8),
    pytest.mark.skipif(
        SLAPD is None
        or not os.path.exists(f"{SCHEMA_DIR}/inetorgperson.schema")
        or not os.path.exists(f"{MODULES}/back_mdb.la"),
        reason="OpenLDAP's slapd is not installed (Debian: apt-get install slapd ldap-utils; .ci/run installs it)",
    ),
]

BASE = "dc=corp,dc=example"
ADMIN, ADMIN_PW = f"cn=admin,{BASE}", "admin-secret"
WRITER, WRITER_PW = f"cn=soa-writer,ou=Service,{BASE}", "writer-secret"
READER, READER_PW = f"cn=soa-reader,ou=Service,{BASE}", "reader-secret"
REFERRAL = "ldap://dc2.other.example/"

#: OpenLDAP's experimental arc (1.3.6.1.4.1.4203.666) for test-only OIDs; the names are AD's.
_ARC = "1.3.6.1.4.1.4203.666.11.22"
_STR = "EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15"


def _schema() -> str:
    attrs = [
        ("sAMAccountName", _STR, True),
        ("userPrincipalName", _STR, True),
        ("mailNickname", _STR, True),
        ("proxyAddresses", _STR, False),
        ("objectCategory", _STR, True),
        ("msExchHideFromAddressLists", "EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7", True),
        ("msExchRecipientTypeDetails", "EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27", True),
        ("objectGUID", "EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40", True),
        ("mS-DS-ConsistencyGuid", "EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40", True),
    ]
    attrs += [(f"extensionAttribute{i}", _STR, True) for i in range(1, 16)]
    attrs += [(f"msExchExtensionCustomAttribute{i}", _STR, False) for i in range(1, 6)]
    lines = [
        f"attributetype ( {_ARC}.1.{n} NAME '{name}' {syntax}{' SINGLE-VALUE' if single else ''} )"
        for n, (name, syntax, single) in enumerate(attrs, start=1)
    ]
    lines.append(
        f"objectclass ( {_ARC}.2.1 NAME 'user' SUP inetOrgPerson STRUCTURAL MAY ( {' $ '.join(a[0] for a in attrs)} ) )"
    )
    return "\n".join(lines) + "\n"


class Slapd:
    """A slapd in a temporary directory: ``ldap_url`` (StartTLS) and ``ldaps_url``, the CA, the accounts."""

    def __init__(self, root):
        self.root = root
        tls = ensure_tls(root / "tls", ["127.0.0.1"])
        self.ca = str(tls.ca)
        (root / "db").mkdir()
        (root / "ad-soa.schema").write_text(_schema())
        (root / "slapd.conf").write_text(f"""
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/inetorgperson.schema
include {root}/ad-soa.schema
pidfile {root}/slapd.pid
modulepath {MODULES}
moduleload back_mdb
referral {REFERRAL}
TLSCACertificateFile {tls.ca}
TLSCertificateFile {tls.cert}
TLSCertificateKeyFile {tls.key}
sizelimit 500
database mdb
maxsize 33554432
suffix "{BASE}"
rootdn "{ADMIN}"
rootpw {ADMIN_PW}
directory {root}/db
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{WRITER}" write by users read by * none
""")
        self.port, self.tls_port = free_port(), free_port()
        self.ldap_url, self.ldaps_url = f"ldap://127.0.0.1:{self.port}", f"ldaps://127.0.0.1:{self.tls_port}"
        # -d 32768 prints only slapd's "any level" lines: its banner and "slapd starting" once it listens.
        self.process = subprocess.Popen(
            [SLAPD, "-d", "32768", "-f", str(root / "slapd.conf"), "-h", f"{self.ldap_url}/ {self.ldaps_url}/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        seen = []
        for line in self.process.stderr:
            seen.append(line.decode(errors="replace"))
            if b"slapd starting" in line:
                break
        else:
            raise RuntimeError("slapd exited: " + "".join(seen)[-2000:])
        # Keep draining its stderr so a chatty slapd never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()
        for port in (self.port, self.tls_port):
            self._wait_listening(port)
        admin = self.admin()
        for dn, attrs in (
            (BASE, {"objectClass": ["dcObject", "organization"], "o": "corp", "dc": "corp"}),
            (f"ou=Service,{BASE}", {"objectClass": "organizationalUnit", "ou": "Service"}),
            (f"ou=Users,{BASE}", {"objectClass": "organizationalUnit", "ou": "Users"}),
            (WRITER, {"objectClass": ["inetOrgPerson"], "sn": "writer", "userPassword": WRITER_PW}),
            (READER, {"objectClass": ["inetOrgPerson"], "sn": "reader", "userPassword": READER_PW}),
        ):
            assert admin.add(dn, attributes=attrs), admin.result
        admin.unbind()

    def _wait_listening(self, port: int, attempts: int = 200) -> None:
        # slapd logs "slapd starting" before its daemon thread calls listen(), so a connect can still be refused
        # for a moment after it (on a loaded machine, long enough to fail the suite): poll the port, bounded.
        for _ in range(attempts):
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self.process.returncode} before listening on {port}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                threading.Event().wait(0.05)
        raise RuntimeError(f"slapd is not listening on {port}")

    def admin(self):
        """An ldap3 connection bound as the rootdn (test setup and read-back)."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca)
        conn = ldap3.Connection(
            ldap3.Server("127.0.0.1", port=self.tls_port, use_ssl=True, tls=tls),
            ADMIN,
            ADMIN_PW,
            raise_exceptions=False,
        )
        assert conn.bind(), conn.result
        return conn

    def directory(self, bind=WRITER, password=WRITER_PW, *, base=BASE, url=None, **kw) -> LdapDirectory:
        """The SDK's directory on this slapd."""
        return LdapDirectory(
            LdapSettings(
                url=url or self.ldaps_url, base_dn=base, bind_dn=bind, password=password, ca_bundle=self.ca, **kw
            )
        )

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture
def soa(slapd, tenant, mock_session):
    """A mock tenant for the cloud, and slapd holding its AD users (copied from the mock's AD)."""
    admin = slapd.admin()
    admin.search(f"ou=Users,{BASE}", "(objectClass=user)", attributes=["1.1"])
    for entry in list(admin.response or []):
        if entry.get("type") == "searchResEntry":
            admin.delete(entry["dn"])
    users = mock_session.get(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/onprem/users").json()["value"]
    for u in users:
        attrs = {
            "objectClass": ["user"],
            "sn": u.get("sn") or u["sAMAccountName"],
            "objectCategory": "person",
            "sAMAccountName": u["sAMAccountName"],
            "userPrincipalName": u["userPrincipalName"],
            "mail": u["mail"],
            "mailNickname": u["mailNickname"],
            "proxyAddresses": u["proxyAddresses"],
            "msExchHideFromAddressLists": "TRUE" if u.get("msExchHideFromAddressLists") else "FALSE",
            "msExchRecipientTypeDetails": str(u["msExchRecipientTypeDetails"]),
            "mS-DS-ConsistencyGuid": base64.b64decode(u["mS-DS-ConsistencyGuid"]),
        }
        attrs.update(
            {
                f"extensionAttribute{i}": u[f"extensionAttribute{i}"]
                for i in range(1, 16)
                if u.get(f"extensionAttribute{i}")
            }
        )
        assert admin.add(f"cn={u['sAMAccountName']},ou=Users,{BASE}", attributes=attrs), admin.result
    admin.unbind()
    conn = connect_mock(tenant["url"], tenant["ca"], tenant)
    yield conn, slapd
    conn.close()


def _raw(slapd, sam, *attrs):
    admin = slapd.admin()
    admin.search(f"ou=Users,{BASE}", f"(sAMAccountName={sam})", attributes=list(attrs))
    raw = admin.response[0]["raw_attributes"]
    admin.unbind()
    return raw


def test_backup_drift_and_revert_with_reconcile_against_slapd(soa):
    conn, slapd = soa
    with slapd.directory() as ad:
        backup = ad.backup()
        assert len(backup) == 8 and all(r["mail"] and r["proxyAddresses"] for r in backup)
        assert all(len(base64.b64decode(r["mS-DS-ConsistencyGuid"])) == 16 for r in backup)
        ids = [r.Identity for r in inventory(conn.exchange) if r.RecipientTypeDetails == "UserMailbox"][:2]
        assert len(ids) == 2 and enable(conn.exchange, ids).counts == {"changed": 2}
        for ident in ids:
            mbx = conn.exchange.get_mailbox(ident)
            domain = mbx["PrimarySmtpAddress"].split("@")[1]
            conn.exchange.set_mailbox(
                ident,
                CustomAttribute3="cloud-edit",
                HiddenFromAddressListsEnabled=True,
                EmailAddresses=list(mbx["EmailAddresses"]) + [f"smtp:extra-{mbx['Alias']}@{domain}"],
            )
        report = drift(conn.exchange, ad, ids)
        assert report.drifted == 2
        assert {d["attribute"] for d in report.items[0]["differences"]} == {
            "CustomAttribute3",
            "EmailAddresses",
            "HiddenFromAddressListsEnabled",
        }
        kept = ids[0]
        res = revert(conn.exchange, ad, [kept], reconcile=True)
        assert res.records[0]["status"] == "changed", res.records[0]
        assert set(res.records[0]["reconciled"]) == {
            "extensionAttribute3",
            "proxyAddresses",
            "msExchHideFromAddressLists",
        }
        sam = res.records[0]["samAccountName"]
        raw = _raw(slapd, sam, "extensionAttribute3", "proxyAddresses", "msExchHideFromAddressLists")
        assert raw["extensionAttribute3"] == [b"cloud-edit"] and raw["msExchHideFromAddressLists"] == [b"TRUE"]
        assert any(v.startswith(b"smtp:extra-") for v in raw["proxyAddresses"])
        assert drift(conn.exchange, ad, [kept]).drifted == 0
        # The pre-change backup puts AD back as it was (only what differs is written).
        assert ad.restore(backup) == [sam]
        assert _raw(slapd, sam, "extensionAttribute3").get("extensionAttribute3") in (None, [])
        assert ad.restore(backup) == []


def test_start_tls_and_no_password_over_plain_ldap(slapd):
    with slapd.directory(url=slapd.ldap_url, start_tls=True) as ad:
        assert ad.get_user("nobody-here") is None
        assert ad.connection().tls_started
    with pytest.raises(ConfigError, match="plain ldap"):
        slapd.directory(url=slapd.ldap_url)


def test_failures_a_real_server_gives(soa):
    conn, slapd = soa
    with slapd.directory(password="wrong") as bad, pytest.raises(AuthenticationFailed, match="invalidCredentials"):
        bad.get_user("anyone")
    with slapd.directory() as ad:
        sam = next(ad.iter_users())["sAMAccountName"]
        # extensionAttribute1 is single-valued in the schema: two values are a constraint violation.
        with pytest.raises(InvalidParameter, match="constraintViolation"):
            ad.update_user(sam, {"extensionAttribute1": ["a", "b"]})
    with slapd.directory(READER, READER_PW) as reader:
        assert reader.get_user(sam)["sAMAccountName"] == sam
        with pytest.raises(PermissionDenied, match="insufficientAccessRights"):
            reader.update_user(sam, {"extensionAttribute2": "reader-write"})
        # revert with reconcile through a read-only account: the item fails and the mailbox is not flipped.
        ident = next(r.Identity for r in inventory(conn.exchange) if r.RecipientTypeDetails == "UserMailbox")
        enable(conn.exchange, [ident])
        conn.exchange.set_mailbox(ident, CustomAttribute4="cloud-only")
        res = revert(conn.exchange, reader, [ident], reconcile=True)
        assert res.records[0]["status"] == "failed"
        assert conn.exchange.get_mailbox(ident)["IsExchangeCloudManaged"] is True
    with slapd.directory(base="dc=other,dc=example") as elsewhere, pytest.raises(DirectoryReferral) as info:
        list(elsewhere.iter_users())
    assert info.value.referrals and info.value.referrals[0].startswith(REFERRAL.rstrip("/"))


def test_cli_backup_drift_and_restore_with_ldap_options(soa, tenant, tmp_path, capsys, monkeypatch):
    from hybridsoa.sdk.cli import main

    conn, slapd = soa
    automation = next(a for a in tenant["apps"] if a["name"] == "automation")
    monkeypatch.setenv("HYBRIDSOA_LDAP_PASSWORD", WRITER_PW)
    monkeypatch.setenv("HYBRIDSOA_CLIENT_SECRET", automation["clientSecret"])
    common = [
        "--cloud",
        "local",
        "--mock-url",
        tenant["url"],
        "--ca-bundle",
        tenant["ca"],
        "--tenant",
        tenant["tenantId"],
        "--client-id",
        automation["clientId"],
        "--ldap-url",
        slapd.ldaps_url,
        "--ldap-base-dn",
        f"ou=Users,{BASE}",
        "--ldap-bind-dn",
        WRITER,
        "--ldap-ca-bundle",
        slapd.ca,
    ]
    backup = tmp_path / "onprem.json"
    assert main(["onprem-backup", *common, "-o", str(backup), "--no-progress"]) == 0

    records = json.loads(backup.read_text())
    assert len(records) == 8 and {"proxyAddresses", "extensionAttribute1", "mail"} <= set(records[0])
    ident = next(r.Identity for r in inventory(conn.exchange) if r.RecipientTypeDetails == "UserMailbox")
    enable(conn.exchange, [ident])
    conn.exchange.set_mailbox(ident, CustomAttribute7="cloud-7")
    capsys.readouterr()
    assert main(["drift", *common, "--json", "--no-progress"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] == 1
    assert [d["attribute"] for d in report["items"][0]["differences"]] == ["CustomAttribute7"]
    assert main(["revert", *common, "--identity", ident, "--no-progress"]) == 0
    sam = report["items"][0]["samAccountName"]
    assert _raw(slapd, sam, "extensionAttribute7")["extensionAttribute7"] == [b"cloud-7"]
    assert main(["onprem-backup", *common, "--restore", str(backup), "--json", "--no-progress"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["restored"] == [sam]
    assert not _raw(slapd, sam, "extensionAttribute7").get("extensionAttribute7")
    assert WRITER_PW not in out.out + out.err
