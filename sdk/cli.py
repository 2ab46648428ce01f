"""hybridsoa: the admin CLI over the SDK's SOA workflows (inventory, preflight, enable, disable, verify, drift,
revert, status). Works the same against real tenants and the mock; only --cloud (and the mock URL/CA) change.

Exit codes: 0 all done; 1 some items failed, were silently ignored or not reached (or checks failed, drift
found); 2 usage or configuration error; 3 could not reach or authenticate to the service; 130 interrupted."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys

from .errors import ApiError, AuthenticationFailed, AuthError, ConfigError, HybridSoaError, Unreachable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EPILOG = (
    "Exit codes: 0 all done, 1 some items failed, 2 usage or configuration error, "
    "3 could not reach or authenticate, 130 interrupted."
)
#: Identities shown per outcome on screen (the rest are counted; --json and -o list them all).
SHOW_IDENTITIES = 10


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def _connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (arguments > HYBRIDSOA_* environment > profile file)")
    g.add_argument("--profile", help="profile name in the profile file")
    g.add_argument("--profile-file", help="TOML profile file (default ~/.config/hybridsoa/profiles.toml)")
    g.add_argument("--cloud", help="global | gcc | gcchigh | dod | china | local")
    g.add_argument("--tenant", help="tenant id or *.onmicrosoft.com domain")
    g.add_argument("--client-id")
    g.add_argument("--client-secret", help="prefer HYBRIDSOA_CLIENT_SECRET: arguments are visible to other users")
    g.add_argument("--certificate", help="PEM (key + certificate) or PFX file")
    g.add_argument("--certificate-password")
    g.add_argument("--username")
    g.add_argument("--password", help="prefer HYBRIDSOA_PASSWORD")
    g.add_argument("--device-code", action="store_true", default=None)
    g.add_argument("--token-cache", help="MSAL token cache file (created 0600)")
    g.add_argument("--mock-url", help="local cloud: the mock's base URL")
    g.add_argument("--ca-bundle", help="CA bundle forced on every TLS connection (the mock's CA)")
    g.add_argument("--control-token", help="local cloud: control-plane bearer token")
    g.add_argument("--anchor-mailbox", help="override X-AnchorMailbox")
    g.add_argument("--timeout", type=float)
    g = p.add_argument_group("on-prem AD over LDAP (drift, revert, onprem-backup)")
    g.add_argument("--ldap-url", help="ldaps://dc.corp.example:636 (or ldap://... with --ldap-start-tls)")
    g.add_argument("--ldap-base-dn", help="search base, e.g. OU=Corp,DC=corp,DC=example")
    g.add_argument("--ldap-bind-dn", help="bind name: DN, UPN or DOMAIN\\user (NTLM)")
    g.add_argument("--ldap-password", help="prefer HYBRIDSOA_LDAP_PASSWORD: arguments are visible to other users")
    g.add_argument("--ldap-auth", choices=("simple", "ntlm", "kerberos"), help="bind method (default simple)")
    g.add_argument("--ldap-start-tls", action="store_true", default=None, help="StartTLS on an ldap:// URL")
    g.add_argument("--ldap-ca-bundle", help="CA that signed the DC's certificate (default --ca-bundle)")


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="write results to a .csv or .json file")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _wave_sizes(values: list[str] | None) -> list[int] | None:
    if not values:
        return None
    sizes = []
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if part:
                if not part.isdigit() or int(part) < 1:
                    raise UsageError(f"--wave-size expects positive integers, not {part!r}")
                sizes.append(int(part))
    return sizes


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands share the connection options)."""
    parser = argparse.ArgumentParser(prog="hybridsoa", description=__doc__.split("\n\n")[0], epilog=EPILOG)
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: the SDK's request log (method, path, status, client-request-id, elapsed); "
        "-vv: library debug output too",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("inventory", help="every mailbox with IsDirSynced, IsExchangeCloudManaged, eligibility")
    _connection_args(p)
    _output_args(p)
    p.add_argument("--filter", help="OPATH filter for Get-Mailbox")
    p.add_argument("--include-mail-users", action="store_true")
    p.add_argument("--include-users", action="store_true", help="also synced users without a mailbox")

    p = sub.add_parser("preflight", help="roles, permissions, tenant default, sync facts, eligibility")
    _connection_args(p)
    _output_args(p)

    for name, text in (
        ("enable", "make mailboxes cloud-managed in waves, with read-back"),
        ("disable", "hand mailboxes back to on-prem authority (cloud edits are overwritten!)"),
        ("revert", "reconcile cloud values into AD, then hand back to on-prem"),
    ):
        p = sub.add_parser(name, help=text)
        _connection_args(p)
        _output_args(p)
        p.add_argument("-i", "--input", help="CSV of identities (Identity/PrimarySmtpAddress/UPN column)")
        p.add_argument("--identity", action="append", help="an identity (repeatable)")
        if name == "enable":
            p.add_argument("--all-eligible", action="store_true", help="every eligible, still AD-managed mailbox")
        if name == "revert":
            p.add_argument(
                "--no-reconcile",
                action="store_true",
                help="flip without copying cloud values to AD (lists what the next cycle overwrites)",
            )
        p.add_argument("--wave-size", action="append", help="wave sizes, e.g. --wave-size 10,100,1000")
        p.add_argument("--concurrency", type=int, default=4)
        p.add_argument("--rate", type=float, default=20.0, help="initial items/s (adapts to throttling)")
        p.add_argument(
            "--checkpoint",
            help="JSONL checkpoint; --checkpoint alone resumes that run (its plan, waves, halt rules and tenant)",
        )
        p.add_argument("--backup", help="JSONL backup of each mailbox's Exchange attributes before change")
        p.add_argument("--dry-run", action="store_true")
        p.add_argument("--readback-retries", type=int, default=1, help="read-back attempts per change")
        p.add_argument("--no-halt-on-silent", action="store_true", help="keep starting waves after silent failures")
        p.add_argument("--events", action="store_true", help="print one JSON line per completed item on stdout")

    p = sub.add_parser("verify", help="after a sync cycle: enabled mailboxes still hold their cloud values")
    _connection_args(p)
    _output_args(p)
    p.add_argument("--checkpoint", required=True, help="checkpoint of the enable run")
    p.add_argument("--baseline", help="JSON baseline written by --capture (instead of the run's read-back)")
    p.add_argument("--capture", help="write the current values as a baseline JSON file and exit")

    p = sub.add_parser(
        "onprem-backup",
        help="record the on-prem AD values of the SOA attributes (before any cloud edit), or --restore such a record",
    )
    _connection_args(p)
    _output_args(p)
    p.add_argument("--identity", action="append", help="a sAMAccountName (repeatable; default every user)")
    p.add_argument("--restore", help="JSON written by onprem-backup -o: write its values back (only what differs)")

    p = sub.add_parser("drift", help="cloud vs on-prem differences of cloud-managed mailboxes")
    _connection_args(p)
    _output_args(p)
    p.add_argument("-i", "--input", help="CSV of identities (default: every cloud-managed mailbox)")

    p = sub.add_parser("status", help="summarize a checkpoint (no sign-in)")
    _output_args(p)
    p.add_argument("--checkpoint", required=True)
    return parser


