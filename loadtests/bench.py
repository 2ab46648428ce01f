"""The benchmark driver (issue 9): one command, one machine, one run, every figure a ratio against a baseline
measured in the same run.

    .venv/bin/python loadtests/bench.py            # full run (~9 minutes on 2 cores; progress on stderr)
    .venv/bin/python loadtests/bench.py --quick    # smaller tenants and shorter loads, for a smoke check
    .venv/bin/python loadtests/bench.py --write    # also replace the generated section of docs/benchmarks.md

What it measures:
1. Toggle throughput and p50/p95/p99 of ``Set-Mailbox -IsExchangeCloudManaged`` on the mock served as users
   run it (``hybridsoa-mock serve``: granian, TLS), in memory and with ``--data-dir``, with the load generator
   (``loadtests/loadgen.py``, or Locust with ``--generator locust``) on the other core; the same load against a
   bare Flask endpoint sending the mock's whole response (same body size and headers) on gunicorn 27 gthread,
   1 worker x 8 threads (the old engine's ceiling) and on granian with serve's settings; moto's server mode doing
   IAM TagUser (a peer's stateful single-item update). Then the mock again at half its saturating rate for the
   p99 target. Mock and baselines run in interleaved rounds (``--rounds``) and the ratios are medians over the
   rounds, with the server's CPU per request beside req/s: on a shared machine req/s drift by tens of percent
   from one minute to the next. Servers and the load generator ask for a higher CPU share than the machine's
   other work (:func:`raise_priority`; ``--no-priority`` to leave it).
2. In fresh processes: seed time and peak RSS of 10,000- and 100,000-mailbox tenants, a Delta cycle with 10
   changes in the 100,000 tenant, and paging all 100,000 mailboxes through InvokeCommand (1000 per page).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER_CORE, LOAD_CORE = "0", "1"
GUNICORN = ["--workers", "1", "--worker-class", "gthread", "--threads", "8", "--log-level", "warning"]


def progress(message: str) -> None:
    """One line of progress on stderr (stdout carries only the report): a full run takes about nine minutes."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(core: str, argv: list[str]) -> list[str]:
    """Prefix a command with taskset when available, so server and load generator get one core each."""
    return (
        (["taskset", "-c", core] + argv) if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1 else argv
    )


#: The scheduling priority the bench asks for its servers and load generator (an autogroup nice value, see
#: :func:`raise_priority`); None once the kernel refused it, so the report can say the run was not prioritised.
PRIORITY: dict[str, int | None] = {"nice": -10}


def raise_priority(pid: int | str = "self") -> bool:
    """Give the session of ``pid`` (a server started in its own session, or the bench itself with its load
    generator) a higher CPU share than other work on the machine. Linux schedules sessions as autogroups, so a plain
    ``nice`` only ranks processes inside one session: on a machine shared with other jobs a server pinned to its
    core got about half of it, and req/s measured the neighbours. Needs CAP_SYS_NICE; False (and nothing changed)
    without it or without autogroups."""
    nice = PRIORITY["nice"]
    if nice is None:
        return False
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        return True
    except OSError:
        PRIORITY["nice"] = None
        return False


