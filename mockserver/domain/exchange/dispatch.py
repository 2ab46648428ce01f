"""The one dispatcher behind ``POST /adminapi/beta/{tenant}/InvokeCommand``: every emulated Exchange Online cmdlet
(importing this module registers them all), looked up by name, bound, authorized, run and audited.

The registry and parameter binding it builds on live in :mod:`.cmdlets`; the cmdlets themselves in the
``*_cmdlets.py`` modules of each noun and in ``rbac/role_cmdlets.py``."""

from __future__ import annotations

from ..errors import DomainError
from . import (
    adminapi_cmdlets,
    mailbox_cmdlets,
    mailuser_cmdlets,
    move_requests,
    org_cmdlets,
    recipient_cmdlets,
)
from . import errors as exo_errors
from .cmdlets import _REGISTRY, CmdletContext, CmdletSpec, InvokeResult, bind
from .rbac import role_cmdlets

# The built-in cmdlet modules register their cmdlets when imported (listed here, once).
BUILTIN_CMDLET_MODULES = (
    adminapi_cmdlets,
    mailbox_cmdlets,
    mailuser_cmdlets,
    move_requests,
    org_cmdlets,
    recipient_cmdlets,
    role_cmdlets,
)


def get_cmdlet(name: str) -> CmdletSpec | None:
    """The registered cmdlet called ``name`` (case-insensitive), or None."""
    return _REGISTRY.get((name or "").strip().lower())


def all_cmdlets() -> list[CmdletSpec]:
    """Every emulated cmdlet, sorted by name (docs/coverage.md and RBAC role entries come from this)."""
    return sorted(_REGISTRY.values(), key=lambda s: s.name.lower())


def invoke(tenant, caller, cmdlet_name, raw_params, *, spec: CmdletSpec | None = None) -> InvokeResult:
    """Run one cmdlet as InvokeCommand does: resolve it, bind parameters, authorize, run, audit writes.
    ``spec``: the cmdlet the wire layer already looked ``cmdlet_name`` up as (None: look it up here, refusing a
    missing or unknown name). Call with ``tenant.lock`` held."""
    if spec is None:
        if not isinstance(cmdlet_name, str) or not cmdlet_name.strip():
            raise exo_errors.task_invalid("The CmdletInput CmdletName value is missing or empty.")
        spec = get_cmdlet(cmdlet_name)
        if spec is None:
            raise exo_errors.cmdlet_not_recognized(cmdlet_name.strip())
    # Authorization sees the parameter names as sent, so a role-hidden parameter fails like an unknown one.
    names = []
    if isinstance(raw_params, dict):
        for k in raw_params:
            if isinstance(k, str) and "@" not in k:
                param = spec.params.get(k.lower())
                names.append(param.name if param is not None else k)
    ctx = CmdletContext(tenant=tenant, caller=caller, cmdlet=spec.name, param_names=names)
    rbac = tenant.rbac
    try:
        ctx.grant = rbac.authorize(caller, spec.name, names, target_mailbox=None)
        params = bind(spec, raw_params)
        values = _run_handler(spec, ctx, params, raw_params)
    except DomainError as exc:
        if spec.writes:
            _audit(ctx, caller, raw_params, succeeded=False, error=exc.message)
        raise
    finally:
        if spec.writes and not spec.rbac_neutral:
            rbac.changed()
    if spec.writes:
        _audit(ctx, caller, raw_params, succeeded=True, changes=ctx.changes)
        if ctx.changes and tenant.exo_read_cache is not None:
            # A write outdates the last read: let its objects go now rather than at the next read (after paging
            # a big tenant that is one dict per mailbox, which every full garbage collection would walk).
            tenant.exo_read_cache = None
    return InvokeResult(cmdlet=spec.name, values=list(values), warnings=list(ctx.warnings))


def _audit(ctx: CmdletContext, caller, raw_params, **outcome) -> None:
    """The audit-log record of one Exchange write cmdlet (secret parameters masked), succeeded or failed."""
    ctx.tenant.add_audit_record(
        "exchange", ctx.cmdlet, caller, target=ctx.target, parameters=_audit_parameters(raw_params), **outcome
    )


class _ReadCache:
    """The last cacheable read of a tenant (not plain data, so snapshots and the durable store skip it)."""

    __slots__ = ("key", "values", "version", "warnings")

    def __init__(self, key, version, values, warnings):
        self.key, self.version, self.values, self.warnings = key, version, values, warnings


def _run_handler(spec: CmdletSpec, ctx: CmdletContext, params: dict, raw_params) -> list:
    if not spec.cacheable:
        return spec.handler(ctx, params) or []
    tenant = ctx.tenant
    key = (spec.name, repr(sorted((raw_params or {}).items(), key=lambda kv: str(kv[0]))))
    version = (tenant.mailboxes.current_seq(), tenant.users.current_seq(), len(tenant.mailboxes), len(tenant.users))
    cached = tenant.exo_read_cache
    if cached is not None and cached.key == key and cached.version == version:
        ctx.warnings.extend(cached.warnings)
        return cached.values
    values = spec.handler(ctx, params) or []
    # One entry per tenant: enough for a client walking nextLinks, bounded in memory.
    tenant.exo_read_cache = _ReadCache(key, version, values, list(ctx.warnings))
    return values


_SECRET_PARAMS = {"password"}


def _audit_parameters(raw) -> dict:
    # The request's own dict when nothing is masked (records share it read-only: nothing writes to parameters).
    if not isinstance(raw, dict):
        return {}
    for k in raw:
        if not isinstance(k, str) or k.lower() in _SECRET_PARAMS:
            return {k: ("***" if k.lower() in _SECRET_PARAMS else v) for k, v in raw.items() if isinstance(k, str)}
    return raw
