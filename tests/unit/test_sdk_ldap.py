"""The SDK's LDAP directory without a server: AD syntaxes decoded, minimal replace/delete modifications, LDAP
result codes mapped to the SDK's errors, configuration checks and secrets kept out of reprs."""

from __future__ import annotations

import base64
import uuid

import ldap3
import pytest

from hybridsoa.sdk.config import load_settings
from hybridsoa.sdk.errors import (
    AuthenticationFailed,
    ConfigError,
    Conflict,
    InvalidParameter,
    NotFound,
    PermissionDenied,
)
from hybridsoa.sdk.ldap import DirectoryReferral, LdapDirectory, LdapSettings, error_from_result, settings_from


def directory(**kw) -> LdapDirectory:
    return LdapDirectory(
        LdapSettings(url="ldaps://dc.example:636", base_dn="DC=corp,DC=example", bind_dn="svc", password="s3cret", **kw)
    )


def test_decode_turns_ad_syntaxes_into_sdk_shapes():
    guid = uuid.UUID("6f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    raw = {
        "sAMAccountName": [b"jdoe"],
        "objectGUID": [guid.bytes_le],
        "mS-DS-ConsistencyGuid": [guid.bytes_le],
        "proxyAddresses": [b"SMTP:j@x.com", b"smtp:j@y.com"],
        "msExchHideFromAddressLists": [b"TRUE"],
        "msExchRecipientTypeDetails": [b"2147483648"],
        "extensionAttribute1": [b"caf\xc3\xa9"],
    }
    user = LdapDirectory.decode("CN=J,DC=x", raw)
    assert user["objectGUID"] == str(guid)
    assert user["mS-DS-ConsistencyGuid"] == base64.b64encode(guid.bytes_le).decode()
    assert user["proxyAddresses"] == ["SMTP:j@x.com", "smtp:j@y.com"]
    assert user["msExchHideFromAddressLists"] is True and user["msExchRecipientTypeDetails"] == 2147483648
    assert user["extensionAttribute1"] == "café" and user["msExchExtensionCustomAttribute1"] == []
    assert user["distinguishedName"] == "CN=J,DC=x"


def test_changes_replace_only_what_differs_and_delete_what_was_cleared():
    current = {
        "extensionAttribute1": "same",
        "extensionAttribute2": "old",
        "extensionAttribute3": "gone",
        "proxyAddresses": ["SMTP:J@X.com", "smtp:j@y.com"],
        "msExchHideFromAddressLists": False,
        "msExchExtensionCustomAttribute1": [],
    }
    changes = directory().changes_for(
        current,
        {
            "extensionAttribute1": "same",
            "extensionAttribute2": "new",
            "extensionAttribute3": None,
            "extensionAttribute4": None,
            "proxyAddresses": ["smtp:j@y.com", "SMTP:j@x.com"],
            "msExchHideFromAddressLists": True,
            "msExchExtensionCustomAttribute1": ["a", "b"],
        },
    )
    assert changes == {
        "extensionAttribute2": [(ldap3.MODIFY_REPLACE, ["new"])],
        "extensionAttribute3": [(ldap3.MODIFY_DELETE, [])],
        "msExchHideFromAddressLists": [(ldap3.MODIFY_REPLACE, ["TRUE"])],
        "msExchExtensionCustomAttribute1": [(ldap3.MODIFY_REPLACE, ["a", "b"])],
    }
    # The primary marker (SMTP: vs smtp:) is meaningful: moving it is a change.
    moved = directory().changes_for(current, {"proxyAddresses": ["smtp:J@X.com", "SMTP:j@y.com"]})
    assert moved == {"proxyAddresses": [(ldap3.MODIFY_REPLACE, ["smtp:J@X.com", "SMTP:j@y.com"])]}


@pytest.mark.parametrize(
    "code,cls",
    [
        (49, AuthenticationFailed),
        (50, PermissionDenied),
        (32, NotFound),
        (19, InvalidParameter),
        (68, Conflict),
        (10, DirectoryReferral),
    ],
)
def test_result_codes_map_to_sdk_errors(code, cls):
    exc = error_from_result(
        {
            "result": code,
            "description": "x",
            "message": "detail",
            "referrals": ["ldap://other/"] if code == 10 else None,
        },
        "modify",
    )
    assert type(exc) is cls and exc.status == code and "detail" in str(exc)
    if code == 10:
        assert exc.referrals == ["ldap://other/"]


def test_configuration_is_checked_and_the_password_never_shown():
    with pytest.raises(ConfigError, match="plain ldap"):
        LdapDirectory(LdapSettings(url="ldap://dc:389", base_dn="DC=x", bind_dn="a", password="b"))
    with pytest.raises(ConfigError, match="ldap://host"):
        directory().__class__(LdapSettings(url="https://dc", base_dn="DC=x"))
    with pytest.raises(ConfigError, match="base DN"):
        LdapDirectory(LdapSettings(url="ldaps://dc", base_dn=""))
    assert "s3cret" not in repr(directory().settings)
    assert settings_from("ldap://dc:389/?starttls", "DC=x", "a", "b").start_tls is True
    settings = load_settings(
        {},
        env={
            "HYBRIDSOA_LDAP_URL": "ldaps://dc",
            "HYBRIDSOA_LDAP_PASSWORD": "pw-123",
            "HYBRIDSOA_LDAP_START_TLS": "true",
        },
    )
    assert settings.ldap_url == "ldaps://dc" and settings.ldap_start_tls is True
    assert "pw-123" not in repr(settings) and settings.redacted()["ldap_password"] == "***"


def test_object_guid_anchors_users_without_a_consistency_guid(monkeypatch):
    guid = uuid.UUID("6f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    ad = directory()
    users = [LdapDirectory.decode("CN=J,DC=x", {"sAMAccountName": [b"jdoe"], "objectGUID": [guid.bytes_le]})]
    monkeypatch.setattr(ad, "iter_users", lambda: iter(users))
    mailbox = {"ImmutableId": base64.b64encode(guid.bytes_le).decode(), "Alias": "someone-else"}
    assert ad.find_for_mailbox(mailbox)["sAMAccountName"] == "jdoe"


def test_ldap_settings_come_from_a_profile_too(tmp_path):
    profile = tmp_path / "profiles.toml"
    profile.write_text(
        '[profile.corp]\nldap_url = "ldaps://dc01.corp.example"\nldap_base_dn = "OU=Corp,DC=corp"\n'
        'ldap_bind_dn = "CORP\\\\svc-soa"\nldap_auth = "ntlm"\nldap_password = "from-profile"\n'
    )
    settings = load_settings({"profile": "corp", "profile_file": str(profile)}, env={})
    assert (settings.ldap_url, settings.ldap_base_dn, settings.ldap_bind_dn, settings.ldap_auth) == (
        "ldaps://dc01.corp.example",
        "OU=Corp,DC=corp",
        "CORP\\svc-soa",
        "ntlm",
    )
    assert "from-profile" not in repr(settings)
