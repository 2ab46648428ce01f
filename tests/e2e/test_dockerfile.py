"""The Dockerfile's own install and start commands, run in a fresh virtual environment (no Docker engine runs
on our machines): the image would install and serve HTTPS on 0.0.0.0 with its data dir in a volume."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .wire import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def parse_dockerfile(text: str) -> dict:
    """COPY sources, RUN commands, EXPOSE port, VOLUME and CMD of a simple single-stage Dockerfile."""
    out = {"copy": [], "run": [], "cmd": None, "expose": None, "expose_all": [], "volume": None, "workdir": None}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "COPY":
            *sources, _dest = rest.split()
            out["copy"] += sources
        elif word == "RUN":
            out["run"].append(rest)
        elif word == "CMD":
            out["cmd"] = json.loads(rest)
        elif word == "EXPOSE":
            # EXPOSE may list several ports (8443 the mock, 8080 its HTTPS proxy): "expose" is the first.
            out["expose_all"] = [int(p.split("/")[0]) for p in rest.split()]
            out["expose"] = out["expose_all"][0]
        elif word == "VOLUME":
            out["volume"] = rest.strip()
        elif word == "WORKDIR":
            out["workdir"] = rest.strip()
    return out


def wait_for_banner(proc: subprocess.Popen, deadline: float) -> None:
    """Block on the server's own output until ``serve`` prints its banner (the app is built), without sleeping."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = b""
    try:
        while b"control plane" not in seen:
            if not sel.select(timeout=deadline):
                pytest.fail(f"server did not start: {seen[-2000:].decode(errors='replace')}")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                pytest.fail(f"server exited ({proc.wait()}): {seen[-2000:].decode(errors='replace')}")
            seen += chunk
    finally:
        sel.close()


def test_dockerfile_serves_https_on_all_interfaces_with_a_data_volume(tmp_path):
    spec = parse_dockerfile((ROOT / "Dockerfile").read_text())
    assert spec["cmd"][:2] == ["hybridsoa-mock", "serve"]
    assert "0.0.0.0" in spec["cmd"] and "--no-tls" not in spec["cmd"]
    assert spec["volume"] and spec["volume"] in spec["cmd"], "the data dir must be the declared volume"

    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for source in spec["copy"]:
        src = ROOT / source
        (shutil.copytree if src.is_dir() else shutil.copy)(src, app_dir / source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    for command in spec["run"]:
        subprocess.run(command, shell=True, cwd=app_dir, env=env, check=True, timeout=900, stdout=subprocess.DEVNULL)

    ports = {str(exposed): str(free_port()) for exposed in spec["expose_all"]}
    port = ports[str(spec["expose"])]
    data = tmp_path / "data"
    argv = [ports.get(part, str(data) if part == spec["volume"] else part) for part in spec["cmd"]]
    argv[0] = str(venv / "bin" / argv[0])
    proc = subprocess.Popen(
        argv, cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_banner(proc, deadline=90)
        answer = None
        for _ in range(200):  # the worker may still be binding its threads: retry the connection, not a timer
            try:
                answer = requests.get(f"https://127.0.0.1:{port}/_mock/health", verify=str(data / "ca.pem"), timeout=5)
                break
            except (requests.ConnectionError, OSError):
                continue
        assert answer is not None, "server did not answer"
        assert answer.status_code == 200
        assert (data / "ca.pem").exists() and (data / "server.pem").exists()
        tenants = requests.get(f"https://127.0.0.1:{port}/_mock/tenants", verify=str(data / "ca.pem"), timeout=10)
        assert tenants.status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_parse_dockerfile_reads_the_commands():
    spec = parse_dockerfile(
        "FROM x\nCOPY a b ./\nRUN pip install -e .\nVOLUME /data\nEXPOSE 8443\n"
        'CMD ["hybridsoa-mock", "serve", "--data-dir", "/data"]\n'
    )
    assert spec["copy"] == ["a", "b"] and spec["run"] == ["pip install -e ."]
    assert spec["expose"] == 8443 and spec["volume"] == "/data" and spec["cmd"][-1] == "/data"
    assert parse_dockerfile("EXPOSE 8443 8080/tcp\n")["expose_all"] == [8443, 8080]
    assert re.match(r"^hybridsoa", spec["cmd"][0])
