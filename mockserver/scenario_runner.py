"""``hybridsoa-mock scenario run FILE [--url URL]``: run a scenario file's steps against a running mock (over
HTTPS, the real wire formats and the real token endpoint) or an in-process one, and print a pass/fail table.

A step is one of (plus ``name``, ``as``, ``save``, ``expect``):
  cmdlet: Set-Mailbox            params: {...}          Exchange InvokeCommand (real envelope)
  graph: "PATCH /v1.0/users/x"  body: {...}            Microsoft Graph
  control: "POST /sync/cycles"   body: {...}            control plane, relative to /_mock/tenants/{t}
  advance: 30                                           clock/advance {minutes}
  sync: Delta                                           sync/cycles {policyType}
  onprem: {op: patch|create|delete|move, sam:, attrs:, ou:}
  workflow: enable|disable|inventory|preflight|drift|revert   identities: [...], reconcile:, filter:
                                                        an SDK workflow (``hybridsoa.sdk.soa``) over real HTTPS; the
                                                        step's JSON is the workflow's report plus ``exitCode``
``as`` names a seeded app (automation, graph-reader, ...) or user (globaladmin, exchangeadmin, ...).
``save: {var: path}`` stores values from the JSON response (``value[0].Alias``); ``${var}`` substitutes later.
``expect``: ``status``, ``json: {path: value}``, ``len: {path: n}``, ``contains: text``, ``absent: [path]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata

import requests

from .domain.errors import DomainError
from .domain.scenario_tenant import load_scenario

EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


class Response:
    """A driver-neutral HTTP response: status, headers, text and parsed JSON (or None)."""

    def __init__(self, status: int, headers: dict, text: str):
        self.status, self.headers, self.text = status, headers, text
        try:
            self.json = json.loads(text) if text else None
        except ValueError:
            self.json = None


class HttpDriver:
    """Talks to a running mock over HTTP(S) with ``requests``; ``verify`` is passed on every request so
    ``REQUESTS_CA_BUNDLE`` in the environment cannot override it."""

    def __init__(self, base_url: str, ca: str | bool | None = None, control_token: str | None = None):
        import requests

        self.base_url = base_url.rstrip("/")
        self.verify = ca if ca is not None else True
        self.session = requests.Session()
        self.control_token = control_token

    def request(self, method: str, path: str, *, json_body=None, form=None, headers=None) -> Response:
        """Send one request to ``base_url + path``."""
        headers = dict(headers or {})
        if path.startswith("/_mock") and self.control_token:
            headers.setdefault("Authorization", f"Bearer {self.control_token}")
        url = path if path.startswith("http") else self.base_url + path
        resp = self.session.request(
            method, url, json=json_body, data=form, headers=headers, verify=self.verify, timeout=120
        )
        return Response(resp.status_code, dict(resp.headers), resp.text)


class FlaskDriver:
    """Runs against an in-process app through the Flask test client (no sockets)."""

    def __init__(self, app):
        self.client = app.test_client()
        self.base_url = "https://localhost"

    def request(self, method: str, path: str, *, json_body=None, form=None, headers=None) -> Response:
        """Send one request to the in-process app."""
        if path.startswith("http"):
            path = "/" + path.split("/", 3)[3]
        resp = self.client.open(
            path, method=method, json=json_body, data=form, headers=headers or {}, base_url=self.base_url
        )
        return Response(resp.status_code, dict(resp.headers), resp.get_data(as_text=True))


@dataclass
class StepResult:
    """Outcome of one step."""

    index: int
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Run:
    """State of one scenario run: tenant credentials, cached tokens, saved variables."""

    driver: object
    creds: dict
    variables: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        """The tenant under test."""
        return self.creds["tenantId"]

    def token(self, who: str, scope: str) -> str:
        """Sign in as a seeded app (client credentials) or user (password grant) at the real token endpoint."""
        key = (who, scope)
        if key in self.tokens:
            return self.tokens[key]
        apps = {a["name"]: a for a in self.creds["apps"]}
        users = {u["userPrincipalName"].split("@")[0]: u for u in self.creds["users"]}
        if who in apps:
            form = {
                "grant_type": "client_credentials",
                "client_id": apps[who]["clientId"],
                "client_secret": apps[who]["clientSecret"],
                "scope": scope,
            }
        elif who in users:
            form = {
                "grant_type": "password",
                "client_id": apps["automation"]["clientId"],
                "username": users[who]["userPrincipalName"],
                "password": users[who]["password"],
                "scope": scope,
            }
        else:
            raise ValueError(f"'as: {who}' is neither a seeded app nor a seeded user")
        resp = self.driver.request("POST", f"/{self.tenant_id}/oauth2/v2.0/token", form=form)
        if resp.status != 200 or not resp.json or "access_token" not in resp.json:
            raise ValueError(f"sign-in as {who} failed: HTTP {resp.status} {resp.text[:200]}")
        self.tokens[key] = resp.json["access_token"]
        return self.tokens[key]


def substitute(value, variables: dict):
    """Replace ``${var}`` in strings (recursively); a string that is exactly one variable keeps its type."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return variables[whole.group(1)]
        return _VAR.sub(lambda m: str(variables[m.group(1)]), value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


_MISSING = object()


def lookup(data, path: str):
    """Value at a path like ``value[0].Alias`` or ``error.code`` (``_MISSING`` when absent)."""
    current = data
    for name, index in _PATH_TOKEN.findall(path):
        try:
            current = current[int(index)] if index else current[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return _MISSING
    return current


def check(expect: dict, resp: Response) -> list[str]:
    """Compare a response with a step's ``expect`` block; return the failures."""
    failures = []
    want_status = expect.get("status")
    if want_status is not None:
        allowed = want_status if isinstance(want_status, list) else [want_status]
        if resp.status not in allowed:
            failures.append(f"status {resp.status}, expected {want_status}: {resp.text[:300]}")
    for path, want in (expect.get("json") or {}).items():
        got = lookup(resp.json, path)
        if got is _MISSING or got != want:
            failures.append(
                f"{path} = {'<missing>' if got is _MISSING else json.dumps(got)}, expected {json.dumps(want)}"
            )
    for path, want in (expect.get("len") or {}).items():
        got = lookup(resp.json, path)
        if got is _MISSING or not hasattr(got, "__len__") or len(got) != want:
            failures.append(f"len({path}) = {'<missing>' if got is _MISSING else len(got)}, expected {want}")
    for path in expect.get("absent") or []:
        if lookup(resp.json, path) is not _MISSING:
            failures.append(f"{path} present, expected absent")
    if "contains" in expect and str(expect["contains"]) not in resp.text:
        failures.append(f"response does not contain {expect['contains']!r}")
    return failures


def execute_step(run: Run, step: dict) -> Response:
    """Send the request a step describes and return the response."""
    step = substitute(step, run.variables)
    who = step.get("as")
    base = f"/_mock/tenants/{run.tenant_id}"
    if "cmdlet" in step:
        token = run.token(who or "automation", EXCHANGE_SCOPE)
        body = {"CmdletInput": {"CmdletName": step["cmdlet"], "Parameters": step.get("params") or {}}}
        return run.driver.request(
            "POST",
            f"/adminapi/beta/{run.tenant_id}/InvokeCommand",
            json_body=body,
            headers={"Authorization": f"Bearer {token}"},
        )
    if "graph" in step:
        method, _, path = step["graph"].partition(" ")
        token = run.token(who or "automation", GRAPH_SCOPE)
        headers = {"Authorization": f"Bearer {token}", **(step.get("headers") or {})}
        return run.driver.request(method.upper(), path, json_body=step.get("body"), headers=headers)
    if "control" in step:
        method, _, path = step["control"].partition(" ")
        return run.driver.request(method.upper(), base + path, json_body=step.get("body"))
    if "advance" in step:
        return run.driver.request("POST", f"{base}/clock/advance", json_body={"minutes": step["advance"]})
    if "sync" in step:
        return run.driver.request("POST", f"{base}/sync/cycles", json_body={"policyType": step["sync"]})
    if "onprem" in step:
        spec = step["onprem"]
        op, sam = spec.get("op", "patch"), spec.get("sam")
        if op == "patch":
            return run.driver.request("PATCH", f"{base}/onprem/users/{sam}", json_body=spec.get("attrs") or {})
        if op == "create":
            return run.driver.request("POST", f"{base}/onprem/users", json_body=spec.get("attrs") or {})
        if op == "delete":
            return run.driver.request("DELETE", f"{base}/onprem/users/{sam}")
        if op == "move":
            return run.driver.request("POST", f"{base}/onprem/users/{sam}/move", json_body={"ou": spec["ou"]})
        raise ValueError(f"unknown onprem op '{op}'")
    if "workflow" in step:
        return run_workflow(run, step)
    raise ValueError(f"step has no action (cmdlet, graph, control, advance, sync, onprem, workflow): {sorted(step)}")


WORKFLOWS = ("enable", "disable", "inventory", "preflight", "drift", "revert")
#: Entry-point group of the workflow steps' runner; the SDK provides it (``hybridsoa.sdk.scenario_steps:run_workflow``).
WORKFLOW_ENTRY_POINT = "hybridsoa.scenario_workflows"


def workflow_runner():
    """The installed workflow-step runner (the SDK's, found by entry point: the mock never imports the SDK)."""
    found = list(metadata.entry_points(group=WORKFLOW_ENTRY_POINT))
    if not found:
        raise ValueError(f"workflow steps need the hybridsoa SDK installed (entry point group {WORKFLOW_ENTRY_POINT})")
    return found[0].load()


def run_workflow(run: Run, step: dict) -> Response:
    """Run an SDK workflow (the code the ``hybridsoa`` CLI runs) against the tenant under test."""
    driver = run.driver
    if not isinstance(driver, HttpDriver):
        raise ValueError("workflow steps need a real server (the runner's default in-process HTTPS server or --url)")
    name = step["workflow"]
    if name not in WORKFLOWS:
        raise ValueError(f"unknown workflow '{name}' (one of {', '.join(WORKFLOWS)})")
    ca = driver.verify if isinstance(driver.verify, str) else None
    body = workflow_runner()(
        step, base_url=driver.base_url, ca=ca, credentials=run.creds, control_token=driver.control_token
    )
    return Response(200, {}, json.dumps(body, default=str))


def describe(step: dict) -> str:
    """A one-line label for a step."""
    if step.get("name"):
        return str(step["name"])
    for key in ("cmdlet", "graph", "control", "advance", "sync", "onprem"):
        if key in step:
            return f"{key}: {step[key]}"
    return "?"


def run_scenario(scenario: dict, driver, *, keep_tenant: bool = False) -> tuple[list[StepResult], dict]:
    """Create a tenant from the scenario's description, run every step, delete the tenant; return results."""
    resp = driver.request("POST", "/_mock/tenants", json_body={"scenario": scenario["tenant"], "frozenClock": True})
    if resp.status != 201:
        return [StepResult(0, "create tenant", False, f"HTTP {resp.status}: {resp.text[:300]}")], {}
    creds = resp.json
    run = Run(driver, creds, variables={"tenantId": creds["tenantId"], "domain": creds["domain"]})
    results = [StepResult(0, "create tenant", True, creds["tenantId"])]
    try:
        for index, step in enumerate(scenario["steps"], start=1):
            label = describe(step)
            try:
                step = substitute(step, run.variables)
                resp = execute_step(run, step)
                failures = check(step.get("expect") or {"status": [200, 201, 204]}, resp)
                for var, path in (step.get("save") or {}).items():
                    value = lookup(resp.json, path)
                    if value is _MISSING:
                        failures.append(f"save {var}: {path} not in response")
                    else:
                        run.variables[var] = value
            except Exception as exc:  # noqa: BLE001  (a step that blows up is a failed step, reported in the table)
                failures = [f"{type(exc).__name__}: {exc}"]
            results.append(StepResult(index, label, not failures, "; ".join(failures)))
    finally:
        if not keep_tenant:
            driver.request("DELETE", f"/_mock/tenants/{creds['tenantId']}")
    return results, run.variables


def print_results(name: str, results: list[StepResult]) -> None:
    """Print a rich table of step outcomes."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"scenario: {name}")
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for r in results:
        table.add_row(str(r.index), r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]", r.detail)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hybridsoa-mock scenario``; returns the exit code (0 only if every step passed)."""
    parser = argparse.ArgumentParser(prog="hybridsoa-mock scenario")
    sub = parser.add_subparsers(dest="action", required=True)
    run_p = sub.add_parser("run", help="run a scenario file")
    run_p.add_argument("file", help="scenario file or name in scenarios/")
    run_p.add_argument("--url", help="base URL of a running mock (default: an in-process one)")
    run_p.add_argument("--ca", help="CA bundle of the running mock (default: <data-dir>/ca.pem if found)")
    run_p.add_argument(
        "--data-dir",
        default=".hybridsoa",
        help="the running mock's data dir, where its ca.pem is looked for (default .hybridsoa)",
    )
    run_p.add_argument("--control-token", help="control-plane token of the running mock")
    run_p.add_argument("--keep-tenant", action="store_true", help="do not delete the tenant afterwards")
    sub.add_parser("list", help="list shipped scenarios")
    args = parser.parse_args(argv)
    if args.action == "list":
        from .domain.scenario_tenant import scenario_names

        for name in scenario_names():
            print(name)
        return 0
    try:
        scenario = load_scenario(args.file)
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.url:
        ca = args.ca
        if ca is None and args.url.lower().startswith("https://"):
            # As the help promises: the data dir's CA when none is given (the mock's certificate is self-issued).
            candidate = os.path.join(args.data_dir, "ca.pem")
            ca = candidate if os.path.isfile(candidate) else None
        if ca is not None and not os.path.isfile(ca):
            print(f"hybridsoa-mock scenario: CA file not found: {ca}", file=sys.stderr)
            return 2
        try:
            results, _ = run_scenario(
                scenario, HttpDriver(args.url, ca, args.control_token), keep_tenant=args.keep_tenant
            )
        except requests.exceptions.SSLError:
            print(
                f"hybridsoa-mock scenario: TLS: the certificate of {args.url} is not signed by "
                f"{ca or 'a CA this machine trusts'} (give --ca or --data-dir)",
                file=sys.stderr,
            )
            return 3
        except requests.RequestException as exc:
            print(f"hybridsoa-mock scenario: cannot reach {args.url} ({type(exc).__name__})", file=sys.stderr)
            return 3
    else:
        import tempfile

        from .server import InProcessServer

        with tempfile.TemporaryDirectory(prefix="hybridsoa-scenario-") as tmp, InProcessServer(data_dir=tmp) as server:
            results, _ = run_scenario(scenario, HttpDriver(server.url, server.ca_path))

    print_results(scenario["name"], results)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
