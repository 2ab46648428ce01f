"""The domain's one typed error hierarchy; each wire layer renders it into its real shape in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Root of every rule violation the emulated services report (never a 5xx)."""

    #: HTTP status the wire layers use unless they know better.
    status = 400
    #: Machine-readable kind: wire layers map it to Exchange exception types / Graph codes / AADSTS codes.
    kind = "BadRequest"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """An object addressed by identity does not exist (Exchange ManagementObjectNotFoundException, Graph
    Request_ResourceNotFound)."""

    status = 404
    kind = "NotFound"


class Conflict(DomainError):
    """The object already exists or a unique value is taken (Graph 400/409, Exchange duplicate errors)."""

    status = 409
    kind = "Conflict"


class InvalidArgument(DomainError):
    """A parameter value is malformed, of the wrong type or outside its enumeration."""

    status = 400
    kind = "InvalidArgument"


class UnknownParameter(DomainError):
    """A cmdlet or endpoint was given a parameter it does not have (or the caller's RBAC hides it)."""

    status = 400
    kind = "UnknownParameter"


class CmdletNotRecognized(DomainError):
    """Exchange: the cmdlet is not emulated or the caller's RBAC role entries do not hold it ("The term '<cmdlet>'
    is not recognized as a name of a cmdlet, ..."); the real service answers 403."""

    status = 403
    kind = "CmdletNotRecognized"

    def __init__(self, cmdlet: str, message: str | None = None, **details):
        super().__init__(
            message
            or (
                f"The term '{cmdlet}' is not recognized as a name of a cmdlet, function, script file, or executable "
                "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
                "and try again."
            ),
            cmdlet=cmdlet,
            **details,
        )
        self.cmdlet = cmdlet


class WriteScopeViolation(DomainError):
    """Exchange's 'out of the current user's write scope' family: synced objects or RBAC write scopes."""

    status = 400
    kind = "WriteScope"


class SyncedObjectReadOnly(DomainError):
    """Graph: 'Unable to update the specified properties for on-premises mastered Directory Sync objects'."""

    status = 400
    kind = "SyncedObjectReadOnly"


class Unauthenticated(DomainError):
    """No token, a malformed token, a bad signature, an expired token or the wrong audience."""

    status = 401
    kind = "Unauthenticated"


class Forbidden(DomainError):
    """Authenticated, but the token's roles/scopes/directory roles do not allow the operation."""

    status = 403
    kind = "Forbidden"


class NotImplementedInMock(DomainError):
    """The real service has this operation; the mock does not emulate it (listed in docs/coverage.md)."""

    status = 501
    kind = "NotImplemented"


class Throttled(DomainError):
    """A token bucket or fault rule refused the request; carries Retry-After seconds."""

    status = 429
    kind = "Throttled"

    def __init__(self, message: str = "Too many requests", retry_after: int = 1, **details):
        super().__init__(message, **details)
        self.retry_after = retry_after
