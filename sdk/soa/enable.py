"""Bulk ``Set-Mailbox -IsExchangeCloudManaged $true|$false`` in waves, done the way the admin tooling learned to:

- bounded concurrency and an adaptive rate that backs off on 429 and a low ``Rate-Limit-Remaining``;
- mailboxes already in the target state are skipped; ineligible ones are reported with the reason;
- a backup of every mailbox's Exchange attributes is written before it is changed;
- **every change is read back**: a toggle that returned success but did not stick (the preview-era silent
  failure for Exchange Administrators) is reported ``silently_ignored``, never as success;
- a JSONL checkpoint records each item as it completes, so a killed run resumes with no item done twice and
  none skipped (an item whose write was sent before the kill is recognised by its ``start`` record and read back);
- dry-run reports what would change and writes nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, cast

from ..errors import ApiError, NotFound
from ..exchange import EXCHANGE_ATTRIBUTES, MAILBOX_SELECT, MAX_BATCH, BatchItem
from ..transport import ResponseObserver
from .checkpoint import (
    ALREADY,
    CHANGED,
    FAILED,
    FAILURE_STATUSES,
    INELIGIBLE,
    NOT_FOUND,
    SILENT,
    WOULD_CHANGE,
    Backup,
    Checkpoint,
)
from .inventory import _true, eligibility
from .plan import Plan
from .plan import plan as make_plan


class AdaptiveRate(ResponseObserver):
    """Pace for starting items: slow start (×1.1 per success) until the first sign of pressure, then additive
    increase; halves on 429 (and waits out ``Retry-After``); eases off when ``Rate-Limit-Remaining`` runs low."""

    def __init__(
        self,
        initial: float = 20.0,
        *,
        minimum: float = 0.2,
        maximum: float = 2000.0,
        low_water: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = float(initial)
        self.minimum, self.maximum, self.low_water = minimum, maximum, low_water
        self.clock, self.sleep = clock, sleep
        self.slow_start = True
        self._next = 0.0
        self._cut_until = 0.0
        self._lock = threading.Lock()
        self.events = {"throttled": 0, "low_budget": 0}

    def acquire(self) -> None:
        """Block until the next start slot at the current rate."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
        if slot > now:
            self.sleep(slot - now)

    def observe(self, response) -> None:
        """Adjust the rate from one HTTP response."""
        status = response.status_code
        headers = response.headers
        with self._lock:
            if status == 429 or (status == 503 and headers.get("Retry-After")):
                self.events["throttled"] += 1
                self.slow_start = False
                try:
                    pause = float(headers.get("Retry-After") or 0)
                except ValueError:
                    pause = 1.0
                now = self.clock()
                if now >= self._cut_until:
                    # One cut per overshoot: the requests already in flight when the budget ran out come back
                    # 429 together, and halving once for each would drive the rate to the floor.
                    self.rate = max(self.minimum, self.rate / 2)
                    self._cut_until = now + max(pause, 1.0)
                self._next = max(self._next, now + pause)
                return
            if status >= 400:
                return
            remaining, limit = headers.get("Rate-Limit-Remaining"), headers.get("Rate-Limit-Limit")
            try:
                low = remaining is not None and limit and float(remaining) < self.low_water * float(limit)
            except ValueError:
                low = False
            if low:
                # Near the service's budget: stop growing (a 429 is what makes it shrink). Shrinking here too
                # would starve a client that runs at the budget's refill rate, where the remainder is always low.
                self.events["low_budget"] += 1
                self.slow_start = False
            elif self.slow_start:
                self.rate = min(self.maximum, self.rate * 1.1)
            else:
                self.rate = min(self.maximum, self.rate + 0.5)