def _settings(args):
    from .config import load_settings

    keys = (
        "profile",
        "profile_file",
        "cloud",
        "tenant",
        "client_id",
        "client_secret",
        "certificate",
        "certificate_password",
        "username",
        "password",
        "device_code",
        "token_cache",
        "mock_url",
        "ca_bundle",
        "control_token",
        "anchor_mailbox",
        "timeout",
        "ldap_url",
        "ldap_base_dn",
        "ldap_bind_dn",
        "ldap_password",
        "ldap_auth",
        "ldap_start_tls",
        "ldap_ca_bundle",
    )
    return load_settings({k: getattr(args, k, None) for k in keys})


def _connect(args):
    from .config import connect

    return connect(_settings(args), pool_size=max(16, 2 * int(getattr(args, "concurrency", 4) or 4)))


def _identities(args, conn=None) -> list[str]:
    from .soa.plan import IdentityCsvError, read_identities_csv

    ids = list(getattr(args, "identity", None) or [])
    if getattr(args, "input", None):
        if not os.path.exists(args.input):
            raise UsageError(f"input file not found: {args.input}")
        try:
            ids += read_identities_csv(args.input)
        except IdentityCsvError as exc:
            raise UsageError(str(exc)) from None
    if getattr(args, "all_eligible", False):
        from .soa.inventory import inventory

        ids += [r.Identity for r in inventory(conn.exchange) if r.Eligible and not r.IsExchangeCloudManaged]
    return ids


def _write_output(path: str | None, rows: list[dict], doc: dict | list) -> None:
    if not path:
        return
    if path.lower().endswith(".csv"):
        fields: list[str] = []
        for r in rows:
            for k in r:
                if k not in fields:
                    fields.append(k)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields or ["Identity"])
            writer.writeheader()
            for r in rows:
                writer.writerow({k: _cell(v) for k, v in r.items()})
    else:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, default=str)


