"""In-process probe for issue 21 (big tenants never block others): while one thread creates, loads (after a
restart on a data dir) or deletes an N-mailbox tenant, another thread sleeps 2 ms at a time and reports every
gap over ``--threshold`` ms (what a request to another tenant would have waited for the GIL), with what the
working thread was doing when the gap ended; a ``sys.setprofile`` hook in the working thread names each C
call that held on longer than the threshold, and ``gc.callbacks`` time every collection. No HTTP, no server:

    .venv/bin/python loadtests/probe_big_tenant.py --mailboxes 20000 [--data-dir] [--phases create,load,delete]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import threading
import time
import traceback


class Probe:
    """Times 2 ms sleeps in a thread of its own while ``run`` executes in the calling thread."""

    def __init__(self, threshold_ms: float, calls: bool = True):
        self.threshold = threshold_ms / 1000
        self.profile = calls
        self.gaps: list[tuple[float, str]] = []
        self.calls: list[tuple[float, str]] = []
        self.collections: list[tuple[float, int, int]] = []
        self._gc_start = 0.0
        self.samples = 0

    def _gc(self, phase, info):
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_start
            if took > self.threshold / 4:
                self.collections.append((took, info["generation"], info["collected"]))

    def run(self, label: str, work) -> None:
        """Run ``work()`` here while the probe thread measures; print what was seen."""
        done = threading.Event()
        me = threading.get_ident()
        stack: list = []

        def prof(frame, event, arg):
            if event == "c_call":
                stack.append((time.perf_counter(), arg))
            elif event in ("c_return", "c_exception") and stack:
                t0, fn = stack.pop()
                took = time.perf_counter() - t0
                if took > self.threshold:
                    where = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}"
                    self.calls.append((took, f"{getattr(fn, '__qualname__', fn)} at {where}"))

        clock = time.pthread_getcpuclockid(me)

        def watch():
            last = time.perf_counter()
            last_cpu = time.clock_gettime(clock)
            while not done.is_set():
                time.sleep(0.002)
                now = time.perf_counter()
                cpu = time.clock_gettime(clock)
                self.samples += 1
                # The working thread's CPU time during the gap tells a GIL held from a machine too busy to run us.
                if now - last > self.threshold and cpu - last_cpu > self.threshold:
                    frame = sys._current_frames().get(me)
                    where = (
                        " < ".join(
                            f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}"
                            for f in reversed(traceback.extract_stack(frame, limit=4))
                        )
                        if frame
                        else "?"
                    )
                    self.gaps.append((now - last, f"(worker CPU {(cpu - last_cpu) * 1000:.0f} ms) {where}"))
                last = time.perf_counter()
                last_cpu = time.clock_gettime(clock)

        self.gaps, self.calls, self.collections, self.samples = [], [], [], 0
        gc.callbacks.append(self._gc)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t0 = time.perf_counter()
        if self.profile:
            sys.setprofile(prof)
        try:
            work()
        finally:
            sys.setprofile(None)
            done.set()
            watcher.join()
            gc.callbacks.remove(self._gc)
        took = time.perf_counter() - t0
        worst = max((g for g, _ in self.gaps), default=0.0)
        print(
            f"== {label}: {took:.1f} s; {self.samples} probe wake-ups, {len(self.gaps)} gaps over "
            f"{self.threshold * 1000:.0f} ms with the working thread on the CPU meanwhile, worst {worst * 1000:.0f} ms"
        )
        for gap, where in sorted(self.gaps, reverse=True)[:15]:
            print(f"   gap {gap * 1000:6.0f} ms  {where}")
        for took_, what in sorted(self.calls, reverse=True)[:15]:
            print(f"   C call {took_ * 1000:6.0f} ms  {what}")
        for took_, gen, collected in sorted(self.collections, reverse=True)[:10]:
            print(f"   gc gen {gen} {took_ * 1000:6.0f} ms, {collected} collected")


def main(argv=None) -> int:
    """Create, reload and delete a big tenant in process under the probe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=20_000)
    parser.add_argument("--data-dir", action="store_true", help="with the durable store (serve --data-dir)")
    parser.add_argument("--phases", default="create,load,delete")
    parser.add_argument("--threshold", type=float, default=20.0, help="report gaps/calls over this many ms")
    parser.add_argument("--no-calls", action="store_true", help="no sys.setprofile hook (it slows the work down)")
    args = parser.parse_args(argv)
    phases = args.phases.split(",")

    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.domain.tenant import TenantRegistry
    from hybridsoa.mock.store import open_store

    sys.setswitchinterval(0.005)
    probe = Probe(args.threshold, calls=not args.no_calls)
    data = tempfile.mkdtemp(prefix="hybridsoa-probe-") if args.data_dir else None
    try:
        registry = TenantRegistry(seed=1)
        store = open_store(registry, data, snapshot) if data else None
        registry.create("other", mailboxes=5)
        probe.run(f"create {args.mailboxes:,} mailboxes", lambda: registry.create("big", mailboxes=args.mailboxes))
        if store is not None and "load" in phases:
            store.close()
            # A restart is a new process: free this incarnation outside the measurement (delete it from memory
            # only, with the store unhooked), or its frozen remains would be collected during the delete phase.
            registry.on_tenant_deleted.remove(store.tenant_deleted)
            registry.delete("big")
            del registry, store
            gc.collect()
            registry = TenantRegistry(seed=1)
            store = open_store(registry, data, snapshot)
            registry.get("other")
            probe.run("load it on first use after a restart", lambda: registry.get("big"))
        if "delete" in phases:
            probe.run("delete it", lambda: registry.delete("big"))
        if store is not None:
            store.close()
    finally:
        if data:
            shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
