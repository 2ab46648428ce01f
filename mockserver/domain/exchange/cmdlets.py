"""The Exchange Online cmdlet registry and PowerShell-style parameter binding; the dispatcher behind
``POST /adminapi/beta/{tenant}/InvokeCommand`` that runs registered cmdlets is :mod:`.dispatch`.

Registry API (stable; other rooms build on it, e.g. Exchange RBAC in ``domain/exchange/rbac/engine.py``)::

    from hybridsoa.mock.domain.exchange.cmdlets import Param, register_cmdlet
    from hybridsoa.mock.domain.exchange.dispatch import get_cmdlet, all_cmdlets

    def get_role_group(ctx, params):            # handler(ctx, params) -> list[dict] | None
        ...                                     # ctx: CmdletContext (tenant, caller, cmdlet, warnings, ...)
        return [{"Name": "Organization Management", ...}]

    register_cmdlet("Get-RoleGroup", get_role_group,
                    [Param("Identity", "Identity", position=0), Param("ResultSize", "Unlimited")],
                    writes=False, noun="RoleGroup")

* ``params`` maps each *canonical* parameter name (as declared) to its bound Python value; only the
  parameters the caller passed are present. Types: ``String``, ``Boolean``, ``Switch``, ``Int32``,
  ``Unlimited`` (int or None for "Unlimited"), ``Enum`` (``enum=(...)``, canonical spelling),
  ``Identity`` (str), ``SecureString`` (str), ``MultiValued`` (:class:`MultiValuedEdit`: a replacement
  list or the ``@{Add=...; Remove=...}`` hashtable form), ``Strings`` (list[str]).
* Handlers raise ``hybridsoa.mock.domain.errors`` types (helpers in ``domain/exchange/errors.py``); the wire layer
  renders them in the real envelope in one place. Return dicts whose values are JSON-native, ``uuid.UUID``
  (rendered with ``@data.type System.Guid``) or ``datetime`` (``System.DateTime``); lists become
  ``#Collection(String)``.
* ``cacheable=True`` (reads only) lets InvokeCommand continuation pages reuse the first page's result while
  ``tenant.mailboxes`` and ``tenant.users`` are unchanged; leave it False when output depends on anything else.
* Write cmdlets (``writes=True``) are audited by the dispatcher: set ``ctx.target`` and ``ctx.changes``
  (``{property: {"old", "new"}}``) in the handler; failures are audited with their error text.
* Authorization hook: before the handler runs, :func:`.dispatch.invoke` calls
  ``tenant.rbac.authorize(caller, cmdlet_name, param_names, target_mailbox=None)`` when the RBAC object has
  ``authorize`` (it raises to deny), otherwise a built-in directory-role baseline (``access.py``). Handlers
  call ``ctx.authorize_target(mailbox)`` once the target is resolved, which calls
  ``tenant.rbac.authorize_target(caller, cmdlet_name, param_names, mailbox)`` when defined (write scopes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors as exo_errors

TYPE_NAMES = {
    "String": "System.String",
    "Boolean": "System.Boolean",
    "Switch": "System.Management.Automation.SwitchParameter",
    "Int32": "System.Int32",
    "Unlimited": "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]",
    "Identity": "Microsoft.Exchange.Configuration.Tasks.RecipientIdParameter",
    "SecureString": "System.Security.SecureString",
    "MultiValued": "Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]",
    "Strings": "System.String[]",
}
HASHTABLE_TYPE = "#Exchange.GenericHashTable"


@dataclass
class Param:
    """One cmdlet parameter as the real cmdlet declares it (name, .NET-ish type, enum members, mandatory)."""

    name: str
    type: str = "String"
    enum: tuple[str, ...] | None = None
    required: bool = False
    #: .NET type named in binding errors (defaults from ``type``).
    type_name: str | None = None
    #: Enum parameters that take several values (e.g. Get-Mailbox -RecipientTypeDetails).
    multi: bool = False
    #: Parameter-set group: parameters with different non-None groups cannot be combined.
    group: str | None = None
    #: Accepted but has no effect in the mock (Confirm, Force, ...): listed as such in docs/coverage.md.
    no_op: bool = False
    description: str = ""
    position: int | None = None

    @property
    def net_type(self) -> str:
        """The type name PowerShell quotes in binding errors."""
        return self.type_name or TYPE_NAMES.get(self.type, "System.String")


@dataclass
class CmdletSpec:
    """A registered cmdlet: its canonical name, handler, parameters and whether it changes state."""

    name: str
    handler: Callable
    params: dict[str, Param]
    writes: bool
    noun: str = ""
    description: str = ""
    #: Read cmdlets whose output depends only on recipients and users: InvokeCommand continuation pages reuse
    #: the first page's result while neither collection changed (paging a large tenant stays O(page)).
    cacheable: bool = False
    #: Writes that cannot change Exchange RBAC (recipient edits): they keep cached authorization decisions.
    #: Every other write drops them, so a cmdlet added later is safe by default.
    rbac_neutral: bool = False
    #: Writes that change only objects and audit records (never a subsystem, a tenant setting or the clock): the
    #: durable store skips fingerprinting the state blobs for them (tests/unit/test_durable.py checks the claim).
    #: Every other write compares them, so a cmdlet added later is safe by default.
    rows_only: bool = False

    def param(self, name: str) -> Param | None:
        """The parameter named ``name`` (case-insensitive), or None."""
        return self.params.get(name.lower())

    @property
    def param_list(self) -> list[Param]:
        """Parameters in declaration order."""
        return list(self.params.values())

    @property
    def required_names(self) -> list[str]:
        """Names of the mandatory parameters, in declaration order (computed once per parameter table)."""
        cached = self.__dict__.get("_required")
        if cached is None or cached[0] is not self.params:
            cached = self.__dict__["_required"] = (self.params, [p.name for p in self.params.values() if p.required])
        return cached[1]


@dataclass
class MultiValuedEdit:
    """A multi-valued parameter value: a full replacement, or the ``@{Add=...; Remove=...}`` hashtable form."""

    replace: list[str] | None = None
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)

    def apply(self, current: list[str], *, key=lambda v: v.lower()) -> list[str]:
        """The new value list: the replacement, or ``current`` plus adds minus removes (case-insensitive)."""
        if self.replace is not None:
            return list(self.replace)
        out = list(current)
        for value in self.add:
            if all(key(v) != key(value) for v in out):
                out.append(value)
        removing = {key(v) for v in self.remove}
        return [v for v in out if key(v) not in removing]

    def to_dict(self):
        """JSON form for audit records."""
        if self.replace is not None:
            return list(self.replace)
        return {"Add": list(self.add), "Remove": list(self.remove)}


@dataclass(slots=True)
class CmdletContext:
    """What a handler sees: the tenant, the caller, the canonical cmdlet name, warnings and audit fields."""

    tenant: Any
    caller: object
    cmdlet: str
    param_names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Audit: the object acted on and what really changed ({property: {"old", "new"}}).
    target: str | None = None
    changes: dict = field(default_factory=dict)
    #: The RBAC grant computed for this call before the handler ran (reused for the write-scope check).
    grant: Any = None

    def warn(self, text: str) -> None:
        """Add a warning (``@adminapi.warnings`` and the ``X-Warnings`` header)."""
        self.warnings.append(text)

    def authorize_target(self, target) -> None:
        """Exchange RBAC's write-scope check of the resolved target object."""
        if self.grant is not None:
            self.grant.check_target(target)  # same caller, cmdlet and parameters: no second RBAC walk
            return
        self.tenant.rbac.authorize_target(self.caller, self.cmdlet, list(self.param_names), target)


