"""docs/coverage.md stays honest: every cmdlet in the Exchange registry has a row in a cmdlet table naming each of its
parameters, and every route registered on the Graph blueprint is documented (its method and last path segment on
one row of the Graph table, with a ``{...}`` key when the route addresses one item)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.exchange import dispatch
from hybridsoa.mock.domain.tenant import TenantRegistry

DOC = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"


def _section(text: str, heading_prefix: str) -> str:
    """The body of the first ``## `` section whose heading starts with ``heading_prefix``."""
    match = re.search(rf"^## {re.escape(heading_prefix)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/coverage.md has no section '## {heading_prefix}...'"
    return match.group(1)


def _first_cells(text: str) -> list[str]:
    # Cells split on unescaped pipes only: `GET\|PATCH /x` is one cell.
    return [
        re.split(r"(?<!\\)\|", line)[1].strip()
        for line in text.splitlines()
        if line.startswith("|") and line.count("|") >= 3 and not set(line) <= set("|- ")
    ]


def documented_cmdlets(text: str) -> set[str]:
    """Cmdlet names that head a row of any table in the doc (case-insensitive)."""
    return {cell.lower() for cell in _first_cells(text) if re.fullmatch(r"[A-Za-z]+-[A-Za-z]+", cell)}


def cmdlet_rows(text: str) -> dict[str, str]:
    """The first table row of each cmdlet, by lowercase name."""
    rows: dict[str, str] = {}
    for line in text.splitlines():
        cells = re.split(r"(?<!\\)\|", line)
        if line.startswith("|") and len(cells) > 3:
            rows.setdefault(cells[1].strip().lower(), line)
    return rows


def parameter_documented(name: str, row: str, section: str) -> bool:
    """A parameter is documented when its row names it, when it falls in a written range (``CustomAttribute1..15``),
    or, for ``Confirm``, when its section says Confirm is accepted everywhere."""
    if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", row):
        return True
    numbered = re.fullmatch(r"([A-Za-z]+?)(\d+)", name)
    if numbered:
        for lo, hi in re.findall(rf"(?<![\w]){numbered.group(1)}(\d+)\.\.(\d+)", row):
            if int(lo) <= int(numbered.group(2)) <= int(hi):
                return True
    return name == "Confirm" and "`Confirm` is accepted everywhere" in section


def graph_routes(app) -> list[tuple[str, str]]:
    """(method, path) for every real Graph route under /v1.0 (/beta mirrors it); the not-emulated catch-all and
    ``$batch`` excepted only where they are not real resources."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("graph.") or rule.endpoint.startswith("graph.not_found"):
            continue
        if not rule.rule.startswith("/v1.0/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/v1.0") :])))
    return sorted(set(out))


def undocumented_routes(routes, graph_section: str) -> list[str]:
    """Routes with no Graph-table row naming their method and last literal segment (and a key if they end in one)."""
    rows = _first_cells(graph_section)
    missing = []
    for method, path in routes:
        parts = [p for p in path.split("/") if p]
        literals = [p for p in parts if not p.startswith("{")]
        last = literals[-1]
        item_route = parts[-1].startswith("{")
        word = re.compile(rf"(?<![\w.]){re.escape(last)}(?![\w])")
        # An item route needs its key written after that segment: `seg/{id}`, `seg[/{id}]`, `seg` (+ `/{id}`) or a
        # `.../{id}` continuation on the same row.
        keyed = re.compile(rf"(?<![\w.]){re.escape(last)}(\[?/\{{|` \(\+ `/\{{)|\.\.\./\{{")
        ok = any(
            word.search(row) and re.search(rf"\b{method}\b", row) and (not item_route or keyed.search(row))
            for row in rows
        )
        if not ok:
            missing.append(f"{method} {path}")
    return missing


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_registered_cmdlet_has_a_row(doc_text):
    registered = {spec.name for spec in dispatch.all_cmdlets()}
    assert len(registered) > 10
    missing = sorted(name for name in registered if name.lower() not in documented_cmdlets(doc_text))
    assert not missing, f"cmdlets emulated but missing from docs/coverage.md: {missing}"


def test_every_emulated_parameter_is_on_its_cmdlet_row(doc_text):
    rows = cmdlet_rows(doc_text)
    sections = re.split(r"^## ", doc_text, flags=re.M)
    missing = []
    for spec in dispatch.all_cmdlets():
        row = rows.get(spec.name.lower(), "")
        section = next((sec for sec in sections if row and row in sec), "")
        missing += [
            f"{spec.name} -{p.name}" for p in spec.params.values() if not parameter_documented(p.name, row, section)
        ]
    assert not missing, f"parameters emulated but missing from their docs/coverage.md row: {missing}"


def test_every_graph_route_is_documented(doc_text):
    routes = graph_routes(create_app(TenantRegistry(seed=0)))
    assert ("GET", "/users") in routes and len(routes) > 20
    missing = undocumented_routes(routes, _section(doc_text, "Microsoft Graph"))
    assert not missing, f"Graph routes registered but missing from docs/coverage.md: {missing}"


def test_the_checks_detect_omissions():
    doc = (
        "## Microsoft Graph\n| Endpoint | x |\n|---|---|\n| `GET /users` | y |\n| Get-Mailbox | z |\n"
        "| `GET\\|PATCH /directory/onPremisesSyncBehavior` | w |\n## Next\n| `POST /users` | v |\n"
    )
    assert documented_cmdlets(doc) == {"get-mailbox"}
    row = "| Set-Mailbox | Identity, CustomAttribute1..15 | |"
    assert parameter_documented("CustomAttribute15", row, "") and parameter_documented("Identity", row, "")
    assert not parameter_documented("CustomAttribute16", row, "") and not parameter_documented("Ident", row, "")
    assert not parameter_documented("Confirm", row, "") and parameter_documented(
        "Confirm", row, "`Confirm` is accepted everywhere (the REST endpoint never prompts)"
    )
    section = _section(doc, "Microsoft Graph")
    assert undocumented_routes([("GET", "/users"), ("PATCH", "/directory/onPremisesSyncBehavior")], section) == []
    assert undocumented_routes([("GET", "/users/{user_key}"), ("POST", "/users"), ("GET", "/me")], section) == [
        "GET /users/{user_key}",
        "POST /users",
        "GET /me",
    ]
