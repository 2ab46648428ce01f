"""The device authorization grant (RFC 8628) as Entra runs it: device and user codes, approval at the
verification page (or through the control plane), polling with the RFC's errors."""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import iso
from ..errors import InvalidArgument, NotFound
from .errors import EntraError, invalid_grant, missing_parameter

DEVICE_CODE_LIFETIME = 900
DEVICE_CODE_INTERVAL = 5
#: The user a device code is approved for when the tenant auto-approves and names nobody.
DEFAULT_DEVICE_CODE_USER = "globaladmin"


@dataclass
class DeviceCode:
    """One pending device authorization (RFC 8628) and how it ended."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    #: "pending" | "approved" | "declined" | "redeemed"
    status: str = "pending"
    user_id: str | None = None
    #: The tenant the user signed in to (a code issued on /organizations is offered in several tenants).
    tenant_id: str | None = None

    def describe(self) -> dict:
        """Control-plane view (no device code secret)."""
        return {
            "userCode": self.user_code,
            "clientId": self.client_id,
            "scope": self.scope,
            "status": self.status,
            "issuedDateTime": iso(self.issued_at),
            "expiresDateTime": iso(self.expires_at),
            "userId": self.user_id,
        }


class DeviceFlows:
    """The device codes of one tenant, by device code and by user code."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.by_device: dict[str, DeviceCode] = {}
        self.by_user: dict[str, DeviceCode] = {}

    def start(self, app, scope: str) -> DeviceCode:
        """``POST /{tenant}/oauth2/v2.0/devicecode``: a new device code, auto-approved if the tenant says so."""
        rng, now = self.tenant.ids.rng, self.tenant.clock.now()
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        user_code = "".join(rng.choice(alphabet) for _ in range(9))
        while user_code in self.by_user:
            user_code = "".join(rng.choice(alphabet) for _ in range(9))
        device_code = "DAQABIQEAAA" + self.tenant.ids.secret(120).replace("~", "_").replace(".", "-")
        flow = DeviceCode(
            device_code=device_code,
            user_code=user_code,
            client_id=app.app_id,
            scope=scope,
            issued_at=now,
            expires_at=now + DEVICE_CODE_LIFETIME,
        )
        self.by_device[device_code] = flow
        self.by_user[user_code] = flow
        auto = self.tenant.settings.get("deviceCodeAutoApprove")
        if auto:
            upn = auto if isinstance(auto, str) else self.tenant.settings.get("deviceCodeAutoApproveUser")
            self.approve(user_code, upn)
        return flow

    def _by_user_code(self, user_code: str) -> DeviceCode:
        flow = self.by_user.get((user_code or "").strip().upper())
        if flow is None:
            raise NotFound(f"No device code with user code '{user_code}'.")
        return flow

    def approve(self, user_code: str, user_principal_name: str | None = None) -> DeviceCode:
        """The user signs in at the verification page and consents (control plane stand-in)."""
        flow = self._by_user_code(user_code)
        if flow.status != "pending":
            raise InvalidArgument(f"The device code is already {flow.status}.")
        if self.tenant.clock.now() >= flow.expires_at:
            raise InvalidArgument("The device code has expired.")
        upn = user_principal_name or f"{DEFAULT_DEVICE_CODE_USER}@{self.tenant.domain}"
        if "@" not in upn:
            upn = f"{upn}@{self.tenant.domain}"
        user = self.tenant.user_by_upn(upn)
        if user is None or not user.account_enabled:
            raise NotFound(f"No enabled user '{upn}' in this tenant.")
        flow.status, flow.user_id, flow.tenant_id = "approved", user.id, self.tenant.id
        return flow

    def decline(self, user_code: str) -> DeviceCode:
        """The user declines at the verification page."""
        flow = self._by_user_code(user_code)
        if flow.status != "pending":
            raise InvalidArgument(f"The device code is already {flow.status}.")
        flow.status = "declined"
        return flow

    def redeem(self, device_code: str | None, client_id: str):
        """Poll with the device code grant: the approving user, or the RFC 8628 error for the current state."""
        if not device_code:
            raise missing_parameter("device_code")
        flow = self.by_device.get(device_code)
        if flow is None or flow.client_id != client_id:
            raise invalid_grant(70000, "The provided value for the 'device_code' parameter is not valid.")
        if flow.status == "redeemed":
            raise invalid_grant(
                70000, "The provided value for the 'device_code' parameter is not valid. It was already redeemed."
            )
        if self.tenant.clock.now() >= flow.expires_at:
            raise EntraError(
                70020,
                "expired_token",
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            )
        if flow.status == "declined":
            raise EntraError(70000, "authorization_declined", "The user declined the authorization request.")
        if flow.status == "pending":
            raise EntraError(
                70016,
                "authorization_pending",
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        flow.status = "redeemed"
        return self.tenant.users.get(flow.user_id), flow

    def list(self) -> list[DeviceCode]:
        """Every device code issued in this tenant, oldest first."""
        return list(self.by_device.values())


def device_code_response(flow: DeviceCode, verification_uri: str) -> dict:
    """The ``/devicecode`` answer as Entra words it."""
    return {
        "user_code": flow.user_code,
        "device_code": flow.device_code,
        "verification_uri": verification_uri,
        "expires_in": int(flow.expires_at - flow.issued_at),
        "interval": DEVICE_CODE_INTERVAL,
        "message": f"To sign in, use a web browser to open the page {verification_uri} and enter the code "
        f"{flow.user_code} to authenticate.",
    }