@dataclass(slots=True)
class InvokeResult:
    """The output of one cmdlet invocation."""

    cmdlet: str
    values: list[dict]
    warnings: list[str]


_REGISTRY: dict[str, CmdletSpec] = {}
#: Bumped by every registration: with the registry's size, what catalog caches key on.
REGISTRY_VERSION = 0


def register_cmdlet(
    name: str,
    handler: Callable,
    params: list[Param],
    *,
    writes: bool | None = None,
    noun: str = "",
    description: str = "",
    cacheable: bool = False,
    rbac_neutral: bool = False,
    rows_only: bool = False,
) -> CmdletSpec:
    """Add (or replace) a cmdlet in the registry. ``writes`` defaults from the verb (Get-/Test- read)."""
    if writes is None:
        writes = name.split("-", 1)[0].lower() not in ("get", "test", "search")
    spec = CmdletSpec(
        name=name,
        handler=handler,
        params={p.name.lower(): p for p in params},
        writes=writes,
        noun=noun or name.split("-", 1)[-1],
        description=description,
        cacheable=cacheable and not writes,
        rbac_neutral=rbac_neutral,
        rows_only=rows_only and writes,
    )
    _REGISTRY[name.lower()] = spec
    global REGISTRY_VERSION
    REGISTRY_VERSION += 1
    return spec


