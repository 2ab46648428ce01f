"""``hybridsoa-mock`` as a user runs it: gunicorn over HTTPS with the demo tenant and its banner, the control
token, certificate reuse across restarts, ``ca``, refusals, ``scenario`` delegation; and the repository's
two commands and CI entry point as the README documents them."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
import requests

from hybridsoa.mock import cli
from hybridsoa.mock.server import DEMO_TENANT_ID
from hybridsoa.mock.tls import CaPinnedSession

from .wire import free_port

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


class Served:
    """A ``hybridsoa-mock serve`` child process, read up to the end of its banner."""

    def __init__(self, *args: str):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hybridsoa.mock.cli", "serve", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner: list[str] = []
        for line in self.proc.stdout:
            self.banner.append(line.rstrip("\n"))
            if line.startswith("print(result"):
                break
        else:
            self.stop()
            raise AssertionError("server exited before its banner:\n" + self.proc.stderr.read())

    def field(self, label: str) -> str:
        return next(line.strip()[len(label) :].strip() for line in self.banner if line.strip().startswith(label + " "))

    def snippet(self) -> str:
        start = self.banner.index("MSAL (paste into python):") + 1
        return "\n".join(self.banner[start:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_serve_https_banner_snippet_control_token_and_restart(tmp_path, monkeypatch):
    port, data_dir = free_port(), tmp_path / "data"
    args = ["--port", str(port), "--data-dir", str(data_dir), "--control-token", "tok3n"]
    served = Served(*args)
    try:
        base, ca = f"https://127.0.0.1:{port}", str(data_dir / "ca.pem")
        assert served.field("base URL") == base and served.field("CA") == str((data_dir / "ca.pem").resolve())
        assert any(DEMO_TENANT_ID in line for line in served.banner)
        session = CaPinnedSession(ca)
        assert session.get(f"{base}/_mock/health", timeout=30).status_code == 401
        health = session.get(f"{base}/_mock/health", headers={"Authorization": "Bearer tok3n"}, timeout=30)
        assert health.status_code == 200 and health.json()["tenants"] >= 1
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{base}/_mock/health", verify=certifi.where(), timeout=30)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(served.snippet(), "<banner>", "exec"), {"__name__": "banner"})  # noqa: S102
        assert out.getvalue().startswith("eyJ"), out.getvalue()
        first_banner = served.banner
    finally:
        served.stop()
    ca_bytes = (data_dir / "ca.pem").read_bytes()
    served = Served(*args)
    try:
        assert (data_dir / "ca.pem").read_bytes() == ca_bytes
        creds = [line for line in served.banner if "@contoso.onmicrosoft.com" in line or "automation " in line]
        assert creds == [line for line in first_banner if "@contoso.onmicrosoft.com" in line or "automation " in line]
    finally:
        served.stop()


def test_ca_command_prints_the_ca_path(tmp_path, capsys):
    assert cli.main(["ca", "--data-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str((tmp_path / "ca.pem").resolve()) and Path(printed).exists()


def test_plain_http_on_a_public_address_is_refused(capsys):
    assert cli.main(["serve", "--no-tls", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "--insecure-bind" in capsys.readouterr().err


def test_scenario_delegates_to_the_runner(monkeypatch):
    seen = {}

    class Runner:
        @staticmethod
        def main(argv):
            seen["argv"] = argv
            return 3

    monkeypatch.setattr(cli.importlib, "import_module", lambda name: Runner)
    assert cli.main(["scenario", "run", "x.yaml", "--seed", "4"]) == 3
    assert seen["argv"] == ["run", "x.yaml", "--seed", "4"]


def test_scenario_without_runner_exits_2(monkeypatch, capsys):
    def missing(name):
        raise ModuleNotFoundError(f"No module named '{name}'", name=name)

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    assert cli.main(["scenario", "list"]) == 2
    assert "scenario" in capsys.readouterr().err


def test_readme_starts_with_the_two_commands_and_documents_ci():
    readme = (REPO / "README.md").read_text()
    head = readme[:1500]
    assert "make serve" in head and "make test" in head
    assert "git clone" in readme and ".ci/run" in readme
    assert "REQUESTS_CA_BUNDLE" in readme and "http_client" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_makefile_targets_dry_run():
    result = subprocess.run(["make", "-n", "serve", "test"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hybridsoa-mock serve" in result.stdout and "pytest" in result.stdout
