"""No input to the login endpoints produces a 5xx or changes the tenant (hypothesis-generated form bodies)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.tenant import TenantRegistry

FIELDS = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "username",
    "password",
    "device_code",
    "refresh_token",
    "client_assertion",
    "client_assertion_type",
    "client_info",
    "code",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "client_credentials",
            "password",
            "refresh_token",
            "device_code",
            "urn:ietf:params:oauth:grant-type:device_code",
            "https://graph.microsoft.com/.default",
            "openid offline_access",
            "/",
            "https://",
            ".default",
            "https://x/.default y/.default",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "eyJhbGciOiJub25lIn0.e30.",
            "a.b.c",
            "1",
        ]
    ),
)


@pytest.fixture(scope="module")
def world():
    registry = TenantRegistry(seed=5)
    tenant = registry.create("fuzz", seed=5, mailboxes=0, frozen_clock=True)
    return create_app(registry).test_client(), tenant


def _state(tenant):
    return (len(tenant.users), len(tenant.apps), len(tenant.role_assignments), len(tenant.mailboxes))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    form=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6), endpoint=st.sampled_from(["token", "devicecode"])
)
def test_token_and_devicecode_never_fail_with_5xx(world, form, endpoint):
    client, tenant = world
    app = tenant.app_by_name("automation")
    if form.get("client_id") == "1":
        form["client_id"] = app.app_id
    before = _state(tenant)
    response = client.post(f"/{tenant.id}/oauth2/v2.0/{endpoint}", data=form)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        body = response.get_json()
        assert body["error"] and body["error_codes"] and body["error_description"].startswith("AADSTS")
    assert _state(tenant) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    segment=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#%"), min_size=1, max_size=30
    )
)
def test_discovery_and_realm_never_fail_with_5xx(world, segment):
    client, _tenant = world
    for path in (
        f"/{segment}/v2.0/.well-known/openid-configuration",
        f"/{segment}/discovery/v2.0/keys",
        f"/common/userrealm/{segment}",
    ):
        assert client.get(path).status_code < 500
    assert client.post("/devicelogin", data={"user_code": segment, "username": segment}).status_code < 500
