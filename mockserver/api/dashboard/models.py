"""View models: plain dicts of display strings built under the tenant lock, so templates render outside it.

The sync engine, request journal and fault rules are other subsystems whose record shapes may grow; everything
read from them goes through ``.get`` with defaults and through :func:`queries.redact`, so an unexpected field is
shown (redacted) rather than breaking the page."""

from __future__ import annotations

from ...domain import read_models as read
from ...domain.clock import iso
from ...domain.onprem.ad import REMOTE_TYPE_TO_EXO
from ...domain.tenant_card import TenantCard, card_of
from .queries import fmt_delta, fmt_fields, fmt_params, fmt_time, fmt_value, redact, to_json

#: Sync run keys shown in their own columns (both the early and the Get-ADSyncRunProfileResult-like names).
RUN_KNOWN = (
    "id",
    "policyType",
    "scheduled",
    "trigger",
    "startedAt",
    "endedAt",
    "startDateTime",
    "endDateTime",
    "status",
    "errors",
    "errorCount",
    "message",
)
#: Numeric run fields that are settings or totals rather than per-cycle object counts.
RUN_NOT_COUNTS = ("deletionThreshold", "eventId", "seq")
#: Friendlier names for the tenant's timer subsystems (others show their class name).
TIMER_LABELS = {
    "SyncEngine": "Entra Connect",
    "PimState": "PIM expiry",
    "WritebackEngine": "Write-back",
    "ForwardSync": "Forward sync",
    "Purger": "Soft-delete purge",
}
#: Operations whose "succeeded but changed nothing" outcome is the preview-era silent failure worth flagging.
_WRITE_VERBS = ("set-", "enable-", "disable-", "new-", "remove-", "add-", "update-", "patch", "post", "put", "delete")


def status_class(status) -> str:
    """CSS class for an outcome word or HTTP status: ok, warn or bad."""
    text = str(status or "").lower()
    if isinstance(status, int) or text.isdecimal():
        code = int(text or 0)
        return "ok" if code < 400 else ("warn" if code in (401, 403, 404, 429) else "bad")
    if text in ("success", "succeeded", "ok", "completed"):
        return "ok"
    if any(word in text for word in ("error", "fail", "stopped", "exceeded")):
        return "bad"
    return "warn"


# ---------------------------------------------------------------------------------------------- tenants
def next_cycle(tenant) -> tuple[str, str]:
    """Next scheduled Entra Connect cycle: ISO time and a relative phrase ("" when sync is off)."""
    return _next_cycle(card_of(tenant))


def _next_cycle(card: TenantCard) -> tuple[str, str]:
    if card.sync_enabled is None:  # the sync engine is another room's; show "unknown" rather than fail
        return "", "unknown"
    if not card.sync_enabled:
        return "", "scheduler disabled"
    # The engine's own cycle time; next_due() may be earlier work (write-back, purges).
    due = card.next_cycle_at
    if due is None:
        return "", "not scheduled"
    return iso(due), fmt_delta(due - card.clock.now())


def _scheduled_work(tenant) -> list[tuple[str, object]]:
    # The sync engine's sub-timers (write-back, forward sync, purges), then the tenant's other timers.
    sync = tenant.sync
    out: list[tuple[str, object]] = [
        ("Write-back", sync.writeback),
        ("Forward sync", sync.forward),
        ("Soft-delete purge", sync.purger),
    ]
    for timer in tenant.timers:
        if timer is not sync:
            out.append((TIMER_LABELS.get(type(timer).__name__, type(timer).__name__), timer))
    return out


def tenant_row(card: TenantCard) -> dict:
    """One line of the tenants list, from the tenant's card (a tenant not loaded since a restart is not loaded)."""
    due_iso, due_rel = _next_cycle(card)
    return {
        "name": card.name,
        "id": card.id,
        "domain": card.domain,
        "profile": card.profile or "",
        "mailboxes": card.counts["mailboxes"],
        "adUsers": card.counts["adUsers"],
        "users": card.counts["users"],
        "now": iso(card.clock.now()),
        "nextCycle": due_iso,
        "nextCycleIn": due_rel,
        "lastRun": run_view(card.last_run, brief=True) if card.last_run else None,
    }


