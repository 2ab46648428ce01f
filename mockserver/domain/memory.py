"""Memory handling for big tenants: the cyclic garbage collector is paused while hundreds of thousands of
long-lived objects are built (seeding, Initial cycles, index builds), where its passes only cost time."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def bulk_allocation(count: int, *, freeze: bool = False):
    """Pause the cyclic garbage collector while a big batch of objects is created (seeding, Initial cycles):
    the objects are long-lived, so collections in the middle only cost time (about 40% of a 100k Initial).

    ``freeze``: move everything built into the permanent generation (``gc.freeze``) before the collector resumes,
    for callers whose objects the registry freezes right afterwards anyway (a big tenant's seed). Resuming first
    would make the next allocation run a young collection over every object just built (~1.3 s at 100k)."""
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
