"""What the durable store needs from the objects it persists: the interface the store owns and the domain's
snapshot module (``hybridsoa.mock.domain.snapshot``) implements, so the store never imports the domain."""

from __future__ import annotations

from typing import Any, Protocol

from .collection import Collection


class TenantCodec(Protocol):
    """Turns a tenant into the parts of a snapshot document and back (the whole-tenant snapshot format)."""

    def dump_tenant(self, tenant: Any) -> dict:
        """The whole tenant as one JSON-native snapshot document."""

    def restore_tenant(self, doc: dict, *, resume_clock: bool = False, owned: bool = False) -> Any:
        """A tenant rebuilt from a snapshot document (``resume_clock``: a running clock kept running; ``owned``:
        the document is the caller's to consume, no defensive copy)."""

    def collections_of(self, tenant: Any) -> dict[str, Collection]:
        """Every change-tracked collection of a tenant, by attribute name."""

    def subsystems_of(self, tenant: Any) -> dict:
        """The tenant's stateful parts with ``to_dict``/``load``, by attribute name."""

    def class_path(self, obj: Any) -> str:
        """The dotted class name a snapshot stores beside an object."""

    def dump_object(self, obj: Any) -> dict:
        """One object as a JSON-native dict."""

    def object_json(self, obj: Any) -> str:
        """One object as JSON text (what ``json.dumps(dump_object(obj))`` gives, without its deep copy)."""

    def dump_clock(self, clock: Any) -> dict:
        """The tenant clock's state."""

    def clock_fingerprint(self, clock: Any) -> tuple:
        """What changes when the clock's persisted state changes."""

    def dump_caller(self, caller: Any) -> dict:
        """A request's verified caller as JSON-native data (a command record's ``caller``)."""

    def replay_command(self, tenant: Any, record: dict) -> None:
        """Run a logged command again on ``tenant`` (recovery, see ``commands``)."""

    def index_card(self, tenant: Any) -> dict:
        """JSON-native summary the index keeps beside the tenant (what lists show, what routes an LDAP bind)."""

    def dump_ids(self, tenant: Any) -> dict:
        """The tenant's seeded RNG state."""

    def dump_state(self, tenant: Any) -> dict:
        """The tenant's plain state attributes."""

    def state_items(self, tenant: Any) -> list[tuple[str, Any]]:
        """The attributes ``dump_state`` considers, by name (the plain ones are the ``state`` blob)."""

    def state_json(self, tenant: Any) -> str:
        """``json.dumps(dump_state(tenant))``, cheaper."""


class TenantStore(Protocol):
    """A store the request pipeline hands each request's changes to (``TenantRegistry.store``)."""

    def request_done(self, tenant: Any, *, thorough: bool = True, blobs: bool = True) -> int:
        """Queue what the request changed in ``tenant`` (None: every tenant) for the next group commit; returns
        the ticket :meth:`wait_durable` waits for before the response leaves."""

    def wait_durable(self, ticket: int) -> None:
        """Block until the commit that holds ``ticket`` is on disk."""

    def flush(self, tenant: Any, *, thorough: bool = True) -> bool:
        """Persist what changed in ``tenant`` now, in the caller's thread."""

    def flush_all(self) -> int:
        """Persist every tenant with unsaved changes."""

    def close(self) -> None:
        """Commit what is pending and close the store."""
