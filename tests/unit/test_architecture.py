"""The house's arrows, checked on the source tree (docs/architecture.md): the wire layer (``hybridsoa.mock.api``) may
import the domain, the domain may import the store, never the other way; the domain imports no Flask, Werkzeug
or wire-layer module; the mock never imports the SDK and the SDK never the mock; and no module cycle exists,
counting imports inside functions and ``importlib.import_module("literal")`` calls."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mockserver", "sdk")


def _import_names() -> dict[str, str]:
    """Source folder -> the name its modules are imported by: pyproject's ``[tool.setuptools] package-dir``
    mapping where there is one (``hybridsoa.mock`` for ``mockserver/``), else the folder's own name."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"].get("setuptools", {})
    mapped = {folder: name for name, folder in setuptools.get("package-dir", {}).items()}
    return {folder: mapped.get(folder, folder) for folder in PACKAGES}


IMPORT_NAMES = _import_names()
MOCK, SDK = IMPORT_NAMES["mockserver"], IMPORT_NAMES["sdk"]

#: (importer prefix, forbidden imported prefix, why) -- a prefix matches the module or anything below it.
FORBIDDEN = (
    (f"{MOCK}.store", f"{MOCK}.domain", "the store owns its persistence interface; the domain uses it"),
    (f"{MOCK}.store", f"{MOCK}.api", "the store sits below the wire layer"),
    (f"{MOCK}.domain", f"{MOCK}.api", "the domain never imports the wire layer"),
    (f"{MOCK}.domain", "flask", "the domain never imports Flask"),
    (f"{MOCK}.domain", "werkzeug", "the domain never imports Werkzeug"),
    (f"{MOCK}.domain", f"{MOCK}.app", "the domain never imports the Flask app"),
    (f"{MOCK}.domain", f"{MOCK}.server", "the domain never imports the server"),
    (MOCK, SDK, "the mock never imports the SDK (it emulates the services the SDK talks to)"),
    (SDK, MOCK, "the SDK never imports the mock (it must work against the real services)"),
) + tuple(
    (importer, folder, f"{folder}/ is installed as {name}; no module named {folder} exists once installed")
    for folder, name in IMPORT_NAMES.items()
    if name != folder
    for importer in (MOCK, SDK)
)


def module_name(path: Path, root: Path) -> str:
    """The dotted module name of a source file under ``root`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    parts[0] = IMPORT_NAMES.get(parts[0], parts[0])
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every module ``module`` imports anywhere in its source (top level, inside functions, and
    ``importlib.import_module`` with a literal name), resolved to absolute names. ``from pkg import name`` counts
    as importing ``pkg.name`` when that is a known module, else ``pkg``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT, packages=PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules it imports (any module, the project's own or third-party)."""
    files = {
        module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py") if "__pycache__" not in p.parts
    }
    known = set(files)
    return {m: imports_of(p.read_text(encoding="utf-8"), m, p.name == "__init__.py", known) for m, p in files.items()}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks one of the :data:`FORBIDDEN` arrows."""
    return sorted(
        f"{m} imports {t}: {why}"
        for m, targets in graph.items()
        for t in targets
        for importer, forbidden, why in FORBIDDEN
        if _under(m, importer) and _under(t, forbidden)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module among the graph's own modules (Tarjan,
    iterative so a deep tree cannot overflow the stack)."""
    own = {m: sorted(t for t in ts if t in graph) for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(own):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for j in range(i, len(own[node])):
                nxt = own[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return sorted(found)


def test_the_walk_sees_the_house():
    graph = import_graph()
    assert {
        "hybridsoa.mock.domain.tenant",
        "hybridsoa.mock.store.durable",
        "hybridsoa.mock.api.middleware",
        SDK,
    } <= set(graph)
    assert "hybridsoa.mock.domain.clock" in graph["hybridsoa.mock.domain.tenant"]


def test_arrows_run_one_way():
    assert violations(import_graph()) == []


def test_no_module_cycles():
    assert cycles(import_graph()) == []


# -------------------------------------------------------------------- the checks can fail
def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_cycle_through_a_deferred_import_and_importlib_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "mockserver/__init__.py": "",
            "mockserver/domain/__init__.py": "",
            "mockserver/domain/a.py": "from . import b\n",
            "mockserver/domain/b.py": "def f():\n    from .sub import c\n",
            "mockserver/domain/sub/__init__.py": "",
            "mockserver/domain/sub/c.py": "import importlib\nimportlib.import_module('hybridsoa.mock.domain.a')\n",
            "mockserver/domain/d.py": "from .a import thing\n",
            "sdk/__init__.py": "",
        },
    )
    assert cycles(import_graph(tmp_path)) == [
        ["hybridsoa.mock.domain.a", "hybridsoa.mock.domain.b", "hybridsoa.mock.domain.sub.c"]
    ]


@pytest.mark.parametrize(
    "module, source, broken",
    [
        ("mockserver/store/durable.py", "from ..domain import snapshot\n", "hybridsoa.mock.domain.snapshot"),
        ("mockserver/domain/x.py", "from flask import request\n", "flask"),
        ("mockserver/domain/x.py", "def f():\n    from ..api import common\n", "hybridsoa.mock.api.common"),
        ("mockserver/runner.py", "from hybridsoa.sdk import soa\n", "hybridsoa.sdk.soa"),
        ("sdk/cli.py", "import hybridsoa.mock.domain.tenant\n", "hybridsoa.mock.domain.tenant"),
    ],
)
def test_a_wrong_way_arrow_is_reported(tmp_path, module, source, broken):
    _write(
        tmp_path,
        {
            "mockserver/__init__.py": "",
            "mockserver/store/__init__.py": "",
            "mockserver/domain/__init__.py": "",
            "mockserver/domain/snapshot.py": "",
            "mockserver/api/__init__.py": "",
            "mockserver/api/common.py": "",
            "sdk/__init__.py": "",
            "sdk/soa.py": "",
            module: source,
        },
    )
    found = violations(import_graph(tmp_path))
    assert len(found) == 1 and f" imports {broken}:" in found[0]


def test_allowed_arrows_are_not_reported(tmp_path):
    _write(
        tmp_path,
        {
            "mockserver/__init__.py": "",
            "mockserver/store/__init__.py": "",
            "mockserver/store/collection.py": "",
            "mockserver/domain/__init__.py": "",
            "mockserver/domain/tenant.py": "from ..store.collection import Collection\n",
            "mockserver/api/__init__.py": "",
            "mockserver/api/x.py": "from ..domain import tenant\n",
            "sdk/__init__.py": "import requests\n",
        },
    )
    graph = import_graph(tmp_path)
    assert violations(graph) == [] and cycles(graph) == []