def wait_for(url: str, verify, timeout: float = 60, server: subprocess.Popen | None = None) -> None:
    """Poll until the server answers (any HTTP status); on timeout, say so with the end of the server's log."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, verify=verify, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    log = getattr(server, "log_path", None)
    tail = Path(log).read_text(errors="replace")[-1500:] if log and Path(log).exists() else ""
    raise RuntimeError(f"server at {url} did not come up" + (f"; its log ends:\n{tail}" if tail else ""))


def start_gunicorn(app_spec: str, port: int, tls, env=None) -> subprocess.Popen:
    """Start ``app_spec`` under gunicorn with the production settings and TLS, pinned to the server core. Its
    log goes to a file (``proc.log_path``, removed by :func:`stop`): a pipe nobody reads could fill and stall it."""
    argv = pinned(
        SERVER_CORE,
        [
            str(BIN / "gunicorn"),
            *GUNICORN,
            "--certfile",
            str(tls.cert),
            "--keyfile",
            str(tls.key),
            "--bind",
            f"127.0.0.1:{port}",
            app_spec,
        ],
    )
    with tempfile.NamedTemporaryFile(prefix="hybridsoa-gunicorn-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    proc.log_path = log.name
    raise_priority(proc.pid)
    return proc


def start_granian(app_spec: str, port: int, tls, env=None) -> subprocess.Popen:
    """Start ``app_spec`` (a WSGI app) under granian with the settings ``hybridsoa-mock serve`` uses (one worker,
    the same thread ceiling and backpressure, TLS 1.2+), pinned to the server core: the baseline on the engine."""
    from hybridsoa.mock.server import DEFAULT_THREADS

    argv = pinned(
        SERVER_CORE,
        [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--blocking-threads",
            str(DEFAULT_THREADS),
            "--backpressure",
            str(DEFAULT_THREADS * 2),
            "--log-level",
            "warning",
            "--ssl-certificate",
            str(tls.cert),
            "--ssl-keyfile",
            str(tls.key),
            "--ssl-protocol-min",
            "tls1.2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            app_spec,
        ],
    )
    return _popen_logged(argv, "granian", env)


def start_mock(port: int, tls, workdir: Path, durable: bool) -> subprocess.Popen:
    """Start the mock as users run it, ``hybridsoa-mock serve`` (granian, TLS), pinned to the server core; with
    ``durable`` on a fresh ``--data-dir`` (the durable store), else in memory. Both reuse the bench's CA."""
    workdir.mkdir(parents=True, exist_ok=True)
    tls_dir = workdir / ("data" if durable else ".hybridsoa")
    tls_dir.mkdir(exist_ok=True)
    for path in (tls.ca, tls.cert, tls.key, Path(tls.ca).with_name("ca-key.pem")):
        shutil.copy(path, tls_dir / Path(path).name)
    argv = [str(BIN / "hybridsoa-mock"), "serve", "--no-demo", "--host", "127.0.0.1", "--port", str(port)]
    if durable:
        argv += ["--data-dir", str(tls_dir)]
    return _popen_logged(pinned(SERVER_CORE, argv), "mock", None, cwd=workdir)


def _popen_logged(argv, name, env, cwd=ROOT) -> subprocess.Popen:
    with tempfile.NamedTemporaryFile(prefix=f"hybridsoa-{name}-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    proc.log_path = log.name
    raise_priority(proc.pid)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process group (and drop its log file)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    if getattr(proc, "log_path", None):
        Path(proc.log_path).unlink(missing_ok=True)


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every live process of a process group (a server and its
    workers), read from /proc; 0.0 where /proc is not available."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc").is_dir() else []:
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


#: The load generator every target gets (``--generator``) and the seconds of load before measuring (``--warmup``).
GENERATOR = {"name": "loadgen", "warmup": 2.0}
#: Locust user class -> loadgen target.
LOADGEN_TARGETS = {"MockToggle": "mock", "BaselineToggle": "baseline", "MotoTagUser": "moto"}


