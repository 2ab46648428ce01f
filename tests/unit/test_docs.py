"""The user docs hold together: every relative link in README.md and docs/*.md reaches a file of the repository
(and, with ``#anchor``, a heading in it), no doc points outside the repository, and docs/control-plane.md's route
table names every route the control plane registers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.tenant import TenantRegistry

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^ *(```|~~~).*?^ *\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!\!)\[(?:[^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
#: Things that live only outside this repository (the project's steering notes, the machine it was built on).
_OUTSIDE = re.compile(
    r"shared/DESIGN|shared/reference|DESIGN\.md|steering repo|/work/|wire-formats|"
    r"domain-behaviour|graph-v1\.0\.csdl|peers\.md",
    re.I,
)


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a ``#`` comment in a shell block is not a heading)."""
    return _FENCE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a markdown text, with GitHub's ``-1``, ``-2`` suffixes for repeats."""
    seen: dict[str, int] = {}
    out = set()
    for match in _HEADING.finditer(_prose(text)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(text: str) -> list[str]:
    """Link targets of a markdown text, outside code blocks and code spans."""
    return _LINK.findall(_CODE_SPAN.sub("", _prose(text)))


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``doc`` that leave the repository, name a missing file, or a missing anchor."""
    broken = []
    for target in links(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...: public addresses are fine
            if target.lower().startswith("file:"):
                broken.append(f"{target} (a local file)")
            continue
        path_part, _, anchor = target.partition("#")
        if path_part.startswith("/"):
            broken.append(f"{target} (absolute path)")
            continue
        dest = (doc.parent / path_part).resolve() if path_part else doc.resolve()
        if root.resolve() not in (dest, *dest.parents):
            broken.append(f"{target} (outside the repository)")
        elif not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


def outside_references(text: str) -> list[str]:
    """Mentions of places that are not in this repository."""
    return sorted({m.group(0) for m in _OUTSIDE.finditer(text)})


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    assert not broken_links(doc), f"{doc.relative_to(ROOT)}: {broken_links(doc)}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_points_outside_the_repository(doc):
    found = outside_references(doc.read_text(encoding="utf-8"))
    assert not found, f"{doc.relative_to(ROOT)} points outside the repository: {found}"


def test_the_docs_index_and_readme_link_every_topic():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for doc in DOCS[1:]:
        if doc.name != "README.md":
            assert f"({doc.name}" in index, f"docs/README.md does not link {doc.name}"
    assert "docs/README.md" in readme


def _documented_control_routes(text: str) -> set[tuple[str, str]]:
    """(method, path with ``{}`` for every parameter) for each ``METHOD[|METHOD] /_mock/...`` in a table's first
    column."""
    out = set()
    for line in text.splitlines():
        cells = re.split(r"(?<!\\)\|", line)
        if not line.startswith("|") or len(cells) < 3:
            continue
        for span in re.findall(r"`([^`]*)`", cells[1]):
            match = re.fullmatch(r"((?:[A-Z]+(?:\\?\|)?)+)\s+(/_mock\S*)", span.strip())
            if match:
                path = re.sub(r"\{[^}]*\}", "{}", match.group(2).split("?", 1)[0])
                out |= {(m, path) for m in re.split(r"\\?\|", match.group(1)) if m}
    return out


def test_control_plane_doc_names_every_route():
    app = create_app(TenantRegistry(seed=0))
    registered = {
        (method, re.sub(r"<[^>]*>", "{}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/_mock")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert ("POST", "/_mock/tenants") in registered and len(registered) > 30
    documented = _documented_control_routes((ROOT / "docs" / "control-plane.md").read_text(encoding="utf-8"))
    missing = sorted(registered - documented)
    assert not missing, f"control-plane routes missing from docs/control-plane.md's tables: {missing}"


def test_the_checks_detect_what_they_should(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## The `x` part: one, two\n\n```sh\n# not a heading\n```\n")
    doc = tmp_path / "docs" / "a.md"
    doc.write_text(
        "[ok](b.md) [ok](b.md#the-x-part-one-two) [ok](#a) [web](https://learn.microsoft.com/x)\n"
        "# A\n[gone](c.md) [anchor](b.md#not-a-heading) [up](../../elsewhere.md) [abs](/etc/x.md)\n"
        "`[in code](nowhere.md)`\n"
    )
    assert broken_links(doc, tmp_path) == [
        "c.md (no such file)",
        "b.md#not-a-heading (no heading #not-a-heading in b.md)",
        "../../elsewhere.md (outside the repository)",
        "/etc/x.md (absolute path)",
    ]
    assert outside_references("see shared/DESIGN.md and reference/wire-formats.md §1.5; shared mailboxes") == [
        "shared/DESIGN",
        "wire-formats",
    ]
    table = "| `GET\\|PATCH /_mock/tenants/{t}/sync` | x |\n| `POST /_mock/tenants`, `DELETE /_mock/x/{id}` | y |\n"
    assert _documented_control_routes(table) == {
        ("GET", "/_mock/tenants/{}/sync"),
        ("PATCH", "/_mock/tenants/{}/sync"),
        ("POST", "/_mock/tenants"),
        ("DELETE", "/_mock/x/{}"),
    }
