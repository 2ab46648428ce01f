"""The SDK installs on its own: the built wheel's base requirements hold none of the mock server's stack (Flask,
granian, Faker, marshmallow, apispec, PyYAML), which come with the ``mock`` extra; installed alone in a
fresh virtual environment it imports and runs ``hybridsoa --help``, and ``hybridsoa-mock`` says in one line to
install ``hybridsoa[mock]``."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_STACK = ("flask", "gunicorn", "granian", "faker", "marshmallow", "apispec", "pyyaml", "werkzeug")

# Run code with the server stack made unimportable (what an SDK-only install looks like to Python).
_BLOCKER = """
import sys
class _Block:
    blocked = {"flask", "werkzeug", "gunicorn", "granian", "faker", "marshmallow", "apispec", "yaml"}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


def _blocked(code: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _BLOCKER + code, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_sdk_and_cli_run_without_the_server_stack():
    r = _blocked("import sys; from hybridsoa.sdk.cli import main; sys.exit(main(['--help']))")
    assert r.returncode == 0 and "usage: hybridsoa" in r.stdout, r.stderr
    r = _blocked(
        "import hybridsoa.sdk, hybridsoa.sdk.soa, hybridsoa.sdk.graph, hybridsoa.sdk.exchange;"
        "from hybridsoa.sdk import connect, Settings;"
        "assert 'flask' not in sys.modules; print('ok')"
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    r = _blocked("import sys; from hybridsoa.mock.cli import main; sys.exit(main(['serve']))")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "pip install 'hybridsoa[mock]'" in lines[0], r.stderr


@pytest.mark.slow
def test_wheel_installs_alone_in_a_fresh_venv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    wheel = next(wheels.glob("hybridsoa-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    base = [r.lower() for r in requires if "extra ==" not in r]
    mock = [r.lower() for r in requires if 'extra == "mock"' in r]
    assert base and not [r for r in base if r.startswith(SERVER_STACK)], base
    # gunicorn is the benchmark baseline (the load extra), not part of the server.
    assert {name for name in SERVER_STACK if name != "gunicorn"} <= {
        re.match(r"[a-z0-9_.-]+", r).group(0) for r in mock
    }, mock
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=900,
        capture_output=True,
    )
    r = subprocess.run([str(venv / "bin" / "hybridsoa"), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage: hybridsoa" in r.stdout, r.stderr
    r = subprocess.run(
        [
            str(py),
            "-c",
            "import hybridsoa.sdk, hybridsoa.sdk.soa; from hybridsoa.sdk import connect\n"
            "import importlib.util as u\n"
            "print([m for m in ('flask', 'gunicorn', 'granian', 'faker', 'marshmallow', 'apispec')"
            " if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr + r.stdout
    r = subprocess.run(
        [str(venv / "bin" / "hybridsoa-mock"), "serve"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 2 and "hybridsoa[mock]" in r.stderr and "Traceback" not in r.stderr