# ------------------------------------------------------------------------------------------------- binding
def bind(spec: CmdletSpec, raw: dict) -> dict:
    """Bind raw JSON parameters to the cmdlet's declared parameters as PowerShell would, or raise the
    PowerShell-shaped binding error (unknown name, bad type, bad enum member, missing mandatory, set clash)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise exo_errors.task_invalid("The CmdletInput Parameters value must be a JSON object.")
    bound: dict = {}
    groups = set()
    params = spec.params
    for key, value in raw.items():
        if not isinstance(key, str) or key.startswith("@") or "@odata" in key or "@data" in key:
            continue  # annotations such as "Identity@odata.type" travel next to values
        param = params.get(key.lower())
        if param is None:
            raise exo_errors.parameter_not_found(key)
        bound[param.name] = convert(param, value)
        if param.group:
            groups.add(param.group)
    if len(groups) > 1:
        raise exo_errors.ambiguous_parameter_set()
    for name in spec.required_names:
        if name not in bound:
            raise exo_errors.missing_mandatory([n for n in spec.required_names if n not in bound])
    return bound


def convert(param: Param, value):
    """Convert one JSON value to the parameter's type (PowerShell binding rules, simplified)."""
    kind = param.type
    if kind in ("Boolean", "Switch"):
        if isinstance(value, bool):
            return value
        if value is None and kind == "Switch":
            return True
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in ("$true", "$false"):
            return value.strip().lower() == "$true"
        raise exo_errors.boolean_expected(param.name, value)
    if kind == "Int32":
        return _to_int(param, value)
    if kind == "Unlimited":
        if isinstance(value, str) and value.strip().lower() == "unlimited":
            return None
        number = _to_int(param, value)
        if number < 1:
            raise exo_errors.cannot_convert(
                param.name, value, param.net_type, "The value must be greater than or equal to 1."
            )
        return number
    if kind == "Enum":
        values = value if isinstance(value, list) and param.multi else [value]
        out = [_enum_member(param, v) for v in values]
        return out if param.multi else out[0]
    if kind == "MultiValued":
        return _multi_valued(param, value)
    if kind == "Strings":
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [_scalar_string(param, v) for v in values]
    # String, Identity, SecureString
    if value is None:
        if param.type == "Identity" or param.required:
            raise exo_errors.cannot_convert(param.name, "", param.net_type, "The argument is null or empty.")
        return None
    return _scalar_string(param, value)


def _to_int(param: Param, value) -> int:
    if isinstance(value, bool):
        raise exo_errors.cannot_convert(param.name, value, param.net_type, "Invalid cast from 'Boolean' to 'Int32'.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise exo_errors.cannot_convert(param.name, value, param.net_type, "Input string was not in a correct format.")


def _enum_member(param: Param, value) -> str:
    members = param.enum or ()
    if isinstance(value, str):
        for member in members:
            if member.lower() == value.strip().lower():
                return member
    shown = value if isinstance(value, str) else exo_errors._ps_repr(value)
    raise exo_errors.cannot_convert(
        param.name,
        value,
        param.net_type,
        f"Unable to match the identifier name {shown} to a valid enumerator name. Specify one of the following "
        f"enumerator names and try again:\n{', '.join(members)}",
    )


def _scalar_string(param: Param, value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise exo_errors.cannot_convert(
        param.name,
        exo_errors._ps_type(value),
        param.net_type,
        f'Cannot convert the "{exo_errors._ps_type(value)}" value of type '
        f'"{exo_errors._ps_type(value)}" to type "{param.net_type}".',
    )


def _multi_valued(param: Param, value) -> MultiValuedEdit:
    if value is None:
        return MultiValuedEdit(replace=[])
    if isinstance(value, dict):
        keys = {k.lower(): k for k in value if not k.startswith("@")}
        unknown = [k for k in keys if k not in ("add", "remove")]
        if unknown:
            raise exo_errors.cannot_convert(
                param.name,
                "System.Collections.Hashtable",
                param.net_type,
                f"The hashtable key '{keys[unknown[0]]}' isn't valid. Use Add or Remove.",
            )
        edit = MultiValuedEdit()
        for lower, target in (("add", edit.add), ("remove", edit.remove)):
            if lower in keys:
                raw = value[keys[lower]]
                items = raw if isinstance(raw, list) else [raw]
                target.extend(_scalar_string(param, v) for v in items if v is not None)
        return edit
    items = value if isinstance(value, list) else [value]
    return MultiValuedEdit(replace=[_scalar_string(param, v) for v in items if v is not None])
