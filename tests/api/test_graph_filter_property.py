"""Property test (issue 19): random ``$filter`` expressions, including ``/$count`` over collections, answered by
``GET /users`` (rows and ``@odata.count``) and ``GET /users/$count`` agree with a brute-force evaluation of the same
expression over the tenant's users, written here independently of the mock's OData evaluator."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.entra.graph.users import graph_property
from hybridsoa.mock.domain.entra.tokens import issue_access_token
from hybridsoa.mock.domain.tenant import TenantRegistry

HEADERS_EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture(scope="module")
def world():
    registry = TenantRegistry(seed=77)
    tenant = registry.create(name="propfilter", seed=7, frozen_clock=True, mailboxes=12)
    # Vary the data the atoms read: some disabled accounts, some extra and some missing addresses.
    for i, user in enumerate(sorted(tenant.users, key=lambda u: u.id)):
        if i % 3 == 0:
            user.account_enabled = False
        if i % 4 == 1:
            user.proxy_addresses = []
        elif i % 5 == 2:
            user.proxy_addresses = list(user.proxy_addresses) + [f"smtp:alias{i}@{tenant.domain}"]
        if i % 6 == 0:
            user.job_title = "Engineer"
        tenant.users.touch(user.id)
    token, _ = issue_access_token(tenant, "graph", app=tenant.app_by_name("automation"))
    client = create_app(registry).test_client()
    return tenant, client, {"Authorization": f"Bearer {token}", **HEADERS_EVENTUAL}


def _prefixes(tenant) -> list[str]:
    names = sorted({u.display_name for u in tenant.users})
    return sorted({n[:k] for n in names for k in (1, 3)} | {"zz", "Sh"})


# Each atom: (filter text, predicate over an EntraUser). Strings compare case-insensitively, as the directory does.
def _atoms(tenant):
    names = sorted({u.display_name for u in tenant.users})
    return st.one_of(
        st.sampled_from(names + ["Nobody Here"]).map(
            lambda n: (
                f"displayName eq '{n.replace(chr(39), chr(39) * 2)}'",
                lambda u, n=n: u.display_name.casefold() == n.casefold(),
            )
        ),
        st.sampled_from(_prefixes(tenant)).map(
            lambda p: (
                f"startswith(displayName,'{p}')",
                lambda u, p=p: u.display_name.casefold().startswith(p.casefold()),
            )
        ),
        st.booleans().map(lambda b: (f"accountEnabled eq {str(b).lower()}", lambda u, b=b: u.account_enabled is b)),
        st.sampled_from(["eq", "ne"]).flatmap(
            lambda op: st.sampled_from([0, 1]).map(
                lambda n, op=op: (
                    f"proxyAddresses/$count {op} {n}",
                    lambda u, n=n, op=op: (len(u.proxy_addresses) == n) == (op == "eq"),
                )
            )
        ),
        st.just(("assignedLicenses/$count eq 0", lambda u: not graph_property(u, "assignedLicenses"))),
        st.just(("assignedLicenses/$count ne 0", lambda u: bool(graph_property(u, "assignedLicenses")))),
        st.just(
            (
                "proxyAddresses/any(p:startswith(p,'smtp:'))",
                lambda u: any(a.casefold().startswith("smtp:") for a in u.proxy_addresses),
            )
        ),
        st.just(("onPremisesSyncEnabled eq true", lambda u: u.on_premises_sync_enabled is True)),
        st.just(("jobTitle eq 'Engineer'", lambda u: (u.job_title or "").casefold() == "engineer")),
    )


def _expressions(tenant):
    def extend(children):
        return st.one_of(
            st.tuples(children, children).map(
                lambda ab: (f"({ab[0][0]}) and ({ab[1][0]})", lambda u, a=ab[0][1], b=ab[1][1]: a(u) and b(u))
            ),
            st.tuples(children, children).map(
                lambda ab: (f"({ab[0][0]}) or ({ab[1][0]})", lambda u, a=ab[0][1], b=ab[1][1]: a(u) or b(u))
            ),
            children.map(lambda a: (f"not ({a[0]})", lambda u, f=a[1]: not f(u))),
        )

    return st.recursive(_atoms(tenant), extend, max_leaves=4)


@pytest.fixture(scope="module")
def expressions(world):
    return _expressions(world[0])


def test_filter_and_count_agree_with_brute_force(world, expressions):
    tenant, client, headers = world

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(expressions)
    def check(expr):
        text, predicate = expr
        expected = {u.id for u in tenant.users if u.deleted_date_time is None and predicate(u)}
        r = client.get(
            "/v1.0/users",
            query_string={"$filter": text, "$count": "true", "$top": "999", "$select": "id"},
            headers=headers,
        )
        assert r.status_code == 200, (text, r.get_json())
        body = r.get_json()
        assert {v["id"] for v in body["value"]} == expected, text
        assert body["@odata.count"] == len(expected), text
        raw = client.get("/v1.0/users/$count", query_string={"$filter": text}, headers=headers)
        assert raw.status_code == 200 and int(raw.get_data(as_text=True)) == len(expected), text

    check()
