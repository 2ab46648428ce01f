"""Whole-tenant snapshots: one versioned JSON document holding everything a tenant is (directory, apps, role
assignments, mailboxes, on-prem AD, org config, settings, clock, RNG state, Entra Connect state and history,
RBAC, PIM, faults, audit) and the loader that rebuilds an identical tenant from it, in place or under a new
name. The durable store persists the same parts row by row and rebuilds tenants with the same loader.

The dump is generic on purpose: every :class:`Collection` attribute of a tenant, every subsystem with
``to_dict()``/``load()`` and every JSON-plain attribute is captured, so state other rooms add is not lost."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import math
import re
from typing import IO

from ..store import json_text
from ..store.collection import Collection
from .clock import TenantClock
from .errors import InvalidArgument
from .ids import tenant_id_for
from .memory import dismantle
from .tenant_card import index_form

FORMAT = "hybridsoa.tenant-snapshot"
VERSION = 1

#: Tenant attributes that are identity, derived or handled explicitly (never dumped as plain state).
_SKIP = frozenset(
    {
        "spec",
        "id",
        "name",
        "domain",
        "seed",
        "lock",
        "ids",
        "clock",
        "signing_kid",
        "signing_key_pem",
        "signing_public_pem",
        "audit",
        "journal",
        "_app_by_client_id",
        # Runtime state a restore starts afresh (the admin API's rate window, caches, device codes).
        "exchange_rate_window",
        "exo_read_cache",
        "exo_name_index",
        "exchange_names",
        "index_card_cache",
        "deleted",
    }
)
#: Only classes from the mock's own domain package may be named in a snapshot (it is user input); the prefix is
#: this package's installed name, so it follows the package wherever it is installed.
_CLASS_PREFIX = __name__.rpartition(".")[0] + "."
#: Snapshots written while the mock was installed as the top-level ``mockserver`` package name these classes.
_OLD_CLASS_PREFIXES = ("mockserver.domain.",)  # rename-packages: keep
#: Modules that moved into per-service folders (#17): snapshots written before the move name the old ones.
_MOVED_MODULES = {
    f"{_CLASS_PREFIX}{old}": f"{_CLASS_PREFIX}{new}"
    for old, new in (
        ("ad_admin", "onprem.ad_admin"),
        ("device_codes", "entra.device_codes"),
        ("directory", "entra.directory"),
        ("entra_errors", "entra.errors"),
        ("exchange.identity", "exchange.identity_resolution"),
        ("forward_sync", "connect.forward_sync"),
        ("graph", "entra.graph"),
        ("graph.odata", "entra.graph.odata"),
        ("graph.relations", "entra.graph.relations"),
        ("graph.users", "entra.graph.users"),
        ("identity", "entra.login"),
        ("keys", "entra.keys"),
        ("ldap_dit", "onprem.ldap_tree"),
        ("ldap_write", "onprem.ldap_writes"),
        ("licensing", "entra.licensing"),
        ("lifecycle", "connect.lifecycle"),
        ("mailboxes", "exchange.mailboxes"),
        ("onprem", "onprem.ad"),
        ("pim", "entra.pim"),
        ("rbac", "exchange.rbac.engine"),
        ("rbac_admin", "exchange.rbac.admin"),
        ("rbac_builtin", "exchange.rbac.builtin"),
        ("rbac_cmdlets", "exchange.rbac.role_cmdlets"),
        ("rbac_model", "exchange.rbac.model"),
        ("roles", "entra.roles"),
        ("sync", "connect.sync"),
        ("sync_index", "connect.sync_index"),
        ("sync_rules", "connect.sync_rules"),
        ("sync_run", "connect.sync_run"),
        ("sync_settings", "connect.sync_settings"),
        ("tokens", "entra.tokens"),
        ("views", "read_models"),
        ("writeback", "connect.writeback"),
    )
}


# ------------------------------------------------------------------------------------------------ parts
def collections_of(tenant) -> dict[str, Collection]:
    """Every change-tracked collection of a tenant, by attribute name."""
    return {k: v for k, v in vars(tenant).items() if isinstance(v, Collection)}


def subsystems_of(tenant) -> dict:
    """Every stateful subsystem (``to_dict``/``load``) of a tenant, by attribute name (sync, rbac, pim, faults...)."""
    out = {}
    for k, v in vars(tenant).items():
        if k in _SKIP or isinstance(v, (Collection, dict, list)):
            continue
        if callable(getattr(v, "to_dict", None)) and callable(getattr(v, "load", None)):
            out[k] = v
    return out


def class_path(obj) -> str:
    """The dotted class name stored beside an object (only classes of the mock's domain package load back)."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _load_class(path: str):
    for old in _OLD_CLASS_PREFIXES:
        if path.startswith(old):
            path = _CLASS_PREFIX + path[len(old) :]
    if not path.startswith(_CLASS_PREFIX):
        raise InvalidArgument(f"Snapshot names an unknown object class '{path}'.")
    module, _, name = path.rpartition(".")
    module = _MOVED_MODULES.get(module, module)
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise InvalidArgument(f"Snapshot names an unknown object class '{path}'.") from None
    if not callable(getattr(cls, "from_dict", None)):
        raise InvalidArgument(f"Snapshot class '{path}' cannot be restored.")
    return cls


def dump_object(obj) -> dict:
    """One domain object as a JSON-native dict (deep copy)."""
    return _jsonable(obj.to_dict())


_FIELDS: dict[type, tuple | None] = {}


def _plain_fields(cls) -> tuple | None:
    # The field names of a plain ``Record`` dataclass (its to_dict is asdict), None for any other class.
    names = _FIELDS.get(cls, False)
    if names is False:
        from .entra.directory import Record

        names = (
            tuple(f.name for f in dataclasses.fields(cls))
            if dataclasses.is_dataclass(cls) and getattr(cls, "to_dict", None) is Record.to_dict
            else None
        )
        _FIELDS[cls] = names
    return names


def object_json(obj) -> str:
    """``json.dumps(dump_object(obj))`` without the deep copy: a plain ``Record`` dataclass is dumped
    straight from its fields (json walks nested lists and dicts itself); anything else takes the general path."""
    names = _plain_fields(type(obj))
    if names is not None:
        try:
            return json_text.dumps_fields(obj, names)
        except TypeError:
            pass  # a value orjson refuses (a big int, a lone surrogate, a datetime): field by field below
        try:
            return json_text.dumps({name: getattr(obj, name) for name in names})
        except (TypeError, ValueError):
            pass  # a nested dataclass or another non-JSON value: the general path knows it
    return json_text.dumps(dump_object(obj))


def dump_collection(coll: Collection) -> dict:
    """A collection with its items' change sequence numbers and tombstones."""
    items, tombs = coll.export_state()
    classes = {class_path(obj) for _, _, obj in items}
    main = min(classes) if len(classes) == 1 else None
    rows = []
    for key, seq, obj in items:
        row = [key, seq, dump_object(obj)]
        if main is None:
            row.append(class_path(obj))
        rows.append(row)
    return {"name": coll.name, "class": main, "items": rows, "tombstones": tombs}


def _real_now(clock: TenantClock) -> float:
    # The clock's own real-time source (injectable in TenantClock), not a second reading of the wall clock.
    return clock._real()


def dump_clock(clock: TenantClock) -> dict:
    """Clock reading plus ``base`` (tenant time minus scaled real time) so a running clock can resume."""
    now = clock.now()
    return {
        "now": now,
        "frozen": clock.frozen,
        "speed": clock.speed,
        "base": None if clock.frozen else round(now - _real_now(clock) * clock.speed, 3),
    }


def clock_fingerprint(clock: TenantClock) -> tuple:
    """What changes whenever the clock is moved (advance, freeze, speed, a timer setting it), never as real time
    passes: its anchors, which every move sets (read at every durable commit: no clock reading needed)."""
    return (clock.frozen, clock.speed, clock._anchor_tenant, None if clock.frozen else clock._anchor_real)


def dump_caller(caller) -> dict:
    """A verified caller (:class:`~.entra.tokens.Caller`) as JSON-native data, for the durable store's command log."""
    return {f.name: getattr(caller, f.name) for f in dataclasses.fields(caller)}


def replay_command(tenant, record: dict) -> None:
    """Run once more an InvokeCommand call the durable store logged as a command (``store/commands.py``): the same
    caller, cmdlet and parameters, the tenant clock pinned at the instant the call read, then its journal entries
    (call under the tenant's lock, on the state the call first ran on)."""
    from .entra.tokens import Caller
    from .errors import DomainError
    from .exchange import dispatch

    caller = Caller(**record["caller"])
    with tenant.clock.pinned(record["at"]):
        try:
            dispatch.invoke(tenant, caller, record["cmdlet"], record["params"])
        except DomainError:
            pass  # it was refused the first time too: its failed audit record is its change
        except Exception:  # noqa: BLE001 - it failed the same way the first time: this repeats what it left behind
            pass
    for entry in record["journal"]:
        tenant.journal.replay(entry)


def index_card(tenant) -> dict:
    """What the store's index keeps beside the tenant so lists and LDAP bind routing never load it
    (:class:`~.tenant_card.TenantCard`; call under the tenant's lock)."""
    return index_form(tenant)


def dump_ids(tenant) -> dict:
    """The tenant RNG state (GUIDs and random choices continue exactly where they were)."""
    version, internal, gauss = tenant.ids.getstate()
    return {"seed": tenant.ids.seed, "state": [version, list(internal), gauss]}


def dump_state(tenant) -> dict:
    """JSON-plain tenant attributes: settings, org_config and whatever else other subsystems keep there."""
    out = {}
    subsystems = subsystems_of(tenant)
    for k, v in vars(tenant).items():
        if k in _SKIP or isinstance(v, Collection) or k in subsystems:
            continue
        try:
            out[k] = json.loads(json.dumps(v))
        except (TypeError, ValueError):
            continue  # not plain data (locks, caches of objects): rebuilt by Tenant.__init__
    return out


def state_items(tenant) -> list[tuple[str, object]]:
    """The tenant attributes :func:`dump_state` considers (those that are not JSON-plain are skipped by it), by
    name: what the durable store fingerprints at each commit to find a changed setting."""
    subsystems = subsystems_of(tenant)
    return [
        (k, v)
        for k, v in vars(tenant).items()
        if k not in _SKIP and not isinstance(v, Collection) and k not in subsystems
    ]


def state_json(tenant) -> str:
    """``json.dumps(dump_state(tenant))`` with one encoding per attribute instead of three (the durable store
    compares this text at every group commit)."""
    parts = []
    subsystems = subsystems_of(tenant)
    for k, v in vars(tenant).items():
        if k in _SKIP or isinstance(v, Collection) or k in subsystems:
            continue
        try:
            parts.append(f"{json.dumps(k)}: {json.dumps(v)}")
        except (TypeError, ValueError):
            continue  # as dump_state: not plain data
    return "{" + ", ".join(parts) + "}"


def dump_header(tenant) -> dict:
    """Format, version and identity of the tenant plus its creation spec."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "tenant": {"id": tenant.id, "name": tenant.name, "domain": tenant.domain, "seed": tenant.seed},
        "spec": _jsonable(tenant.spec.to_dict()),
    }


def dump_tenant(tenant) -> dict:
    """``GET /_mock/tenants/{t}/snapshot``: the whole tenant as one JSON document (call under the tenant lock)."""
    doc = dump_header(tenant)
    doc["clock"] = dump_clock(tenant.clock)
    doc["ids"] = dump_ids(tenant)
    doc["state"] = dump_state(tenant)
    doc["collections"] = {k: dump_collection(c) for k, c in collections_of(tenant).items()}
    doc["subsystems"] = {k: _jsonable(s.to_dict()) for k, s in subsystems_of(tenant).items()}
    doc["audit"] = _jsonable(tenant.audit.to_list())
    # The key pool is random per process: without the key a restart would invalidate every issued token.
    doc["signing"] = {"kid": tenant.signing_kid, "privateKeyPem": tenant.signing_key_pem}
    return doc


def _jsonable(value):
    return json.loads(json.dumps(value))


#: What Flask's ``jsonify`` writes outside debug mode: compact separators, ASCII only (``\\uXXXX`` escapes).
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
#: Snapshot text gathered before it is written out by :func:`write_tenant`.
_WRITE_BATCH = 1 << 18
#: How deep :func:`write_tenant` takes a subsystem's state or the audit log apart before encoding a piece whole.
_WRITE_DEPTH = 2


def row_count(tenant) -> int:
    """How many collection rows a tenant's snapshot holds (what its size mostly is)."""
    return sum(len(coll) for coll in collections_of(tenant).values())


def write_tenant(tenant, out: IO[bytes]) -> int:
    """``GET /_mock/tenants/{t}/snapshot`` a piece at a time: writes to ``out`` the bytes ``jsonify(dump_tenant(
    tenant))`` sends (the document and a newline), one collection row, audit record or state member per encoder
    call, so the GIL goes to other requests between them and no copy of the whole document is built. Call under
    the tenant's lock: the document is one moment of the tenant. Returns the number of bytes written."""
    encode = _ENCODER.encode
    pending: list[str] = []
    size = written = 0

    def emit(text: str) -> None:
        nonlocal size, written
        pending.append(text)
        size += len(text)
        if size >= _WRITE_BATCH:
            data = "".join(pending).encode("ascii")
            out.write(data)
            written += len(data)
            pending.clear()
            size = 0

    head = dump_header(tenant)
    head["clock"] = dump_clock(tenant.clock)
    head["ids"] = dump_ids(tenant)
    head["state"] = dump_state(tenant)
    emit(encode(head)[:-1])
    emit(',"collections":')
    _emit_each(emit, collections_of(tenant).items(), lambda coll: _write_collection(emit, coll))
    emit(',"subsystems":')
    _emit_each(emit, subsystems_of(tenant).items(), lambda sub: _write_pieces(emit, sub.to_dict(), _WRITE_DEPTH))
    emit(',"audit":')
    _write_pieces(emit, tenant.audit.to_list(), 1)
    emit(',"signing":' + encode({"kid": tenant.signing_kid, "privateKeyPem": tenant.signing_key_pem}) + "}\n")
    data = "".join(pending).encode("ascii")
    out.write(data)
    return written + len(data)


def _emit_each(emit, members, write_value) -> None:
    # A JSON object of named members, each value written by ``write_value``.
    sep = "{"
    for name, value in members:
        emit(sep + _key_text(name) + ":")
        write_value(value)
        sep = ","
    emit("{}" if sep == "{" else "}")


def _write_collection(emit, coll: Collection) -> None:
    # dump_collection's document, a row at a time (each row straight from the object: no deep copy first).
    items, tombs = coll.export_state()
    classes = {class_path(obj) for _, _, obj in items}
    main = min(classes) if len(classes) == 1 else None
    encode = _ENCODER.encode
    emit(f'{{"name":{encode(coll.name)},"class":{encode(main)},"items":')
    sep = "["
    for key, seq, obj in items:
        names = _plain_fields(type(obj))
        row = [key, seq, obj.to_dict() if names is None else {name: getattr(obj, name) for name in names}]
        if main is None:
            row.append(class_path(obj))
        try:
            text = encode(row)
        except (TypeError, ValueError):  # a nested dataclass or another non-JSON value: to_dict knows it
            row[2] = obj.to_dict()
            text = encode(row)
        emit(sep + text)
        sep = ","
    emit("[]" if sep == "[" else "]")
    emit(f',"tombstones":{encode(tombs)}}}')


def _write_pieces(emit, value, depth: int) -> None:
    # ``encode(value)`` as pieces: containers down to ``depth`` are written a member at a time.
    if depth and isinstance(value, dict) and value:
        _emit_each(emit, value.items(), lambda member: _write_pieces(emit, member, depth - 1))
    elif depth and isinstance(value, (list, tuple)) and value:
        sep = "["
        for member in value:
            emit(sep)
            _write_pieces(emit, member, depth - 1)
            sep = ","
        emit("]")
    else:
        emit(_ENCODER.encode(value))


def _key_text(key) -> str:
    # An object member's name as json.dumps writes it (numbers, booleans and null become strings).
    return _ENCODER.encode(key) if isinstance(key, str) else _ENCODER.encode({key: 0})[1:-3]


# ------------------------------------------------------------------------------------------------ load
def validate(doc) -> None:
    """Reject anything that is not a snapshot this version can read."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidArgument(f"Not a tenant snapshot (expected format '{FORMAT}').")
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise InvalidArgument(f"Unsupported snapshot version {doc.get('version')!r} (this server reads {VERSION}).")
    for key, kind in (("tenant", dict), ("spec", dict), ("clock", dict), ("collections", dict)):
        if not isinstance(doc.get(key), kind):
            raise InvalidArgument(f"Snapshot is missing '{key}'.")
    for key in ("id", "name"):
        if not isinstance(doc["tenant"].get(key), str) or not doc["tenant"][key]:
            raise InvalidArgument(f"Snapshot tenant.{key} must be a non-empty string.")
    now, speed = doc["clock"].get("now"), doc["clock"].get("speed", 1.0)
    if not _is_number(now) or not _is_number(speed) or speed <= 0:
        raise InvalidArgument("Snapshot clock.now and clock.speed must be numbers (speed above 0).")


def _check_ad_attributes(tenant) -> None:
    """Modelled AD attributes must hold their syntax's JSON kind (a string, a list of strings, a boolean or an
    integer, or null): Entra Connect reads them on every cycle."""
    from .onprem.ad_admin import ATTRIBUTE_TYPES

    kinds = {
        "string": lambda v: isinstance(v, str),
        "strings": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }
    for ad in tenant.ad_users:
        for name, value in ad.attrs.items():
            kind = ATTRIBUTE_TYPES.get(name)
            if value is not None and kind in kinds and not kinds[kind](value):
                raise TypeError(f"AD attribute '{name}' of '{ad.sam_account_name}' is not a {kind}")


def _same_kind(default, value) -> bool:
    return (_is_number(default) and _is_number(value)) or type(default) is type(value)


def _checked_state(attr: str, default, value):
    """A plain state attribute (settings, org_config...) checked against the fresh tenant's default: same kind of
    value, and for a dict the same kind per known key (keys the snapshot lacks keep their defaults)."""
    if default is None:
        return value
    if not _same_kind(default, value):
        raise TypeError(f"state '{attr}' is a {type(value).__name__}, expected {type(default).__name__}")
    if not isinstance(default, dict):
        return value
    merged = dict(default)
    for key, item in value.items():
        if key in default and default[key] is not None and not _same_kind(default[key], item):
            raise TypeError(f"state '{attr}.{key}' is a {type(item).__name__}")
        merged[key] = item
    return merged


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rebrand(doc: dict, *, old_id: str, new_id: str, old_name: str, new_name: str) -> dict:
    """Move a snapshot to another tenant: its id, ``<name>.onmicrosoft.com`` domains and AD DNs follow. The
    document is moved a piece at a time (each collection row and audit record on its own, the same text rules
    as over the whole document): one pass over a big tenant's whole text held the GIL for seconds."""

    def move_text(text: str) -> str:
        if old_id != new_id:
            text = text.replace(old_id, new_id)
        if old_name != new_name:
            text = re.sub(
                rf"(?<![A-Za-z0-9-]){re.escape(old_name)}(?=\.(?:mail\.)?onmicrosoft\.com|\.local\b)",
                new_name,
                text,
                flags=re.IGNORECASE,
            )
            text = re.sub(
                rf"DC={re.escape(old_name.replace('-', ''))},DC=local",
                f"DC={new_name.replace('-', '')},DC=local",
                text,
                flags=re.IGNORECASE,
            )
        return text

    def move(value, depth: int):
        # Containers down to REBRAND_DEPTH are taken apart (a name or id never spans two JSON values).
        if depth and isinstance(value, dict):
            return {next(iter(json.loads(move_text(json.dumps({k: 0}))))): move(v, depth - 1) for k, v in value.items()}
        if depth and isinstance(value, (list, tuple)):
            return [move(v, depth - 1) for v in value]
        return json.loads(move_text(json.dumps(value)))

    return move(doc, REBRAND_DEPTH)