def _cell(value):
    # Structures go into a cell as JSON (never Python repr), so a spreadsheet or script can read them back.
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def _console():
    from rich.console import Console

    probe = Console(stderr=True)
    return Console(stderr=True, width=min(80, probe.width), highlight=False)


def _list_identities(by_status: dict[str, list[str]], records: list[dict] | None = None) -> None:
    """Per outcome, the first identities and a count of the rest (failures with their one-line reason)."""
    console = _console()
    reasons = {}
    for rec in records or []:
        err = rec.get("error") or {}
        reason = rec.get("reason") or (err.get("message") if isinstance(err, dict) else str(err))
        if reason:
            reasons[rec["identity"]] = str(reason).splitlines()[0]
    labels = {
        "already": "unchanged (already in the target state)",
        "silently_ignored": "silently ignored",
        "not_found": "not found",
        "ineligible": "refused (not eligible)",
        "would_change": "would change",
    }
    for status, ids in by_status.items():
        console.print(f"{labels.get(status, status)} ({len(ids)}):", markup=False)
        for ident in ids[:SHOW_IDENTITIES]:
            why = reasons.get(ident) if status not in ("changed", "already", "would_change") else None
            console.print(f"  {ident}" + (f" - {why}" if why else ""), markup=False, overflow="fold")
        if len(ids) > SHOW_IDENTITIES:
            console.print(f"  ... and {len(ids) - SHOW_IDENTITIES} more (all of them in --json or -o)", markup=False)


def _table(title: str, counts: dict) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for k, v in counts.items():
        table.add_row(str(k), str(v))
    _console().print(table)


