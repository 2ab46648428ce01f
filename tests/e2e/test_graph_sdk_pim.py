"""PIM through the official msgraph-sdk over TLS: an admin app makes a user eligible, the user (delegated token
from MSAL's password grant) activates with the SDK's models, the activation opens Exchange at once and closes when
it expires on the tenant clock. Also shows a real SDK gotcha the mock reproduces: kiota serializes a ``timedelta``
as ``1:00:00``, which Graph refuses (Edm.Duration must be ISO 8601)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta

import certifi
import httpx
import msal
import pytest
from azure.core.credentials import AccessToken
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.expiration_pattern import ExpirationPattern
from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.request_schedule import RequestSchedule
from msgraph.generated.models.unified_role_assignment_schedule_request import UnifiedRoleAssignmentScheduleRequest
from msgraph.generated.models.unified_role_eligibility_schedule_request import UnifiedRoleEligibilityScheduleRequest
from msgraph.generated.models.unified_role_schedule_request_actions import UnifiedRoleScheduleRequestActions
from msgraph_core import AzureIdentityAuthenticationProvider, GraphClientFactory

from hybridsoa.mock.tls import CaPinnedSession

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"
GRAPH = ["https://graph.microsoft.com/.default"]
EXCHANGE = ["https://outlook.office365.com/.default"]


@pytest.fixture
def ca_bundle_env(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())


class MsalUserCredential:
    """A TokenCredential over MSAL's password grant (what a script signing in a user would hand the SDK)."""

    def __init__(self, tenant, upn: str, password: str):
        app = next(a for a in tenant["apps"] if a["name"] == "automation")
        self.msal = msal.PublicClientApplication(
            app["clientId"],
            authority=f"{tenant['url']}/{tenant['tenantId']}",
            instance_discovery=False,
            http_client=CaPinnedSession(tenant["ca"], origin=tenant["url"]),
        )
        self.upn, self.password = upn, password

    def get_token(self, *scopes, **_kwargs) -> AccessToken:
        """Acquire a token for ``scopes`` (from MSAL's cache when it can)."""
        accounts = self.msal.get_accounts(username=self.upn)
        result = self.msal.acquire_token_silent(list(scopes), account=accounts[0]) if accounts else None
        if not result:
            result = self.msal.acquire_token_by_username_password(self.upn, self.password, scopes=list(scopes))
        assert "access_token" in result, result
        return AccessToken(result["access_token"], int(result["expires_in"]) + 1_700_000_000)


def sdk(tenant, credential):
    auth = AzureIdentityAuthenticationProvider(credential, scopes=GRAPH, allowed_hosts=[httpx.URL(tenant["url"]).host])
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=tenant["ca"]))
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{tenant['url']}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def app_credential(tenant):
    from azure.identity import ClientSecretCredential

    app = next(a for a in tenant["apps"] if a["name"] == "automation")
    return ClientSecretCredential(
        tenant["tenantId"],
        app["clientId"],
        app["clientSecret"],
        authority=tenant["url"],
        disable_instance_discovery=True,
        connection_verify=tenant["ca"],
    )


def get_mailbox_status(tenant, session, token: str) -> int:
    r = session.post(
        f"{tenant['url']}/adminapi/beta/{tenant['tenantId']}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": 1}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    return r.status_code


def test_eligible_user_activates_with_the_sdk_and_exchange_follows(tenant, mock_session, ca_bundle_env):
    user = next(u for u in tenant["users"] if u["userPrincipalName"].startswith("user@"))
    me = MsalUserCredential(tenant, user["userPrincipalName"], user["password"])
    clock = mock_session.get(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/clock").json()
    now = datetime.fromtimestamp(clock["epochSeconds"], tz=UTC)

    def activation(expiration):
        return UnifiedRoleAssignmentScheduleRequest(
            action=UnifiedRoleScheduleRequestActions.SelfActivate,
            principal_id=user["id"],
            role_definition_id=EXCHANGE_ADMIN,
            directory_scope_id="/",
            justification="INC-42 mailbox cleanup",
            schedule_info=RequestSchedule(start_date_time=now, expiration=expiration),
        )

    async def scenario():
        admin = sdk(tenant, app_credential(tenant))
        eligible = await admin.role_management.directory.role_eligibility_schedule_requests.post(
            UnifiedRoleEligibilityScheduleRequest(
                action=UnifiedRoleScheduleRequestActions.AdminAssign,
                principal_id=user["id"],
                role_definition_id=EXCHANGE_ADMIN,
                directory_scope_id="/",
                justification="on-call rota",
                schedule_info=RequestSchedule(expiration=ExpirationPattern(type=ExpirationPatternType.NoExpiration)),
            )
        )
        client = sdk(tenant, me)
        with pytest.raises(ODataError) as timedelta_error:
            await client.role_management.directory.role_assignment_schedule_requests.post(
                activation(ExpirationPattern(type=ExpirationPatternType.AfterDuration, duration=timedelta(hours=1)))
            )
        before = get_mailbox_status(tenant, mock_session, me.get_token(*EXCHANGE).token)
        activated = await client.role_management.directory.role_assignment_schedule_requests.post(
            activation(
                ExpirationPattern(type=ExpirationPatternType.AfterDateTime, end_date_time=now + timedelta(hours=1))
            )
        )
        during = get_mailbox_status(tenant, mock_session, me.get_token(*EXCHANGE).token)
        mine = await client.role_management.directory.role_assignment_schedules.filter_by_current_user_with_on(
            "principal"
        ).get()
        return eligible, timedelta_error.value, before, activated, during, mine

    eligible, timedelta_error, before, activated, during, mine = asyncio.run(scenario())
    assert eligible.status == "Provisioned" and eligible.target_schedule_id
    assert timedelta_error.response_status_code == 400 and "1:00:00" in timedelta_error.error.message
    assert before == 403
    assert activated.status == "Provisioned" and activated.action == UnifiedRoleScheduleRequestActions.SelfActivate
    assert during == 200
    assert [s.assignment_type for s in mine.value] == ["Activated"]

    mock_session.post(f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/clock/advance", json={"minutes": 61})
    fresh = MsalUserCredential(tenant, user["userPrincipalName"], user["password"])
    assert get_mailbox_status(tenant, mock_session, fresh.get_token(*EXCHANGE).token) == 403