def run_load(
    user_class: str,
    host: str,
    env: dict,
    users: int,
    seconds: int,
    out: Path,
    server: subprocess.Popen | None = None,
    label: str | None = None,
) -> dict:
    """Run the load generator (``loadtests/loadgen.py`` by default, or Locust headless) on the load core; return
    throughput, percentiles and failures of the run, and the server's CPU milliseconds per request (robust to
    other load on the machine, unlike req/s). Every target gets the same warm-up before the measured window."""
    if GENERATOR["name"] == "locust":
        return _run_locust(user_class, host, env, users, seconds, out, server, label)
    rps = env.get("BENCH_RPS_PER_USER") or "0"
    argv = pinned(
        LOAD_CORE,
        [
            sys.executable,
            str(ROOT / "loadtests" / "loadgen.py"),
            "--host",
            host,
            "--target",
            LOADGEN_TARGETS[user_class],
            "-u",
            str(users),
            "-t",
            str(seconds),
            "--warmup",
            str(GENERATOR["warmup"]),
            "--rps-per-user",
            rps,
        ],
    )
    cpu_before = group_cpu_seconds(server.pid) if server is not None else 0.0
    # Its own session, so it gets the servers' priority without raising that of the shell that started the bench.
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    raise_priority(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=seconds + GENERATOR["warmup"] + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    cpu = group_cpu_seconds(server.pid) - cpu_before if server is not None else 0.0
    try:
        row = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(
            f"loadgen ({user_class} on {host}) wrote no figures (exit {proc.returncode}): {stderr.strip()[-1500:]}"
        ) from None
    # The server's CPU covers the warm-up too: spread it over every request of the run, at the measured rate.
    served = row["requests"] * (seconds + GENERATOR["warmup"]) / seconds
    cpu_ms = cpu * 1000 / served if served and cpu else None
    progress(
        f"{label or user_class}: {row['rps']:.0f} req/s, {row['failures']} failed"
        + (f" (first: {row['firstFailure']})" if row["failures"] else "")
        + (f", {cpu_ms:.2f} ms server CPU per request" if cpu_ms else "")
        + f", p99 {row['p99']:.1f} ms, load generator {row['clientCpuSeconds'] / row['wallSeconds']:.0%} of its core"
    )
    return {
        "rps": row["rps"],
        "requests": row["requests"],
        "failures": row["failures"],
        "p50": row["p50"],
        "p95": row["p95"],
        "p99": row["p99"],
        "cpuMsPerRequest": cpu_ms,
        "clientCoreShare": row["clientCpuSeconds"] / row["wallSeconds"],
    }


def _run_locust(
    user_class: str,
    host: str,
    env: dict,
    users: int,
    seconds: int,
    out: Path,
    server: subprocess.Popen | None = None,
    label: str | None = None,
) -> dict:
    """Run Locust headless on the load core; return throughput, percentiles and failures of the run, and the
    server's CPU milliseconds per request (robust to other load on the machine, unlike req/s)."""
    prefix = out / user_class
    cpu_before = group_cpu_seconds(server.pid) if server is not None else 0.0
    argv = pinned(
        LOAD_CORE,
        [
            str(BIN / "locust"),
            "-f",
            str(ROOT / "loadtests" / "bench_targets.py"),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            user_class,
        ],
    )
    stats = Path(f"{prefix}_stats.csv")
    stats.unlink(missing_ok=True)  # every round writes the same file: never read an earlier round's figures
    proc = subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=seconds + 120,
    )
    cpu = group_cpu_seconds(server.pid) - cpu_before if server is not None else 0.0
    row = None
    if stats.exists():
        with open(stats) as fh:
            row = next((r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"), None)
    if row is None:  # Locust exits 1 when requests failed, which the report shows; no figures at all is an error
        raise RuntimeError(
            f"Locust ({user_class} on {host}) wrote no statistics (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-1500:]}"
        )
    requests_ = int(row["Request Count"])
    progress(
        f"{label or user_class}: {float(row['Requests/s']):.0f} req/s, {row['Failure Count']} failed"
        + (f", {cpu * 1000 / requests_:.2f} ms server CPU per request" if requests_ and cpu else "")
    )
    return {
        "rps": float(row["Requests/s"]),
        "requests": requests_,
        "failures": int(row["Failure Count"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
        "cpuMsPerRequest": cpu * 1000 / requests_ if requests_ and cpu else None,
    }


def mock_sign_in(host: str, ca: str, tenant: dict) -> str:
    """Sign in once with MSAL (client credentials) as the seeded automation app."""
    import msal

    from hybridsoa.mock.tls import CaPinnedSession

    app = next(a for a in tenant["apps"] if a["name"] == "automation")
    cca = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential=app["clientSecret"],
        authority=f"{host}/{tenant['tenantId']}",
        instance_discovery=False,
        http_client=CaPinnedSession(ca),
    )
    return cca.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])["access_token"]


def prepare_tenant(host: str, ca: str, mailboxes: int, work: Path, tag: str) -> dict:
    """Create the bench tenant on a served mock, sign in, list its mailboxes; returns the load generator's
    environment and one toggle's answer (``probe``)."""
    import requests

    tenant = requests.post(
        f"{host}/_mock/tenants",
        json={"mailboxes": mailboxes, "name": "bench", "options": {"mix": "uniform"}},
        verify=ca,
        timeout=600,
    ).json()
    token = mock_sign_in(host, ca, tenant)
    url = f"{host}/adminapi/beta/{tenant['tenantId']}/InvokeCommand?$select=Alias"
    headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=1000"}
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}}
    identities = []
    while url:
        page = requests.post(url, json=body, headers=headers, verify=ca, timeout=120).json()
        identities += [m["Alias"] for m in page["value"]]
        url = page.get("@odata.nextLink")
    ids_file = work / f"identities-{tag}.txt"
    ids_file.write_text("\n".join(identities))
    probe = requests.post(
        f"{host}/adminapi/beta/{tenant['tenantId']}/InvokeCommand",
        headers=headers,
        verify=ca,
        json={
            "CmdletInput": {
                "CmdletName": "Set-Mailbox",
                "Parameters": {"Identity": identities[0], "IsExchangeCloudManaged": True},
            }
        },
    )
    return {
        "env": {
            "BENCH_CA": ca,
            "BENCH_TENANT": tenant["tenantId"],
            "BENCH_TOKEN": token,
            "BENCH_IDENTITIES": str(ids_file),
        },
        "probe": probe,
        "tenant": tenant["tenantId"],
        "headers": headers,
        "identity": identities[0],
    }


