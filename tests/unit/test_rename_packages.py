"""tools/rename_packages.py rewrites imports and dotted names of ``mockserver`` / ``sdk`` to ``hybridsoa.mock`` /
``hybridsoa.sdk`` and nothing else (paths, file names, other packages' names, prose), and is idempotent.
rename-packages: keep-file (these cases name the old packages on purpose)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "rename_packages", Path(__file__).resolve().parents[2] / "tools" / "rename_packages.py"
)
assert _SPEC is not None and _SPEC.loader is not None
rename = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rename)


@pytest.mark.parametrize(
    "before, after",
    [
        ("from sdk import connect, Settings", "from hybridsoa.sdk import connect, Settings"),
        ("from mockserver.domain.tenant import Tenant", "from hybridsoa.mock.domain.tenant import Tenant"),
        ("    import sdk", "    import hybridsoa.sdk"),
        ("import sdk, sdk.soa", "import hybridsoa.sdk, hybridsoa.sdk.soa"),
        (
            'r = run("import sdk; from sdk import connect")',
            'r = run("import hybridsoa.sdk; from hybridsoa.sdk import connect")',
        ),
        (
            'monkeypatch.setattr("mockserver.domain.clock.time", fake)',
            'monkeypatch.setattr("hybridsoa.mock.domain.clock.time", fake)',
        ),
        (
            'importlib.import_module("mockserver.scenario_runner")',
            'importlib.import_module("hybridsoa.mock.scenario_runner")',
        ),
        ("python -m mockserver.cli serve", "python -m hybridsoa.mock.cli serve"),
        ("python -m sdk enable", "python -m hybridsoa.sdk enable"),
        ('[sys.executable, "-m", "sdk", *args]', '[sys.executable, "-m", "hybridsoa.sdk", *args]'),
        ('logging.getLogger("sdk")', 'logging.getLogger("hybridsoa.sdk")'),
        ('ln.startswith("INFO sdk.")', 'ln.startswith("INFO hybridsoa.sdk.")'),
        ('hybridsoa-mock = "mockserver.cli:main"', 'hybridsoa-mock = "hybridsoa.mock.cli:main"'),
    ],
)
def test_imports_and_dotted_names_are_renamed(before, after):
    assert rename.rewrite_line(before) == after
    assert rename.rewrite_line(after) == after  # idempotent


@pytest.mark.parametrize(
    "line",
    [
        "mockserver/domain/snapshot.py",
        "see docs/sdk.md and `sdk.md`",
        "msgraph-sdk.kiota",
        "from x import sdk",
        "self.sdk.client",
        "the sdk. It",
        "hybridsoa.sdk.soa",
        'OLD = "mockserver.domain."  # rename-packages: keep',
        "COPY sdk ./sdk",
    ],
)
def test_paths_other_names_and_marked_lines_are_left_alone(line):
    assert rename.rewrite_line(line) == line


def test_mypy_sections_of_pyproject_keep_the_folder_module_names():
    text = (
        '[project.scripts]\nhybridsoa = "sdk.cli:main"\n[[tool.mypy.overrides]]\nmodule = ["sdk.config"]\n'
        '[tool.pytest.ini_options]\nx = "sdk.y"\n'
    )
    assert rename.rewrite_pyproject(text) == (
        '[project.scripts]\nhybridsoa = "hybridsoa.sdk.cli:main"\n'
        '[[tool.mypy.overrides]]\nmodule = ["sdk.config"]\n'
        '[tool.pytest.ini_options]\nx = "hybridsoa.sdk.y"\n'
    )
