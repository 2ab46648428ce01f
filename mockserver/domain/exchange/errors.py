"""Exchange-flavoured domain errors: each names the .NET exception type and error category the real service
puts in its ``ErrId|ExceptionType|text`` triple. The wire layer (``api/exchange/errors.py``) renders them."""

from __future__ import annotations

from ..errors import CmdletNotRecognized, InvalidArgument, NotFound, UnknownParameter, WriteScopeViolation

NOT_FOUND_TYPE = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
AMBIGUOUS_TYPE = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
BINDING_TYPE = "System.Management.Automation.ParameterBindingException"
PARAMETER_SET_TYPE = "System.Management.Automation.ParameterBindingException"
TASK_INVALID_TYPE = "Microsoft.Exchange.Configuration.Tasks.TaskInvalidOperationException"
TASK_ARGUMENT_TYPE = "Microsoft.Exchange.Configuration.Tasks.TaskArgumentException"
PROXY_TYPE = "Microsoft.Exchange.Data.DataValidationException"
WRITE_SCOPE_TYPE = "Microsoft.Exchange.Data.Directory.DirSyncedObjectReadOnlyException"


def dc_fqdn(tenant) -> str:
    """The domain controller name Exchange quotes in not-found texts (stable per tenant)."""
    region = tenant.name.replace("-", "").upper()[:8] or "MOCK"
    return f"MK0PR01A001DC{tenant.id[:3].upper()}.{region}01A001.PROD.OUTLOOK.COM"


def object_not_found(tenant, identity: str) -> NotFound:
    """Exchange's ManagementObjectNotFoundException for an ``-Identity`` that matches nothing."""
    return NotFound(
        f"The operation couldn't be performed because object '{identity}' couldn't be found on '{dc_fqdn(tenant)}'.",
        exception_type=NOT_FOUND_TYPE,
        err_id="Ex6F9304",
        category="Context",
    )


def object_ambiguous(identity: str) -> InvalidArgument:
    """ManagementObjectAmbiguousException: the identity matches more than one recipient."""
    return InvalidArgument(
        f"The operation couldn't be performed because '{identity}' matches multiple entries.",
        exception_type=AMBIGUOUS_TYPE,
        err_id="Ex9E65A2",
        category="Context",
    )


def parameter_not_found(name: str) -> UnknownParameter:
    """PowerShell's NamedParameterNotFound (also what Exchange RBAC shows for a parameter outside a role)."""
    return UnknownParameter(
        f"A parameter cannot be found that matches parameter name '{name}'.",
        exception_type=BINDING_TYPE,
        err_id="NamedParameterNotFound",
        category="Client",
    )


def cannot_convert(name: str, value, type_name: str, reason: str) -> InvalidArgument:
    """PowerShell's parameter-binding conversion failure (bad value type, bad enum member)."""
    shown = value if isinstance(value, str) else _ps_repr(value)
    return InvalidArgument(
        f'Cannot bind parameter \'{name}\'. Cannot convert value "{shown}" to type "{type_name}". Error: "{reason}"',
        exception_type=BINDING_TYPE,
        err_id="CannotConvertArgumentNoMessage",
        category="Client",
    )


def boolean_expected(name: str, value) -> InvalidArgument:
    """PowerShell's argument transformation failure for Boolean/switch parameters given a non-Boolean."""
    type_name = "System.String" if isinstance(value, str) else _ps_type(value)
    return InvalidArgument(
        f"Cannot process argument transformation on parameter '{name}'. Cannot convert value "
        f'"{type_name}" to type "System.Boolean". Boolean parameters accept only Boolean '
        f"values and numbers, such as $True, $False, 1 or 0.",
        exception_type=BINDING_TYPE,
        err_id="ParameterArgumentTransformationError",
        category="Client",
    )


def missing_mandatory(names: list[str]) -> InvalidArgument:
    """PowerShell's MissingMandatoryParameter (non-interactive host)."""
    return InvalidArgument(
        f"Cannot process command because of one or more missing mandatory parameters: {' '.join(names)}.",
        exception_type=BINDING_TYPE,
        err_id="MissingMandatoryParameter",
        category="Client",
    )


def ambiguous_parameter_set() -> InvalidArgument:
    """PowerShell's AmbiguousParameterSet: parameters from two parameter sets were combined."""
    return InvalidArgument(
        "Parameter set cannot be resolved using the specified named parameters.",
        exception_type=PARAMETER_SET_TYPE,
        err_id="AmbiguousParameterSet",
        category="Client",
    )


def cmdlet_not_recognized(name: str, *, emulated: bool = False) -> CmdletNotRecognized:
    """Unknown cmdlet, or one the caller's roles do not include: the real service answers 403 with no body and
    PowerShell's "The term ... is not recognized" text in ``x-ms-diagnostics``; which of the two it was is the
    mock's own note (``x-hybridsoa-note``)."""
    why = (
        "the cmdlet is outside the caller's management role entries"
        if emulated
        else "the cmdlet is not emulated by hybridsoa (see docs/coverage.md)"
    )
    return CmdletNotRecognized(
        name, diagnostics_code="2000001", diagnostics_category="invalid_cmdlet", reason=why, emulated=emulated
    )


def write_scope_synced(cmdlet: str, parameters: list[str], name: str, noun: str = "mailbox") -> WriteScopeViolation:
    """The hybrid 'out of the current user's write scope ... being synchronized from your on-premises
    organization' error, naming the cmdlet and the refused parameters."""
    return WriteScopeViolation(
        f"The operation on {noun} \"{name}\" failed because it's out of the current user's write scope. The action "
        f"'{cmdlet}', '{','.join(parameters)}', can't be performed on the object '{name}' because the object is being "
        f"synchronized from your on-premises organization. This action should be performed on the object in your "
        f"on-premises organization.",
        exception_type=TASK_INVALID_TYPE,
        err_id="",
        category="Context",
        parameters=list(parameters),
    )


def task_invalid(message: str, err_id: str = "", *, note: str | None = None) -> InvalidArgument:
    """A cmdlet-level refusal (TaskInvalidOperationException), e.g. a non-eligible object; ``note`` is the mock's
    own remark (x-hybridsoa-note), e.g. that the text has no public source."""
    extra = {"note": note} if note else {}
    return InvalidArgument(message, exception_type=TASK_INVALID_TYPE, err_id=err_id, category="Context", **extra)


def data_validation(message: str) -> InvalidArgument:
    """A property value that fails Exchange's data validation (proxy addresses, aliases)."""
    return InvalidArgument(message, exception_type=PROXY_TYPE, err_id="", category="Client")


def _ps_type(value) -> str:
    if isinstance(value, bool):
        return "System.Boolean"
    if isinstance(value, int):
        return "System.Int32"
    if isinstance(value, float):
        return "System.Double"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, dict):
        return "System.Collections.Hashtable"
    if value is None:
        return "null"
    return "System.String"


def _ps_repr(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, dict)):
        return _ps_type(value)
    return str(value)
