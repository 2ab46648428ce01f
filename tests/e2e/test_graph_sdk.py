"""The official Microsoft Graph SDK for Python (msgraph-sdk, kiota) and azure-identity, unmodified, against the
mock over real TLS: list users with a filter and paging, get one, patch a cloud-only user, read and switch
onPremisesSyncBehavior, delete and restore a user, and read Graph errors as the SDK's ODataError."""

from __future__ import annotations

import asyncio
import ssl

import certifi
import httpx
import pytest
from azure.identity import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.on_premises_sync_behavior import OnPremisesSyncBehavior
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import AzureIdentityAuthenticationProvider, GraphClientFactory, PageIterator

pytestmark = pytest.mark.e2e

SCOPES = ["https://graph.microsoft.com/.default"]


@pytest.fixture
def ca_bundle_env(monkeypatch):
    """As on our machines and CI: the CA variables point at a public bundle; the clients must pin the mock's CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())


def graph_client(tenant, app_name: str = "automation", version: str = "v1.0"):
    """What a user of the SDK writes to point it at the mock: a credential with the mock as authority, an auth
    provider that allows the mock's host, and an httpx client that trusts the mock's CA."""
    app = next(a for a in tenant["apps"] if a["name"] == app_name)
    credential = ClientSecretCredential(
        tenant["tenantId"],
        app["clientId"],
        app["clientSecret"],
        authority=tenant["url"],
        disable_instance_discovery=True,
        connection_verify=tenant["ca"],
    )
    host = httpx.URL(tenant["url"]).host
    auth = AzureIdentityAuthenticationProvider(credential, scopes=SCOPES, allowed_hosts=[host])
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=tenant["ca"]))
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{tenant['url']}/{version}"
    return GraphServiceClient(request_adapter=adapter)


def run(coro):
    return asyncio.run(coro)


def user_query(**params):
    return RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**params))


def test_list_users_with_filter_and_paging(tenant, ca_bundle_env):
    async def scenario():
        client = graph_client(tenant)
        page = await client.users.get(
            user_query(
                filter="onPremisesSyncEnabled eq true", select=["id", "displayName", "onPremisesSyncEnabled"], top=4
            )
        )
        ids, pages = [], 0
        while page is not None:
            pages += 1
            assert len(page.value) <= 4
            assert all(u.on_premises_sync_enabled is True for u in page.value)
            ids += [u.id for u in page.value]
            if not page.odata_next_link:
                break
            assert page.odata_next_link.startswith(tenant["url"] + "/v1.0/users?")
            page = await client.users.with_url(page.odata_next_link).get()
        return ids, pages

    ids, pages = run(scenario())
    assert len(ids) == len(set(ids)) == 25 and pages == 7


def test_sdk_page_iterator_walks_every_page(tenant, ca_bundle_env):
    async def scenario():
        client = graph_client(tenant)
        first = await client.users.get(user_query(top=5, select=["id", "userPrincipalName"]))
        seen = []

        def collect(user):
            seen.append(user.user_principal_name)
            return True

        await PageIterator(first, client.request_adapter).iterate(collect)
        return seen

    seen = run(scenario())
    assert len(seen) == len(set(seen)) == 25 + len(tenant["users"])


def test_advanced_query_with_consistency_level_and_count(tenant, ca_bundle_env):
    async def scenario():
        client = graph_client(tenant)
        config = user_query(filter="onPremisesSyncEnabled ne true", count=True, select=["userPrincipalName"])
        config.headers.add("ConsistencyLevel", "eventual")
        page = await client.users.get(config)
        with pytest.raises(ODataError) as exc:
            await client.users.get(user_query(filter="onPremisesSyncEnabled ne true", count=True))
        return page, exc.value

    page, error = run(scenario())
    assert page.odata_count == len(page.value) == 6
    assert error.response_status_code == 400 and error.error.code == "Request_UnsupportedQuery"


def test_get_one_and_patch_a_cloud_only_user(tenant, ca_bundle_env):
    upn = next(u["userPrincipalName"] for u in tenant["users"] if u["userPrincipalName"].startswith("user@"))

    async def scenario():
        client = graph_client(tenant)
        user = await client.users.by_user_id(upn).get()
        await client.users.by_user_id(user.id).patch(User(job_title="Pilot lead", office_location="B2"))
        config = RequestConfiguration(
            query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
                select=["jobTitle", "officeLocation", "onPremisesSyncEnabled"]
            )
        )
        return user, await client.users.by_user_id(user.id).get(config)

    before, after = run(scenario())
    assert before.user_principal_name == upn and before.id
    assert after.job_title == "Pilot lead" and after.office_location == "B2" and after.on_premises_sync_enabled is None


def test_synced_user_refuses_patch_until_soa_moves_to_the_cloud(tenant, ca_bundle_env):
    async def scenario():
        client = graph_client(tenant)
        page = await client.users.get(user_query(filter="onPremisesSyncEnabled eq true", top=1, select=["id"]))
        uid = page.value[0].id
        with pytest.raises(ODataError) as exc:
            await client.users.by_user_id(uid).patch(User(display_name="Cloud edit"))
        behavior = await client.users.by_user_id(uid).on_premises_sync_behavior.get()
        await client.users.by_user_id(uid).on_premises_sync_behavior.patch(
            OnPremisesSyncBehavior(is_cloud_managed=True)
        )
        after = await client.users.by_user_id(uid).on_premises_sync_behavior.get()
        await client.users.by_user_id(uid).patch(User(display_name="Cloud edit"))
        config = RequestConfiguration(
            query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
                select=["displayName", "onPremisesSyncEnabled"]
            )
        )
        return exc.value, behavior, after, await client.users.by_user_id(uid).get(config)

    error, before, after, user = run(scenario())
    assert error.response_status_code == 400 and error.error.code == "Request_BadRequest"
    assert error.error.message.startswith("Unable to update the specified properties for on-premises mastered")
    assert error.error.inner_error is not None
    assert before.is_cloud_managed is False and after.is_cloud_managed is True
    assert user.display_name == "Cloud edit" and user.on_premises_sync_enabled is None


def test_delete_and_restore_a_user_on_beta(tenant, ca_bundle_env):
    async def scenario():
        client = graph_client(tenant, version="beta")
        created = await client.users.post(
            User(
                account_enabled=True,
                display_name="Temp Worker",
                mail_nickname="tempworker",
                user_principal_name=f"tempworker@{tenant['domain']}",
                password_profile=PasswordProfile(password="Sdk-Passw0rd!", force_change_password_next_sign_in=False),
            )
        )
        await client.users.by_user_id(created.id).delete()
        with pytest.raises(ODataError) as gone:
            await client.users.by_user_id(created.id).get()
        deleted = await client.directory.deleted_items.graph_user.get()
        restored = await client.directory.deleted_items.by_directory_object_id(created.id).restore.post()
        back = await client.users.by_user_id(created.id).get()
        return created, gone.value, deleted, restored, back

    created, gone, deleted, restored, back = run(scenario())
    assert gone.response_status_code == 404 and gone.error.code == "Request_ResourceNotFound"
    assert [u.id for u in deleted.value] == [created.id] and deleted.value[0].deleted_date_time is not None
    assert type(restored).__name__ == "User" and restored.id == created.id
    assert back.display_name == "Temp Worker"


def test_app_without_permission_gets_odata_403(tenant, ca_bundle_env):
    async def scenario():
        client = graph_client(tenant, "graph-reader")
        users = await client.users.get(user_query(top=1))
        with pytest.raises(ODataError) as exc:
            await client.users.by_user_id(users.value[0].id).patch(User(job_title="x"))
        return exc.value

    error = run(scenario())
    assert error.response_status_code == 403 and error.error.code == "Authorization_RequestDenied"