def load_benchmarks(args, work: Path) -> dict:
    """Part 1: the mock (in memory and with --data-dir), the bare-Flask baseline on gunicorn 27 gthread (the old
    engine) and on granian (the engine), and moto, under the same load."""
    import requests

    from hybridsoa.mock.tls import ensure_tls

    tls = ensure_tls(work / "tls")
    ca = str(tls.ca)
    results = {}
    port, durable_port = free_port(), free_port()
    progress(f"serving the mock (in memory, and with --data-dir) and seeding {args.mailboxes:,} mailboxes in each")
    mock = start_mock(port, tls, work / "mem", durable=False)
    durable = start_mock(durable_port, tls, work / "durable", durable=True)
    host, durable_host = f"https://127.0.0.1:{port}", f"https://127.0.0.1:{durable_port}"
    try:
        wait_for(f"{host}/_mock/health", ca, server=mock)
        wait_for(f"{durable_host}/_mock/health", ca, server=durable)
        mem_t = prepare_tenant(host, ca, args.mailboxes, work, "mem")
        dur_t = prepare_tenant(durable_host, ca, args.mailboxes, work, "durable")
        probe = mem_t["probe"]
        response_bytes = len(probe.content)
        # The baselines send the same response: this body size and the real answer's own headers (the server adds
        # Server, Date and Connection to both; requests' header dict keeps the mock's order).
        response_headers = [
            [k, v]
            for k, v in probe.headers.items()
            if k.lower() not in ("server", "date", "connection", "content-length")
        ]
        base_env = {"BASELINE_BYTES": str(response_bytes), "BASELINE_HEADERS": json.dumps(response_headers)}
        baselines = []
        for starter, label in (
            (start_gunicorn, "bare Flask on gunicorn 27 gthread"),
            (start_granian, "bare Flask on granian"),
        ):
            base_port = free_port()
            baselines.append(
                (
                    starter("loadtests.baseline_app:app", base_port, tls, env=base_env),
                    f"https://127.0.0.1:{base_port}",
                    label,
                )
            )
        try:
            for proc, base_host, _label in baselines:
                wait_for(f"{base_host}/", ca, server=proc)
            # Interleaved rounds: whatever else the machine does drifts over minutes, so each mock round is paired
            # with the other targets right after it, and the ratios are medians over the rounds.
            rounds, granian_rounds, durable_rounds = [], [], []
            for i in range(args.rounds):
                progress(
                    f"round {i + 1} of {args.rounds}: the mock, the durable mock, both baselines, {args.seconds} s each"
                )
                m = run_load("MockToggle", host, mem_t["env"], args.users, args.seconds, work, mock, label="mock")
                d = run_load(
                    "MockToggle",
                    durable_host,
                    dur_t["env"],
                    args.users,
                    args.seconds,
                    work,
                    durable,
                    label="mock --data-dir",
                )
                order = baselines if i % 2 == 0 else baselines[::-1]  # neither baseline always runs last
                runs = {
                    base_host: run_load(
                        "BaselineToggle", base_host, mem_t["env"], args.users, args.seconds, work, proc, label=label
                    )
                    for proc, base_host, label in order
                }
                rounds.append((m, runs[baselines[0][1]]))
                granian_rounds.append((m, runs[baselines[1][1]]))
                durable_rounds.append((d, m))
        finally:
            for proc, _base_host, _label in baselines:
                stop(proc)
        results["rounds"] = rounds
        results["granian_rounds"] = granian_rounds
        results["durable_rounds"] = durable_rounds
        results["mock"] = _median_run([m for m, _ in rounds])
        results["baseline"] = _median_run([b for _, b in rounds])
        results["baseline_granian"] = _median_run([b for _, b in granian_rounds])
        results["durable"] = _median_run([d for d, _ in durable_rounds])
        half = results["mock"]["rps"] / 2 / args.users
        progress(f"the mock at half its saturating rate ({results['mock']['rps'] / 2:.0f} req/s)")
        results["mock_half"] = run_load(
            "MockToggle",
            host,
            {**mem_t["env"], "BENCH_RPS_PER_USER": f"{half:.3f}"},
            args.users,
            args.seconds,
            work,
            mock,
            label="mock at half load",
        )
        state = requests.post(
            f"{host}/adminapi/beta/{mem_t['tenant']}/InvokeCommand?$select=IsExchangeCloudManaged",
            headers=mem_t["headers"],
            verify=ca,
            json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": mem_t["identity"]}}},
        )
        results["mock"]["readBackOk"] = state.status_code == 200
    finally:
        stop(mock)
        stop(durable)
    progress("moto's server mode, IAM TagUser")
    port = free_port()
    moto = subprocess.Popen(
        pinned(SERVER_CORE, [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]),
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    raise_priority(moto.pid)
    try:
        wait_for(f"http://127.0.0.1:{port}/moto-api/", False)
        users = [f"bench{i}" for i in range(200)]
        auth = {
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/"
            "aws4_request, SignedHeaders=host, Signature=0"
        }
        for name in users:
            requests.post(
                f"http://127.0.0.1:{port}/",
                headers=auth,
                data={"Action": "CreateUser", "Version": "2010-05-08", "UserName": name},
            )
        moto_ids = work / "moto_users.txt"
        moto_ids.write_text("\n".join(users))
        results["moto"] = run_load(
            "MotoTagUser",
            f"http://127.0.0.1:{port}",
            {"BENCH_IDENTITIES": str(moto_ids)},
            args.users,
            args.seconds,
            work,
            moto,
            label="moto",
        )
    finally:
        stop(moto)
    results["responseBytes"] = response_bytes
    results["responseHeaders"] = len(response_headers) + 1  # and Content-Length
    return results


def _median_run(runs: list[dict]) -> dict:
    """One row for several runs of a target: the median of each figure, failures summed."""
    import statistics

    out = {}
    for key in ("rps", "p50", "p95", "p99", "cpuMsPerRequest"):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["failures"] = sum(r["failures"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


def pair_ratios(rounds: list[tuple[dict, dict]]) -> tuple[list[float], list[float]]:
    """Per round: mock/baseline throughput, and baseline/mock server CPU per request."""
    rps = [m["rps"] / b["rps"] for m, b in rounds if b["rps"]]
    cpu = [
        b["cpuMsPerRequest"] / m["cpuMsPerRequest"]
        for m, b in rounds
        if m.get("cpuMsPerRequest") and b.get("cpuMsPerRequest")
    ]
    return rps, cpu


PROBE = r"""
import json, resource, sys, time
from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.domain.entra.tokens import issue_access_token
n = int(sys.argv[1]); page_all = sys.argv[2] == "1"
registry = TenantRegistry(seed=1)
t0 = time.perf_counter(); tenant = registry.create("bench", mailboxes=n, seed=7, frozen_clock=True)
seed_s = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"mailboxes": n, "seedSeconds": seed_s, "peakRssMB": rss_mb}
with tenant.lock:
    for ad in tenant.ad_users.values()[:10]:
        ad.attrs["title"] = "Changed"; tenant.ad_users.touch(ad.sam_account_name.lower())
    t0 = time.perf_counter(); run = tenant.sync.run_cycle("Delta"); out["delta10Ms"] = (time.perf_counter() - t0) * 1000
    out["delta10Updates"] = run.get("updates")
if page_all:
    client = create_app(registry).test_client()
    token, _ = issue_access_token(tenant, "exchange", app=tenant.app_by_name("automation"))
    url = f"/adminapi/beta/{tenant.id}/InvokeCommand"; seen = 0; pages = 0
    headers = {"Authorization": "Bearer " + token, "Prefer": "odata.maxpagesize=1000"}
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}}
    t0 = time.perf_counter()
    while url:
        page = client.post(url, json=body, headers=headers).get_json()
        seen += len(page["value"]); pages += 1
        url = page.get("@odata.nextLink")
        if url and url.startswith("http"):
            url = "/" + url.split("/", 3)[3]
    out["pageAllSeconds"] = time.perf_counter() - t0; out["pagedMailboxes"] = seen; out["pages"] = pages
print(json.dumps(out))
"""


def scale_benchmarks(sizes: list[int]) -> list[dict]:
    """Part 2: seed time, peak RSS, Delta(10) and paging, each size in a fresh process."""
    rows = []
    for n in sizes:
        progress(
            f"seeding {n:,} mailboxes in a fresh process"
            + (" (then Delta and paging)" if n == max(sizes) else " (then Delta)")
        )
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, str(n), "1" if n == max(sizes) else "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            rows.append({"mailboxes": n, "error": proc.stderr.strip().splitlines()[-1:]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def machine() -> str:
    """One line describing the machine."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu or platform.processor()}), Python {platform.python_version()}, "
        f"{platform.system()}"
    )


def generator_text(args) -> str:
    """How the load was generated, for the report's header."""
    if getattr(args, "generator", "loadgen") == "locust":
        return "Locust (FastHttpUser)"
    return f"loadtests/loadgen.py (asyncio keep-alive, {getattr(args, 'warmup', 2.0):g} s warm-up before each window)"


def priority_text() -> str:
    """Whether the servers and load generator ran at a raised CPU share."""
    if PRIORITY["nice"] is None:
        return "default CPU share (no autogroup priority: other work on the machine counts in req/s)"
    return f"servers and load generator at autogroup nice {PRIORITY['nice']} over other work on the machine"


def render(load: dict, scale: list[dict], args) -> str:
    """The markdown section for docs/benchmarks.md."""
    lines = [
        "<!-- bench.py:start -->",
        "## Bulk toggle and scale (loadtests/bench.py)",
        "",
        f"Command: `{' '.join(['.venv/bin/python loadtests/bench.py', *getattr(args, 'argv', ['--write'])])}`  ",
        f"Machine: {machine()}  ",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {generator_text(args)}, {args.users} users "
        f"(connections), {args.seconds}s per run, {args.rounds} interleaved mock/baseline rounds, server "
        f"pinned to core {SERVER_CORE}, load generator to core {LOAD_CORE}; {priority_text()}.",
        "",
    ]
    if load:
        import statistics

        m, b, g, d = load["mock"], load["baseline"], load["baseline_granian"], load["durable"]
        mo, h = load["moto"], load["mock_half"]
        lines += [
            "| target | req/s | p50 ms | p95 ms | p99 ms | failures | server CPU ms/request |",
            "|---|---|---|---|---|---|---|",
        ]
        same = f"TLS, same response: {load['responseBytes']}-byte body, {load['responseHeaders']} headers"
        rows = [
            ("mock Set-Mailbox -IsExchangeCloudManaged (`hybridsoa-mock serve`, granian)", m),
            ("the same with `--data-dir` (durable store)", d),
            (f"bare Flask on gunicorn 27 gthread, 1 worker x 8 threads ({same}): the old engine's ceiling", b),
            (f"bare Flask on granian, serve's settings ({same})", g),
            ("moto server IAM TagUser", mo),
            ("mock at half its saturating rate", h),
        ]
        for label, r in rows:
            cpu = f"{r['cpuMsPerRequest']:.2f}" if r.get("cpuMsPerRequest") else "-"
            lines.append(
                f"| {label} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | "
                f"{r['failures']} | {cpu} |"
            )
        pairs = [
            ("mock / bare Flask on gunicorn 27", load["rounds"], 1.8),
            ("mock / bare Flask on granian", load["granian_rounds"], 0.85),
            ("mock --data-dir / mock in memory", load["durable_rounds"], 0.8),
        ]
        lines += [
            "",
            "Interleaved rounds (the mock, the durable mock, then both baselines; rows above are medians):",
            "",
            "| round | mock req/s | durable req/s | gunicorn baseline req/s | granian baseline req/s | "
            "mock/gunicorn | mock/granian | durable/mock |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for i, ((mr, br), (_, gr), (dr, _)) in enumerate(
            zip(load["rounds"], load["granian_rounds"], load["durable_rounds"], strict=True), start=1
        ):
            lines.append(
                f"| {i} | {mr['rps']:.0f} | {dr['rps']:.0f} | {br['rps']:.0f} | {gr['rps']:.0f} | "
                f"{mr['rps'] / br['rps']:.2f} | {mr['rps'] / gr['rps']:.2f} | {dr['rps'] / mr['rps']:.2f} |"
            )
        lines.append("")
        for label, rounds, target in pairs:
            rps, cpu = pair_ratios(rounds)
            ratio = statistics.median(rps)
            cpu_text = f"; by server CPU per request: **{statistics.median(cpu):.2f}**" if cpu else ""
            lines.append(f"- {label} throughput: **{ratio:.2f}** (median of the rounds; target >= {target}){cpu_text}")
        moto_cpu = (
            f"; by server CPU per request: **{mo['cpuMsPerRequest'] / m['cpuMsPerRequest']:.2f}x**"
            if mo.get("cpuMsPerRequest") and m.get("cpuMsPerRequest")
            else ""
        )
        lines += [
            f"- mock / moto throughput: **{m['rps'] / mo['rps']:.2f}x** (target >= 3x){moto_cpu}",
            f"- p99 at half load: **{h['p99']:.0f} ms** (target < 20 ms); failed requests under load: "
            f"{m['failures'] + h['failures'] + d['failures']}",
            "",
        ]
    if scale:
        lines += ["| mailboxes | seed s | peak RSS MB | Delta(10) ms | page all s (pages) |", "|---|---|---|---|---|"]
        for r in scale:
            if "error" in r:
                lines.append(f"| {r['mailboxes']} | error: {r['error']} | | | |")
                continue
            paging = f"{r['pageAllSeconds']:.1f} ({r['pages']})" if "pageAllSeconds" in r else "-"
            lines.append(
                f"| {r['mailboxes']:,} | {r['seedSeconds']:.1f} | {r['peakRssMB']:.0f} | "
                f"{r['delta10Ms']:.1f} | {paging} |"
            )
        big = scale[-1]
        if "delta10Ms" in big and "seedSeconds" in big:
            lines += [
                "",
                f"- Delta(10) / seed+Initial at {big['mailboxes']:,}: "
                f"**{big['delta10Ms'] / 1000 / big['seedSeconds']:.5f}** (the cycle costs what changed, "
                "not the tenant size)",
            ]
    lines.append("<!-- bench.py:end -->")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) the generated section in docs/benchmarks.md, leaving other sections alone."""
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start, end = current.find("<!-- bench.py:start -->"), current.find("<!-- bench.py:end -->")
    if start != -1 and end != -1:
        current = current[:start] + text + current[end + len("<!-- bench.py:end -->\n") :]
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


def main(argv=None) -> int:
    """Run the benchmarks and print (optionally write) the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller tenants and 8 s loads")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--skip-load", action="store_true", help="only the scale measurements")
    parser.add_argument("--skip-scale", action="store_true", help="only the load measurements")
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved mock/baseline rounds (default 5; 2 with --quick)"
    )
    parser.add_argument(
        "--generator",
        choices=["loadgen", "locust"],
        default="loadgen",
        help="load generator for every target (default loadgen: Locust on one core caps below the engine's rate)",
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before each measured window (loadgen only)"
    )
    parser.add_argument(
        "--no-priority",
        action="store_true",
        help="leave the servers and load generator at the machine's default CPU share",
    )
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    GENERATOR.update(name=args.generator, warmup=args.warmup)
    if args.no_priority:
        PRIORITY["nice"] = None
    args.users, args.seconds = (8, 8) if args.quick else (16, 15)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.mailboxes = 1000 if args.quick else 5000
    sizes = [2_000, 10_000] if args.quick else [10_000, 100_000]
    with tempfile.TemporaryDirectory(prefix="hybridsoa-bench-") as tmp:
        load = {} if args.skip_load else load_benchmarks(args, Path(tmp))
        scale = [] if args.skip_scale else scale_benchmarks(sizes)
    text = render(load, scale, args)
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
