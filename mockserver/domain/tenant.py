"""A tenant: one isolated world (Entra directory, Exchange Online recipients, on-prem AD, Entra Connect, clock,
RBAC, faults, audit), and the registry of live tenants that the server and its control plane share."""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from ..store.collection import Collection
from ..store.heap import give_back_memory
from ..store.persistence import TenantStore
from .audit import AuditLog, AuditRecord
from .clock import TenantClock, run_timers_until
from .entra import keys
from .entra.directory import Application, EntraUser, RoleAssignment
from .entra.first_party import first_party_app
from .errors import Conflict, InvalidArgument, NotFound
from .exchange.mailboxes import Mailbox
from .exchange.rate_window import RateWindow
from .ids import SeededIds, tenant_id_for
from .memory import TenantMemory, full_collections_held_off
from .onprem.ad import ADUser
from .tenant_card import TenantCard, card_of
from .tenant_index import RecoveredTenants

PROFILES = ("ga", "preview", "strict")


@dataclass
class TenantSpec:
    """How a tenant was created; ``reset`` rebuilds it from this."""

    name: str
    seed: int
    profile: str = "ga"
    mailboxes: int = 25
    tenant_id: str | None = None
    frozen_clock: bool = False
    clock_start: float | None = None
    #: A scenario name (``scenarios/<name>.yaml``) or an inline tenant description.
    scenario: str | dict | None = None
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Serializable form."""
        return dict(self.__dict__)


class Tenant:
    """One emulated Microsoft 365 tenant with hybrid identity. All access goes through ``lock``."""

    #: Set when the tenant is deleted or replaced (reset, restore): a request that waited for its lock meanwhile
    #: finds it gone instead of working on what is being taken apart.
    deleted = False

    def __init__(self, spec: TenantSpec):
        self.spec = spec
        self.id = spec.tenant_id or tenant_id_for(spec.name, spec.seed)
        self.name = spec.name
        self.domain = f"{spec.name}.onmicrosoft.com"
        self.seed = spec.seed
        self.lock = threading.RLock()
        self.ids = SeededIds(spec.seed)
        self.clock = TenantClock(spec.clock_start, frozen=spec.frozen_clock)
        self.settings: dict = {
            "profile": spec.profile,
            "forwardSyncDelayMinutes": 0,
            "deviceCodeAutoApprove": False,
            "tokenLifetimeSeconds": 3599,
            # Licensing (issue 18): the SKU group-based licensing gives new synced remote user mailboxes ("" = off),
            # and how long Exchange Online takes to provision a licensed user's mailbox.
            "licenseAutoAssignSku": "ENTERPRISEPACK",
            "mailboxProvisioningDelayMinutes": 5,
            "moveRequestMinutes": 60,
        }
        self.signing_kid = keys.b64url(self.id.encode())[:27]
        self.signing_key_pem = keys.private_key_pem(f"tenant-signing:{self.id}")
        self.signing_public_pem = _public_pem(self.signing_key_pem)
        # Entra ID
        self.apps: Collection[Application] = Collection("apps")
        self.users: Collection[EntraUser] = Collection("users")
        self.role_assignments: Collection[RoleAssignment] = Collection("roleAssignments")
        # Exchange Online
        self.mailboxes: Collection[Mailbox] = Collection("mailboxes")
        self.org_config: dict = {"ExchangeAttributesCloudManagedByDefault": False}
        #: New-MoveRequest -Outbound requests by ExchangeGuid (exchange/move_requests.py).
        self.move_requests: dict = {}
        #: The admin API's call budget and request-ids (not in snapshots: a reset or restore starts it afresh).
        self.exchange_rate_window = RateWindow(self.id)
        #: The last cacheable Exchange read (dispatch.py) and the alias/name index of -Identity resolution
        #: (identity_resolution.py): runtime caches, rebuilt on demand, never in snapshots.
        self.exo_read_cache = None
        self.exo_name_index = None
        #: The Exchange names every output object repeats (exchange/naming.py), derived from id and domain.
        self.exchange_names: dict | None = None
        #: Seeding's plan of which AD users become which kind of recipient (seed.py), emptied once applied.
        self.seed_mix: dict = {}
        # On-premises AD
        self.ad_users: Collection[ADUser] = Collection("adUsers")
        self.audit = AuditLog()
        self._app_by_client_id: dict[str, str] = {}
        #: (what it depends on, the card's index form): the durable store asks for it at every commit.
        self.index_card_cache: tuple | None = None
        self._attach_subsystems()

    def _attach_subsystems(self) -> None:
        # Imported here: the subsystem modules import this one for typing.
        from .connect.sync import SyncEngine
        from .entra.device_codes import DeviceFlows
        from .entra.pim import PimState
        from .exchange.rbac.engine import ExchangeRbac
        from .faults import FaultState
        from .journal import RequestJournal

        self.sync = SyncEngine(self)
        self.rbac = ExchangeRbac(self)
        self.pim = PimState(self)
        self.faults = FaultState(self)
        self.journal = RequestJournal()
        #: Device codes issued (short-lived: not part of snapshots, gone after a reset).
        self.device_flows = DeviceFlows(self)

    # ----------------------------------------------------------------- time
    @property
    def timers(self) -> list:
        """Subsystems with scheduled work (Entra Connect, write-back, forward sync, purges, PIM expiry)."""
        return [self.sync, self.pim]

    def catch_up(self) -> int:
        """Run everything due up to the clock's current reading (called before each request)."""
        now = self.clock.now()
        # The common case, nothing due: answered without entering the clock loop (which would end with
        # clock.set(now), a no-op when the clock reads ``now`` already).
        if not (self.sync.due_by(now) or self.pim.due_by(now)):
            return 0
        return run_timers_until(self.clock, self.timers, now)

    def advance(self, minutes: float) -> int:
        """``POST /_mock/tenants/{t}/clock/advance``: move the clock, running due work in time order."""
        if minutes < 0:
            raise InvalidArgument("minutes must be zero or positive")
        self.catch_up()
        return run_timers_until(self.clock, self.timers, self.clock.now() + minutes * 60)

    # ------------------------------------------------------------- identity
    def add_app(self, app: Application) -> Application:
        """Register an app registration + service principal."""
        self.apps.put(app.app_id, app)
        self._app_by_client_id[app.app_id] = app.app_id
        return app

    def app_by_client_id(self, client_id: str) -> Application | None:
        """The app with this client id (appId), else Microsoft's first-party public client with it (Entra knows
        those in every tenant; they are not registrations, so Graph's /applications does not list them), or None."""
        return self.apps.get(client_id) or first_party_app(client_id)

    def app_by_name(self, name: str) -> Application | None:
        """The app with this display name, or None."""
        return next((a for a in self.apps if a.name == name), None)

    def app_by_service_principal(self, sp_id: str) -> Application | None:
        """The app whose service principal has this object id, or None."""
        return next((a for a in self.apps if a.service_principal_id == sp_id), None)

    def user_by_upn(self, upn: str) -> EntraUser | None:
        """The live Entra user with this UPN (case-insensitive), or None."""
        upn = upn.lower()
        return next(
            (u for u in self.users if u.user_principal_name.lower() == upn and u.deleted_date_time is None), None
        )

    def active_role_ids(self, principal_id: str) -> list[str]:
        """Directory role template ids in effect for a principal now (active, within its schedule)."""
        now = self.clock.now()
        return sorted(
            {a.role_definition_id for a in self.role_assignments if a.principal_id == principal_id and a.in_effect(now)}
        )

    def assign_role(
        self,
        principal_id: str,
        role_template_id: str,
        *,
        kind: str = "active",
        start: float | None = None,
        end: float | None = None,
        member_type: str = "Direct",
    ) -> RoleAssignment:
        """Create a directory role assignment (active or eligible)."""
        assignment = RoleAssignment(
            id=self.ids.guid(),
            principal_id=principal_id,
            role_definition_id=role_template_id,
            kind=kind,
            start_date_time=start,
            end_date_time=end,
            member_type=member_type,
            created_date_time=self.clock.now(),
        )
        self.role_assignments.put(assignment.id, assignment)
        return assignment

    # ---------------------------------------------------------------- audit
    def add_audit_record(
        self,
        api: str,
        operation: str,
        caller,
        *,
        target: str | None = None,
        parameters: dict | None = None,
        succeeded: bool = True,
        changes: dict | None = None,
        error: str | None = None,
    ) -> AuditRecord:
        """Append an audit record (caller may be a :class:`~.tokens.Caller`, a dict or None for the control plane)."""
        who = (caller or {"kind": "controlPlane"}) if caller is None or isinstance(caller, dict) else caller.describe()
        return self.audit.append(
            AuditRecord(
                id=self.ids.guid(),
                time=self.clock.now(),
                api=api,
                operation=operation,
                caller=who,
                target=target,
                parameters=parameters or {},
                succeeded=succeeded,
                changed=bool(changes),
                changes=changes or {},
                error=error,
            )
        )

    # ------------------------------------------------------------- describe
    def credentials(self) -> dict:
        """``POST /_mock/tenants`` answer: everything a test needs to sign in."""
        from .entra.roles import role_name

        apps = [
            {
                "name": a.name,
                "clientId": a.app_id,
                "servicePrincipalId": a.service_principal_id,
                "clientSecret": a.client_secret,
                "certificatePem": a.certificate_pem,
                "privateKeyPem": a.private_key_pem,
                "thumbprint": a.thumbprint,
                "thumbprintSha256": a.thumbprint_sha256,
                "appRoles": list(a.app_roles),
                "directoryRoles": [role_name(r) for r in self.active_role_ids(a.service_principal_id)],
            }
            for a in self.apps
        ]
        users = [
            {
                "userPrincipalName": u.user_principal_name,
                "password": u.password,
                "id": u.id,
                "directoryRoles": [role_name(r) for r in self.active_role_ids(u.id)],
            }
            for u in self.users
            if u.password and u.deleted_date_time is None
        ]
        return {
            "tenantId": self.id,
            "name": self.name,
            "domain": self.domain,
            "profile": self.settings["profile"],
            "seed": self.seed,
            "apps": apps,
            "users": users,
        }

    def summary(self) -> dict:
        """``GET /_mock/tenants/{t}``: identity and counts, no secrets (the same card a listing shows)."""
        return card_of(self).summary()