def _progress(total: int, label: str, disabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second."""

        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} items/s" if speed else "– items/s")

    console = _console()
    return (
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=disabled or not console.is_terminal,
            transient=False,
        ),
        label,
        total,
    )


# -- commands ---------------------------------------------------------------------------------------------------
def cmd_inventory(args) -> int:
    """``hybridsoa inventory``: every mailbox with its SOA state and eligibility."""
    from dataclasses import asdict

    from .soa.inventory import inventory, summarize

    conn = _connect(args)
    rows = inventory(
        conn.exchange,
        filter=args.filter,
        include_mail_users=args.include_mail_users,
        include_users=getattr(args, "include_users", False),
    )
    summary = summarize(rows)
    dicts = [asdict(r) for r in rows]
    _write_output(args.output, dicts, dicts)
    if args.json:
        print(json.dumps({"summary": summary, "mailboxes": dicts}, indent=2, default=str))
    _table(
        "inventory",
        {
            "total": summary["total"],
            "eligible": summary["eligible"],
            "cloud-managed": summary["cloudManaged"],
            "to enable": summary["toEnable"],
        },
    )
    _table("classes", summary["byClass"])
    return EXIT_OK


def cmd_preflight(args) -> int:
    """``hybridsoa preflight``: pass/warn/fail checks before a bulk change."""
    from .soa.preflight import preflight

    conn = _connect(args)
    conn.tokens.token("exchange")  # no sign-in, no checks: that is one line and exit 3, not a table
    report = preflight(conn.exchange, graph=conn.graph, tokens=conn.tokens, onprem=conn.onprem)
    doc = report.to_dict()
    _write_output(args.output, doc["checks"], doc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    from rich.table import Table

    table = Table(title="preflight")
    for col in ("check", "status", "reason"):
        table.add_column(col)
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}
    for c in report.checks:
        table.add_row(c.name, f"[{colour[c.status]}]{c.status}[/]", c.reason)
    _console().print(table)
    return report.exit_code


def cmd_toggle(args) -> int:
    """``hybridsoa enable|disable|revert``: bulk change in waves with read-back and checkpoint."""
    from .soa.checkpoint import Checkpoint
    from .soa.enable import AdaptiveRate, run_toggle
    from .soa.plan import plan
    from .soa.revert import revert

    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    resuming = bool(args.checkpoint and os.path.exists(args.checkpoint) and os.path.getsize(args.checkpoint))
    recorded = None
    if resuming:
        recorded = Checkpoint.load(args.checkpoint)
        if recorded.header.get("operation") != args.command:
            raise UsageError(
                f"{args.checkpoint} belongs to a {recorded.header.get('operation')} run, not {args.command}"
            )
    conn = _connect(args)
    if recorded is not None and not (args.input or args.identity):
        the_plan = recorded.plan()  # the same run: its plan, waves, halt rules and tenant
        if the_plan is None:
            raise UsageError(f"{args.checkpoint} records no mailboxes to resume")
    else:
        ids = _identities(args, conn)
        if not ids:
            raise UsageError(
                "no identities: give --input, --identity"
                + (", --all-eligible" if args.command == "enable" else "")
                + " or an existing --checkpoint"
            )
        the_plan = plan(ids, _wave_sizes(args.wave_size) or [len(ids)])
    progress, label, total = _progress(len(the_plan), args.command, args.no_progress)
    task = None

    def on_item(rec: dict) -> None:
        if args.events:
            sys.stdout.write(json.dumps({"identity": rec["identity"], "status": rec["status"]}) + "\n")
            sys.stdout.flush()
        if task is not None:
            progress.advance(task)

    common = {
        "concurrency": args.concurrency,
        "dry_run": args.dry_run,
        "checkpoint": args.checkpoint,
        "backup": args.backup,
        "on_item": on_item,
        "readback_attempts": max(1, args.readback_retries),
        "halt_on_silent": not args.no_halt_on_silent,
        "rate": AdaptiveRate(initial=max(0.1, args.rate)),
    }
    try:
        with progress:
            task = progress.add_task(label, total=total)
            if args.command == "revert":
                result = revert(conn.exchange, conn.onprem, the_plan, reconcile=not args.no_reconcile, **common)
            else:
                result = run_toggle(
                    conn.exchange, the_plan, target=args.command == "enable", operation=args.command, **common
                )
    except KeyboardInterrupt:
        # The items in flight were finished and recorded before the interrupt reached here.
        if args.checkpoint and not args.dry_run:
            cp = Checkpoint.load(args.checkpoint)
            done = sum(1 for i in cp.items if i in cp.done)
            print(
                f"hybridsoa {args.command}: interrupted; {done} of {len(cp.items)} items recorded in "
                f"{args.checkpoint}; resume with: hybridsoa {args.command} --checkpoint {args.checkpoint}",
                file=sys.stderr,
            )
        else:
            print(
                f"hybridsoa {args.command}: interrupted (no --checkpoint: run the same command again; "
                "mailboxes already changed are skipped)",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    doc = result.to_dict()
    _write_output(args.output, doc["items"], doc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    _table(
        f"{args.command}{' (dry run)' if args.dry_run else ''}: {len(the_plan)} items in "
        f"{len(the_plan.waves)} wave(s), {len(the_plan) / result.elapsed if result.elapsed else 0:,.1f} items/s",
        result.counts,
    )
    _list_identities(result.identities(), result.records)
    console = _console()
    if result.halted:
        console.print(f"halted: {result.halted}", markup=False)
    for rec in result.records:
        for warning in rec.get("overwriteWarnings") or []:
            console.print(f"warning: {rec['identity']}: {warning}", markup=False)
    return result.exit_code


def cmd_verify(args) -> int:
    """``hybridsoa verify``: enabled mailboxes still hold their cloud values after a sync cycle."""
    from .soa.checkpoint import Checkpoint
    from .soa.verify import baseline_from, capture_baseline, verify

    cp = Checkpoint.load(args.checkpoint)
    conn = _connect(args)
    if args.capture:
        base = capture_baseline(conn.exchange, list(baseline_from(cp)))
        with open(args.capture, "w", encoding="utf-8") as fh:
            json.dump(base, fh, indent=2)
        _console().print(f"baseline of {len(base)} mailboxes written to {args.capture}")
        return EXIT_OK
    baseline = None
    if args.baseline:
        with open(args.baseline, encoding="utf-8") as fh:
            baseline = json.load(fh)
    report = verify(cp, conn.exchange, baseline=baseline)
    doc = report.to_dict()
    _write_output(args.output, [dict(i) for i in doc["items"]], doc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    _table("verify", report.counts)
    by_status: dict[str, list[str]] = {}
    for item in report.items:
        by_status.setdefault(item["status"], []).append(item["identity"])
    _list_identities(by_status, report.items)
    return report.exit_code


def cmd_drift(args) -> int:
    """``hybridsoa drift``: cloud vs on-prem differences of cloud-managed mailboxes."""
    from .soa.drift import drift

    conn = _connect(args)
    if conn.onprem is None:
        raise UsageError(
            "drift needs an on-prem directory: --ldap-url, --ldap-base-dn and a bind "
            "(or HYBRIDSOA_LDAP_*; the local cloud uses the mock's LDAP port)"
        )
    ids = _identities(args) or None
    report = drift(conn.exchange, conn.onprem, ids)
    doc = report.to_dict()
    _write_output(args.output, report.rows(), doc)
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    _table(
        "drift",
        {
            "checked": report.checked,
            "drifted": report.drifted,
            "no on-prem object": sum(1 for i in report.items if i["status"] == "no_onprem_object"),
        },
    )
    console = _console()
    for item in report.items[:SHOW_IDENTITIES]:
        console.print(f"{item['identity']} ({item['status']}):", markup=False)
        for d in item.get("differences") or []:
            console.print(
                f"  {d['attribute']}: cloud {json.dumps(d['cloud'], default=str)} / "
                f"on-prem {d['adAttribute']} {json.dumps(d['onprem'], default=str)}",
                markup=False,
                overflow="fold",
            )
    if len(report.items) > SHOW_IDENTITIES:
        console.print(
            f"... and {len(report.items) - SHOW_IDENTITIES} more mailboxes (all in --json or -o)", markup=False
        )
    return report.exit_code


def cmd_status(args) -> int:
    """``hybridsoa status``: outcome counts of a checkpoint, without signing in."""
    from .soa.checkpoint import FAILURE_STATUSES, SILENT, Checkpoint

    if not os.path.exists(args.checkpoint):
        raise UsageError(f"checkpoint not found: {args.checkpoint}")
    cp = Checkpoint.load(args.checkpoint)
    counts = cp.counts()
    doc = {
        "operation": cp.header.get("operation"),
        "target": cp.header.get("target"),
        "items": len(cp.items),
        "counts": counts,
        "halts": cp.halts,
        "inFlight": sorted(i for i in cp.started if i not in cp.done),
    }
    _write_output(
        args.output,
        [{"identity": k, **{kk: vv for kk, vv in v.items() if kk in ("status", "at")}} for k, v in cp.done.items()],
        doc,
    )
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    _table(f"{doc['operation']} checkpoint: {doc['items']} items", counts)
    by_status: dict[str, list[str]] = {}
    for ident in cp.items:
        rec = cp.done.get(ident)
        by_status.setdefault(rec.get("status") if rec else "pending", []).append(ident)
    _list_identities(by_status, list(cp.done.values()))
    if any(r.get("status") == SILENT for r in cp.done.values()):
        return EXIT_FAILED
    if counts.get("pending") or any(r.get("status") in FAILURE_STATUSES for r in cp.done.values()):
        return EXIT_FAILED
    return EXIT_OK


def cmd_onprem_backup(args) -> int:
    """``hybridsoa onprem-backup``: record the on-prem values of the SOA attributes (or ``--restore`` them)."""
    conn = _connect(args)
    if conn.onprem is None:
        raise UsageError(
            "onprem-backup needs an on-prem directory: --ldap-url, --ldap-base-dn and a bind (or HYBRIDSOA_LDAP_*)"
        )
    if args.restore:
        if not os.path.exists(args.restore):
            raise UsageError(f"backup file not found: {args.restore}")
        with open(args.restore, encoding="utf-8") as fh:
            records = json.load(fh)
        if not isinstance(records, list):
            raise UsageError(f"{args.restore} is not an onprem-backup JSON file (a list of users)")
        changed = conn.onprem.restore(records)
        if args.json:
            print(json.dumps({"restored": changed}, indent=2))
        _table("onprem-backup --restore", {"users": len(records), "changed": len(changed)})
        return 0
    ids = [i.lower() for i in _identities(args)] or None
    records = conn.onprem.backup(ids)
    _write_output(args.output, records, records)
    if args.json:
        print(json.dumps(records, indent=2, default=str))
    _table("onprem-backup", {"users": len(records)})
    return 0


COMMANDS = {
    "onprem-backup": cmd_onprem_backup,
    "inventory": cmd_inventory,
    "preflight": cmd_preflight,
    "enable": cmd_toggle,
    "disable": cmd_toggle,
    "revert": cmd_toggle,
    "verify": cmd_verify,
    "drift": cmd_drift,
    "status": cmd_status,
}


def _logging(level: int) -> None:
    """-v: the SDK's own request log on stderr; -vv: every library's debug output too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if level >= 2 else logging.WARNING)
    logging.getLogger("hybridsoa.sdk").setLevel(
        logging.DEBUG if level >= 2 else logging.INFO if level == 1 else logging.WARNING
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hybridsoa`` console script; returns the exit code. Every failure is one line on
    stderr naming the cause (with the service's code where there is one) and a documented exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
        return int(exc.code or 0)
    _logging(args.verbose)
    name = f"hybridsoa {args.command}"
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError) as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except AuthError as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except Unreachable as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except AuthenticationFailed as exc:
        print(f"{name}: the service refused the token: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ApiError, HybridSoaError) as exc:
        print(f"{name}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a file we were asked to read or write
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"{name}:{where} {exc.strerror or _one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - never a traceback: name the failure in one line
        print(
            f"{name}: internal error: {type(exc).__name__}: {_one_line(exc)} (run with -vv and report it)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
