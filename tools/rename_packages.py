#!/usr/bin/env python3
"""Install the project's packages under names of their own: ``mockserver/`` as ``hybridsoa.mock`` and ``sdk/`` as
``hybridsoa.sdk`` (issue 17, deliverable 5). The folders stay where they are; setuptools' ``package-dir`` maps them.

Run once from the repository root on a clean tree, then commit the result::

    python tools/rename_packages.py            # rewrite the tree
    python tools/rename_packages.py --check    # exit 1 and list the files it would change (nothing is written)

What it does, mechanically:

* ``pyproject.toml``: ``[tool.setuptools]`` ``package-dir`` and an explicit ``packages`` list (every folder with an
  ``__init__.py`` under ``mockserver/`` and ``sdk/``, plus ``hybridsoa.mock.scenarios`` mapped to ``scenarios/``),
  package data (templates, static files, ``scenarios/*.yaml``; the ``data/`` entry, a folder that never existed,
  is dropped), scripts and entry points (pytest11, ``hybridsoa.scenario_workflows``) renamed.
* Every tracked text file (Python, Markdown, TOML, YAML, Makefile, Dockerfile, ``.ci/``): absolute imports and
  dotted names (``from mockserver.x import``, ``import sdk``, ``mock.patch("mockserver.x.y")``,
  ``python -m sdk``, ``importlib.import_module("mockserver.x")``, ``logging.getLogger("sdk")``). Paths such as
  ``mockserver/domain/x.py`` are left alone (the folders do not move); so is any line carrying the marker
  ``rename-packages: keep`` (old names that must stay, e.g. the snapshot loader's old class prefix).
* ``mockserver/domain/scenario_tenant.py``: shipped scenarios are found as package data
  (``importlib.resources``), not through ``parents[2]``; ``scenarios/__init__.py`` is created, because an
  editable install maps a folder onto a package only when it has one.
* ``tests/e2e/test_wheel.py``: drops its "not applied yet" guard, so the wheel test always runs from then on.

It is idempotent: a second run changes nothing. Nothing is written unless every anchored edit finds its anchor.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

#: Source folder -> the import name it is installed as.
RENAMES = {"mockserver": "hybridsoa.mock", "sdk": "hybridsoa.sdk"}
#: Shipped scenarios: an extra package of data only, mapped onto the top-level ``scenarios/`` folder.
SCENARIOS_PACKAGE = "hybridsoa.mock.scenarios"
#: Makes ``scenarios/`` a regular package: setuptools' editable installs only map folders that have one.
SCENARIOS_INIT = Path("scenarios/__init__.py")
SCENARIOS_INIT_TEXT = (
    '"""The scenarios shipped with the mock (``*.yaml``, package data of\n'
    '``hybridsoa.mock.scenarios``); ``hybridsoa-mock scenario list`` lists them."""\n'
)
KEEP_MARKER = "rename-packages: keep"
#: In a file's first lines: leave the whole file alone (the script's own test cases name the old packages).
KEEP_FILE_MARKER = "rename-packages: keep-file"
SELF = Path("tools/rename_packages.py")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".txt", ".sh", ".json"}
TEXT_NAMES = {"Makefile", "Dockerfile", "run"}

_OLD = "|".join(RENAMES)
#: A dotted name starting with an old package name (not a path, not an attribute, not ``msgraph-sdk``, not a file
#: name such as ``sdk.md``).
_FILE_SUFFIX = r"(?:md|py|txt|toml|ya?ml|json|html|css|js|pem)\b"
_DOTTED = re.compile(rf"(?<![\w.\-/])\b({_OLD})\.(?=[A-Za-z_\"'`])(?!{_FILE_SUFFIX})")
_FROM_IMPORT = re.compile(rf"\bfrom ({_OLD}) import\b")
#: ``import sdk`` as a statement: at the start of a line, or after ``;`` or a quote (code inside a string).
_IMPORT = re.compile(rf"((?:^|[;\"'`])\s*)import ({_OLD})\b(?![.\w])")
#: ``import a, sdk`` / ``import x, mockserver``: a bare old name later in an import list.
_IMPORT_LIST = re.compile(rf"^(\s*import\s+(?:[\w.]+\s*,\s*)+)({_OLD})\b(?![.\w])")
_DASH_M = re.compile(rf"(-m\s+)({_OLD})\b(?![.\w-])")
_DASH_M_ARGV = re.compile(rf"""(["'])-m\1(\s*,\s*)(["'])({_OLD})\3""")
_CALL_ARG = re.compile(rf"""\b(import_module|find_spec|getLogger)\((["'])({_OLD})\2""")


