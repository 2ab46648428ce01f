"""Entra Connect scale benchmark (issue 4): seeding a large on-prem AD, its Initial cycle, and Delta cycles whose
cost must follow the number of changes, not the tenant size.

    .venv/bin/python -m loadtests.bench_sync --users 100000 --changes 10

Prints wall and CPU seconds for each phase and the ratios that matter, on CPU time (which a loaded machine
distorts far less than wall time): Delta(changes) against Initial in the same tenant, Delta in the big tenant
against the same Delta in a small one (size independence), and the cost of seeding plus Initial against a
pure-Python baseline measured in the same run (building one 40-key dict per object)."""

from __future__ import annotations

import argparse
import statistics
import time

from hybridsoa.mock.domain.onprem import ad_admin
from hybridsoa.mock.domain.tenant import TenantRegistry


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def _delta(tenant, changes: int, round_no: int) -> tuple[float, float, dict]:
    ads = tenant.ad_users.values()
    step = max(1, len(ads) // max(changes, 1))
    for i in range(changes):
        ad = ads[(i * step + round_no) % len(ads)]
        ad_admin.update_ad_user(tenant, ad.sam_account_name, {"extensionAttribute9": f"bench-{round_no}-{i}"})
    record, wall, cpu = _timed(lambda: tenant.sync.run_cycle("Delta"))
    return cpu, wall, record


def _baseline(count: int) -> float:
    _, _, cpu = _timed(lambda: [{f"k{i}": i for i in range(40)} for _ in range(count)])
    return cpu


def run(users: int, changes: int, repeats: int, small: int) -> dict:
    """Measure everything once; returns the figures."""
    registry = TenantRegistry(seed=1)
    tenant, create_wall, create_cpu = _timed(
        lambda: registry.create("bench", seed=11, mailboxes=users, frozen_clock=True)
    )
    seed_only = tenant.sync.history[-1]
    _, initial_wall, initial_cpu = _timed(lambda: tenant.sync.run_cycle("Initial"))
    deltas = [_delta(tenant, changes, r) for r in range(repeats)]
    empty = [_timed(lambda: tenant.sync.run_cycle("Delta"))[2] for _ in range(repeats)]
    small_tenant = registry.create("benchsmall", seed=12, mailboxes=small, frozen_clock=True)
    small_deltas = [_delta(small_tenant, changes, r) for r in range(repeats)]
    baseline = _baseline(users)
    # CPU seconds: on a shared machine wall time mostly measures other jobs (see docs/benchmarks.md).
    delta_cpu = statistics.median(d[0] for d in deltas)
    small_cpu = statistics.median(d[0] for d in small_deltas)
    return {
        "users": users,
        "changes": changes,
        "repeats": repeats,
        "create_wall": create_wall,
        "create_cpu": create_cpu,
        "seed_initial_adds": seed_only["adds"],
        "initial_unchanged_wall": initial_wall,
        "initial_unchanged_cpu": initial_cpu,
        "delta_cpu": delta_cpu,
        "delta_wall": statistics.median(d[1] for d in deltas),
        "delta_updates": deltas[-1][2]["updates"],
        "delta_empty_cpu": statistics.median(empty),
        "small_users": small,
        "small_delta_cpu": small_cpu,
        "baseline_cpu": baseline,
        "ratio_delta_vs_initial": delta_cpu / initial_cpu,
        "ratio_delta_big_vs_small": delta_cpu / small_cpu,
        "ratio_create_vs_baseline": create_cpu / baseline,
    }


def main(argv=None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--small", type=int, default=1_000)
    args = parser.parse_args(argv)
    r = run(args.users, args.changes, args.repeats, args.small)
    print(f"tenant of {r['users']} AD users, Delta with {r['changes']} changes (median of {r['repeats']})")
    print(
        f"  create (seed AD + Initial, {r['seed_initial_adds']} adds): {r['create_wall']:.2f} s wall, "
        f"{r['create_cpu']:.2f} s CPU"
    )
    print(
        f"  Initial again (nothing changed):     {r['initial_unchanged_wall']:.2f} s wall, "
        f"{r['initial_unchanged_cpu']:.2f} s CPU"
    )
    print(
        f"  Delta({r['changes']}):                         {r['delta_cpu'] * 1000:.2f} ms CPU "
        f"({r['delta_wall'] * 1000:.2f} ms wall, {r['delta_updates']} updates)"
    )
    print(f"  Delta(0):                          {r['delta_empty_cpu'] * 1000:.3f} ms CPU")
    print(f"  Delta({r['changes']}) in a {r['small_users']}-user tenant:    {r['small_delta_cpu'] * 1000:.2f} ms CPU")
    print(f"  baseline (one 40-key dict per user): {r['baseline_cpu']:.2f} s CPU")
    print(
        f"ratios: Delta/Initial = {r['ratio_delta_vs_initial']:.5f}; "
        f"Delta big/small tenant = {r['ratio_delta_big_vs_small']:.2f}; "
        f"create/baseline = {r['ratio_create_vs_baseline']:.1f}"
    )


if __name__ == "__main__":
    main()
