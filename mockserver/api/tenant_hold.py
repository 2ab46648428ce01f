"""The tenant locks a request holds: taken in one place (:func:`hold`, which ``middleware.begin`` calls for the
tenant a request names) and let go in one place (:func:`release_all`, at the end of the request). Everything in
between (the route, the domain, the journal, the durable flush) runs under them and takes no lock itself."""

from __future__ import annotations

import time

from ..domain.tenant import Tenant

#: Where the held tenants are kept in the WSGI environ (one list per request).
ENVIRON_KEY = "hybridsoa.held_tenants"


def hold(environ: dict, tenant: Tenant) -> None:
    """Hold ``tenant``'s lock for the rest of the request (nothing to do when the request holds it already)."""
    held = environ.get(ENVIRON_KEY)
    if held is None:
        held = environ[ENVIRON_KEY] = []
    if tenant not in held:
        tenant.lock.acquire()
        held.append(tenant)


def sleep_unlocked(tenant: Tenant, seconds: float) -> None:
    """A real wall-clock delay (an injected latency) with ``tenant``'s lock let go meanwhile, so other requests to
    the tenant keep flowing; the request holds the lock again afterwards."""
    tenant.lock.release()
    try:
        time.sleep(seconds)
    finally:
        tenant.lock.acquire()


def release_all(environ: dict) -> None:
    """Let go of every tenant lock the request holds (runs even when the handler failed)."""
    held = environ.get(ENVIRON_KEY)
    while held:
        held.pop().lock.release()
