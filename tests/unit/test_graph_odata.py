"""OData $filter parsing and evaluation (the subset Graph accepts on directory objects)."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra.graph.odata import FilterSyntaxError, evaluate, parse_filter

USER = {
    "displayName": "Adele Vance",
    "userPrincipalName": "AdeleV@contoso.com",
    "accountEnabled": True,
    "onPremisesSyncEnabled": None,
    "jobTitle": None,
    "proxyAddresses": ["SMTP:adele@contoso.com", "smtp:a@x.com"],
    "onPremisesExtensionAttributes": {"extensionAttribute1": "FIN-100"},
    "createdDateTime": "2026-01-05T09:00:00Z",
    "department": "O'Brien Dept",
}


@pytest.mark.parametrize(
    "expr,expected",
    [
        ("displayName eq 'adele vance'", True),
        ("displayName ne 'Adele Vance'", False),
        ("startswith(displayName,'ad')", True),
        ("endswith(userPrincipalName,'.COM')", True),
        ("accountEnabled eq true and onPremisesSyncEnabled eq null", True),
        ("onPremisesSyncEnabled eq true or jobTitle eq null", True),
        ("not(accountEnabled eq true)", False),
        ("not accountEnabled eq false", True),
        ("userPrincipalName in ('x@y', 'adelev@contoso.com')", True),
        ("proxyAddresses/any(p:p eq 'smtp:A@X.COM')", True),
        ("proxyAddresses/any(p:startswith(p,'x500:'))", False),
        ("proxyAddresses/any()", True),
        ("onPremisesExtensionAttributes/extensionAttribute1 eq 'FIN-100'", True),
        ("createdDateTime ge 2026-01-01T00:00:00Z", True),
        ("createdDateTime lt 2026-01-01T00:00:00Z", False),
        ("department eq 'O''Brien Dept'", True),
        ("(displayName eq 'x' or displayName eq 'Adele Vance') and accountEnabled eq true", True),
        ("jobTitle gt 'a'", False),
    ],
)
def test_evaluate(expr, expected):
    ast, _ = parse_filter(expr)
    assert evaluate(ast, USER) is expected


def test_info_reports_what_makes_a_query_advanced():
    _, info = parse_filter("accountEnabled ne false and not(endswith(mail,'x')) and jobTitle eq null")
    assert {"ne", "not"} <= info.operators
    assert "endswith" in info.functions
    assert info.null_comparisons == {"jobTitle"}
    assert info.properties == {"accountEnabled", "mail", "jobTitle"}


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "displayName eq",
        "eq 'x'",
        "displayName eq 'x' and",
        "(displayName eq 'x'",
        "displayName eq 'unterminated",
        "displayName ~ 'x'",
        "startswith(displayName",
        "displayName eq 'x' 'y'",
        "displayName in 'x'",
        "a/any(p:p eq 1",
    ],
)
def test_syntax_errors(expr):
    with pytest.raises(FilterSyntaxError) as exc:
        parse_filter(expr)
    assert exc.value.message.startswith("Invalid filter clause")
