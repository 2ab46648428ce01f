"""The SDK's workflow steps for scenario files (``workflow: enable|disable|inventory|preflight|drift|revert``):
the mock's scenario runner finds :func:`run_workflow` through the ``hybridsoa.scenario_workflows`` entry point,
so the mock never imports the SDK. It takes only what a client has: the server's URL, its CA and the tenant's
credentials as ``POST /_mock/tenants`` returned them."""

from __future__ import annotations

from . import soa
from .config import connect_mock

WORKFLOWS = ("enable", "disable", "inventory", "preflight", "drift", "revert")


def run_workflow(
    step: dict, *, base_url: str, ca: str | None, credentials: dict, control_token: str | None = None
) -> dict:
    """Run one SDK workflow (the code the ``hybridsoa`` CLI runs) against a mock tenant; the workflow's report
    plus ``exitCode``. ``step["as"]`` names a seeded app or user (default: the ``automation`` app)."""
    name = step["workflow"]
    if name not in WORKFLOWS:
        raise ValueError(f"unknown workflow '{name}' (one of {', '.join(WORKFLOWS)})")
    who = step.get("as") or "automation"
    apps = {a["name"] for a in credentials["apps"]}
    conn = connect_mock(
        base_url,
        ca,
        credentials,
        app=who if who in apps else "automation",
        user=None if who in apps else who,
        control_token=control_token,
    )
    try:
        exchange = conn.exchange
        identities = step.get("identities") or []
        if name in ("enable", "disable"):
            result = getattr(soa, name)(exchange, identities)
            return {**result.to_dict(), "exitCode": result.exit_code}
        if name == "inventory":
            rows = soa.inventory(exchange, filter=step.get("filter"))
            return {"summary": soa.summarize(rows), "rows": [r.__dict__ for r in rows], "exitCode": 0}
        if name == "preflight":
            report = soa.preflight(exchange, graph=conn.graph, tokens=conn.tokens, onprem=conn.onprem)
            return {**report.to_dict(), "exitCode": 0}
        if name == "drift":
            drift = soa.drift(exchange, conn.onprem, identities or None)
            return {**drift.to_dict(), "exitCode": 0}
        result = soa.revert(exchange, conn.onprem, identities, reconcile=bool(step.get("reconcile", True)))
        return {**result.to_dict(), "exitCode": result.exit_code}
    finally:
        conn.close()