def tenant_header(tenant) -> dict:
    """Identity, clock and schedule shown at the top of every tenant page."""
    clock = tenant.clock
    due_iso, due_rel = next_cycle(tenant)
    timers = []
    for label, timer in _scheduled_work(tenant):
        try:
            due = timer.next_due()
        except Exception:  # noqa: BLE001 - one broken timer must not hide the others
            due = None
        timers.append(
            {
                "name": label,
                "due": iso(due) if due is not None else "",
                "in": fmt_delta(due - clock.now()) if due is not None else "idle",
            }
        )
    return {
        "name": tenant.name,
        "id": tenant.id,
        "domain": tenant.domain,
        "profile": tenant.settings.get("profile", ""),
        "now": iso(clock.now()),
        "frozen": bool(clock.frozen),
        "speed": clock.speed,
        "nextCycle": due_iso,
        "nextCycleIn": due_rel,
        "timers": timers,
    }


# --------------------------------------------------------------------------------------------- mailboxes
def _ad_display(name: str, value) -> str:
    if name == "msExchRecipientTypeDetails" and isinstance(value, int):
        label = REMOTE_TYPE_TO_EXO.get(value)
        return f"{value} (Remote{label})" if label else str(value)
    return fmt_value(value)


def comparison_view(c: read.Comparison) -> dict:
    """One Exchange ↔ AD attribute pair as strings."""
    return {
        "exchange": c.exchange_name,
        "ad": c.ad_name,
        "exchangeValue": fmt_value(c.exchange_value),
        "adValue": _ad_display(c.ad_name, c.ad_value),
        "drift": c.drift,
        "identity": c.identity,
    }


def recipient_kind(mbx, user, ad) -> str:
    """The recipient's kind as issue 18 names them: from the AD object's Exchange attributes, the cloud type and
    the owner's licence (remote mailbox licensed / not provisioned / unlicensed grace, on-prem mailbox, ...)."""
    from ...domain.entra.licensing import has_exchange_plan
    from ...domain.onprem.ad import recipient_kind as ad_kind

    if ad is None:
        return "cloud-only" if not mbx.is_dir_synced else "synced (AD object not found)"
    kind = ad_kind(ad.attrs)
    licensed = has_exchange_plan(user)
    if kind == "remote":
        if mbx.recipient_type_details == "MailUser":
            return "remote mailbox, not provisioned" + ("" if licensed else " (no Exchange licence)")
        if mbx.unlicensed_since is not None:
            return "remote mailbox, licence removed (grace period)"
        if mbx.recipient_type_details == "UserMailbox":
            return "remote mailbox, licensed" if licensed else "remote mailbox"
        return f"remote {mbx.recipient_type_details[:-7].lower()} mailbox"
    if kind == "onprem":
        return "on-premises mailbox"
    if kind == "mailuser":
        return "mail user"
    return "cloud-first mailbox (no Exchange attributes in AD)" if mbx.is_mailbox else "no Exchange attributes"


def kind_counts(tenant) -> dict[str, int]:
    """Recipients per kind, plus the synced users that have no recipient at all (the dashboard's kinds card)."""
    index = tenant.sync.index
    index.refresh()
    out: dict[str, int] = {}
    owners = set()
    for mbx in tenant.mailboxes:
        if mbx.when_soft_deleted is not None:
            continue
        user = tenant.users.get(mbx.external_directory_object_id) if mbx.external_directory_object_id else None
        owners.add(mbx.external_directory_object_id)
        key = (
            index.ad_key_by_anchor.get(user.on_premises_immutable_id)
            if user is not None and user.on_premises_immutable_id
            else None
        )
        label = recipient_kind(mbx, user, tenant.ad_users.get(key) if key else None)
        out[label] = out.get(label, 0) + 1
    bare = sum(
        1 for u in tenant.users if u.deleted_date_time is None and u.on_premises_sync_enabled and u.id not in owners
    )
    if bare:
        out["synced user without a recipient"] = bare
    return dict(sorted(out.items()))


