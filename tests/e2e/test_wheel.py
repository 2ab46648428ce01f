"""The built wheel installs the project under its own names (issue 17): ``hybridsoa.mock`` and ``hybridsoa.sdk``,
with the scenarios as package data and no top-level ``mockserver`` or ``sdk`` module left behind. Installed with
the ``mock`` extra in a fresh virtual environment, outside the repository, ``hybridsoa-mock scenario list`` lists
the shipped scenarios and a scenario whose workflow steps run through the SDK's entry point passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"].get("setuptools", {})
PACKAGE_DIR = SETUPTOOLS.get("package-dir", {})
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject lists packages explicitly (package-dir cannot be combined with find): a new folder must be added."""
    folders = {name: ROOT / folder for name, folder in PACKAGE_DIR.items()}
    expected = {
        ".".join((name, *init.parent.relative_to(folders[name]).parts))
        for name in ("hybridsoa.mock", "hybridsoa.sdk")
        for init in folders[name].rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert expected | {"hybridsoa.mock.scenarios"} == set(SETUPTOOLS["packages"])


def _run(*argv: str | Path, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.mark.slow
def test_the_wheel_installs_hybridsoa_mock_and_sdk_with_scenarios_and_no_alias(tmp_path):
    wheels, source = tmp_path / "wheels", tmp_path / "source"
    # Built from the tracked files only, as from a fresh clone: a checkout's stale build/ (setuptools reuses it)
    # must not decide what the wheel holds.
    tracked = _run("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = _run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, source, cwd=tmp_path, timeout=600
    )
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("hybridsoa-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"hybridsoa"}, top
    assert {f"hybridsoa/mock/scenarios/{s}.yaml" for s in SCENARIOS} <= set(names)
    assert "hybridsoa/mock/templates/dashboard/tenant.html" in names and "hybridsoa/sdk/cli.py" in names

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    py, bin_dir = venv / "bin" / "python", venv / "bin"
    installed = _run(
        py, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[mock]", cwd=tmp_path, timeout=900
    )
    assert installed.returncode == 0, installed.stderr

    # Outside the repository (cwd has no scenarios/ and no source folders): only the installed names exist.
    probe = _run(
        py,
        "-c",
        "import importlib.util as u, hybridsoa.mock, hybridsoa.sdk\n"
        "print([m for m in ('mockserver', 'sdk') if u.find_spec(m)])",
        cwd=tmp_path,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stderr + probe.stdout
    for old in ("mockserver", "sdk"):
        gone = _run(py, "-c", f"import {old}", cwd=tmp_path)
        assert gone.returncode == 1 and "ModuleNotFoundError" in gone.stderr, gone.stderr

    listed = _run(bin_dir / "hybridsoa-mock", "scenario", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert sorted(names) == SCENARIOS and len(set(names)) == len(names), listed.stdout
    # sdk-bulk-waves' workflow steps run through the SDK's hybridsoa.scenario_workflows entry point.
    ran = _run(bin_dir / "hybridsoa-mock", "scenario", "run", "sdk-bulk-waves", cwd=tmp_path)
    assert ran.returncode == 0 and " pass " in ran.stdout and "Traceback" not in ran.stderr, ran.stderr + ran.stdout
    helped = _run(bin_dir / "hybridsoa", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "usage: hybridsoa" in helped.stdout, helped.stderr
