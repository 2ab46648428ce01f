"""Memory handling for big tenants: the cyclic garbage collector is paused while hundreds of thousands of
long-lived objects are built (seeding, Initial cycles, index builds), where its passes only cost time."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def bulk_allocation(count: int):
    """Pause the cyclic garbage collector while a big batch of objects is created (seeding, Initial cycles):
    the objects are long-lived, so collections in the middle only cost time (about 40% of a 100k Initial)."""
    if count < 2000 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
