"""On-prem AD control plane: LDAP-named JSON, validation with the control-plane error shape, change index."""

from __future__ import annotations

import pytest


@pytest.fixture
def base(make_tenant):
    t = make_tenant(name="adapi", seed=4, mailboxes=6)
    return f"/_mock/tenants/{t.id}"


def first_sam(client, base):
    return client.get(f"{base}/onprem/users?top=1").get_json()["value"][0]["sAMAccountName"]


def test_list_pages_and_filters(client, base):
    body = client.get(f"{base}/onprem/users?top=4").get_json()
    assert body["count"] == 6 and len(body["value"]) == 4 and body["nextSkip"] == 4
    rest = client.get(f"{base}/onprem/users?top=4&skip=4").get_json()
    assert len(rest["value"]) == 2 and rest["nextSkip"] is None
    shared = client.get(f"{base}/onprem/users?ou=OU=Shared,OU=Corp,DC=adapi,DC=local").get_json()
    assert shared["count"] >= 1 and all("OU=Shared" in u["distinguishedName"] for u in shared["value"])
    for bad in ("top=0", "top=x", "skip=-1"):
        resp = client.get(f"{base}/onprem/users?{bad}")
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "InvalidQuery"


def test_patch_changes_attributes_and_bumps_change_index(client, base):
    sam = first_sam(client, base)
    before = client.get(f"{base}/onprem/users/{sam}").get_json()
    client.post(f"{base.replace('/tenants/', '/tenants/')}/clock/advance", json={"minutes": 5})
    resp = client.patch(
        f"{base}/onprem/users/{sam}", json={"extensionAttribute2": "v2", "msExchExtensionCustomAttribute1": ["a", "b"]}
    )
    after = resp.get_json()
    assert resp.status_code == 200 and after["extensionAttribute2"] == "v2"
    assert after["msExchExtensionCustomAttribute1"] == ["a", "b"]
    assert after["uSNChanged"] > before["uSNChanged"] and after["whenChanged"] > before["whenChanged"]


@pytest.mark.parametrize(
    "body,code",
    [
        ({"nope": 1}, "InvalidArgument"),
        ({"objectGUID": "x"}, "InvalidArgument"),
        ({"msExchHideFromAddressLists": "yes"}, "InvalidArgument"),
        ([1, 2], "InvalidBody"),
    ],
)
def test_bad_patch_gets_error_shape_and_changes_nothing(client, base, body, code):
    sam = first_sam(client, base)
    before = client.get(f"{base}/onprem/users/{sam}").get_json()
    resp = client.patch(f"{base}/onprem/users/{sam}", json=body)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code
    assert client.get(f"{base}/onprem/users/{sam}").get_json() == before


def test_invalid_json_and_unknown_user(client, base):
    sam = first_sam(client, base)
    resp = client.patch(f"{base}/onprem/users/{sam}", data="{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "InvalidJson"
    for method in ("get", "patch", "delete"):
        resp = getattr(client, method)(f"{base}/onprem/users/ghost", json={})
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "NotFound"
    assert client.post(f"{base}/onprem/users/ghost/move", json={"ou": "OU=X,DC=adapi,DC=local"}).status_code == 404
    assert client.get("/_mock/tenants/nosuch/onprem/users").status_code == 404


def test_create_conflict_and_validation(client, base):
    resp = client.post(
        f"{base}/onprem/users", json={"sAMAccountName": "jdoe", "displayName": "J Doe", "department": "Legal"}
    )
    assert resp.status_code == 201 and resp.get_json()["inSyncScope"] is True
    assert client.post(f"{base}/onprem/users", json={"sAMAccountName": "jdoe"}).status_code == 409
    resp = client.post(f"{base}/onprem/users", json={"displayName": "no sam"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "ValidationError"
    resp = client.post(f"{base}/onprem/users", json={"sAMAccountName": "t", "msExchRecipientTypeDetails": "big"})
    assert resp.status_code == 400


def test_move_validates_ou(client, base):
    sam = first_sam(client, base)
    for body in ({}, {"ou": ""}, {"ou": "OU=Users,DC=elsewhere,DC=local"}, {"ou": 7}):
        resp = client.post(f"{base}/onprem/users/{sam}/move", json=body)
        assert resp.status_code == 400
    resp = client.post(f"{base}/onprem/users/{sam}/move", json={"ou": "OU=Disabled,DC=adapi,DC=local"})
    assert resp.status_code == 200 and resp.get_json()["distinguishedName"].endswith("OU=Disabled,DC=adapi,DC=local")
