"""Memory handling for big tenants: the cyclic garbage collector is paused while hundreds of thousands of
long-lived objects are built (seeding, Initial cycles, index builds), where its passes only cost time; once they
are frozen out of its reach, only full collections are held off while the tenant is written to the durable store,
so the garbage other requests make meanwhile is freed as it comes, never walked in one go at the end."""

from __future__ import annotations

import gc
import sys
import threading
import time
import types
from contextlib import contextmanager, nullcontext
from typing import Any

#: The oldest generation's threshold while full collections are held off: never reached, so only the young
#: generations are collected (each collection walks what was allocated since the last one, a few thousand objects).
HELD_THRESHOLD = 1 << 30
_holds = 0
_held_from: int | None = None
_holds_lock = threading.Lock()


@contextmanager
def full_collections_held_off():
    """Hold automatic full collections off (they would walk the whole growing heap, a pause of 0.1-2 s for every
    other request) while young ones go on. Stopping the collector altogether (``gc.disable``) piled every other
    request's cyclic garbage up meanwhile (Werkzeug's route matcher leaves a closure cycle per request): the
    first collection afterwards walked and freed it in one GIL hold, 379 ms for 110,800 objects at the end of a
    200,000-mailbox create. Nested and concurrent holds count: the threshold comes back when the last one ends."""
    global _holds, _held_from
    with _holds_lock:
        if not _holds:
            young, middle, _held_from = gc.get_threshold()
            gc.set_threshold(young, middle, HELD_THRESHOLD)
        _holds += 1
    try:
        yield
    finally:
        with _holds_lock:
            _holds -= 1
            if not _holds and _held_from is not None:
                young, middle, _ = gc.get_threshold()
                gc.set_threshold(young, middle, _held_from)
                _held_from = None


def full_collections_held() -> bool:
    """Whether a hold of :func:`full_collections_held_off` is on (automatic full collections wait)."""
    return gc.get_threshold()[2] == HELD_THRESHOLD


@contextmanager
def bulk_allocation(count: int, *, freeze: bool = False):
    """Pause the cyclic garbage collector while a big batch of objects is created (seeding, Initial cycles):
    the objects are long-lived, so collections in the middle only cost time.

    ``freeze``: move everything built into the permanent generation (``gc.freeze``) before the collector resumes,
    for callers whose objects the registry freezes right afterwards anyway (a big tenant's seed), so that the next
    allocation does not run a young collection over every object just built."""
    if count < 2000 or not gc.isenabled():
        yield
        return
    gc.disable()
    completed = False
    try:
        yield
        completed = True
    finally:
        if freeze and completed:
            gc.freeze()
        gc.enable()


#: Objects freed per slice when a deleted tenant is taken apart (:func:`dismantle`); a slice of a seeded tenant's
#: records takes a few milliseconds to free, and other threads get the GIL between slices.
DISMANTLE_CHUNK = 2000
#: Containers smaller than this are not emptied one by one: they go with the objects that hold them.
_SMALL = 256
#: Package prefix of the objects :func:`dismantle` looks inside (the mock's own classes; never a library's).
_PACKAGE = __name__.rsplit(".domain", 1)[0]


def _let_others_run() -> None:
    time.sleep(0)  # releases the GIL: a thread waiting for it runs now


def _attributes(obj) -> list:
    values = list(vars(obj).values()) if type(getattr(obj, "__dict__", None)) is dict else []
    for klass in type(obj).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if hasattr(obj, name) and name not in ("__dict__", "__weakref__"):
                values.append(getattr(obj, name))
    return values


def big_containers(root) -> tuple[list, dict[int, int]]:
    """The plain dicts, lists and sets (of :data:`_SMALL` entries or more) reachable from ``root`` through the
    mock's own objects and small containers, and how many references to each the walk saw. A big container's
    entries are not walked: they are freed with it."""
    found: list = []
    holders: dict[int, int] = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        obj = stack.pop()
        kind = type(obj)
        if kind is dict:
            children = list(obj.values())
        elif kind in (list, tuple, set, frozenset):
            children = list(obj)
        elif kind.__module__.startswith(_PACKAGE) and not isinstance(obj, type):
            children = _attributes(obj)
        else:
            continue
        for child in children:
            kind = type(child)
            if kind in (dict, list, set) and len(child) >= _SMALL:
                holders[id(child)] = holders.get(id(child), 0) + 1
                if holders[id(child)] == 1:
                    found.append(child)
            elif id(child) not in seen and (
                kind in (dict, list, tuple, set, frozenset) or kind.__module__.startswith(_PACKAGE)
            ):
                seen.add(id(child))
                stack.append(child)
    return found, holders


def dismantle(root, *, lock=None, chunk: int = DISMANTLE_CHUNK, pause=_let_others_run) -> int:
    """Free what a deleted tenant holds a slice at a time (``chunk`` entries, then ``pause``, which lets other
    threads have the GIL): dropping a 200,000-mailbox tenant at once is one deallocation cascade of millions of
    objects that keeps the GIL for seconds, a pause for every other tenant. Only containers nothing outside
    ``root`` refers to are emptied (a shared one is left to its other holders); ``lock`` (the tenant's) is held
    for each slice, so a request still holding the tenant sees it shrink between requests, never mid-way.
    Returns how many slices it took."""
    found, holders = big_containers(root)
    guard = lock if lock is not None else nullcontext()
    slices = 0
    while found:
        container = found.pop()
        # Held by: its holders in ``root``, this local, and getrefcount's argument. More: someone else holds it.
        if sys.getrefcount(container) != holders[id(container)] + 2:
            continue
        while container:
            with guard:
                if type(container) is list:
                    del container[-chunk:]
                else:
                    take = container.popitem if type(container) is dict else container.pop
                    for _ in range(min(chunk, len(container))):
                        take()
            slices += 1
            pause()
    return slices


