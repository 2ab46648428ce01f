"""Graph JSON $batch: sub-requests through the same app, limits, unique ids and dependsOn."""

from __future__ import annotations

import pytest


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="batch", seed=9, mailboxes=4)


@pytest.fixture
def gh(t, auth_header):
    return auth_header(t, "graph")


def test_batch_dispatches_each_request(client, t, gh):
    uid = t.user_by_upn(f"user@{t.domain}").id
    r = client.post(
        "/v1.0/$batch",
        headers=gh,
        json={
            "requests": [
                {"id": "1", "method": "GET", "url": "/users?$top=2&$select=id"},
                {
                    "id": "2",
                    "method": "PATCH",
                    "url": f"/users/{uid}",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"jobTitle": "Batched"},
                },
                {"id": "3", "method": "GET", "url": f"users/{uid}?$select=jobTitle", "dependsOn": ["2"]},
                {"id": "4", "method": "GET", "url": "/users/$count", "headers": {"ConsistencyLevel": "eventual"}},
                {"id": "5", "method": "GET", "url": "/nothing"},
            ]
        },
    )
    assert r.status_code == 200
    res = {x["id"]: x for x in r.get_json()["responses"]}
    assert [x["id"] for x in r.get_json()["responses"]] == ["1", "2", "3", "4", "5"]
    assert res["1"]["status"] == 200 and len(res["1"]["body"]["value"]) == 2
    assert res["2"]["status"] == 204 and "body" not in res["2"]
    assert res["3"]["body"]["jobTitle"] == "Batched"
    assert res["4"]["status"] == 200 and int(res["4"]["body"]) == sum(1 for u in t.users if u.deleted_date_time is None)
    assert res["5"]["status"] == 400 and res["5"]["body"]["error"]["code"] == "BadRequest"


def test_failed_dependency_is_424(client, t, gh):
    synced = next(u for u in t.users if u.on_premises_sync_enabled)
    r = client.post(
        "/beta/$batch",
        headers=gh,
        json={
            "requests": [
                {
                    "id": "a",
                    "method": "PATCH",
                    "url": f"/users/{synced.id}",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"displayName": "nope"},
                },
                {"id": "b", "method": "GET", "url": "/users?$top=1", "dependsOn": ["a"]},
            ]
        },
    )
    res = {x["id"]: x for x in r.get_json()["responses"]}
    assert res["a"]["status"] == 400 and res["b"]["status"] == 424


def test_sub_requests_are_authorized_individually(client, t, auth_header):
    reader = auth_header(t, "graph", app="graph-reader")
    uid = t.user_by_upn(f"user@{t.domain}").id
    r = client.post(
        "/v1.0/$batch",
        headers=reader,
        json={
            "requests": [
                {"id": "1", "method": "GET", "url": "/users?$top=1"},
                {"id": "2", "method": "DELETE", "url": f"/users/{uid}"},
            ]
        },
    )
    res = {x["id"]: x for x in r.get_json()["responses"]}
    assert res["1"]["status"] == 200 and res["2"]["status"] == 403
    assert t.users.get(uid).deleted_date_time is None


@pytest.mark.parametrize(
    "payload,fragment",
    [
        ({"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}, "limit of 20"),
        (
            {"requests": [{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/me"}]},
            "duplicate",
        ),
        ({"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]}, "unknown request id"),
        (
            {
                "requests": [
                    {"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
                    {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
                ]
            },
            "cycle",
        ),
        ({"requests": [{"id": "1", "method": "PATCH", "url": "/users/x", "body": {"a": 1}}]}, "Content-Type"),
        ({"requests": [{"id": "1", "method": "BREW", "url": "/users"}]}, "method"),
        ({"requests": [{"id": "1", "method": "GET", "url": "https://evil.example/users"}]}, "relative"),
        ({"requests": []}, "Invalid batch payload"),
        ({"nope": 1}, "Invalid batch payload"),
    ],
)
def test_invalid_batches_are_400(client, gh, payload, fragment):
    r = client.post("/v1.0/$batch", headers=gh, json=payload)
    assert r.status_code == 400 and fragment in r.get_json()["error"]["message"]


def test_batch_needs_a_token(client):
    r = client.post("/v1.0/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/users"}]})
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_nested_batch_is_refused(client, gh):
    r = client.post(
        "/v1.0/$batch",
        headers=gh,
        json={
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": "/$batch",
                    "headers": {"Content-Type": "application/json"},
                    "body": {"requests": []},
                }
            ]
        },
    )
    assert r.get_json()["responses"][0]["status"] == 400