def mailbox_row(tenant, join: read.MailboxJoin, *, full: bool = False) -> dict:
    """A mailbox with its Entra and AD side, for the table (``full`` adds every attribute pair)."""
    mbx, user, ad = join.mailbox, join.user, join.ad_user
    comparisons = read.compare(mbx, ad)
    shown = comparisons if full else read.row_comparisons(comparisons)
    return {
        "guid": mbx.guid,
        "name": mbx.name,
        "displayName": mbx.display_name,
        "upn": mbx.user_principal_name,
        "primarySmtp": mbx.primary_smtp_address,
        "type": mbx.recipient_type_details,
        "kind": recipient_kind(mbx, user, ad),
        "isDirSynced": bool(mbx.is_dir_synced),
        "isCloudManaged": bool(mbx.is_exchange_cloud_managed),
        "objectSoaCloud": bool(user.is_cloud_managed) if user is not None else None,
        "userId": mbx.external_directory_object_id,
        "immutableId": mbx.immutable_id or "",
        "softDeleted": fmt_time(mbx.when_soft_deleted),
        "whenChanged": fmt_time(mbx.when_changed),
        "whenCreated": fmt_time(mbx.when_created),
        "sam": ad.sam_account_name if ad is not None else "",
        "adDn": ad.distinguished_name if ad is not None else "",
        "adOu": ad.ou if ad is not None else "",
        "adOuShort": (ad.ou.split(",")[0].partition("=")[2] or ad.ou) if ad is not None and ad.ou else "",
        "adChanged": fmt_time(ad.when_changed) if ad is not None else "",
        "hasAd": ad is not None,
        "hasUser": user is not None,
        "userSyncEnabled": user.on_premises_sync_enabled if user is not None else None,
        "provisioningErrors": [redact(e) for e in (user.on_premises_provisioning_errors or [])]
        if user is not None
        else [],
        "driftCount": sum(1 for c in comparisons if c.drift and not c.identity),
        "identityDrift": sum(1 for c in comparisons if c.drift and c.identity),
        "driftMeaning": read.drift_meaning(mbx),
        "comparisons": [comparison_view(c) for c in shown],
    }


def counts_view(tenant) -> dict:
    """Counts by type and by SOA state (cached by the read model)."""
    return read.mailbox_counts(tenant)


# -------------------------------------------------------------------------------------------------- sync
def _error_view(err) -> dict:
    if isinstance(err, dict):
        clean = redact(err)
        title = next(
            (str(clean[k]) for k in ("errorType", "category", "code", "errorCode", "type", "kind") if clean.get(k)), ""
        )
        obj = next(
            (
                str(clean[k])
                for k in (
                    "object",
                    "sAMAccountName",
                    "sam",
                    "samAccountName",
                    "objectId",
                    "userPrincipalName",
                    "upn",
                    "target",
                    "id",
                )
                if clean.get(k)
            ),
            "",
        )
        message = next((str(clean[k]) for k in ("message", "detail", "description", "error") if clean.get(k)), "")
        rest = {k: v for k, v in clean.items() if str(v) not in (title, obj, message)}
        return {"title": title, "object": obj, "message": message, "details": fmt_fields(rest) if rest else ""}
    return {"title": "", "object": "", "message": fmt_value(redact(err)), "details": ""}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_view(run, *, brief: bool = False, max_errors: int = 50) -> dict:
    """One sync run record (``tenant.sync.history`` entry: Connect cycle or write-back run) for display."""
    if not isinstance(run, dict):
        run = {"status": "unknown", "details": redact(run)}
    errors = run.get("errors") or []
    if not isinstance(errors, list):
        errors = [errors]
    error_count = run.get("errorCount") if _is_number(run.get("errorCount")) else len(errors)
    counts = [
        (k, v)
        for k, v in run.items()
        if k not in RUN_KNOWN
        and k not in RUN_NOT_COUNTS
        and _is_number(v)
        and (v or k in ("adds", "updates", "deletes"))
    ]
    extra = {k: v for k, v in run.items() if k not in RUN_KNOWN and not (_is_number(v) and k not in RUN_NOT_COUNTS)}
    trigger = run.get("trigger")
    scheduled = bool(run.get("scheduled")) or str(trigger or "").lower() == "scheduler"
    return {
        "id": str(run.get("id") or ""),
        "policy": str(run.get("policyType") or ""),
        "scheduled": scheduled,
        "trigger": str(trigger or ("Scheduler" if scheduled else "")),
        "started": fmt_time(run.get("startDateTime", run.get("startedAt"))),
        "ended": fmt_time(run.get("endDateTime", run.get("endedAt"))),
        "status": str(run.get("status") or ""),
        "statusClass": status_class(run.get("status")),
        "counts": counts,
        "errorCount": error_count,
        "message": fmt_value(redact(run.get("message"))),
        "errors": [] if brief else [_error_view(e) for e in errors[:max_errors]],
        "moreErrors": 0 if brief else max(0, error_count - min(len(errors), max_errors)),
        "extra": "" if brief or not extra else fmt_fields(extra),
    }