def collect_in_slices(chunk: int = DISMANTLE_CHUNK, pause=_let_others_run) -> int:
    """One full collection that frees what it finds a slice at a time: the collector only gathers the cyclic
    garbage (``DEBUG_SAVEALL``), its cycles are broken here (dicts, lists, sets and closure cells emptied, as the
    collector's own clear would) and the objects are let go ``chunk`` at a time with ``pause`` in between. Freeing
    them is what unmaps the allocator arenas they pinned, so it is spread out, not one GIL hold. Returns how many
    objects it found."""
    start = len(gc.garbage)
    flags = gc.get_debug()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(flags)
    found = gc.garbage[start:]
    del gc.garbage[start:]
    for obj in found:
        kind = type(obj)
        if kind is types.CellType:
            try:
                del obj.cell_contents
            except ValueError:
                pass  # an empty cell
        elif kind in (dict, list, set):
            obj.clear()
    count = len(found)
    while found:
        del found[-chunk:]
        pause()
    return count


class TenantMemory:
    """The tenant registry's part in big tenants' memory: full collections held off while one is built, and a
    deleted or replaced one freed a slice at a time (state: the registry's ``lock``, ``tenants``, ``_frozen``
    and ``_big_seeds``)."""

    lock: Any
    tenants: dict
    _frozen: set
    _big_seeds: int

    @contextmanager
    def collections_held_off(self, big: bool):
        """Hold automatic collections off while a big tenant is built, loaded or restored (each full collection
        would walk the growing heap again, a 0.1-1 s pause for every other request); ``big`` False: nothing
        changes. Nested and concurrent holds count: the collector resumes when the last one ends. Freeze what was
        built before the hold ends (``_freeze_large``): what is left young is walked by the next collection."""
        if not big:
            yield
            return
        with self.lock:
            self._big_seeds += 1
            gc.disable()
        try:
            yield
        finally:
            with self.lock:
                self._big_seeds -= 1
                if not self._big_seeds:
                    gc.enable()

    def _discard(self, tenant) -> None:
        """A deleted (or reset, or restored-over) tenant: free what it holds a slice at a time
        (:func:`dismantle`; dropping it at once is one deallocation cascade that keeps the GIL for
        seconds), so its memory goes back by reference counting without a full collection. Once no big tenant
        is left frozen, the permanent generation is given back to the collector and collected a slice at a time
        (:func:`collect_in_slices`): the tenant is gone by then, so the collection walks little, and what it
        finds (other requests' garbage frozen with the tenant) is freed between pauses."""
        if self.tenants.get(tenant.id) is tenant or not hasattr(tenant, "lock"):
            return  # still registered, or deleted without ever being loaded: nothing in memory to free
        with tenant.lock:
            tenant.deleted = True
        dismantle(tenant, lock=tenant.lock)
        with self.lock:
            was_frozen = bool(self._frozen)
            self._frozen.intersection_update(self.tenants)
            thaw = was_frozen and not self._frozen and not self._big_seeds
            if thaw:
                gc.unfreeze()
        if thaw:
            # What every big load froze along with its tenant: other requests' cyclic garbage made while
            # collections were held off (Werkzeug's route matcher leaves a closure cycle per request). Each such
            # object pins the allocator arena it sits in, arenas the tenant's objects filled: 1.4 GB of worker
            # RSS after a 200,000-mailbox delete. The collection walks only what is left (the tenant is gone).
            collect_in_slices()


class SharedList(list):
    """A list value shared by many records: the empty multi-valued attribute every fresh record holds (AD
    ``publicDelegates`` and ``msExchExtensionCustomAttributeN``, a mailbox's ``ExtensionCustomAttributeN`` and
    ``GrantSendOnBehalfTo``, a user's provisioning errors) and a synced user's 15 extension attributes, which few
    distinct values repeat (:func:`shared_list`), so a seeded mailbox does not carry a dozen lists of its own.
    Writers always assign a new list; one that changed a shared value in place would change every holder at
    once, so each in-place change raises TypeError instead. It compares, copies and serializes as a list."""

    __slots__ = ()

    def __new__(cls, *args):
        # Rebuilt from contents (``dataclasses.asdict`` calls ``type(value)(items)``): a plain, changeable list.
        return list(*args) if args else super().__new__(cls)

    @classmethod
    def of(cls, values) -> SharedList:
        """A shared list holding ``values``."""
        shared = list.__new__(cls)
        list.extend(shared, values)
        return shared

    def _refuse(self, *args, **kwargs):
        raise TypeError("a shared attribute value cannot be changed in place; assign a new list")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self):
        # copy/deepcopy/pickle give a plain list, which the holder may then change freely.
        return list, (list(self),)


#: The one shared empty value (see :class:`SharedList`).
EMPTY_LIST = SharedList()
#: Distinct values one :func:`shared_list` pool keeps at most (beyond it, values are not shared).
SHARED_POOL_MAX = 50_000


def shared_list(values: list, pool: dict) -> list:
    """``values`` as the :class:`SharedList` of ``pool`` with the same contents (added when new), or ``values``
    itself when they are not pooled (items other than strings and nulls, full pool)."""
    key = tuple(values)
    try:
        shared = pool.get(key)
    except TypeError:  # unhashable items
        return values
    if shared is None:
        # Only text and nulls enter the pool, so equal-but-different values (1, 1.0, True) never stand in for
        # each other.
        if len(pool) >= SHARED_POOL_MAX or not all(v is None or type(v) is str for v in key):
            return values
        shared = pool[key] = SharedList.of(values)
    return shared