@dataclass
class RunResult:
    """Outcome of a bulk run: one record per planned item (plan order), counts, and why it stopped early."""

    operation: str
    target: bool
    records: list[dict] = field(default_factory=list)
    halted: str | None = None
    dry_run: bool = False
    checkpoint: str | None = None
    elapsed: float = 0.0
    pending: list[str] = field(default_factory=list)
    #: Wave sizes of the plan that ran (the checkpoint's on resume).
    waves: list[int] = field(default_factory=list)

    @property
    def counts(self) -> dict:
        """Outcome counts (``pending`` = planned but not reached, e.g. after a halt)."""
        out: dict = {}
        for rec in self.records:
            out[rec["status"]] = out.get(rec["status"], 0) + 1
        if self.pending:
            out["pending"] = len(self.pending)
        return dict(sorted(out.items()))

    @property
    def silent_failures(self) -> list[dict]:
        """Items whose change returned success but did not stick."""
        return [r for r in self.records if r["status"] == SILENT]

    @property
    def failures(self) -> list[dict]:
        """Items that failed, were not found or are ineligible."""
        return [r for r in self.records if r["status"] in FAILURE_STATUSES]

    @property
    def exit_code(self) -> int:
        """CLI exit code: 1 when some items failed, were silently ignored or were not reached; 0 all done."""
        if self.silent_failures or self.failures or self.pending:
            return 1
        return 0

    def identities(self) -> dict[str, list[str]]:
        """The identities per outcome (plan order), ``pending`` included: what an admin acts on."""
        out: dict[str, list[str]] = {}
        for rec in self.records:
            out.setdefault(rec["status"], []).append(rec["identity"])
        if self.pending:
            out["pending"] = list(self.pending)
        return out

    def to_dict(self) -> dict:
        """JSON form (records without the bulky attribute snapshots)."""
        slim = [{k: v for k, v in r.items() if k not in ("after", "before", "type")} for r in self.records]
        return {
            "operation": self.operation,
            "target": self.target,
            "dryRun": self.dry_run,
            "counts": self.counts,
            "identities": self.identities(),
            "halted": self.halted,
            "checkpoint": self.checkpoint,
            "waves": self.waves,
            "elapsedSeconds": round(self.elapsed, 3),
            "pending": self.pending,
            "items": slim,
        }


def snapshot(mailbox: dict) -> dict:
    """The SOA-relevant state of a mailbox: its flag and its Exchange attributes (what verify compares)."""
    out = {"IsExchangeCloudManaged": _true(mailbox.get("IsExchangeCloudManaged"))}
    for name in EXCHANGE_ATTRIBUTES:
        if name in mailbox:
            out[name] = mailbox[name]
    return out


def _error(exc: Exception) -> dict:
    return {
        "type": type(exc).__name__,
        "message": str(getattr(exc, "message", None) or exc),
        "status": getattr(exc, "status", None),
        "code": getattr(exc, "code", None),
    }