def sync_history(tenant) -> list:
    """Run records newest first (a copy, taken under the lock)."""
    return list(reversed(tenant.sync.history))


def sync_settings(tenant) -> str:
    """Entra Connect settings as redacted JSON."""
    return to_json(tenant.sync.settings)


# ------------------------------------------------------------------------------------------------- audit
def caller_text(tenant, caller) -> str:
    """Who did it: the user's UPN, else the app's display name, else the caller kind."""
    if not isinstance(caller, dict):
        return fmt_value(redact(caller))
    upn = caller.get("userPrincipalName") or caller.get("upn")
    app_id = caller.get("appId")
    app = tenant.app_by_client_id(app_id) if isinstance(app_id, str) else None
    app_name = app.name if app is not None else app_id
    if upn and app_name:
        return f"{upn} via {app_name}"
    return str(upn or app_name or caller.get("kind") or "")


def audit_view(tenant, record) -> dict:
    """One audit record for display, with the silent no-op of a write flagged."""
    get = (lambda k, d=None: getattr(record, k, d)) if not isinstance(record, dict) else record.get
    operation = str(get("operation", "") or "")
    succeeded, changed = bool(get("succeeded", True)), bool(get("changed", False))
    is_write = operation.lower().startswith(_WRITE_VERBS)
    outcome = "failed" if not succeeded else ("changed" if changed else ("no change" if is_write else "ok"))
    changes = get("changes", {}) or {}
    change_rows = []
    if isinstance(changes, dict):
        for prop, diff in list(redact(changes).items())[:100]:
            if isinstance(diff, dict) and ("old" in diff or "new" in diff):
                change_rows.append(
                    {"property": prop, "old": fmt_value(diff.get("old")), "new": fmt_value(diff.get("new"))}
                )
            else:
                change_rows.append({"property": prop, "old": "", "new": fmt_value(diff)})
    return {
        "id": str(get("id", "") or ""),
        "time": fmt_time(get("time")),
        "api": str(get("api", "") or ""),
        "operation": operation,
        "caller": caller_text(tenant, get("caller")),
        "target": fmt_value(get("target")),
        "parameters": fmt_params(get("parameters", {}) or {}),
        "outcome": outcome,
        "outcomeClass": {"failed": "bad", "no change": "warn"}.get(outcome, "ok"),
        "error": fmt_value(redact(get("error"))),
        "changes": change_rows,
    }


def audit_matches(record, *, api, operation, outcome, text) -> bool:
    """Whether an audit record passes the audit page's filters."""
    get = (lambda k, d=None: getattr(record, k, d)) if not isinstance(record, dict) else record.get
    if api and str(get("api", "")).lower() != api.lower():
        return False
    if operation and operation.lower() not in str(get("operation", "")).lower():
        return False
    if outcome:
        succeeded, changed = bool(get("succeeded", True)), bool(get("changed", False))
        state = "failed" if not succeeded else ("changed" if changed else "unchanged")
        if state != outcome:
            return False
    if text:
        hay = " ".join(str(get(k, "") or "") for k in ("target", "operation", "error", "caller", "parameters"))
        if text.lower() not in hay.lower():
            return False
    return True


