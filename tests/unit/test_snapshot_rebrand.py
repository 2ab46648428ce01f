"""A snapshot moved to another tenant (restored under a new name or id) is rebranded a piece at a time: the same
document as the old one-pass rewrite of the whole text, without ever serialising the whole document at once."""

from __future__ import annotations

import copy
import json

import pytest

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.tenant import TenantRegistry


@pytest.fixture(scope="module")
def doc():
    reg = TenantRegistry(seed=1)
    tenant = reg.create("con-toso", mailboxes=40, seed=5)
    with tenant.lock:
        return snapshot.dump_tenant(tenant)


@pytest.mark.parametrize(
    "new_id,new_name",
    [
        ("0d7d9a41-0000-4000-8000-00000000abcd", "fabrikam"),
        (None, "north-wind"),
        ("0d7d9a41-0000-4000-8000-0000000000ff", None),
    ],
)
def test_piecewise_rebrand_equals_the_whole_text_rewrite(doc, monkeypatch, new_id, new_name):
    old_id, old_name = doc["tenant"]["id"], doc["tenant"]["name"]
    args = {"old_id": old_id, "new_id": new_id or old_id, "old_name": old_name, "new_name": new_name or old_name}
    piecewise = snapshot.rebrand(doc, **args)
    monkeypatch.setattr(snapshot, "REBRAND_DEPTH", 0)  # depth 0: one rewrite of the whole text, as before
    whole = snapshot.rebrand(doc, **args)
    assert piecewise == whole
    assert list(json.dumps(piecewise)) == list(json.dumps(whole))  # same key order too
    text = json.dumps(piecewise)
    if new_name:
        assert f"{new_name}.onmicrosoft.com" in text and f"{old_name}.onmicrosoft.com" not in text
    if new_id:
        assert new_id in text and old_id not in text


def test_the_whole_document_is_never_serialised_at_once(doc, monkeypatch):
    sizes = []
    real = json.dumps

    def recording(value, *args, **kwargs):
        text = real(value, *args, **kwargs)
        sizes.append(len(text))
        return text

    monkeypatch.setattr(snapshot.json, "dumps", recording)
    snapshot.rebrand(doc, old_id=doc["tenant"]["id"], new_id=doc["tenant"]["id"], old_name="con-toso", new_name="x")
    monkeypatch.setattr(snapshot.json, "dumps", real)
    whole = len(json.dumps(doc))
    assert max(sizes) < whole / 10  # one row or record at a time


def test_a_restore_frees_its_own_copy_a_slice_at_a_time(doc, monkeypatch):
    freed = []
    monkeypatch.setattr(snapshot, "dismantle", lambda value: freed.append(value))
    tenant = snapshot.restore_tenant(doc, name="fabrikam")
    assert tenant.name == "fabrikam" and len(freed) == 1
    assert freed[0] is not doc and "fabrikam" in freed[0]["tenant"]["domain"]  # the rebranded copy only
    snapshot.restore_tenant(copy.deepcopy(doc), owned=True)  # the caller's own document: left to the caller
    assert len(freed) == 1
