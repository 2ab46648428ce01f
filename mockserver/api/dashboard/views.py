"""Dashboard routes: tenants list, tenant page (counts, mailboxes beside AD, sync, audit, journal, faults,
profile), mailbox detail, and the full sync / audit / request-journal pages. Read-only: every route is GET except
sign-in and sign-out. Each route copies what it shows into view models under ``tenant.lock`` and renders after
releasing it, so a slow browser never holds up the tenant."""

from __future__ import annotations

import itertools

from flask import render_template, session

from ...domain import read_models as read
from ...domain.exchange.mailboxes import RECIPIENT_TYPES
from ..common import registry
from . import auth, models
from .blueprint import bp
from .queries import PER_PAGE_CHOICES, NewestFirst, arg_bool, arg_choice, arg_int, arg_text, paginate

#: How many of the newest sync runs / audit records / requests the tenant page previews.
PREVIEW = 8


def _not_found(what: str, key: str):
    return render_template("dashboard/error.html", title="Not found", message=f"{what} '{key}' was not found."), 404


def _tenant_or_none(key: str):
    # Long or odd keys cannot name a tenant; answer 404 without touching the registry's lookup.
    if len(key) > 200:
        return None
    # The dashboard is no emulated API: the request pipeline does not hold its tenant, and the page holds the
    # lock only while it copies (below), so it catches the clock up under a short hold of its own.
    tenant = registry().find(key)
    if tenant is not None:
        with tenant.lock:
            tenant.catch_up()
    return tenant


# ---------------------------------------------------------------------------------------------- sign-in
bp.before_request(auth.require_sign_in)


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """Sign in with the control token."""
    return auth.handle_signin()


@bp.route("/signout", methods=["POST"])
def signout():
    """Sign out."""
    return auth.handle_signout()


@bp.after_request
def _headers(response):
    # A page that shows tenant data: no caching, no framing, only our own static script and stylesheet.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    return response


@bp.context_processor
def _common():
    return {
        "show_signout": auth.control_token() is not None and auth.SESSION_KEY in session,
        "per_page_choices": PER_PAGE_CHOICES,
    }


# ---------------------------------------------------------------------------------------------- tenants
@bp.route("/")
def tenants():
    """All live tenants with their clock, size and last sync cycle."""
    q = arg_text("q").lower()
    rows = []
    # Tenants' cards: one not loaded since a restart is listed from the store's index, not loaded.
    for card in registry().cards():
        if q and q not in card.name.lower() and q not in card.id and q not in card.domain:
            continue
        rows.append(models.tenant_row(card))
    page = paginate(rows, per_page=100)
    return render_template("dashboard/tenants.html", page=page, q=q)


@bp.route("/tenants/<tenant_key>")
def tenant(tenant_key: str):
    """The tenant page: hybrid state at a glance, with the mailbox table server-side paged."""
    t = _tenant_or_none(tenant_key)
    if t is None:
        return _not_found("Tenant", tenant_key)
    filters = {
        "q": arg_text("q"),
        "type": arg_choice("type", RECIPIENT_TYPES),
        "dirsynced": arg_bool("dirsynced"),
        "cloudmanaged": arg_bool("cloudmanaged"),
        "deleted": bool(arg_bool("deleted")),
    }
    with t.lock:
        header = models.tenant_header(t)
        counts = models.counts_view(t)
        kinds = models.kind_counts(t)
        matches = read.filter_mailboxes(
            t,
            search=filters["q"],
            recipient_type=filters["type"],
            dir_synced=filters["dirsynced"],
            cloud_managed=filters["cloudmanaged"],
            deleted=filters["deleted"],
        )
        page = paginate(matches, anchor="mailboxes")
        page.items = [models.mailbox_row(t, j) for j in read.join_mailboxes(t, page.items)]
        history = models.sync_history(t)
        runs = [models.run_view(r, max_errors=5) for r in history[:PREVIEW]]
        audit = [models.audit_view(t, r) for r in list(reversed(t.audit.records[-PREVIEW:]))]
        journal = [models.journal_view(t, e) for e in reversed(list(t.journal.entries)[-PREVIEW:])]
        totals = {"runs": len(history), "audit": len(t.audit.records), "requests": len(t.journal.entries)}
        faults = models.faults_view(t)
        profile = models.profile_view(t)
    return render_template(
        "dashboard/tenant.html",
        t=header,
        counts=counts,
        kinds=kinds,
        page=page,
        filters=filters,
        types=RECIPIENT_TYPES,
        runs=runs,
        audit=audit,
        journal=journal,
        totals=totals,
        faults=faults,
        profile=profile,
    )


@bp.route("/tenants/<tenant_key>/mailboxes/<guid>")
def mailbox(tenant_key: str, guid: str):
    """Every Exchange attribute of one mailbox beside its AD attribute, drift highlighted."""
    t = _tenant_or_none(tenant_key)
    if t is None:
        return _not_found("Tenant", tenant_key)
    with t.lock:
        mbx = t.mailboxes.get(guid) if len(guid) <= 200 else None
        if mbx is None:
            return _not_found("Mailbox", guid)
        header = models.tenant_header(t)
        row = models.mailbox_row(t, read.join_mailboxes(t, [mbx])[0], full=True)
        names = {
            mbx.guid,
            mbx.name,
            mbx.alias,
            mbx.primary_smtp_address,
            mbx.user_principal_name,
            mbx.display_name,
            mbx.external_directory_object_id,
        } - {None, ""}
        mine = (r for r in reversed(t.audit.records) if r.target in names)
        audit = [models.audit_view(t, r) for r in itertools.islice(mine, 50)]
    return render_template("dashboard/mailbox.html", t=header, m=row, audit=audit)