#: How deep :func:`rebrand` takes a snapshot apart: a collection row sits at depth 5 (document, collections,
#: collection, items, row), an audit record at depth 3.
REBRAND_DEPTH = 4


def restore_tenant(
    doc: dict, *, tenant_id: str | None = None, name: str | None = None, resume_clock: bool = False, owned: bool = False
):
    """Build a tenant from a snapshot. Without ``tenant_id``/``name`` it is the same tenant (same id, same
    signing key, so its tokens stay valid); with them the state moves to that id/name. ``resume_clock`` lets a
    running clock continue in real time (durable restart) instead of restarting at the captured reading.
    ``owned``: the caller hands over a document nobody else holds (the durable store's freshly parsed rows),
    so it is used as it is instead of deep-copied, which would dominate a restart."""
    validate(doc)
    old_id, old_name = doc["tenant"]["id"], doc["tenant"]["name"]
    new_name = (name or old_name).lower()
    if tenant_id is None:
        tenant_id = old_id if new_name == old_name else tenant_id_for(new_name, doc["tenant"]["seed"])
    copied = tenant_id != old_id or new_name != old_name or not owned
    if tenant_id != old_id or new_name != old_name:
        doc = rebrand(doc, old_id=old_id, new_id=tenant_id, old_name=old_name, new_name=new_name)
    elif not owned:
        doc = copy.deepcopy(doc)
    try:
        return _build(doc, tenant_id, new_name, old_id, resume_clock)
    finally:
        if copied:
            # Our own copy: what the tenant does not keep goes a slice at a time, not in one deallocation cascade.
            dismantle(doc)


