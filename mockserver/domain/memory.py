"""Memory handling for big tenants: the cyclic garbage collector is paused while hundreds of thousands of
long-lived objects are built (seeding, Initial cycles, index builds), where its passes only cost time."""

from __future__ import annotations

import gc
from contextlib import contextmanager


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