# ------------------------------------------------------------------------------------------------- sync
@bp.route("/tenants/<tenant_key>/sync")
def sync(tenant_key: str):
    """Entra Connect run history, newest first, with per-object errors."""
    t = _tenant_or_none(tenant_key)
    if t is None:
        return _not_found("Tenant", tenant_key)
    status = arg_text("status").lower()
    policy = arg_text("policy").lower()
    with t.lock:
        header = models.tenant_header(t)
        history = [
            r
            for r in models.sync_history(t)
            if not (status or policy)
            or (
                isinstance(r, dict)
                and (not status or str(r.get("status", "")).lower() == status)
                and (not policy or str(r.get("policyType", "")).lower() == policy)
            )
        ]
        page = paginate(history, per_page=arg_int("per_page", 20, low=5, high=200))
        page.items = [models.run_view(r) for r in page.items]
        settings = models.sync_settings(t)
        everything = [r for r in models.sync_history(t) if isinstance(r, dict)]
        statuses = sorted({str(r.get("status", "")) for r in everything} - {""})
        policies = sorted({str(r.get("policyType", "")) for r in everything} - {""})
    return render_template(
        "dashboard/sync.html",
        t=header,
        page=page,
        settings=settings,
        statuses=statuses,
        policies=policies,
        status=status,
        policy=policy,
    )


@bp.route("/tenants/<tenant_key>/sync/<run_id>")
def sync_run(tenant_key: str, run_id: str):
    """One sync run with all its per-object errors (paged)."""
    t = _tenant_or_none(tenant_key)
    if t is None:
        return _not_found("Tenant", tenant_key)
    with t.lock:
        run = next((r for r in models.sync_history(t) if isinstance(r, dict) and str(r.get("id")) == run_id), None)
        if run is None:
            return _not_found("Sync run", run_id)
        header = models.tenant_header(t)
        errors = run.get("errors") or []
        errors = errors if isinstance(errors, list) else [errors]
        page = paginate(errors, per_page=100)
        view = models.run_view({**run, "errors": page.items}, max_errors=100)
    return render_template("dashboard/sync_run.html", t=header, run=view, page=page)


# ------------------------------------------------------------------------------------------------ audit
@bp.route("/tenants/<tenant_key>/audit")
def audit(tenant_key: str):
    """The audit log, newest first, filtered by api, operation, outcome and free text."""
    t = _tenant_or_none(tenant_key)
    if t is None:
        return _not_found("Tenant", tenant_key)
    filters = {
        "api": arg_text("api"),
        "operation": arg_text("operation"),
        "outcome": arg_choice("outcome", ("changed", "unchanged", "failed")),
        "q": arg_text("q"),
    }
    with t.lock:
        header = models.tenant_header(t)
        if any(filters.values()):
            records = [
                r
                for r in reversed(t.audit.records)
                if models.audit_matches(
                    r, api=filters["api"], operation=filters["operation"], outcome=filters["outcome"], text=filters["q"]
                )
            ]
        else:
            records = NewestFirst(t.audit.records)
        page = paginate(records)
        page.items = [models.audit_view(t, r) for r in page.items]
        apis = sorted({r.api for r in t.audit.records[-5000:]})
    return render_template("dashboard/audit.html", t=header, page=page, filters=filters, apis=apis)


# ---------------------------------------------------------------------------------------------- journal
@bp.route("/tenants/<tenant_key>/requests")
def requests_(tenant_key: str):
    """The request journal, newest first, filtered by api, method, status, cmdlet and free text."""
    t = _tenant_or_none(tenant_key)
    if t is None:
        return _not_found("Tenant", tenant_key)
    filters = {
        "api": arg_text("api"),
        "method": arg_text("method"),
        "status": arg_text("status"),
        "cmdlet": arg_text("cmdlet"),
        "q": arg_text("q"),
    }
    with t.lock:
        header = models.tenant_header(t)
        entries = list(t.journal.entries)
        if any(filters.values()):
            matches = [
                e
                for e in reversed(entries)
                if models.journal_matches(
                    e,
                    api=filters["api"],
                    method=filters["method"],
                    status=filters["status"],
                    cmdlet=filters["cmdlet"],
                    text=filters["q"],
                )
            ]
        else:
            matches = NewestFirst(entries)
        page = paginate(matches)
        page.items = [models.journal_view(t, e) for e in page.items]
        apis = sorted({str(e.get("api")) for e in entries[-5000:] if isinstance(e, dict) and e.get("api")})
        dropped = t.journal.dropped
    return render_template("dashboard/requests.html", t=header, page=page, filters=filters, apis=apis, dropped=dropped)


@bp.app_template_filter("dash_yesno")
def _yesno(value) -> str:
    """True/False/— for tri-state flags."""
    return "—" if value is None else ("True" if value else "False")
