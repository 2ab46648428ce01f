"""In-process probe for issue 21 (a big snapshot restore never stalls other tenants): parses the snapshot of an
N-mailbox tenant the way ``PUT /_mock/tenants/{t}/snapshot`` used to (one ``json.loads``) and the way it does now
(``bounds.loads``: bodies over 1 MB a piece at a time), rebrands and restores it as a new tenant, while a probe
thread times 2 ms sleeps (``probe_big_tenant.Probe``: gaps over the threshold with the working thread on the CPU,
long C calls). No HTTP:

    .venv/bin/python loadtests/probe_snapshot_parse.py --mailboxes 20000
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from probe_big_tenant import Probe


def main(argv=None) -> int:
    """Parse and restore a big tenant's snapshot under the probe, before (one json.loads) and now."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=20_000)
    parser.add_argument("--threshold", type=float, default=20.0, help="report gaps/calls over this many ms")
    parser.add_argument("--no-calls", action="store_true", help="no sys.setprofile hook (it slows the work down)")
    args = parser.parse_args(argv)

    from hybridsoa.mock.domain import bounds, snapshot
    from hybridsoa.mock.domain.tenant import TenantRegistry

    sys.setswitchinterval(0.005)
    registry = TenantRegistry(seed=1)
    tenant = registry.create("big", mailboxes=args.mailboxes)
    with tenant.lock:
        body = json.dumps(snapshot.dump_tenant(tenant)).encode()
    print(f"snapshot of {args.mailboxes:,} mailboxes: {len(body) / 1e6:.1f} MB")
    probe = Probe(args.threshold, calls=not args.no_calls)
    # Before: one json.loads with automatic collections on; its C scanner call holds the GIL throughout (the
    # probe sees gaps only where a collection calls back into Python), so its total time is the hold.
    probe.run("before: one json.loads, collections on", lambda: json.loads(body))
    parsed = {}
    with registry.collections_held_off(True):  # as PUT /_mock/tenants/{t}/snapshot does for a big body
        probe.run("now: bounds.loads, a piece at a time", lambda: parsed.update(doc=bounds.loads(body)))
        old_id = parsed["doc"]["tenant"]["id"]
        for label, depth in (
            ("before: whole-text rebrand", 0),
            ("now: rebrand a piece at a time", snapshot.REBRAND_DEPTH),
        ):
            snapshot.REBRAND_DEPTH = depth
            probe.run(
                label,
                lambda: snapshot.rebrand(parsed["doc"], old_id=old_id, new_id=old_id, old_name="big", new_name="copy"),
            )
        probe.run(
            "now: the whole restore as a new tenant",
            lambda: snapshot.restore_tenant(parsed["doc"], tenant_id=None, name="copy"),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
