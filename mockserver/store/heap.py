"""Memory the durable store hands back while it loads and writes big tenants, without pausing other requests."""

from __future__ import annotations

import time


def give_back_memory(collect: bool = True) -> None:
    """Return the heap that recovery's intermediate documents used to the OS (glibc keeps freed arenas
    otherwise, and RSS after a restart would stay far above the live state)."""
    import ctypes
    import ctypes.util
    import gc

    if collect:
        gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


def drop_gradually(items: list, chunk: int = 2000) -> None:
    """Empty a big list a slice at a time, letting other threads run in between: dropping a whole-tenant
    document at once is one deallocation cascade that keeps the GIL, a pause for every other request."""
    while items:
        del items[-chunk:]
        time.sleep(0)  # releases the GIL
