"""Preflight before a bulk SOA change: who is calling and with which roles and permissions, the tenant-wide default,
what the APIs expose about the sync client, and how many mailboxes are eligible. Each check is pass/warn/fail
with a reason (prerequisites from the GA announcement and the rollout runbooks, domain-behaviour.md §1.4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import ApiError, PermissionDenied
from ..graph import EXCHANGE_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, HYBRID_IDENTITY_ADMINISTRATOR, ROLE_NAMES
from .inventory import inventory, summarize

PASS, WARN, FAIL = "pass", "warn", "fail"
#: Entra Connect builds: the documented minimum that honours the flag, and the preview-era minimum.
MIN_CONNECT = (2, 5, 190, 0)
PREVIEW_CONNECT = (2, 5, 76, 0)


@dataclass
class Check:
    """One preflight check."""

    name: str
    status: str
    reason: str
    details: dict = field(default_factory=dict)


@dataclass
class PreflightReport:
    """All checks plus the eligibility summary."""

    checks: list[Check] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def add(self, name: str, status: str, reason: str, **details) -> Check:
        """Record a check."""
        check = Check(name, status, reason, details)
        self.checks.append(check)
        return check

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(c.status != FAIL for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 1 otherwise."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        """JSON form."""
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks], "summary": self.summary}


def _version(text: str | None) -> tuple | None:
    try:
        return tuple(int(p) for p in str(text).split("."))
    except (TypeError, ValueError):
        return None


def preflight(exchange, *, graph=None, tokens=None, onprem=None) -> PreflightReport:
    """Run every check that the available clients allow; missing clients turn their checks into warnings."""
    report = PreflightReport()
    claims = {}
    if tokens is not None:
        try:
            claims = tokens.claims("exchange")
        except Exception as exc:  # noqa: BLE001 - any sign-in failure is the finding itself
            report.add("sign-in", FAIL, f"could not get an Exchange token: {exc}")
            return report
    app_only = bool(claims) and (claims.get("idtyp") == "app" or "scp" not in claims)
    who = claims.get("upn") or claims.get("unique_name") or (f"app {claims.get('appid')}" if claims else "unknown")
    if claims:
        report.add(
            "sign-in",
            PASS,
            f"signed in as {who} ({'app-only' if app_only else 'delegated'})",
            tenant=claims.get("tid"),
            objectId=claims.get("oid"),
        )
        if app_only:
            has_role = "Exchange.ManageAsApp" in (claims.get("roles") or [])
            report.add(
                "exchange-app-permission",
                PASS if has_role else FAIL,
                "token carries the Exchange.ManageAsApp app role"
                if has_role
                else "the app lacks the Exchange.ManageAsApp application permission (admin consent needed)",
            )
    # Exchange access and the tenant default.
    org = None
    try:
        org = exchange.get_organization_config()
        report.add("exchange-access", PASS, "Get-OrganizationConfig succeeded")
    except PermissionDenied as exc:
        report.add("exchange-access", FAIL, f"Exchange refused the caller: {exc.message}")
    except ApiError as exc:
        report.add("exchange-access", FAIL, f"Get-OrganizationConfig failed: {exc}")
    if org is not None:
        flags = {
            k: org.get(k)
            for k in ("ExchangeAttributesCloudManagedByDefault", "BlockExchangeProvisioningFromOnPremEnabled")
            if k in org
        }
        if not flags:
            report.add("tenant-default", WARN, "the tenant-wide default is not exposed by Get-OrganizationConfig")
        elif any(v is True or str(v).lower() == "true" for v in flags.values()):
            report.add(
                "tenant-default",
                WARN,
                "new synced mailboxes are cloud-managed by default: on-prem "
                "provisioning of new mailboxes/mail users is affected (recovery only via Microsoft Support)",
                **flags,
            )
        else:
            report.add("tenant-default", PASS, "tenant default is off: only the mailboxes you change move", **flags)
    # Directory roles in effect now (Graph when allowed, else the token's wids).
    role_ids, source = set(claims.get("wids") or []), "token wids"
    if graph is not None and claims.get("oid"):
        try:
            role_ids = {a.get("roleDefinitionId") for a in graph.iter_role_assignments(claims["oid"])}
            source = "Graph role assignments"
        except ApiError:
            pass
    names = sorted(ROLE_NAMES.get(r, r) for r in role_ids if r)
    if GLOBAL_ADMINISTRATOR in role_ids or {EXCHANGE_ADMINISTRATOR, HYBRID_IDENTITY_ADMINISTRATOR} <= role_ids:
        report.add("directory-roles", PASS, f"caller holds {', '.join(names)} ({source})", roles=names)
    elif HYBRID_IDENTITY_ADMINISTRATOR in role_ids:
        # Hybrid Identity Administrator maps to no Exchange role group: alone it runs no Exchange cmdlet.
        report.add(
            "directory-roles",
            FAIL,
            "Hybrid Identity Administrator alone grants no Exchange cmdlet; it "
            "counted only in addition to an Exchange role such as Exchange Administrator "
            f"({source})",
            roles=names,
        )
    elif EXCHANGE_ADMINISTRATOR in role_ids:
        report.add(
            "directory-roles",
            WARN,
            "Exchange Administrator suffices since GA; during the preview the "
            "change was silently ignored without Hybrid Identity or Global Administrator. Every change is "
            f"read back, so a silent failure is reported ({source})",
            roles=names,
        )
    elif claims:
        report.add(
            "directory-roles",
            FAIL,
            "caller holds none of Exchange Administrator, Hybrid Identity "
            f"Administrator, Global Administrator ({source})",
            roles=names,
        )
    # Sync client facts.
    if graph is not None:
        try:
            org_g = graph.get_organization()
            enabled = org_g.get("onPremisesSyncEnabled")
            if enabled:
                report.add(
                    "directory-sync",
                    PASS,
                    "directory synchronization is enabled",
                    lastSync=org_g.get("onPremisesLastSyncDateTime"),
                )
            elif enabled is None and not org_g:
                report.add("directory-sync", WARN, "Graph /organization returned nothing")
            else:
                report.add("directory-sync", FAIL, "directory synchronization is not enabled: no mailbox is synced")
        except ApiError as exc:
            report.add("directory-sync", WARN, f"could not read /organization: {exc}")
    if onprem is not None and hasattr(onprem, "sync_settings"):
        try:
            version = (onprem.sync_settings() or {}).get("connectVersion")
        except ApiError as exc:
            version = None
            report.add("connect-version", WARN, f"sync settings unavailable: {exc}")
        v = _version(version)
        if v is not None:
            if v >= MIN_CONNECT:
                report.add("connect-version", PASS, f"Entra Connect {version} honours the flag", version=version)
            elif v >= PREVIEW_CONNECT:
                report.add(
                    "connect-version",
                    WARN,
                    f"Entra Connect {version} is a preview-era build; 2.5.190.0 or later is documented",
                    version=version,
                )
            else:
                report.add(
                    "connect-version",
                    FAIL,
                    f"Entra Connect {version} does not honour the flag: values "
                    "revert at the next cycle (2.5.190.0 or later needed)",
                    version=version,
                )
    else:
        report.add(
            "connect-version",
            WARN,
            "the cloud APIs do not expose the Entra Connect version: check "
            "Get-ADSyncGlobalSettings on the Connect server (2.5.190.0 or later)",
        )
    # Eligibility.
    try:
        rows = inventory(exchange)
        report.summary = summarize(rows)
        to_enable = report.summary["toEnable"]
        report.add(
            "eligibility",
            PASS if to_enable else WARN,
            f"{report.summary['eligible']} eligible mailboxes, {to_enable} still AD-managed, "
            f"{report.summary['cloudManaged']} already cloud-managed",
            toEnable=to_enable,
        )
    except ApiError as exc:
        report.add("eligibility", FAIL, f"could not list mailboxes: {exc}")
        return report
    # Every recipient's class and reason (issue 18): what else is in the tenant and why it is not in scope.
    try:
        everyone = rows + [
            r
            for r in inventory(exchange, include_mail_users=True, include_users=True)
            if r.RecipientTypeDetails in ("MailUser", "User")
        ]
        classes = summarize(everyone)["byClass"]
        report.summary["byClass"] = classes
        reasons = {r.Class: r.Reason for r in everyone if r.Reason}
        pending = classes.get("not-provisioned", 0) + classes.get("on-prem-mailbox", 0)
        report.add(
            "recipient-classes",
            WARN if pending else PASS,
            ", ".join(f"{n} {k}" for k, n in sorted(classes.items())) or "no recipients",
            classes=classes,
            reasons=reasons,
        )
    except ApiError as exc:
        report.add("recipient-classes", WARN, f"could not list mail users and users: {exc}")
    return report