def _build(doc: dict, tenant_id: str, new_name: str, old_id: str, resume_clock: bool):
    from .tenant import Tenant, TenantSpec

    signing = doc.get("signing") if tenant_id == old_id else None
    spec_fields = set(TenantSpec.__dataclass_fields__)
    try:
        spec = TenantSpec(**{k: v for k, v in doc["spec"].items() if k in spec_fields})
        spec.name = new_name
        spec.tenant_id = None if tenant_id == tenant_id_for(new_name, spec.seed) else tenant_id
        tenant = Tenant(spec)
        with tenant.lock:
            if signing and signing.get("privateKeyPem"):
                _adopt_signing_key(tenant, signing["privateKeyPem"])
            _load_into(tenant, doc, resume_clock)
            _check_ad_attributes(tenant)
            # Every timer must answer a numeric due time, or the tenant's first request would fail.
            if not all(due is None or _is_number(due) for due in (t.next_due() for t in tenant.timers)):
                raise TypeError("a scheduled due time is not a number")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InvalidArgument(f"The snapshot is damaged ({type(exc).__name__}: {exc}).") from None
    return tenant


def _adopt_signing_key(tenant, pem: str) -> None:
    from .tenant import _public_pem

    try:
        public = _public_pem(pem)
    except (ValueError, TypeError):
        raise InvalidArgument("The snapshot's signing key is not a valid PEM private key.") from None
    tenant.signing_key_pem, tenant.signing_public_pem = pem, public


