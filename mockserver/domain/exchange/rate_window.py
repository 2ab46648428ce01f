"""Exchange Online's per-tenant call budget as its admin API reports it: the ``Rate-Limit-Limit``,
``Rate-Limit-Remaining`` and ``Rate-Limit-Reset`` headers of every answer (wire-formats §1.3), and the
``request-id`` each answer carries. It lives in the tenant, so a reset or delete starts it afresh."""

from __future__ import annotations

import hashlib

from ..clock import iso
from ..ids import SeededIds

RATE_LIMIT = 30000
RATE_WINDOW_SECONDS = 300


class RateWindow:
    """The current window of one tenant: when it started (tenant time), the calls counted in it, and the
    request-id source (seeded by the tenant id: deterministic per tenant and call number, without drawing from
    the tenant's RNG, which would shift every GUID the tenant makes)."""

    __slots__ = ("_ids", "calls", "reset_text", "start", "tenant_id")

    limit_text = str(RATE_LIMIT)

    def __init__(self, tenant_id: str):
        self.tenant_id = tenant_id
        #: None until the first call: the first window starts at the tenant's first answer.
        self.start: float | None = None
        self.calls = 0
        self.reset_text: str | None = None
        self._ids = SeededIds(int(hashlib.sha256(f"{tenant_id}:exo".encode()).hexdigest()[:16], 16))

    def count_call(self, now: float) -> tuple[str, str, str]:
        """Count one answer at tenant time ``now``: its (request-id, Rate-Limit-Remaining, Rate-Limit-Reset)."""
        if self.start is None:
            self.start = now
        elif now >= self.start + RATE_WINDOW_SECONDS:
            self.start, self.calls, self.reset_text = now, 0, None
        self.calls += 1
        if self.reset_text is None:  # formatted once per window, not per call
            self.reset_text = iso(self.start + RATE_WINDOW_SECONDS).rstrip("Z") + ".000Z"
        return self._ids.guid(), str(max(0, RATE_LIMIT - self.calls)), self.reset_text