def rewrite_line(line: str) -> str:
    """One line with every import and dotted name of an old package renamed (a marked line is kept as it is)."""
    if KEEP_MARKER in line:
        return line
    line = _DOTTED.sub(lambda m: f"{RENAMES[m.group(1)]}.", line)
    line = _FROM_IMPORT.sub(lambda m: f"from {RENAMES[m.group(1)]} import", line)
    line = _IMPORT.sub(lambda m: f"{m.group(1)}import {RENAMES[m.group(2)]}", line)
    line = _IMPORT_LIST.sub(lambda m: f"{m.group(1)}{RENAMES[m.group(2)]}", line)
    line = _DASH_M.sub(lambda m: f"{m.group(1)}{RENAMES[m.group(2)]}", line)
    line = _DASH_M_ARGV.sub(
        lambda m: f"{m.group(1)}-m{m.group(1)}{m.group(2)}{m.group(3)}{RENAMES[m.group(4)]}{m.group(3)}", line
    )
    return _CALL_ARG.sub(lambda m: f"{m.group(1)}({m.group(2)}{RENAMES[m.group(3)]}{m.group(2)}", line)


def rewrite_text(text: str) -> str:
    """A whole file's text through :func:`rewrite_line`."""
    return "".join(rewrite_line(line) for line in text.splitlines(keepends=True))


def rewrite_pyproject(text: str) -> str:
    """pyproject.toml through :func:`rewrite_line`, except the ``[tool.mypy]`` sections: mypy names the modules it
    checks after their folders (``mockserver.domain.x``), whatever name they are installed under."""
    out, in_mypy = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            in_mypy = line.startswith(("[tool.mypy", "[[tool.mypy"))
        out.append(line if in_mypy else rewrite_line(line))
    return "".join(out)


class AnchorMissing(Exception):
    """An anchored edit did not find the text it replaces (the tree changed since the script was written)."""


def _replace_once(text: str, pattern: str, replacement: str, where: str, flags: int = re.M | re.S) -> str:
    """``text`` with the one match of ``pattern`` replaced by ``replacement`` (literal text, ``{1}`` = group 1)."""
    new, count = re.subn(
        pattern,
        lambda m: replacement.replace("{1}", m.group(1) or "") if m.groups() else replacement,
        text,
        count=1,
        flags=flags,
    )
    if count != 1:
        raise AnchorMissing(f"{where}: no match for {pattern!r}")
    return new


def packages(root: Path) -> list[str]:
    """Every package to install: each folder with an ``__init__.py`` under the renamed folders, by its new name."""
    found = []
    for folder, name in RENAMES.items():
        for init in sorted((root / folder).rglob("__init__.py")):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(root / folder).parts
            found.append(".".join((name, *rel)))
    return sorted({*found, SCENARIOS_PACKAGE})


def _toml_list(items: list[str], indent: str = "    ") -> str:
    return "[\n" + "".join(f'{indent}"{item}",\n' for item in items) + "]"


def edit_pyproject(text: str, root: Path) -> str:
    """pyproject.toml: package-dir, the explicit package list and package data; names in scripts and entry points
    are renamed by :func:`rewrite_text` before this runs."""
    if "[tool.setuptools.package-dir]" in text:
        # Already applied: refresh only the package list (new subpackages since the first run).
        return _replace_once(
            text,
            r"^(\[tool\.setuptools\]\n(?:#[^\n]*\n)*packages = )\[.*?\n\]",
            "{1}" + _toml_list(packages(root)),
            "pyproject [tool.setuptools] packages",
        )
    setuptools = (
        "[tool.setuptools]\n"
        "# The folders keep their short names; installed, they are hybridsoa.mock and hybridsoa.sdk (no top-level\n"
        "# `mockserver` or `sdk` module that could collide with other projects). Every subpackage is listed: a new\n"
        "# folder with an __init__.py goes here too (tests/e2e/test_wheel.py checks the list against the tree).\n"
        f"packages = {_toml_list(packages(root))}\n\n"
        "[tool.setuptools.package-dir]\n"
        + "".join(f'"{name}" = "{folder}"\n' for folder, name in RENAMES.items())
        + f'"{SCENARIOS_PACKAGE}" = "scenarios"\n\n'
        "[tool.setuptools.package-data]\n"
        f'"{RENAMES["mockserver"]}" = ["templates/*.html", "templates/**/*.html", "static/*"]\n'
        "# The shipped scenarios (`hybridsoa-mock scenario list`), found through importlib.resources.\n"
        f'"{SCENARIOS_PACKAGE}" = ["*.yaml"]\n'
    )
    return _replace_once(
        text,
        r"^\[tool\.setuptools\.packages\.find\]\n.*?\n\[tool\.setuptools\.package-data\]\n[^\n]*\n",
        setuptools,
        "pyproject [tool.setuptools.packages.find] + [tool.setuptools.package-data]",
    )