def _load_into(tenant, doc: dict, resume_clock: bool) -> None:
    c = doc["clock"]
    if resume_clock:
        clock = TenantClock.resumed(c)  # durable restart: a running clock kept running while the server was down
    else:
        clock = TenantClock(c["now"], frozen=bool(c.get("frozen")), speed=c.get("speed", 1.0))
    tenant.clock = clock
    if doc.get("ids"):
        version, internal, gauss = doc["ids"]["state"]
        tenant.ids.setstate((version, tuple(internal), gauss))
    for attr, value in (doc.get("state") or {}).items():
        if attr not in _SKIP:
            setattr(tenant, attr, _checked_state(attr, getattr(tenant, attr, None), value))
    for attr, data in doc["collections"].items():
        coll = getattr(tenant, attr, None)
        if not isinstance(coll, Collection):
            coll = Collection(data.get("name") or attr)
            setattr(tenant, attr, coll)
        default_cls = _load_class(data["class"]) if data.get("class") else None
        items = []
        rows = data.get("items", [])
        while rows:
            # Taken out of the document as it is built (restore_tenant's document is always its own): the rows
            # go as their objects come, so a big restore holds about one copy of the tenant, not two.
            row = rows.pop()
            cls = _load_class(row[3]) if len(row) > 3 else default_cls
            if cls is None:
                raise InvalidArgument(f"Snapshot collection '{attr}' has items of no known class.")
            items.append((row[0], int(row[1]), cls.from_dict(row[2])))
        items.reverse()
        coll.restore_state(items, {k: int(v) for k, v in (data.get("tombstones") or {}).items()})
    tenant._app_by_client_id = {a.app_id: a.app_id for a in tenant.apps}
    subsystems = subsystems_of(tenant)
    for attr, data in (doc.get("subsystems") or {}).items():
        if attr in subsystems and data is not None:
            subsystems[attr].load(copy.deepcopy(data))
    tenant.audit.load(doc.get("audit") or [])
