"""Microsoft Entra ID objects: users, app registrations with their service principals, and directory role
assignments (active and PIM-eligible)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..memory import EMPTY_LIST


class Record:
    """Mixin: plain-dict round trip for snapshots and the durable store."""

    # Empty, so that records declared with ``@dataclass(slots=True)`` (one per user, mailbox and AD object) really
    # have no ``__dict__``.
    __slots__ = ()

    def to_dict(self) -> dict:
        """All fields as JSON-native values."""
        return asdict(self)  # type: ignore[call-overload]  # Record is only mixed into dataclasses

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys (forward compatible snapshots). A value of the
        wrong JSON kind for its field raises TypeError: snapshots are user input, and a damaged one must be refused
        at restore rather than fail every later request."""
        hints = _field_kinds(cls)
        kept = {}
        for key, value in data.items():
            if key in hints:
                kinds = hints[key]
                if (kinds is not None and not isinstance(value, kinds)) or (
                    isinstance(value, bool) and bool not in (kinds or (bool,))
                ):
                    raise TypeError(f"{cls.__name__}.{key} cannot be a {type(value).__name__}")
                kept[key] = value
        return cls(**kept)


_KINDS = {
    "str": (str,),
    "int": (int, float),
    "float": (int, float),
    "bool": (bool,),
    "dict": (dict,),
    "list": (list,),
    "None": (type(None),),
}
_kinds_cache: dict[type, dict] = {}


def _field_kinds(cls) -> dict:
    """Per field, the JSON kinds its annotation allows (``str | None`` -> str or None), or None when the annotation
    is not a plain one the check understands."""
    cached = _kinds_cache.get(cls)
    if cached is None:
        cached = {}
        for f in fields(cls):
            annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            kinds: tuple = ()
            for part in annotation.split("|"):
                base = part.strip().split("[", 1)[0]
                if base not in _KINDS:
                    cached[f.name] = None  # a kind the check does not understand: not checked
                    break
                kinds += _KINDS[base]
            else:
                cached[f.name] = kinds
        _kinds_cache[cls] = cached
    return cached


@dataclass(slots=True)
class EntraUser(Record):
    """A Microsoft Entra user (Graph ``microsoft.graph.user``), synced from AD or cloud-only."""

    id: str
    user_principal_name: str
    display_name: str
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    department: str | None = None
    mail: str | None = None
    mail_nickname: str | None = None
    proxy_addresses: list[str] = field(default_factory=list)
    account_enabled: bool = True
    user_type: str = "Member"
    usage_location: str | None = None
    created_date_time: float = 0.0
    #: Mock-only: password for the resource-owner password grant (never rendered).
    password: str | None = None
    #: True = synced; None = cloud-native or SOA transferred; False = was synced, no longer is.
    on_premises_sync_enabled: bool | None = None
    on_premises_immutable_id: str | None = None
    on_premises_sam_account_name: str | None = None
    on_premises_distinguished_name: str | None = None
    on_premises_domain_name: str | None = None
    on_premises_user_principal_name: str | None = None
    on_premises_security_identifier: str | None = None
    on_premises_last_sync_date_time: float | None = None
    #: extensionAttribute1..15 (index 0 = extensionAttribute1).
    on_premises_extension_attributes: list[str | None] = field(default_factory=lambda: [None] * 15)
    #: Graph onPremisesProvisioningError dicts: category, occurredDateTime, propertyCausingError, value.
    on_premises_provisioning_errors: list[dict] = field(default_factory=lambda: EMPTY_LIST)
    #: Object-level SOA (Graph onPremisesSyncBehavior.isCloudManaged).
    is_cloud_managed: bool = False
    #: Soft-deleted at (tenant epoch seconds) or None when live.
    deleted_date_time: float | None = None
    #: Graph assignedLicenses ({"skuId", "disabledPlans"}) and assignedPlans (Graph-shaped dicts); see licensing.py.
    assigned_licenses: list[dict] = field(default_factory=lambda: EMPTY_LIST)
    assigned_plans: list[dict] = field(default_factory=lambda: EMPTY_LIST)
    #: Other Graph user properties, by their Graph names (mobilePhone, officeLocation, businessPhones, ...),
    #: stored as set through PATCH/POST /users without a dedicated field.
    extra: dict = field(default_factory=dict)
    #: Object id of the user's manager (Graph ``manager`` navigation property): Entra Connect exports AD's
    #: ``manager`` reference once the referenced object is synced too.
    manager_id: str | None = None

    @property
    def is_synced(self) -> bool:
        """Whether the object is currently mastered on-premises (synced and SOA not moved to the cloud)."""
        return bool(self.on_premises_sync_enabled) and not self.is_cloud_managed


@dataclass
class Application(Record):
    """An app registration and its service principal, with the credentials a test needs to sign in."""

    name: str
    app_id: str
    object_id: str
    service_principal_id: str
    client_secret: str
    certificate_pem: str
    private_key_pem: str
    #: SHA-1 thumbprint, uppercase hex (x5t) and SHA-256 thumbprint, uppercase hex (x5t#S256).
    thumbprint: str
    thumbprint_sha256: str
    #: Application permissions granted with admin consent (app role values), e.g. "Exchange.ManageAsApp".
    app_roles: list[str] = field(default_factory=list)
    created_date_time: float = 0.0


@dataclass
class RoleAssignment(Record):
    """A directory role assignment: active (``unifiedRoleAssignment``) or PIM-eligible, optionally time-bound."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    #: "active" or "eligible".
    kind: str = "active"
    start_date_time: float | None = None
    end_date_time: float | None = None
    #: How it came to be: "permanent", "adminAssign", "selfActivate", ...
    member_type: str = "Direct"
    assignment_type: str = "Assigned"
    created_date_time: float = 0.0

    def in_effect(self, now: float) -> bool:
        """Whether the assignment is active at tenant time ``now`` (eligible ones never are)."""
        if self.kind != "active":
            return False
        if self.start_date_time is not None and now < self.start_date_time:
            return False
        return not (self.end_date_time is not None and now >= self.end_date_time)