def _public_pem(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        keys.load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")


#: Tenants with at least this many mailboxes + AD users are frozen out of the cyclic GC after creation.
FREEZE_THRESHOLD = 4000


class TenantRegistry(RecoveredTenants, TenantMemory):
    """All live tenants of one server, addressable by tenant id, domain or name."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        #: ``ldaps://host:port`` of the LDAP listener serving these tenants' AD (set when one starts).
        self.ldap_url: str | None = None
        self.ids = SeededIds(seed)
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self._counter = 0
        #: Called with each tenant after it is created, reset or restored (the durable store hooks in here).
        self.on_tenant_created: list = [self._freeze_large]
        self.on_tenant_deleted: list = [self._discard]
        #: The durable store (``serve --data-dir``) that the request pipeline flushes after each request.
        self.store: TenantStore | None = None
        self._frozen: set[str] = set()
        #: Tenant id -> name of tenants being seeded (reserved so a second create of the same name conflicts).
        self._building: dict[str, str] = {}
        self._big_seeds = 0
        #: Recovered tenants not loaded yet (``serve --data-dir`` loads each on first use): id -> (name, domain,
        #: position in creation order). ``loader`` builds one from the store.
        self.unloaded: dict[str, tuple[str, str, int]] = {}
        self.loader: Callable[[str], Tenant] | None = None
        self._load_locks: dict[str, threading.Lock] = {}
        self._position_of: dict[str, int] = {}
        #: The index's card of each recovered tenant not loaded yet: what lists show without loading it.
        self._cards: dict[str, TenantCard] = {}

    def create(
        self,
        name: str | None = None,
        *,
        profile: str = "ga",
        seed: int | None = None,
        mailboxes: int = 25,
        tenant_id: str | None = None,
        frozen_clock: bool = False,
        clock_start: float | None = None,
        scenario: str | dict | None = None,
        options: dict | None = None,
    ) -> Tenant:
        """``POST /_mock/tenants``: create and seed a tenant (identities, on-prem AD, initial sync)."""
        if profile not in PROFILES:
            raise InvalidArgument(f"profile must be one of {', '.join(PROFILES)}")
        if not isinstance(mailboxes, int) or isinstance(mailboxes, bool) or not 0 <= mailboxes <= 200_000:
            raise InvalidArgument("mailboxes must be an integer from 0 to 200000")
        with self.lock:
            if name is None:
                self._counter += 1
                name = f"tenant{self._counter}-{self.ids.hex(3)}"
            name = name.lower()
            if not _NAME_RE.match(name):
                raise InvalidArgument("name must be 1-48 lowercase letters, digits or hyphens")
            if scenario:
                from .scenario_tenant import mailbox_total, tenant_description

                desc = tenant_description(scenario)
                seed = desc.get("seed", seed) if seed is None else seed
                profile = desc.get("profile", profile)
                mailboxes = mailbox_total(desc)
                if profile not in PROFILES:
                    raise InvalidArgument(f"profile must be one of {', '.join(PROFILES)}")
            if seed is None:
                seed = self.ids.rng.randrange(1, 2**31)
            spec = TenantSpec(
                name=name,
                seed=seed,
                profile=profile,
                mailboxes=mailboxes,
                tenant_id=tenant_id,
                frozen_clock=frozen_clock,
                clock_start=clock_start,
                scenario=scenario,
                options=dict(options or {}),
            )
            probe_id = tenant_id or tenant_id_for(name, seed)
            if (
                probe_id in self.tenants
                or probe_id in self._building
                or name in self._building.values()
                or any(t.name == name for t in self.tenants.values())
                or self.known(probe_id)
                or self.known(name)
            ):
                raise Conflict(f"A tenant named '{name}' already exists.")
            # Reserved, then seeded WITHOUT the registry lock: a 200,000-mailbox seed must not hold up anyone.
            self._building[probe_id] = name
        # A big seed allocates hundreds of thousands of objects: automatic full collections would walk the whole
        # growing heap again and again, each a pause for every other request. They wait until it is frozen and
        # written; the collector as a whole only until it is frozen (see _announce).
        big = 2 * spec.mailboxes >= FREEZE_THRESHOLD
        try:
            with self.collections_held_off(big):
                tenant = self._build(spec)
                with self.lock:
                    self.tenants[tenant.id] = tenant
                self._freeze_large(tenant)  # nothing it built is left young when the collector resumes
            self._announce(tenant, big)  # the durable store's whole-tenant write
        finally:
            with self.lock:
                self._building.pop(probe_id, None)
        return tenant

    def _build(self, spec: TenantSpec) -> Tenant:
        from .entra.licensing import validate_sku_option
        from .seed import mix_option, seed_identities, seed_tenant

        tenant = Tenant(spec)
        if spec.options.get("skus") is not None:
            validate_sku_option(spec.options["skus"])
        mix_option(tenant)  # a bad options.mix is refused before anything is seeded
        with tenant.lock:
            if spec.scenario:
                from .scenario_tenant import apply_tenant_description, tenant_description

                seed_identities(tenant)
                apply_tenant_description(tenant, tenant_description(spec.scenario))
            else:
                # Seeded mailboxes come with as many AD users: the tenant will be frozen by _freeze_large.
                seed_tenant(tenant, freeze=2 * spec.mailboxes >= FREEZE_THRESHOLD)
            if spec.options.get("cloudMailboxes") or spec.options.get("mailUsers"):
                from .exchange.recipient_cmdlets import seed_cloud_recipients

                seed_cloud_recipients(tenant, spec.options)
        return tenant

    def _freeze_large(self, tenant: Tenant) -> None:
        """Move a big tenant's objects out of the cyclic collector's reach (``gc.freeze``): they live until the
        tenant is deleted, and otherwise every later full collection walks them all, a pause for every request.
        Small tenants are left alone: the collect costs more than it saves. No collection first: it would walk
        every big tenant already frozen (seconds at 200,000 mailboxes); a replaced incarnation is freed by
        :meth:`_discard` instead."""
        if len(tenant.mailboxes) + len(tenant.ad_users) < FREEZE_THRESHOLD:
            return
        with self.lock:
            self._frozen.add(tenant.id)
            gc.freeze()

    def get(self, key: str) -> Tenant:
        """Tenant by id, domain (``x.onmicrosoft.com``) or name; :class:`NotFound` otherwise."""
        tenant = self.find(key)
        if tenant is None:
            raise NotFound(f"Tenant '{key}' not found.")
        return tenant

    def find(self, key: str) -> Tenant | None:
        """Tenant by id, domain or name, or None (a recovered tenant not loaded yet is loaded now)."""
        tenant = self.tenants.get(key)
        if tenant is not None:
            return tenant
        key = key.lower()
        for t in list(self.tenants.values()):
            if t.domain == key or t.name == key or t.id == key:
                return t
        unloaded = self._unloaded_id(key)
        return self._load(unloaded) if unloaded is not None else None

    def known(self, key: str) -> bool:
        """Whether a tenant with this id, domain or name exists, loaded or not (loads nothing)."""
        if key in self.tenants or self._unloaded_id(key.lower()) is not None:
            return True
        key = key.lower()
        return any(t.domain == key or t.name == key or t.id == key for t in list(self.tenants.values()))

    def _unloaded_id(self, key: str) -> str | None:
        if not self.unloaded:
            return None
        if key in self.unloaded:
            return key
        for tenant_id, (name, domain, _position) in list(self.unloaded.items()):
            if key in (name, domain):
                return tenant_id
        return None

    def _load(self, tenant_id: str) -> Tenant | None:
        """Load a recovered tenant on its first use: one lock per tenant, so a request to another tenant (or
        health) never waits for it, and two requests to this one load it once."""
        with self.lock:
            lock = self._load_locks.setdefault(tenant_id, threading.Lock())
        with lock:
            tenant = self.tenants.get(tenant_id)
            if tenant is not None or tenant_id not in self.unloaded or self.loader is None:
                return tenant
            # A big tenant's load allocates as much as its seed did: no collections meanwhile, and its objects
            # are frozen before the collector resumes (else the first collection walks them all, a pause).
            with self.collections_held_off(True):
                tenant = self.loader(tenant_id)
                self._freeze_large(tenant)
                with self.lock:
                    self.tenants[tenant.id] = tenant
                    position = self.unloaded.pop(tenant_id)[2]
                    self._cards.pop(tenant_id, None)
                    self._load_locks.pop(tenant_id, None)
                    self._position_of[tenant.id] = position
                    # Creation order, as list() promises: a loaded tenant goes back where it was created (tenants
                    # created since the restart have no position and stay last, in their own order).
                    ranked = sorted(self.tenants, key=lambda tid: self._position_of.get(tid, float("inf")))
                    if ranked != list(self.tenants):
                        self.tenants = {tid: self.tenants[tid] for tid in ranked}
            return tenant

    def count(self) -> int:
        """How many tenants exist, loaded or not (health asks this; it loads nothing)."""
        return len(self.tenants) + len(self.unloaded)

    def loaded(self) -> list[Tenant]:
        """The tenants in memory (a recovered tenant nobody has used yet is not: it has nothing unsaved)."""
        return list(self.tenants.values())

    def list(self) -> list[Tenant]:
        """All tenants in creation order (loading every recovered tenant not loaded yet)."""
        for tenant_id in sorted(self.unloaded, key=lambda tid: self.unloaded.get(tid, ("", "", 0))[2]):
            self._load(tenant_id)
        return list(self.tenants.values())

    def delete(self, key: str) -> Tenant:
        """``DELETE /_mock/tenants/{t}``."""
        with self.lock:
            tenant = self.get(key)
            del self.tenants[tenant.id]
            self._position_of.pop(tenant.id, None)
            big = tenant.id in self._frozen
        for hook in self.on_tenant_deleted:
            hook(tenant)
        if big:
            # Its objects are freed by now (dismantle, the store's caches); glibc keeps the freed heap unless
            # asked: 1.2 GB of worker RSS after a 200,000-mailbox delete otherwise. ctypes lets the GIL go.
            give_back_memory(collect=False)
        return tenant

    def reset(self, key: str) -> Tenant:
        """``POST /_mock/tenants/{t}/reset``: rebuild the tenant from its creation spec (same id, same seed)."""
        old = self.get(key)
        with old.lock:
            spec = TenantSpec(**old.spec.to_dict())
            spec.tenant_id = old.id
            # Rebuilt under the old tenant's lock only (as create, never the registry's): other tenants' creates,
            # loads and deletes go on meanwhile; a big rebuild holds full collections off as a seed does.
            big = 2 * spec.mailboxes >= FREEZE_THRESHOLD
            with self.collections_held_off(big):
                tenant = self._build(spec)
                with self.lock:
                    if self.tenants.get(old.id) is not old:
                        raise NotFound(f"Tenant '{key}' not found.")  # deleted meanwhile
                    self.tenants[tenant.id] = tenant
                self._freeze_large(tenant)
            self._announce(tenant, big, replaced=old)
        return tenant

    def _announce(self, tenant: Tenant, big: bool, replaced: Tenant | None = None) -> None:
        """Run the deleted hooks for ``replaced`` and the created hooks for a tenant built and already frozen
        (the freeze hook is not run again). The durable store's whole-tenant write is most of a big create: only
        full collections wait meanwhile (they would walk the write's copy of the tenant); young ones go on, so
        the garbage other requests make meanwhile is freed as it comes, not walked in one pause at the end."""
        with full_collections_held_off() if big else nullcontext():
            for hook in self.on_tenant_deleted if replaced is not None else ():
                hook(replaced)
            for hook in self.on_tenant_created:
                if hook != self._freeze_large:
                    hook(tenant)

    def adopt(self, name: str, tenant_id: str | None, build: Callable[[], Tenant]) -> Tenant:
        """Install a new tenant that ``build`` makes (a snapshot restored under a new name) without holding the
        registry lock while it is built: the name and id are reserved first, as :meth:`create` does, so other
        tenants' creates, loads and deletes go on and a second create of the same name conflicts."""
        key = tenant_id or f"adopting:{name}"
        with self.lock:
            if (
                self.known(name)
                or (tenant_id and self.known(tenant_id))
                or name in self._building.values()
                or key in self._building
            ):
                raise Conflict(f"A tenant named '{name}' already exists.")
            self._building[key] = name
        try:
            tenant = build()
            with self.lock:
                if self.known(tenant.id) or (tenant.id in self._building and tenant.id != key):
                    raise Conflict(f"A tenant with id '{tenant.id}' already exists.")
                self.tenants[tenant.id] = tenant
        finally:
            with self.lock:
                self._building.pop(key, None)
        for hook in self.on_tenant_created:
            hook(tenant)
        return tenant

    def put(self, tenant: Tenant) -> Tenant:
        """Install an already-built tenant (snapshot restore, durable-store recovery)."""
        with self.lock:
            old = self.tenants.get(tenant.id)
            self.tenants[tenant.id] = tenant
        if old is not None and old is not tenant:
            for hook in self.on_tenant_deleted:
                hook(old)
        for hook in self.on_tenant_created:
            hook(tenant)
        return tenant
