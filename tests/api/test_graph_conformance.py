"""CSDL conformance: every entity the mock's Graph API returns is checked against Microsoft's published v1.0
schema (tests/data/graph-v1.0.csdl): property names exist on the type or its base types, values have the
declared EDM types (complex types and enums recursively), non-nullable properties are never null and, for
complete projections, present. The ``@odata.context`` entity set must exist in the entity container."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hybridsoa.mock.domain.entra import roles as R
from hybridsoa.mock.domain.entra.graph.users import USER_PROPERTIES

CSDL = Path(__file__).resolve().parents[1] / "data" / "graph-v1.0.csdl"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ISO_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DURATION = re.compile(r"^-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


class Schema:
    """The parts of an EDMX document the checker needs: types by qualified name, aliases, the container."""

    def __init__(self, path: Path):
        root = ET.parse(path).getroot()
        self.aliases: dict[str, str] = {}
        self.types: dict[str, ET.Element] = {}
        self.container: set[str] = set()
        for schema in root.iter(f"{EDM}Schema"):
            ns = schema.get("Namespace")
            if schema.get("Alias"):
                self.aliases[schema.get("Alias")] = ns
            for el in schema:
                tag = el.tag.replace(EDM, "")
                if tag in ("EntityType", "ComplexType", "EnumType"):
                    self.types[f"{ns}.{el.get('Name')}"] = el
                elif tag == "EntityContainer":
                    self.container = {c.get("Name") for c in el if c.get("Name")}

    def qualify(self, name: str) -> str:
        """``graph.user`` -> ``microsoft.graph.user``."""
        prefix, _, local = name.rpartition(".")
        return f"{self.aliases.get(prefix, prefix)}.{local}"

    def members(self, type_name: str) -> dict[str, ET.Element]:
        """Properties and navigation properties of a type including every base type."""
        out: dict[str, ET.Element] = {}
        name = self.qualify(type_name)
        while name:
            el = self.types[name]
            for child in el:
                if child.tag in (f"{EDM}Property", f"{EDM}NavigationProperty"):
                    out.setdefault(child.get("Name"), child)
            base = el.get("BaseType")
            name = self.qualify(base) if base else None
        return out

    def derives_from(self, derived: str, base: str) -> bool:
        """Whether ``derived`` is ``base`` or inherits from it."""
        name, base = self.qualify(derived), self.qualify(base)
        while name:
            if name == base:
                return True
            parent = self.types[name].get("BaseType")
            name = self.qualify(parent) if parent else None
        return False


@pytest.fixture(scope="module")
def schema():
    return Schema(CSDL)


def check(schema: Schema, value: dict, type_name: str, *, complete: bool, where: str = "") -> list[str]:
    """Problems of ``value`` against ``type_name`` (empty list = conformant)."""
    problems = []
    odata_type = value.get("@odata.type")
    if odata_type:
        declared = odata_type.lstrip("#")
        if declared not in schema.types or not schema.derives_from(declared, type_name):
            return [f"{where}@odata.type {odata_type} is not {type_name} or derived from it"]
        type_name = declared
    members = schema.members(type_name)
    for key, item in value.items():
        if key.startswith("@odata.") or "@odata." in key:
            continue
        prop = members.get(key)
        if prop is None:
            problems.append(f"{where}{key}: no such property on {type_name}")
            continue
        nullable = prop.get("Nullable") != "false"
        problems += check_value(schema, item, prop.get("Type"), nullable, where=f"{where}{key}.")
    if complete:
        for name, prop in members.items():
            if prop.tag == f"{EDM}Property" and prop.get("Nullable") == "false" and name not in value:
                problems.append(f"{where}{name}: non-nullable property missing")
    return problems


def check_value(schema, item, type_ref: str, nullable: bool, *, where: str) -> list[str]:
    """Problems of one property value against its declared type."""
    if item is None:
        return [] if nullable else [f"{where} null in a non-nullable property"]
    if type_ref.startswith("Collection("):
        if not isinstance(item, list):
            return [f"{where} expected a collection"]
        inner = type_ref[len("Collection(") : -1]
        out = []
        for i, element in enumerate(item):
            out += check_value(schema, element, inner, False, where=f"{where}[{i}]")
        return out
    if type_ref.startswith("Edm."):
        edm = type_ref[4:]
        ok = {
            "String": lambda v: isinstance(v, str),
            "Boolean": lambda v: isinstance(v, bool),
            "Int32": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
            "Int64": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "Double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "DateTimeOffset": lambda v: isinstance(v, str) and bool(ISO_DT.match(v)),
            "Guid": lambda v: isinstance(v, str) and bool(GUID.match(v)),
            "Duration": lambda v: isinstance(v, str) and bool(DURATION.match(v)),
            "Binary": lambda v: isinstance(v, str),
        }.get(edm)
        if ok is None:
            return [f"{where} unsupported EDM type {edm} in the checker"]
        return [] if ok(item) else [f"{where} {item!r} is not {type_ref}"]
    qualified = schema.qualify(type_ref)
    el = schema.types.get(qualified)
    if el is None:
        return [f"{where} unknown type {type_ref}"]
    if el.tag == f"{EDM}EnumType":
        members = {m.get("Name") for m in el}
        return [] if isinstance(item, str) and item in members else [f"{where} {item!r} not in enum {type_ref}"]
    if not isinstance(item, dict):
        return [f"{where} expected an object of {type_ref}"]
    return check(schema, item, type_ref, complete=True, where=where)


def check_context(schema: Schema, body: dict) -> list[str]:
    """The entity set or singleton named by ``@odata.context`` exists in the container."""
    fragment = body["@odata.context"].split("#", 1)[1]
    first = re.split(r"[/(]", fragment, maxsplit=1)[0]
    return [] if first in schema.container else [f"context names unknown entity set {first}"]


# ------------------------------------------------------------------ the checker can fail
def test_checker_catches_bad_documents(schema):
    assert check(schema, {"id": "1", "displayName": "x"}, "graph.user", complete=False) == []
    assert check(schema, {"id": "1", "displayname": "x"}, "graph.user", complete=False)
    assert check(schema, {"id": "1", "accountEnabled": "true"}, "graph.user", complete=False)
    assert check(schema, {"id": "1", "proxyAddresses": None}, "graph.user", complete=False)
    assert check(schema, {"id": "1", "createdDateTime": "yesterday"}, "graph.user", complete=False)
    assert check(schema, {"id": "x", "isCloudManaged": True}, "graph.onPremisesSyncBehavior", complete=True) == []
    assert check(schema, {"id": "x"}, "graph.onPremisesSyncBehavior", complete=True)
    assert check(schema, {"id": "x", "@odata.type": "#microsoft.graph.group"}, "graph.user", complete=False)
    assert check(
        schema,
        {
            "id": "x",
            "features": {},
            "configuration": {"accidentalDeletionPrevention": {"synchronizationPreventionType": "sometimes"}},
        },
        "graph.onPremisesDirectorySynchronization",
        complete=True,
    )


def test_user_vocabulary_matches_the_csdl(schema):
    members = schema.members("graph.user")
    declared = {
        name: el.get("Type").replace("Edm.", "").replace("graph.", "")
        for name, el in members.items()
        if el.tag == f"{EDM}Property"
    }
    assert {k: v for k, v in declared.items() if k not in ("id", "deletedDateTime")} == USER_PROPERTIES


# ------------------------------------------------------------------ everything the mock returns
@pytest.fixture
def world(make_tenant, client, auth_header):
    t = make_tenant(name="csdl", seed=21, mailboxes=4)
    return t, client, auth_header(t, "graph")


def ok(r, status=200):
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


def assert_conforms(schema, body, type_name, *, complete):
    problems = check_context(schema, body) + check(schema, body, type_name, complete=complete)
    assert problems == []


def test_users(schema, world):
    t, client, gh = world
    synced = next(u for u in t.users if u.on_premises_sync_enabled)
    every = ",".join(["id", "deletedDateTime"] + list(USER_PROPERTIES))
    page = ok(client.get("/v1.0/users?$top=999", headers=gh))
    assert check_context(schema, page) == []
    for item in page["value"]:
        assert check(schema, item, "graph.user", complete=False) == []
    full = ok(client.get(f"/v1.0/users?$select={every}", headers=gh))
    for item in full["value"]:
        assert check(schema, item, "graph.user", complete=True) == []
    assert_conforms(
        schema, ok(client.get(f"/v1.0/users/{synced.id}?$select={every}", headers=gh)), "graph.user", complete=True
    )
    ok(client.patch(f"/v1.0/users/{synced.id}/onPremisesSyncBehavior", json={"isCloudManaged": True}, headers=gh), 204)
    ok(
        client.patch(
            f"/v1.0/users/{synced.id}",
            headers=gh,
            json={
                "businessPhones": ["+1 555"],
                "otherMails": ["o@x.com"],
                "onPremisesExtensionAttributes": {"extensionAttribute2": "v"},
                "employeeHireDate": "2024-01-01T00:00:00Z",
                "showInAddressList": True,
            },
        ),
        204,
    )
    assert_conforms(
        schema, ok(client.get(f"/v1.0/users/{synced.id}?$select={every}", headers=gh)), "graph.user", complete=True
    )
    created = ok(
        client.post(
            "/v1.0/users",
            headers=gh,
            json={
                "accountEnabled": True,
                "displayName": "C",
                "mailNickname": "c",
                "userPrincipalName": f"c@{t.domain}",
                "passwordProfile": {"password": "Pw-12345678!"},
            },
        ),
        201,
    )
    assert_conforms(schema, created, "graph.user", complete=False)


def test_sync_behavior(schema, world):
    t, client, gh = world
    synced = next(u for u in t.users if u.on_premises_sync_enabled)
    for version in ("v1.0", "beta"):
        body = ok(client.get(f"/{version}/users/{synced.id}/onPremisesSyncBehavior", headers=gh))
        assert_conforms(schema, body, "graph.onPremisesSyncBehavior", complete=True)


def test_deleted_items(schema, world):
    t, client, gh = world
    every = ",".join(["id", "deletedDateTime"] + list(USER_PROPERTIES))
    uid = ok(
        client.post(
            "/v1.0/users",
            headers=gh,
            json={
                "accountEnabled": True,
                "displayName": "D",
                "mailNickname": "d",
                "userPrincipalName": f"d@{t.domain}",
                "passwordProfile": {"password": "Pw-12345678!"},
            },
        ),
        201,
    )["id"]
    ok(client.delete(f"/v1.0/users/{uid}", headers=gh), 204)
    listing = ok(client.get("/v1.0/directory/deletedItems/microsoft.graph.user", headers=gh))
    assert check_context(schema, listing) == []
    for item in listing["value"]:
        assert check(schema, item, "graph.user", complete=False) == []
    full = ok(client.get(f"/v1.0/directory/deletedItems/microsoft.graph.user?$select={every}", headers=gh))
    assert all(check(schema, item, "graph.user", complete=True) == [] for item in full["value"])
    assert_conforms(
        schema,
        ok(client.get(f"/v1.0/directory/deletedItems/{uid}", headers=gh)),
        "graph.directoryObject",
        complete=False,
    )
    assert_conforms(
        schema,
        ok(client.post(f"/v1.0/directory/deletedItems/{uid}/restore", headers=gh)),
        "graph.directoryObject",
        complete=False,
    )


def test_role_management(schema, world, auth_header):
    t, client, gh = world
    base = "/v1.0/roleManagement/directory"
    user = t.user_by_upn(f"user@{t.domain}")
    defs = ok(client.get(f"{base}/roleDefinitions", headers=gh))
    assert check_context(schema, defs) == []
    assert all(check(schema, d, "graph.unifiedRoleDefinition", complete=True) == [] for d in defs["value"])
    assignment = ok(
        client.post(
            f"{base}/roleAssignments",
            headers=gh,
            json={"principalId": user.id, "roleDefinitionId": R.GLOBAL_READER, "directoryScopeId": "/"},
        ),
        201,
    )
    assert_conforms(schema, assignment, "graph.unifiedRoleAssignment", complete=True)
    listing = ok(client.get(f"{base}/roleAssignments", headers=gh))
    assert all(check(schema, a, "graph.unifiedRoleAssignment", complete=True) == [] for a in listing["value"])
    elig = ok(
        client.post(
            f"{base}/roleEligibilityScheduleRequests",
            headers=gh,
            json={
                "action": "adminAssign",
                "principalId": user.id,
                "roleDefinitionId": R.EXCHANGE_ADMINISTRATOR,
                "directoryScopeId": "/",
                "justification": "x",
                "ticketInfo": {"ticketNumber": "1", "ticketSystem": "T"},
                "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "P30D"}},
            },
        ),
        201,
    )
    assert_conforms(schema, elig, "graph.unifiedRoleEligibilityScheduleRequest", complete=True)
    act = ok(
        client.post(
            f"{base}/roleAssignmentScheduleRequests",
            headers=auth_header(t, "graph", user="user"),
            json={
                "action": "selfActivate",
                "principalId": user.id,
                "roleDefinitionId": R.EXCHANGE_ADMINISTRATOR,
                "directoryScopeId": "/",
                "justification": "x",
                "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "PT2H"}},
            },
        ),
        201,
    )
    assert_conforms(schema, act, "graph.unifiedRoleAssignmentScheduleRequest", complete=True)
    for segment, type_name in (
        ("roleEligibilityScheduleRequests", "unifiedRoleEligibilityScheduleRequest"),
        ("roleAssignmentScheduleRequests", "unifiedRoleAssignmentScheduleRequest"),
        ("roleEligibilitySchedules", "unifiedRoleEligibilitySchedule"),
        ("roleAssignmentSchedules", "unifiedRoleAssignmentSchedule"),
        ("roleEligibilityScheduleInstances", "unifiedRoleEligibilityScheduleInstance"),
        ("roleAssignmentScheduleInstances", "unifiedRoleAssignmentScheduleInstance"),
    ):
        body = ok(client.get(f"{base}/{segment}", headers=gh))
        assert check_context(schema, body) == [] and body["value"]
        for item in body["value"]:
            assert check(schema, item, f"graph.{type_name}", complete=True) == []


def test_organization_and_sync(schema, world):
    t, client, gh = world
    org = ok(client.get("/v1.0/organization", headers=gh))
    assert check_context(schema, org) == []
    assert check(schema, org["value"][0], "graph.organization", complete=True) == []
    sync = ok(client.get("/v1.0/directory/onPremisesSynchronization", headers=gh))
    assert check_context(schema, sync) == []
    assert check(schema, sync["value"][0], "graph.onPremisesDirectorySynchronization", complete=True) == []
    t.sync.settings["deletionThreshold"] = 0
    sync = ok(client.get(f"/v1.0/directory/onPremisesSynchronization/{t.id}", headers=gh))
    assert_conforms(schema, sync, "graph.onPremisesDirectorySynchronization", complete=True)


def test_provisioning_errors_of_a_proxy_conflict(schema, world):
    t, client, gh = world
    first, second = list(t.ad_users)[:2]
    second.attrs["proxyAddresses"] = list(second.attrs["proxyAddresses"]) + [first.attrs["proxyAddresses"][0].lower()]
    t.ad_users.touch(second.sam_account_name.lower())
    t.sync.run_cycle("Delta")
    body = ok(client.get("/v1.0/users?$select=id,onPremisesProvisioningErrors,onPremisesSyncEnabled", headers=gh))
    with_errors = [u for u in body["value"] if u["onPremisesProvisioningErrors"]]
    assert with_errors and with_errors[0]["onPremisesProvisioningErrors"][0]["category"] == "PropertyConflict"
    for item in body["value"]:
        assert check(schema, item, "graph.user", complete=False) == []
