"""Domain tests of the Entra token service (hybridsoa.mock.domain.entra.login): grants, client authentication,
scopes, device codes on the tenant clock, refresh tokens and the AADSTS error shape. No HTTP."""

from __future__ import annotations

import hashlib

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hybridsoa.mock.domain.entra import keys, roles
from hybridsoa.mock.domain.entra import login as identity
from hybridsoa.mock.domain.entra.login import DEVICE_CODE_GRANT, EntraError
from hybridsoa.mock.domain.entra.tokens import verify_access_token
from hybridsoa.mock.domain.errors import InvalidArgument, NotFound

BASE = "https://127.0.0.1:8443"


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="fabrikam", seed=7, mailboxes=2)


def _app(tenant, name="automation"):
    return tenant.app_by_name(name)


def _user(tenant, name="globaladmin"):
    return tenant.user_by_upn(f"{name}@{tenant.domain}")


def _grant(tenant, **form):
    return identity.grant_token(tenant, form, base=BASE)


def _error(tenant, **form) -> EntraError:
    with pytest.raises(EntraError) as info:
        _grant(tenant, **form)
    return info.value


def _assertion(app, tenant, *, alg="RS256", aud=None, iss=None, key_pem=None, header=None):
    der = x509.load_pem_x509_certificate(app.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    headers = (
        dict(header)
        if header is not None
        else (
            {"x5t": keys.b64url(hashlib.sha1(der).digest())}
            if alg == "RS256"
            else {"x5t#S256": keys.b64url(hashlib.sha256(der).digest())}
        )
    )
    claims = {
        "aud": aud or f"{BASE}/{tenant.id}/oauth2/v2.0/token",
        "iss": iss or app.app_id,
        "sub": iss or app.app_id,
        "exp": 2_000_000_000,
        "iat": 1_700_000_000,
        "jti": "abc",
    }
    return jwt.encode(claims, keys.load_private_key(key_pem or app.private_key_pem), algorithm=alg, headers=headers)


# ------------------------------------------------------------------------------ client credentials
def test_client_secret_issues_app_token_for_the_requested_resource(tenant):
    app = _app(tenant)
    body = _grant(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret=app.client_secret,
        scope="https://outlook.office365.com/.default",
    )
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and "refresh_token" not in body
    caller = verify_access_token(tenant, body["access_token"], "exchange")
    assert caller.is_app and caller.object_id == app.service_principal_id
    assert "Exchange.ManageAsApp" in caller.roles
    assert roles.EXCHANGE_ADMINISTRATOR in caller.wids


def test_token_lifetime_follows_tenant_setting(tenant):
    tenant.settings["tokenLifetimeSeconds"] = 600
    app = _app(tenant)
    body = _grant(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret=app.client_secret,
        scope="https://graph.microsoft.com/.default",
    )
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == 600 and claims["exp"] - claims["iat"] == 600


def test_wrong_secret_is_aadsts7000215_401(tenant):
    app = _app(tenant)
    err = _error(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret="nope",
        scope="https://graph.microsoft.com/.default",
    )
    assert (err.status, err.error, err.aadsts) == (401, "invalid_client", 7000215)
    assert app.app_id in err.message


def test_unknown_client_is_aadsts700016_400(tenant):
    err = _error(
        tenant,
        grant_type="client_credentials",
        client_id="00000000-0000-4000-8000-000000000001",
        client_secret="x",
        scope="https://graph.microsoft.com/.default",
    )
    assert (err.status, err.error, err.aadsts) == (400, "unauthorized_client", 700016)
    assert "was not found in the directory 'fabrikam'" in err.message


def test_missing_scope_is_aadsts900144(tenant):
    app = _app(tenant)
    err = _error(tenant, grant_type="client_credentials", client_id=app.app_id, client_secret=app.client_secret)
    assert (err.status, err.error, err.aadsts) == (400, "invalid_request", 900144)
    assert "'scope'" in err.message


@pytest.mark.parametrize("missing", ["grant_type", "client_id"])
def test_other_missing_parameters_are_aadsts900144(tenant, missing):
    app = _app(tenant)
    form = {
        "grant_type": "client_credentials",
        "client_id": app.app_id,
        "client_secret": app.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    del form[missing]
    err = _error(tenant, **form)
    assert err.aadsts == 900144 and f"'{missing}'" in err.message


def test_no_secret_and_no_assertion_is_aadsts7000218(tenant):
    err = _error(
        tenant,
        grant_type="client_credentials",
        client_id=_app(tenant).app_id,
        scope="https://graph.microsoft.com/.default",
    )
    assert (err.status, err.aadsts) == (401, 7000218)


def test_client_credentials_need_a_default_scope(tenant):
    app = _app(tenant)
    err = _error(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret=app.client_secret,
        scope="https://graph.microsoft.com/User.Read.All",
    )
    assert (err.error, err.aadsts) == ("invalid_scope", 1002012)


def test_unknown_resource_is_aadsts500011(tenant):
    app = _app(tenant)
    err = _error(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret=app.client_secret,
        scope="https://vault.azure.net/.default",
    )
    assert (err.error, err.aadsts) == ("invalid_resource", 500011)


def test_unsupported_grant_type(tenant):
    err = _error(tenant, grant_type="authorization_code", client_id=_app(tenant).app_id)
    assert (err.error, err.aadsts) == ("unsupported_grant_type", 70003)


# ------------------------------------------------------------------------------ certificate assertions
@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_certificate_assertion_is_accepted(tenant, alg):
    app = _app(tenant)
    body = _grant(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_assertion_type=identity.CLIENT_ASSERTION_TYPE,
        client_assertion=_assertion(app, tenant, alg=alg),
        scope="https://graph.microsoft.com/.default",
    )
    assert verify_access_token(tenant, body["access_token"], "graph").app_id == app.app_id


def test_assertion_audience_by_domain_is_accepted(tenant):
    app = _app(tenant)
    assertion = _assertion(app, tenant, aud=f"https://login.microsoftonline.com/{tenant.domain}/oauth2/v2.0/token")
    identity.verify_client_assertion(tenant, app, assertion)


def test_assertion_signed_by_another_key_fails_signature(tenant):
    app, other = _app(tenant), _app(tenant, "graph-reader")
    assertion = _assertion(app, tenant, key_pem=other.private_key_pem)
    with pytest.raises(EntraError) as info:
        identity.verify_client_assertion(tenant, app, assertion)
    assert (info.value.status, info.value.aadsts) == (401, 700027)


def test_assertion_naming_another_certificate_is_key_not_found(tenant):
    app, other = _app(tenant), _app(tenant, "graph-reader")
    assertion = _assertion(other, tenant, iss=app.app_id)
    with pytest.raises(EntraError) as info:
        identity.verify_client_assertion(tenant, app, assertion)
    assert info.value.aadsts == 700027 and "The key was not found" in info.value.message


def test_assertion_for_another_client_or_audience_is_refused(tenant):
    app = _app(tenant)
    with pytest.raises(EntraError) as info:
        identity.verify_client_assertion(tenant, app, _assertion(app, tenant, iss="someone-else"))
    assert info.value.aadsts == 700021
    with pytest.raises(EntraError) as info:
        identity.verify_client_assertion(tenant, app, _assertion(app, tenant, aud=f"{BASE}/other/oauth2/v2.0/token"))
    assert info.value.aadsts == 700023


def test_malformed_assertion_is_refused(tenant):
    with pytest.raises(EntraError) as info:
        identity.verify_client_assertion(tenant, _app(tenant), "not-a-jwt")
    assert info.value.status == 401 and info.value.error == "invalid_client"


# ------------------------------------------------------------------------------ password grant
def test_password_grant_issues_delegated_token_with_refresh_and_id_token(tenant):
    app, user = _app(tenant), _user(tenant)
    body = _grant(
        tenant,
        grant_type="password",
        client_id=app.app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/.default openid profile offline_access",
        client_info="1",
    )
    caller = verify_access_token(tenant, body["access_token"], "graph")
    assert caller.kind == "user" and caller.object_id == user.id
    assert roles.GLOBAL_ADMINISTRATOR in caller.wids
    assert "User.ReadWrite.All" in caller.scopes
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_claims["aud"] == app.app_id and id_claims["preferred_username"] == user.user_principal_name
    assert id_claims["iss"] == f"{BASE}/{tenant.id}/v2.0"
    assert body["refresh_token"] and body["client_info"]


def test_password_grant_without_offline_access_has_no_refresh_token(tenant):
    user = _user(tenant)
    body = _grant(
        tenant,
        grant_type="password",
        client_id=_app(tenant).app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://outlook.office365.com/.default",
    )
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "https://outlook.office365.com/Exchange.Manage https://outlook.office365.com/.default"


@pytest.mark.parametrize(
    "username,password,code",
    [
        ("globaladmin", "wrong", 50126),
        ("nobody", "whatever", 50034),
    ],
)
def test_password_grant_failures_are_invalid_grant(tenant, username, password, code):
    err = _error(
        tenant,
        grant_type="password",
        client_id=_app(tenant).app_id,
        username=f"{username}@{tenant.domain}",
        password=password,
        scope="https://graph.microsoft.com/.default",
    )
    assert (err.status, err.error, err.aadsts) == (400, "invalid_grant", code)


def test_disabled_user_cannot_sign_in(tenant):
    user = _user(tenant, "helpdesk")
    user.account_enabled = False
    err = _error(
        tenant,
        grant_type="password",
        client_id=_app(tenant).app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/.default",
    )
    assert err.aadsts == 50057


def test_password_grant_checks_a_secret_when_one_is_sent(tenant):
    user = _user(tenant)
    err = _error(
        tenant,
        grant_type="password",
        client_id=_app(tenant).app_id,
        client_secret="bad",
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/.default",
    )
    assert err.aadsts == 7000215


def test_scopes_of_two_resources_are_refused(tenant):
    user = _user(tenant)
    err = _error(
        tenant,
        grant_type="password",
        client_id=_app(tenant).app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/User.Read https://outlook.office365.com/Exchange.Manage",
    )
    assert (err.error, err.aadsts) == ("invalid_scope", 28000)


# ------------------------------------------------------------------------------ refresh tokens
def test_refresh_token_redeems_for_another_resource(tenant):
    app, user = _app(tenant), _user(tenant, "exchangeadmin")
    first = _grant(
        tenant,
        grant_type="password",
        client_id=app.app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/.default offline_access",
    )
    second = _grant(
        tenant,
        grant_type="refresh_token",
        client_id=app.app_id,
        refresh_token=first["refresh_token"],
        scope="https://outlook.office365.com/.default offline_access",
    )
    caller = verify_access_token(tenant, second["access_token"], "exchange")
    assert caller.object_id == user.id and caller.scopes == ["Exchange.Manage"]


def test_refresh_token_is_bound_to_client_and_user_state(tenant):
    app, user = _app(tenant), _user(tenant)
    first = _grant(
        tenant,
        grant_type="password",
        client_id=app.app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/.default offline_access",
    )
    err = _error(
        tenant,
        grant_type="refresh_token",
        client_id=_app(tenant, "graph-reader").app_id,
        refresh_token=first["refresh_token"],
        scope="https://graph.microsoft.com/.default",
    )
    assert err.error == "invalid_grant"
    user.account_enabled = False
    err = _error(
        tenant,
        grant_type="refresh_token",
        client_id=app.app_id,
        refresh_token=first["refresh_token"],
        scope="https://graph.microsoft.com/.default",
    )
    assert err.aadsts == 50057
    err = _error(
        tenant,
        grant_type="refresh_token",
        client_id=app.app_id,
        refresh_token="garbage",
        scope="https://graph.microsoft.com/.default",
    )
    assert err.error == "invalid_grant"


def test_refresh_token_expires_on_the_tenant_clock(tenant):
    app, user = _app(tenant), _user(tenant)
    first = _grant(
        tenant,
        grant_type="password",
        client_id=app.app_id,
        username=user.user_principal_name,
        password=user.password,
        scope="https://graph.microsoft.com/.default offline_access",
    )
    tenant.advance(91 * 24 * 60)
    err = _error(
        tenant,
        grant_type="refresh_token",
        client_id=app.app_id,
        refresh_token=first["refresh_token"],
        scope="https://graph.microsoft.com/.default",
    )
    assert err.aadsts == 700082


# ------------------------------------------------------------------------------ device codes
def _start_device(tenant, app=None):
    return identity.start_device_flow(
        tenant,
        {
            "client_id": (app or _app(tenant)).app_id,
            "scope": "https://graph.microsoft.com/.default offline_access openid",
        },
        verification_uri=f"{BASE}/devicelogin",
    )


def test_device_code_is_pending_until_approved_then_redeemed_once(tenant):
    app = _app(tenant)
    started = _start_device(tenant, app)
    assert started["expires_in"] == 900 and started["interval"] == 5
    assert started["user_code"] in started["message"] and started["verification_uri"] in started["message"]
    form = {"grant_type": DEVICE_CODE_GRANT, "client_id": app.app_id, "device_code": started["device_code"]}
    err = _error(tenant, **form)
    assert (err.error, err.aadsts, err.status) == ("authorization_pending", 70016, 400)
    tenant.device_flows.approve(started["user_code"], "hybridadmin")
    body = _grant(tenant, **form)
    caller = verify_access_token(tenant, body["access_token"], "graph")
    assert caller.user_principal_name == f"hybridadmin@{tenant.domain}"
    assert roles.HYBRID_IDENTITY_ADMINISTRATOR in caller.wids
    assert _error(tenant, **form).error == "invalid_grant"


def test_device_code_expires_on_the_tenant_clock(tenant):
    app = _app(tenant)
    started = _start_device(tenant, app)
    tenant.advance(16)
    err = _error(tenant, grant_type=DEVICE_CODE_GRANT, client_id=app.app_id, device_code=started["device_code"])
    assert (err.error, err.aadsts) == ("expired_token", 70020)
    with pytest.raises(InvalidArgument):
        tenant.device_flows.approve(started["user_code"])


def test_declined_device_code(tenant):
    app = _app(tenant)
    started = _start_device(tenant, app)
    tenant.device_flows.decline(started["user_code"])
    err = _error(tenant, grant_type=DEVICE_CODE_GRANT, client_id=app.app_id, device_code=started["device_code"])
    assert err.error == "authorization_declined"


def test_device_code_belongs_to_its_client(tenant):
    started = _start_device(tenant)
    err = _error(
        tenant,
        grant_type=DEVICE_CODE_GRANT,
        client_id=_app(tenant, "graph-reader").app_id,
        device_code=started["device_code"],
    )
    assert err.error == "invalid_grant"


def test_device_code_auto_approve_setting(tenant):
    tenant.settings["deviceCodeAutoApprove"] = f"exchangeadmin@{tenant.domain}"
    app = _app(tenant)
    started = _start_device(tenant, app)
    body = _grant(tenant, grant_type=DEVICE_CODE_GRANT, client_id=app.app_id, device_code=started["device_code"])
    assert verify_access_token(tenant, body["access_token"], "graph").user_principal_name.startswith("exchangeadmin@")


def test_approving_unknown_code_or_user_is_not_found(tenant):
    with pytest.raises(NotFound):
        tenant.device_flows.approve("NOPE")
    started = _start_device(tenant)
    with pytest.raises(NotFound):
        tenant.device_flows.approve(started["user_code"], "ghost")


def test_device_codes_are_deterministic_under_the_seed(make_tenant):
    first = _start_device(make_tenant(name="one", seed=3, mailboxes=0))
    second = _start_device(make_tenant(name="two", seed=3, mailboxes=0))
    assert first["user_code"] == second["user_code"]


# ------------------------------------------------------------------------------ discovery and errors
def test_openid_configuration_points_every_endpoint_at_the_mock(tenant):
    config = identity.openid_configuration(tenant, BASE)
    assert config["token_endpoint"] == f"{BASE}/{tenant.id}/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith(BASE)
    assert config["device_authorization_endpoint"] == f"{BASE}/{tenant.id}/oauth2/v2.0/devicecode"
    assert config["issuer"] == f"{BASE}/{tenant.id}/v2.0"


def test_jwks_verifies_issued_tokens(tenant):
    app = _app(tenant)
    body = _grant(
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret=app.client_secret,
        scope="https://graph.microsoft.com/.default",
    )
    jwk = identity.jwks(tenant)["keys"][0]
    assert jwk["kid"] == jwt.get_unverified_header(body["access_token"])["kid"]
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        body["access_token"],
        public,
        algorithms=["RS256"],
        audience="https://graph.microsoft.com",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["tid"] == tenant.id


def test_error_payload_has_entra_fields():
    err = identity.bad_secret(type("App", (), {"app_id": "abc"})())
    payload = identity.error_payload(err, now=1767603600.0, trace_id="t-1", correlation_id="c-1")
    assert payload["error"] == "invalid_client" and payload["error_codes"] == [7000215]
    assert payload["timestamp"] == "2026-01-05 09:00:00Z"
    assert payload["error_description"].startswith("AADSTS7000215: ")
    assert "Trace ID: t-1" in payload["error_description"] and "Correlation ID: c-1" in payload["error_description"]
    assert payload["error_uri"].endswith("code=7000215")


def test_user_realm_reports_managed_domains(registry, make_tenant):
    tenant = make_tenant(name="realm", seed=1, mailboxes=0)
    assert identity.user_realm(registry, f"user@{tenant.domain}")["account_type"] == "Managed"
    assert identity.user_realm(registry, "someone@example.org")["account_type"] == "Unknown"
