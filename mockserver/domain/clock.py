"""Per-tenant clock: real time plus an offset (optionally frozen or sped up), and the timer loop that runs
whatever comes due (Entra Connect cycles, write-back, forward sync, purges) in time order."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol, overload

#: Default start of a frozen tenant clock, so seeded tenants print the same timestamps every run.
DEFAULT_FROZEN_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()


class Timer(Protocol):
    """A subsystem with scheduled work: it says when it is next due and runs when that time comes."""

    def next_due(self) -> float | None:
        """Tenant time (epoch seconds) of the next scheduled run, or None."""

    def run_due(self, now: float) -> None:
        """Run the work that is due at ``now`` (the clock already reads ``now``)."""

    def due_by(self, now: float) -> bool:
        """Whether anything is due at ``now``: the question asked before every request, which may be answered
        more cheaply than :meth:`next_due` as long as the answer is the same."""


class TenantClock:
    """A tenant's clock: ``now()`` is real time scaled by ``speed`` plus an offset, or frozen."""

    def __init__(
        self,
        start: float | None = None,
        *,
        frozen: bool = False,
        speed: float = 1.0,
        real: Callable[[], float] = time.time,
    ):
        self._real = real
        self.frozen = frozen
        self.speed = speed
        self._anchor_real = real()
        self._anchor_tenant = start if start is not None else (DEFAULT_FROZEN_START if frozen else self._anchor_real)

    def now(self) -> float:
        """Current tenant time in epoch seconds."""
        if self.frozen:
            return self._anchor_tenant
        return self._anchor_tenant + (self._real() - self._anchor_real) * self.speed

    def pin(self, when: float) -> tuple:
        """Read ``when`` until :meth:`unpin` (given what this returns): a command the durable store logs reads one
        instant, so running it again after a crash gives the same timestamps."""
        saved = (self.frozen, self._anchor_tenant, self._anchor_real)
        self.frozen, self._anchor_tenant = True, when
        return saved

    def unpin(self, saved: tuple) -> None:
        """Run on as before :meth:`pin`."""
        self.frozen, self._anchor_tenant, self._anchor_real = saved

    @contextmanager
    def pinned(self, when: float) -> Iterator[None]:
        """:meth:`pin` for the length of a block."""
        saved = self.pin(when)
        try:
            yield
        finally:
            self.unpin(saved)

    def now_dt(self) -> datetime:
        """Current tenant time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def set(self, when: float) -> None:
        """Move the clock to ``when`` (used by the timer loop; never moves backwards)."""
        current = self.now()
        if when < current:
            return
        self._anchor_real = self._real()
        self._anchor_tenant = when

    def configure(self, *, speed: float | None = None, frozen: bool | None = None) -> None:
        """Change speed and/or freeze the clock from its current reading (``PATCH /_mock/tenants/{t}/clock``)."""
        current = self.now()
        self._anchor_real = self._real()
        self._anchor_tenant = current
        if speed is not None:
            self.speed = float(speed)
        if frozen is not None:
            self.frozen = bool(frozen)

    def to_dict(self) -> dict:
        """Serializable state (for snapshots)."""
        return {"now": self.now(), "frozen": self.frozen, "speed": self.speed}

    @classmethod
    def from_dict(cls, data: dict) -> TenantClock:
        """Rebuild a clock from :meth:`to_dict` output."""
        return cls(data["now"], frozen=data.get("frozen", False), speed=data.get("speed", 1.0))

    @classmethod
    def resumed(cls, data: dict) -> TenantClock:
        """Rebuild a stored clock (the snapshot's ``clock``: reading, frozen, speed, ``base``) for a durable
        restart: a running clock kept running while the server was down."""
        clock = cls(data["now"], frozen=bool(data.get("frozen")), speed=data.get("speed", 1.0))
        if not data.get("frozen") and data.get("base") is not None:
            clock.set(data["base"] + clock._real() * clock.speed)
        return clock


def run_timers_until(clock: TenantClock, timers: Iterable[Timer], target: float, *, max_steps: int = 100_000) -> int:
    """Run every timer that comes due up to ``target`` in time order, moving the clock to each due time,
    then leave the clock at ``target``. Returns how many runs happened."""
    timers = list(timers)
    steps = 0
    while steps < max_steps:
        best, best_due = None, None
        for timer in timers:
            due = timer.next_due()
            if due is not None and due <= target and (best_due is None or due < best_due):
                best, best_due = timer, due
        if best is None or best_due is None:
            break
        clock.set(best_due)
        best.run_due(max(best_due, clock.now()))
        steps += 1
    clock.set(target)
    return steps


@overload
def iso(ts: float) -> str: ...
@overload
def iso(ts: None) -> None: ...
def iso(ts: float | None) -> str | None:
    """Render epoch seconds as the ISO-8601 UTC form Graph and Exchange use (``2026-01-05T09:00:00Z``)."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def parse_iso(text: str) -> float:
    """Parse an ISO-8601 timestamp (``Z`` or offset) into epoch seconds."""
    text = text.strip()
    if text.endswith(("Z", "z")):  # RFC 3339 allows either case
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