def edit_scenario_tenant(text: str) -> str:
    """The shipped scenarios are package data (``hybridsoa.mock.scenarios``), not a folder two levels up."""
    if f'files("{SCENARIOS_PACKAGE}")' in text:
        return text
    text = _replace_once(
        text,
        r"^from pathlib import Path\n",
        "from importlib.resources import files\nfrom pathlib import Path\n",
        "scenario_tenant.py: imports",
    )
    return _replace_once(
        text,
        r"^#: Where scenario files are looked up[^\n]*\nSCENARIO_DIRS = \[[^\n]*parents\[2\][^\n]*\]\n",
        "#: Where scenario files are looked up, in order: the ones shipped with the package (package data of\n"
        f"#: ``{SCENARIOS_PACKAGE}``, the repository's ``scenarios/`` in an editable install), then the cwd's.\n"
        f'SCENARIO_DIRS = [Path(str(files("{SCENARIOS_PACKAGE}"))), Path.cwd() / "scenarios"]\n',
        "scenario_tenant.py: SCENARIO_DIRS",
    )


def edit_architecture_doc(text: str) -> str:
    """docs/architecture.md: one sentence under the house saying what the folders are called once installed
    (optional: if the house's last line moved, the sentence is left out and a warning printed)."""
    sentence = (
        "Installed, the two folders are the packages `hybridsoa.mock` and `hybridsoa.sdk` (setuptools'\n"
        "`package-dir` in `pyproject.toml`); the shipped scenarios are the package data of\n"
        "`hybridsoa.mock.scenarios`. No module named `mockserver` or `sdk` is installed.\n"
    )
    if sentence in text:
        return text
    try:
        return _replace_once(text, r"^(sdk/ +the SDK and CLI[^\n]*\n```\n)", "{1}\n" + sentence, "docs/architecture.md")
    except AnchorMissing as exc:
        print(f"rename_packages: warning: {exc}; add the installed names to the page by hand", file=sys.stderr)
        return text


def edit_wheel_test(text: str) -> str:
    """The wheel test's guard (skip while the packages are not renamed yet) goes: from now on it always runs."""
    return re.sub(r"^# rename-packages: guard-start\n.*?^# rename-packages: guard-end\n", "", text, flags=re.M | re.S)


ANCHORED = {
    Path("pyproject.toml"): "pyproject",
    Path("mockserver/domain/scenario_tenant.py"): "scenario_tenant",
    Path("tests/e2e/test_wheel.py"): "wheel_test",
    Path("docs/architecture.md"): "architecture_doc",
}


def tracked_text_files(root: Path) -> list[Path]:
    """The tracked files this rewrite reads (by suffix or name), relative to ``root``; never this script."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.decode()
    files = []
    for name in filter(None, out.split("\0")):
        path = Path(name)
        if path == SELF or not (root / path).is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES or path.parts[0] == ".ci":
            files.append(path)
    return files


def plan(root: Path) -> dict[Path, str]:
    """Every file whose text changes -> its new text (nothing written yet)."""
    changes: dict[Path, str] = {}
    for path in tracked_text_files(root):
        try:
            old = (root / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if KEEP_FILE_MARKER in "".join(old.splitlines(keepends=True)[:5]):
            continue
        kind = ANCHORED.get(path)
        new = rewrite_pyproject(old) if kind == "pyproject" else rewrite_text(old)
        if kind == "pyproject":
            new = edit_pyproject(new, root)
        elif kind == "scenario_tenant":
            new = edit_scenario_tenant(new)
        elif kind == "wheel_test":
            new = edit_wheel_test(new)
        elif kind == "architecture_doc":
            new = edit_architecture_doc(new)
        if new != old:
            changes[path] = new
    marker = root / SCENARIOS_INIT
    if not marker.is_file():
        changes[SCENARIOS_INIT] = SCENARIOS_INIT_TEXT
    missing = [str(p) for p in ANCHORED if not (root / p).is_file()]
    if missing:
        raise AnchorMissing(f"missing files: {', '.join(missing)}")
    return changes


def leftovers(root: Path) -> list[str]:
    """Python lines that still import an old top-level name after the rewrite (should be none)."""
    pattern = re.compile(rf"^\s*(?:from|import)\s+({_OLD})\b")
    found = []
    for path in tracked_text_files(root):
        if path.suffix != ".py":
            continue
        for number, line in enumerate((root / path).read_text(encoding="utf-8").splitlines(), 1):
            if pattern.match(line) and KEEP_MARKER not in line:
                found.append(f"{path}:{number}: {line.strip()}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite the tree (or, with ``--check``, list what would change)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when files would change")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="repository root (default: this script's repository)",
    )
    args = parser.parse_args(argv)
    try:
        changes = plan(args.root)
    except AnchorMissing as exc:
        print(f"rename_packages: nothing written: {exc}", file=sys.stderr)
        return 2
    for path in sorted(changes):
        print(path)
    if args.check:
        print(f"rename_packages: {len(changes)} files would change", file=sys.stderr)
        return 1 if changes else 0
    for path, text in changes.items():
        (args.root / path).write_text(text, encoding="utf-8")
    left = leftovers(args.root)
    for line in left:
        print(f"rename_packages: still imports an old name: {line}", file=sys.stderr)
    print(f"rename_packages: {len(changes)} files rewritten", file=sys.stderr)
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
