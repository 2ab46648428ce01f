"""The hybrid write rules of Exchange Online (cloud-managed remote mailboxes, domain-behaviour.md §1) and the
tenant behaviour profiles that decide who may flip ``IsExchangeCloudManaged`` (DESIGN.md).

* Exchange attributes of a dir-synced mailbox are mastered on-premises until ``IsExchangeCloudManaged``
  is true; identity attributes stay mastered on-premises while the user is synced, whatever the flag,
  unless the Entra object's own SOA moved to the cloud (``onPremisesSyncBehavior.isCloudManaged``).
* Profiles: ``ga`` (Exchange Administrator suffices), ``preview`` (without Hybrid Identity Administrator or
  Global Administrator the toggle is silently ignored), ``strict`` (without them the toggle is refused)."""

from __future__ import annotations

from .. import soa_attributes as soa
from ..entra import roles
from . import errors as exo_errors
from .identity_resolution import owner_of
from .mailboxes import ELIGIBLE_TYPES

#: Set-User parameters (all identity attributes).
IDENTITY_USER_PARAMS = (
    "DisplayName",
    "FirstName",
    "LastName",
    "Initials",
    "Title",
    "Department",
    "Company",
    "Office",
    "Phone",
    "MobilePhone",
    "City",
    "StateOrProvince",
    "PostalCode",
    "CountryOrRegion",
    "StreetAddress",
    "Manager",
)

#: Roles that could flip the switch during the public preview.
PREVIEW_TOGGLE_ROLES = frozenset({roles.HYBRID_IDENTITY_ADMINISTRATOR, roles.GLOBAL_ADMINISTRATOR})

ALLOW, SILENT, DENY = "allow", "silent", "deny"

#: The eligibility refusals have no public source (docs/fidelity.md): their text is the mock's, in the real
#: TaskInvalidOperationException shape with an empty ErrId (as some real errors carry), and the response says so.
_UNSOURCED_ELIGIBILITY = (
    "no public source for this refusal: text is hybridsoa's, shaped as a TaskInvalidOperationException with no ErrId"
)


def is_dir_synced(tenant, mbx) -> bool:
    """Get-Mailbox IsDirSynced: synced from AD, and the owning Entra object still synced (not taken over)."""
    if not mbx.is_dir_synced:
        return False
    owner = owner_of(tenant, mbx)
    if owner is None:
        return True
    return bool(owner.on_premises_sync_enabled) and not owner.is_cloud_managed


def identity_mastered_on_prem(tenant, mbx=None, user=None) -> bool:
    """Whether identity attributes (names, title, department, UPN ...) are read-only in Exchange Online."""
    if user is None and mbx is not None:
        user = owner_of(tenant, mbx)
    if user is not None:
        return user.is_synced
    return bool(mbx is not None and mbx.is_dir_synced)


def exchange_mastered_on_prem(tenant, mbx, *, cloud_managed: bool | None = None) -> bool:
    """Whether the mailbox's Exchange attributes are read-only in Exchange Online (synced, not cloud-managed).
    ``cloud_managed`` overrides the stored flag (the toggle and edits may come in one call)."""
    flag = mbx.is_exchange_cloud_managed if cloud_managed is None else cloud_managed
    return is_dir_synced(tenant, mbx) and not flag


def check_toggle_eligible(tenant, mbx) -> None:
    """Refuse IsExchangeCloudManaged on objects the feature does not cover (cloud-only, taken over, wrong type)."""
    if mbx.recipient_type_details not in ELIGIBLE_TYPES:
        raise exo_errors.task_invalid(
            f"IsExchangeCloudManaged can't be set on '{mbx.name}' because its RecipientTypeDetails is "
            f"{mbx.recipient_type_details}. Only user, shared, room and equipment mailboxes of directory-"
            f"synchronized users are supported.",
            "",
            note=_UNSOURCED_ELIGIBILITY,
        )
    if not is_dir_synced(tenant, mbx):
        raise exo_errors.task_invalid(
            f"IsExchangeCloudManaged can't be set on '{mbx.name}' because the object isn't synchronized from "
            f"your on-premises organization. The Exchange attributes of cloud objects are already managed in "
            f"Exchange Online.",
            "",
            note=_UNSOURCED_ELIGIBILITY,
        )


def mail_user_not_eligible(mbx):
    """The clear error for IsExchangeCloudManaged aimed at a mail user (no Exchange Online mailbox)."""
    return exo_errors.task_invalid(
        f"IsExchangeCloudManaged can't be set on '{mbx.name}' because it is a {mbx.recipient_type_details}, not a "
        f"mailbox. Only user, shared, room and equipment mailboxes of directory-synchronized users are supported.",
        "",
        note=_UNSOURCED_ELIGIBILITY,
    )


def toggle_decision(tenant, caller) -> str:
    """How the tenant profile treats this caller's IsExchangeCloudManaged change: allow, silent or deny. Runs after
    Exchange RBAC let the call through, so in preview/strict Hybrid Identity or Global Administrator counts only *in
    addition to* the Exchange role that runs Set-Mailbox (the preview requirement, GA blog)."""
    profile = tenant.settings.get("profile", "ga")
    if profile == "ga":
        return ALLOW
    if set(tenant.active_role_ids(caller.object_id)) & PREVIEW_TOGGLE_ROLES:
        return ALLOW
    return SILENT if profile == "preview" else DENY


def toggle_denied():
    """The strict profile's refusal: the parameter is outside the caller's effective role entries."""
    return exo_errors.parameter_not_found("IsExchangeCloudManaged")


def blocked_params(tenant, mbx, param_names, *, cloud_managed: bool | None = None) -> list[str]:
    """Parameters of a Set-Mailbox call that the hybrid rules refuse, in the order given: Exchange attributes of an
    AD-mastered mailbox and identity attributes of a synced user (the SOA attribute table says which is which)."""
    exchange_blocked = identity_blocked = None  # each worked out once, and only when a parameter needs it
    out = []
    for name in param_names:
        if name in soa.EXCHANGE_PARAMETERS:
            if exchange_blocked is None:
                exchange_blocked = exchange_mastered_on_prem(tenant, mbx, cloud_managed=cloud_managed)
            if exchange_blocked:
                out.append(name)
        elif name in soa.IDENTITY_PARAMETERS:
            if identity_blocked is None:
                identity_blocked = identity_mastered_on_prem(tenant, mbx)
            if identity_blocked:
                out.append(name)
    return out


def mirror_to_entra(tenant, mbx) -> bool:
    """Exchange Online writes the Exchange attributes it masters (mail, mailNickname, proxyAddresses: the SOA
    table's FROM_EXCHANGE rows; for a user that is not synced also onPremisesExtensionAttributes) to the owner's
    Entra user, which is what Graph shows. Call only when Exchange is their authority (cloud-only, cloud-managed or
    object SOA in the cloud); returns whether the user changed."""
    owner = owner_of(tenant, mbx)
    if owner is None:
        return False
    changed = False
    for name, value in soa.entra_values(mbx, synced_owner=owner.is_synced).items():
        if getattr(owner, name) != value:
            setattr(owner, name, value)
            changed = True
    if changed:
        tenant.users.touch(owner.id)
    return changed


def no_change_warning(identity: str) -> str:
    """The real warning when a Set- cmdlet changes nothing."""
    return f"The command completed successfully but no settings of '{identity}' have been modified."
