"""In-process probe for issue 21 (a big snapshot restore never stalls other tenants): parses the snapshot of an
N-mailbox tenant the way ``PUT /_mock/tenants/{t}/snapshot`` used to (one ``json.loads``) and the way it does now
(``bounds.loads``: bodies over 1 MB a piece at a time), rebrands and restores it as a new tenant, while a probe
thread times 2 ms sleeps (``probe_big_tenant.Probe``: gaps over the threshold with the working thread on the CPU,
long C calls). No HTTP:

    .venv/bin/python loadtests/probe_snapshot_parse.py --mailboxes 20000

``--parsers`` instead compares the parsers a streamed snapshot body could go through (one ``json.loads``, the
whole-text ``bounds.loads``, the streamed ``bounds.load_stream`` and ijson's ``items`` on its C backend, each
reading the body from a file as the PUT route does from its spooled upload): time, CPU, the worst gap the probe
saw and the longest single C call (``sys.setprofile``), per round.
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
    parser.add_argument("--parsers", action="store_true", help="compare the body parsers (see the module doc)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --parsers/--serialise (interleaved)")
    parser.add_argument(
        "--serialise", action="store_true", help="GET's side: one jsonify of dump_tenant against write_tenant"
    )
    args = parser.parse_args(argv)

    from hybridsoa.mock.domain import bounds, snapshot
    from hybridsoa.mock.domain.tenant import TenantRegistry

    sys.setswitchinterval(0.005)
    registry = TenantRegistry(seed=1)
    tenant = registry.create("big", mailboxes=args.mailboxes)
    if args.serialise:
        return compare_serialisers(tenant, args)
    with tenant.lock:
        body = json.dumps(snapshot.dump_tenant(tenant)).encode()
    print(f"snapshot of {args.mailboxes:,} mailboxes: {len(body) / 1e6:.1f} MB")
    if args.parsers:
        return compare_parsers(body, args)
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


def compare_serialisers(tenant, args) -> int:
    """GET's side: the old route's one ``jsonify(dump_tenant(t))`` against ``write_tenant`` into a spooled file,
    under the probe; same bytes checked, time, CPU, worst gap and the peak of Python allocations (tracemalloc,
    in a separate untimed run)."""
    import gc
    import tempfile
    import time
    import tracemalloc

    from flask import Flask

    from hybridsoa.mock.domain import snapshot

    app = Flask(__name__)  # jsonify's settings are the app's: compact, ASCII, keys unsorted
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def old() -> bytes:
        with app.app_context():
            return app.json.response(snapshot.dump_tenant(tenant)).get_data()

    def new() -> bytes:
        gc.disable()  # as the GET route holds full collections off for a big tenant
        try:
            with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
                snapshot.write_tenant(tenant, spool)
                spool.seek(0)
                return spool.read()
        finally:
            gc.enable()

    with tenant.lock:
        tenant.clock.configure(frozen=True)  # a running clock's reading would differ between the two documents
        same = old() == new()
        for label, work in (("before: one jsonify(dump_tenant)", old), ("now: write_tenant to a spooled file", new)):
            tracemalloc.start()
            work()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            for round_no in range(1, args.rounds + 1):
                probe = Probe(args.threshold, calls=not args.no_calls)
                wall, cpu = time.perf_counter(), time.process_time()
                probe.run(f"round {round_no}: {label}", work)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                worst_gap = max((g for g, _ in probe.gaps), default=0.0) * 1000
                print(
                    f"RESULT round={round_no} serialiser={label!r} wall={wall:.2f}s cpu={cpu:.2f}s "
                    f"worst_gap_ms={worst_gap:.0f} peak_python_alloc_MB={peak / 1e6:.0f} same_bytes={same}"
                )
    return 0


#: Bodies on which ijson and json.loads disagree in value or in acceptance (see docs/benchmarks.md).
EQUIVALENCE_CORPUS = [
    b'["\\ud800"]',
    b'\xef\xbb\xbf{"a": 1}',
    '{"a": 1}'.encode("utf-16"),
    b"[1e400]",
    b"[123456789012345678901234567890]",
    b'{"a": 1} x',
    b"[01]",
    b'{"a": 1, "a": 2}',
    b"[1.5e-400, -0, 1E5]",
]


def equivalence(ijson) -> list[str]:
    """The corpus bodies on which ijson's value or acceptance differs from ``bounds.load_stream``'s (which is
    json.loads' with NaN and Infinity refused, tests/unit/test_gradual_json.py)."""
    import io

    from hybridsoa.mock.domain import bounds

    def outcome(parse, data):
        try:
            return repr(parse(data))
        except (ValueError, ijson.JSONError, StopIteration):
            return "refused"

    differ = []
    for data in EQUIVALENCE_CORPUS:
        ours = outcome(lambda b: bounds.load_stream(io.BytesIO(b)), data)
        theirs = outcome(lambda b: next(ijson.items(io.BytesIO(b), "", use_float=True)), data)
        if ours != theirs:
            differ.append(f"{data[:40]!r}: json.loads {ours[:40]}, ijson {theirs[:60]}")
    return differ


def compare_parsers(body: bytes, args) -> int:
    """Time each parser over the same body read from a file; print one line per parser and round."""
    import gc
    import tempfile
    import time

    from hybridsoa.mock.domain import bounds

    try:
        import ijson  # type: ignore[import-untyped]
    except ImportError:  # in the load extra; an install without it still measures the other parsers
        ijson = None
    expected = json.loads(body)
    if ijson is not None:
        for line in equivalence(ijson):
            print(f"DIFFERS {line}")
    with tempfile.NamedTemporaryFile(suffix=".json") as spool:
        spool.write(body)
        spool.flush()

        def from_file(parse):
            with open(spool.name, "rb") as f:
                return parse(f)

        parsers = {
            "json.loads (one C call)": lambda: from_file(lambda f: json.loads(f.read())),
            "bounds.loads (whole text, a piece at a time)": lambda: from_file(lambda f: bounds.loads(f.read())),
            "bounds.load_stream (1 MB windows)": lambda: from_file(bounds.load_stream),
        }
        if ijson is not None:
            parsers[f"ijson {ijson.__version__} items, {ijson.backend}"] = lambda: from_file(
                lambda f: next(ijson.items(f, "", use_float=True))
            )
        for round_no in range(1, args.rounds + 1):
            for label, parse in parsers.items():
                probe = Probe(args.threshold, calls=not args.no_calls)
                out: dict = {}
                gc.disable()  # as the PUT route holds full collections off for a big body
                wall, cpu = time.perf_counter(), time.process_time()
                probe.run(f"round {round_no}: {label}", lambda parse=parse, out=out: out.update(doc=parse()))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                gc.enable()
                same = out["doc"] == expected
                worst_gap = max((g for g, _ in probe.gaps), default=0.0) * 1000
                worst_call = max((c for c, _ in probe.calls), default=0.0) * 1000
                print(
                    f"RESULT round={round_no} parser={label!r} MB/s={len(body) / 1e6 / wall:.1f} wall={wall:.2f}s "
                    f"cpu={cpu:.2f}s worst_gap_ms={worst_gap:.0f} worst_c_call_ms={worst_call:.0f} same={same}"
                )
                out.clear()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
