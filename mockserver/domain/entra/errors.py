"""The errors of the Microsoft Entra token service (login.microsoftonline.com): OAuth ``error`` values with
their AADSTS numbers and HTTP statuses, as the identity endpoints and the device-code flow raise them."""

from __future__ import annotations

from ..errors import DomainError


class EntraError(DomainError):
    """An error of the Entra token service: OAuth ``error``, AADSTS number, HTTP status (400 unless said)."""

    kind = "Entra"

    def __init__(self, aadsts: int, error: str, message: str, status: int = 400):
        super().__init__(f"AADSTS{aadsts}: {message}")
        self.aadsts, self.error, self.status = aadsts, error, status


# --------------------------------------------------------------------------- the errors Entra answers with
def tenant_not_found(key: str, *, error: str = "invalid_request") -> EntraError:
    """AADSTS90002: the tenant in the URL does not exist (``invalid_tenant`` on the discovery document)."""
    return EntraError(
        90002,
        error,
        f"Tenant '{key}' not found. Check to make sure you have the correct tenant ID "
        "and are signing into the correct cloud. Check with your subscription "
        "administrator, this may happen if there are no active subscriptions for "
        "the tenant.",
    )


def missing_parameter(name: str) -> EntraError:
    """AADSTS900144: a required body parameter is absent."""
    return EntraError(900144, "invalid_request", f"The request body must contain the following parameter: '{name}'.")


def app_not_found(tenant, client_id: str) -> EntraError:
    """AADSTS700016: no application with this client id in the tenant."""
    return EntraError(
        700016,
        "unauthorized_client",
        f"Application with identifier '{client_id}' was not found in the directory '{tenant.name}'. "
        "This can happen if the application has not been installed by the administrator of the tenant "
        "or consented to by any user in the tenant. You may have sent your authentication request to "
        "the wrong tenant.",
    )


def bad_secret(app) -> EntraError:
    """AADSTS7000215: the client secret does not match (HTTP 401)."""
    return EntraError(
        7000215,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the client "
        f"secret value, not the client secret ID, for a secret added to app '{app.app_id}'.",
        401,
    )


def no_client_credential() -> EntraError:
    """AADSTS7000218: a confidential flow without ``client_secret`` or ``client_assertion`` (HTTP 401)."""
    return EntraError(
        7000218,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        401,
    )


def bad_assertion(detail: str, *, code: int = 700027) -> EntraError:
    """AADSTS700027 and relatives: a client assertion that fails validation (HTTP 401)."""
    return EntraError(code, "invalid_client", detail, 401)


def invalid_grant(code: int, message: str) -> EntraError:
    """``invalid_grant`` (HTTP 400): wrong password, unknown user, bad or used codes and refresh tokens."""
    return EntraError(code, "invalid_grant", message)


def public_client_with_credential() -> EntraError:
    """AADSTS700025: a public client (one of Microsoft's first-party ones) presented a secret or an assertion."""
    return EntraError(
        700025,
        "invalid_client",
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        401,
    )