# ----------------------------------------------------------------------------------------------- journal
def journal_view(tenant, entry) -> dict:
    """One request journal entry for display (fields read defensively, everything redacted)."""
    if not isinstance(entry, dict):
        entry = {"details": entry}
    e = redact(entry)
    status = e.get("status")
    duration = e.get("durationMs", e.get("duration_ms", e.get("duration")))
    known = {
        "seq",
        "time",
        "api",
        "method",
        "path",
        "cmdlet",
        "status",
        "durationMs",
        "duration_ms",
        "duration",
        "caller",
        "parameters",
        "query",
        "fault",
    }
    details = {k: v for k, v in e.items() if k not in known and v not in (None, "", [], {})}
    caller = caller_text(tenant, e.get("caller"))
    return {
        "seq": fmt_value(e.get("seq")),
        "time": fmt_time(e.get("time")),
        "api": fmt_value(e.get("api")),
        "method": fmt_value(e.get("method")),
        "path": fmt_value(e.get("path")),
        "cmdlet": fmt_value(e.get("cmdlet")),
        "status": fmt_value(status),
        "statusClass": status_class(status),
        "duration": f"{duration:.1f} ms"
        if isinstance(duration, (int, float)) and not isinstance(duration, bool)
        else fmt_value(duration),
        "caller": caller,
        "parameters": fmt_params(e.get("parameters") or e.get("query") or {}),
        "fault": fmt_fields(e.get("fault")) if e.get("fault") else "",
        "details": fmt_fields(details) if details else "",
    }


def journal_matches(entry, *, api, method, status, cmdlet, text) -> bool:
    """Whether a journal entry passes the requests page's filters (status accepts ``429``, ``4xx``)."""
    if not isinstance(entry, dict):
        return not (api or method or status or cmdlet or text)
    if api and str(entry.get("api", "")).lower() != api.lower():
        return False
    if method and str(entry.get("method", "")).upper() != method.upper():
        return False
    if cmdlet and cmdlet.lower() not in str(entry.get("cmdlet") or "").lower():
        return False
    if status:
        code = str(entry.get("status", ""))
        wanted = status.lower()
        if wanted.endswith("xx") and len(wanted) == 3:
            if not code.startswith(wanted[0]):
                return False
        elif code != wanted:
            return False
    if text:
        hay = " ".join(str(entry.get(k, "") or "") for k in ("path", "cmdlet", "caller", "parameters", "query"))
        if text.lower() not in hay.lower():
            return False
    return True


# ------------------------------------------------------------------------------------------ faults, profile
def faults_view(tenant) -> dict:
    """Active fault rules and throttles from ``tenant.faults.to_dict()``, whatever its exact shape."""
    try:
        data = tenant.faults.to_dict()
    except Exception as exc:  # noqa: BLE001 - another room's state; report instead of failing the page
        return {"rules": [], "columns": [], "throttling": [], "raw": "", "error": type(exc).__name__}
    data = redact(data if isinstance(data, dict) else {"faults": data})
    rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    rules = [r if isinstance(r, dict) else {"rule": r} for r in rules]
    columns: list[str] = []
    for rule in rules:
        for key in rule:
            if key not in columns and any(r.get(key) not in (None, "", [], {}) for r in rules):
                columns.append(key)
    rows = [[fmt_value(r.get(c)) for c in columns] for r in rules]
    throttling = []
    raw_throttle = data.get("throttling")
    if isinstance(raw_throttle, dict):
        for api, policy in raw_throttle.items():
            if policy:
                throttling.append(
                    {
                        "api": api,
                        "policy": fmt_fields(
                            {k: v for k, v in policy.items() if k != "api"} if isinstance(policy, dict) else policy
                        ),
                    }
                )
    rest = {k: v for k, v in data.items() if k not in ("rules", "throttling", "buckets", "nextId")}
    return {
        "rules": rows,
        "columns": columns,
        "throttling": throttling,
        "raw": to_json(rest) if rest else "",
        "error": None,
    }


def profile_view(tenant) -> dict:
    """The behaviour profile and the other tenant settings a vendor tunes (redacted)."""
    spec = tenant.spec
    return {
        "profile": tenant.settings.get("profile", ""),
        "settings": [(k, fmt_value(v)) for k, v in redact(dict(tenant.settings)).items()],
        "orgConfig": [(k, fmt_value(v)) for k, v in redact(dict(tenant.org_config)).items()],
        "seed": tenant.seed,
        "scenario": spec.scenario or "",
        "syncSettings": sync_settings(tenant),
    }