def run_toggle(
    exchange,
    plan_or_ids: Plan | Iterable[str],
    *,
    target: bool,
    operation: str | None = None,
    checkpoint: str | Checkpoint | None = None,
    backup: str | Backup | None = None,
    concurrency: int = 4,
    dry_run: bool = False,
    rate: AdaptiveRate | None = None,
    readback_attempts: int = 1,
    readback_delay: float = 2.0,
    sleep: Callable[[float], None] | None = None,
    on_item: Callable[[dict], None] | None = None,
    halt_on_silent: bool = True,
    max_failure_ratio: float = 0.5,
    check_eligibility: bool = True,
    pre_change: Callable[[dict], dict | None] | None = None,
    fsync: bool = True,
    prefetch: bool | None = None,
    retry_failed: bool = True,
    batch_size: int | None = None,
) -> RunResult:
    """Set IsExchangeCloudManaged to ``target`` for every planned mailbox (see the module docstring).

    ``pre_change(mailbox)`` runs after the backup and before the write (revert uses it to reconcile on-prem
    values); an exception from it fails the item without changing it. Waves after one whose silent failures
    (``halt_on_silent``) or failure ratio exceed the limits are not started; their items stay pending.

    ``prefetch`` (default: plans of 100 items or more) reads every mailbox once through paged Get-Mailbox
    (1000 per page) instead of one Get-Mailbox per item before its change; the read-back after each change is
    always a fresh per-item read, and items an earlier process started are always re-read.

    Resuming a checkpoint retries its ``failed`` and ``silently_ignored`` items (``retry_failed``): each is re-read
    first, so a write that did execute is recorded as ``changed`` without being sent again.

    ``batch_size`` (default: 10 when the client speaks the admin API's ``$batch``, else 1) groups the reads, the
    ``Set-Mailbox`` writes and their read-backs of that many items into one ``$batch`` request each; the adaptive
    rate then paces requests rather than items. Items throttled inside a batch are re-sent after their
    ``Retry-After``; a write whose outcome is unknown (the batch failed, or its item answered an error) is never
    replayed: it is recorded ``failed`` and re-read first on resume."""
    operation = operation or ("enable" if target else "disable")
    the_plan = plan_or_ids if isinstance(plan_or_ids, Plan) else make_plan(plan_or_ids or [], [10**9])
    sleep = sleep or cast(Callable[[float], None], getattr(exchange.transport, "sleep", time.sleep))
    header = {
        "operation": operation,
        "target": bool(target),
        "items": the_plan.identities,
        "waves": [len(w) for w in the_plan.waves],
        "plan": the_plan.fingerprint(),
        "haltOnSilent": bool(halt_on_silent),
        "maxFailureRatio": float(max_failure_ratio),
    }
    tenant = getattr(exchange, "tenant", None)
    if isinstance(tenant, str):
        header["tenant"] = tenant
    if dry_run:
        cp = Checkpoint(None, header)
    elif isinstance(checkpoint, Checkpoint):
        cp = checkpoint
    else:
        cp = Checkpoint.open(checkpoint, header, fsync=fsync)
    if cp.resumed:
        # Resume is the same run: the recorded plan (its waves) and halt rules, not whatever this call was given.
        the_plan = cp.plan() or the_plan
        halt_on_silent = bool(cp.header.get("haltOnSilent", halt_on_silent))
        max_failure_ratio = float(cp.header.get("maxFailureRatio", max_failure_ratio))
    bk = backup if isinstance(backup, Backup) else Backup(None if dry_run else backup, fsync=fsync)
    rate = rate or AdaptiveRate(sleep=sleep)
    exchange.transport.add_observer(rate)
    started_at = time.monotonic()
    result = RunResult(
        operation=operation,
        target=bool(target),
        dry_run=dry_run,
        checkpoint=None if dry_run else cp.path,
        waves=[len(w) for w in the_plan.waves],
    )

    cache: dict[str, dict] = {}
    if prefetch is None:
        prefetch = sum(not cp.is_done(i, retry=retry_failed) for i in the_plan.identities) >= 100
    if prefetch:
        for m in exchange.iter_mailboxes():
            for key in (
                "Guid",
                "ExternalDirectoryObjectId",
                "UserPrincipalName",
                "PrimarySmtpAddress",
                "Alias",
                "Name",
                "Identity",
            ):
                if m.get(key):
                    cache.setdefault(str(m[key]).lower(), m)

    def process(identity: str) -> dict:
        if cp.is_done(identity, retry=retry_failed):
            return {**cp.done[identity], "resumed": True}
        base: dict[str, Any] = {"identity": identity, "operation": operation}
        rate.acquire()
        try:
            mbx = None if cp.was_started(identity) else cache.get(identity.lower())
            if mbx is None:
                mbx = exchange.get_mailbox(identity)
        except NotFound as exc:
            return cp.finish({**base, "status": NOT_FOUND, "error": _error(exc)})
        except ApiError as exc:
            return cp.finish({**base, "status": FAILED, "error": _error(exc)})
        base.update(
            guid=mbx.get("Guid"),
            displayName=mbx.get("DisplayName"),
            recipientTypeDetails=mbx.get("RecipientTypeDetails"),
        )
        if target and check_eligibility:
            ok, reason = eligibility(mbx)
            if not ok:
                return cp.finish({**base, "status": INELIGIBLE, "reason": reason})
        if _true(mbx.get("IsExchangeCloudManaged")) == bool(target):
            # A start record without completion means the previous process sent this very write before dying:
            # the read-back confirms it, so the item counts as changed (once), not as skipped.
            status = CHANGED if cp.was_started(identity) else ALREADY
            return cp.finish(
                {**base, "status": status, "after": snapshot(mbx), **({"resumed": True} if status == CHANGED else {})}
            )
        if dry_run:
            return cp.finish({**base, "status": WOULD_CHANGE, "before": snapshot(mbx)})
        bk.save(mbx, operation=operation)
        extra = {}
        if pre_change is not None:
            try:
                extra = pre_change(mbx) or {}
            except Exception as exc:  # noqa: BLE001 - any reconcile failure must stop this item's flip
                return cp.finish({**base, "status": FAILED, "error": _error(exc), "stage": "pre_change"})
        key = mbx.get("Guid") or identity
        cp.start(identity)
        try:
            warnings = exchange.set_cloud_managed(key, target)
        except ApiError as exc:
            return cp.finish({**base, **extra, "status": FAILED, "error": _error(exc), "before": snapshot(mbx)})
        after = mbx
        for attempt in range(max(1, readback_attempts)):
            try:
                after = exchange.get_mailbox(key)
            except ApiError as exc:
                return cp.finish({**base, **extra, "status": FAILED, "stage": "readback", "error": _error(exc)})
            if _true(after.get("IsExchangeCloudManaged")) == bool(target):
                break
            if attempt + 1 < readback_attempts:
                sleep(readback_delay)
        stuck = _true(after.get("IsExchangeCloudManaged")) == bool(target)
        rec = {
            **base,
            **extra,
            "status": CHANGED if stuck else SILENT,
            "before": snapshot(mbx),
            "after": snapshot(after),
            "warnings": list(warnings or []),
        }
        if not stuck:
            rec["reason"] = (
                "Set-Mailbox returned success but IsExchangeCloudManaged is still "
                f"{not target}: the change was silently ignored (check the caller's roles)"
            )
        return cp.finish(rec)

    if batch_size is None:
        batch_size = MAX_BATCH if getattr(exchange, "supports_batch", False) else 1
    batch_size = max(1, min(int(batch_size), MAX_BATCH))

    def decide(identity: str, mbx: dict) -> tuple[dict | None, dict | None]:
        """The outcome without a write (ineligible, already, dry-run), or the write to make (not yet recorded)."""
        base = {
            "identity": identity,
            "operation": operation,
            "guid": mbx.get("Guid"),
            "displayName": mbx.get("DisplayName"),
            "recipientTypeDetails": mbx.get("RecipientTypeDetails"),
        }
        if target and check_eligibility:
            ok, reason = eligibility(mbx)
            if not ok:
                return {**base, "status": INELIGIBLE, "reason": reason}, None
        if _true(mbx.get("IsExchangeCloudManaged")) == bool(target):
            status = CHANGED if cp.was_started(identity) else ALREADY
            return {
                **base,
                "status": status,
                "after": snapshot(mbx),
                **({"resumed": True} if status == CHANGED else {}),
            }, None
        if dry_run:
            return {**base, "status": WOULD_CHANGE, "before": snapshot(mbx)}, None
        return None, {"identity": identity, "base": base, "extra": {}, "mbx": mbx, "key": mbx.get("Guid") or identity}

    def run_batch(items: list[BatchItem]) -> ApiError | None:
        rate.acquire()  # the adaptive rate paces requests: one per $batch
        try:
            exchange.batch(items, sleep=sleep)
        except ApiError as exc:
            return exc
        return None

    def process_chunk(identities: list[str]) -> list[dict]:
        """One worker's share of a wave: a $batch of reads (unless prefetched), one of writes, one of read-backs;
        outcomes recorded together (one durable checkpoint write per stage)."""
        resumed = [{**cp.done[i], "resumed": True} for i in identities if cp.is_done(i, retry=retry_failed)]
        todo = [i for i in identities if not cp.is_done(i, retry=retry_failed)]
        outcomes: list[dict] = []
        if not todo:
            return resumed
        mailboxes: dict[str, dict] = {}
        for ident in todo:
            m = None if cp.was_started(ident) else cache.get(ident.lower())
            if m is not None:
                mailboxes[ident] = m
        need = [i for i in todo if i not in mailboxes]
        if need:
            reads = [BatchItem("Get-Mailbox", {"Identity": i}, MAILBOX_SELECT) for i in need]
            failure = run_batch(reads)
            for ident, item in zip(need, reads, strict=True):
                base = {"identity": ident, "operation": operation}
                err = failure or item.error
                if isinstance(err, NotFound) or (err is None and not item.objects):
                    err = err or NotFound(
                        f"Get-Mailbox: object '{ident}' couldn't be found", status=404, api="exchange"
                    )
                    outcomes.append({**base, "status": NOT_FOUND, "error": _error(err)})
                elif err is not None:
                    outcomes.append({**base, "status": FAILED, "error": _error(err)})
                else:
                    mailboxes[ident] = item.objects[0]
        writes: list[dict] = []
        for ident in todo:
            if ident in mailboxes:
                rec, write = decide(ident, mailboxes[ident])
                if rec is not None:
                    outcomes.append(rec)
                elif write is not None:
                    writes.append(write)
        if writes:
            bk.save_many([w["mbx"] for w in writes], operation=operation)
            if pre_change is not None:
                kept = []
                for w in writes:
                    try:
                        w["extra"] = pre_change(w["mbx"]) or {}
                        kept.append(w)
                    except Exception as exc:  # noqa: BLE001 - any reconcile failure must stop this item's flip
                        outcomes.append({**w["base"], "status": FAILED, "error": _error(exc), "stage": "pre_change"})
                writes = kept
        if not writes:
            return resumed + cp.finish_many(outcomes)
        cp.start_many([w["identity"] for w in writes])
        sets = [
            BatchItem("Set-Mailbox", {"Identity": w["key"], "IsExchangeCloudManaged": bool(target)}) for w in writes
        ]
        failure = run_batch(sets)
        written = []
        for w, item in zip(writes, sets, strict=True):
            err = failure or item.error
            if err is not None:
                outcomes.append(
                    {**w["base"], **w["extra"], "status": FAILED, "error": _error(err), "before": snapshot(w["mbx"])}
                )
            else:
                w["warnings"] = item.warnings
                written.append(w)
        remaining = written
        attempts = max(1, readback_attempts)
        for attempt in range(attempts):
            if not remaining:
                break
            reads = [BatchItem("Get-Mailbox", {"Identity": w["key"]}, MAILBOX_SELECT) for w in remaining]
            failure = run_batch(reads)
            still = []
            for w, item in zip(remaining, reads, strict=True):
                err = (
                    failure
                    or item.error
                    or (
                        None
                        if item.objects
                        else NotFound(f"Get-Mailbox: object '{w['key']}' couldn't be found", status=404, api="exchange")
                    )
                )
                if err is not None:
                    outcomes.append(
                        {**w["base"], **w["extra"], "status": FAILED, "stage": "readback", "error": _error(err)}
                    )
                    continue
                after = item.objects[0]
                stuck = _true(after.get("IsExchangeCloudManaged")) == bool(target)
                if not stuck and attempt + 1 < attempts:
                    still.append(w)
                    continue
                rec = {
                    **w["base"],
                    **w["extra"],
                    "status": CHANGED if stuck else SILENT,
                    "before": snapshot(w["mbx"]),
                    "after": snapshot(after),
                    "warnings": list(w["warnings"] or []),
                }
                if not stuck:
                    rec["reason"] = (
                        "Set-Mailbox returned success but IsExchangeCloudManaged is still "
                        f"{not target}: the change was silently ignored (check the caller's roles)"
                    )
                outcomes.append(rec)
            if still:
                sleep(readback_delay)
            remaining = still
        return resumed + cp.finish_many(outcomes)

    by_identity: dict[str, dict] = {}
    try:
        for n, wave in enumerate(the_plan.waves):
            wave_records = []
            with ThreadPoolExecutor(
                max_workers=max(1, int(concurrency)), thread_name_prefix=f"soa-{operation}"
            ) as pool:
                if batch_size > 1 and len(wave) > 1:
                    # Spread a small wave over the workers rather than one full batch on one of them.
                    size = max(1, min(batch_size, -(-len(wave) // max(1, int(concurrency)))))
                    futures: dict[Future, str | None] = {
                        pool.submit(process_chunk, wave[i : i + size]): None for i in range(0, len(wave), size)
                    }
                else:
                    futures = {pool.submit(process, ident): ident for ident in wave}
                try:
                    for fut in as_completed(futures):
                        got = fut.result()
                        for rec in got if isinstance(got, list) else [got]:
                            by_identity[rec["identity"]] = rec
                            wave_records.append(rec)
                            if on_item is not None:
                                on_item(rec)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
            if n + 1 < len(the_plan.waves):
                fresh = [r for r in wave_records if not r.get("resumed")]
                silent = sum(r["status"] == SILENT for r in fresh)
                bad = sum(r["status"] in (FAILED, SILENT) for r in fresh)
                reason = None
                if halt_on_silent and silent:
                    reason = (
                        f"wave {n + 1}: {silent} change(s) silently ignored; later waves not started "
                        "(fix the caller's roles, then resume with the same checkpoint)"
                    )
                elif fresh and bad / len(fresh) > max_failure_ratio:
                    reason = f"wave {n + 1}: {bad} of {len(fresh)} items failed; later waves not started"
                if reason:
                    result.halted = reason
                    if not dry_run:
                        cp.halt(reason)
                    break
    finally:
        exchange.transport.remove_observer(rate)
        cp.close()
        bk.close()
    result.records = [by_identity[i] for i in the_plan.identities if i in by_identity]
    result.pending = [i for i in the_plan.identities if i not in by_identity]
    result.elapsed = time.monotonic() - started_at
    return result


def enable(exchange, plan: Plan | Iterable[str], **kwargs) -> RunResult:
    """Make the planned mailboxes cloud-managed (``IsExchangeCloudManaged $true``) with read-back."""
    return run_toggle(exchange, plan, target=True, operation="enable", **kwargs)


def disable(exchange, plan: Plan | Iterable[str], **kwargs) -> RunResult:
    """Hand the planned mailboxes' Exchange attributes back to on-prem (``$false``) with read-back.
    The next sync cycle overwrites cloud values with AD values: use :func:`hybridsoa.sdk.soa.revert` to keep them."""
    return run_toggle(exchange, plan, target=False, operation="disable", **kwargs)
