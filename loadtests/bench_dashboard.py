"""Dashboard render time for a 100,000-mailbox tenant (issue 10: "renders a 100,000-mailbox tenant's pages in under
a second"), measured server-side through the Flask test client, against the same pages of a 1,000-mailbox tenant
in the same run (the baseline: same rows on every page, so the ratio shows what the tenant's size costs).

    .venv/bin/python loadtests/bench_dashboard.py              # 100,000 mailboxes, 15 renders per page
    .venv/bin/python loadtests/bench_dashboard.py --mailboxes 20000 --repeat 5   # a quicker look

Before measuring, 1% of the big tenant's mailboxes are made cloud-managed, 200 AD users get an edit the next cycle
has not synced yet (drift), and 2,000 audit records and 2,000 journal entries are added, so filters and the
activity previews have something to show. Prints a table: median and worst render per page, both tenants, ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.tenant import TenantRegistry


def prepare(tenant, *, cloud_share: float = 0.01, drift: int = 200, activity: int = 2000) -> None:
    """Give the tenant cloud-managed mailboxes, pending AD edits, audit records and journal entries."""
    with tenant.lock:
        mailboxes = tenant.mailboxes.values()
        step = max(1, int(1 / cloud_share))
        for mbx in mailboxes[::step]:
            mbx.is_exchange_cloud_managed = True
            tenant.mailboxes.touch(mbx.guid)
        for ad in tenant.ad_users.values()[:drift]:
            ad.attrs["extensionAttribute5"] = "pending-edit"
            tenant.ad_users.touch(ad.sam_account_name.lower())
        now = tenant.clock.now()
        for i in range(activity):
            mbx = mailboxes[i % len(mailboxes)]
            tenant.add_audit_record(
                "exchange",
                "Set-Mailbox",
                None,
                target=mbx.alias,
                parameters={"Identity": mbx.alias, "IsExchangeCloudManaged": True},
                changes={"IsExchangeCloudManaged": {"old": False, "new": True}},
            )
            tenant.journal.add(
                {
                    "time": now + i,
                    "api": "exchange",
                    "method": "POST",
                    "path": f"/adminapi/beta/{tenant.id}/InvokeCommand",
                    "cmdlet": "Set-Mailbox",
                    "parameters": {"Identity": mbx.alias},
                    "status": 200,
                    "durationMs": 2.0,
                    "caller": {"appId": None, "userPrincipalName": None},
                }
            )


def pages(tenant) -> dict[str, str]:
    """The URLs measured, by label."""
    with tenant.lock:
        mbx = tenant.mailboxes.values()[len(tenant.mailboxes) // 2]
        name = mbx.alias[:4]
    base = f"/tenants/{tenant.name}"
    last = 10**9
    return {
        "tenant page (50 rows)": base,
        "tenant page, 200 rows": f"{base}?per_page=200",
        "filter IsExchangeCloudManaged": f"{base}?cloudmanaged=true",
        "filter type + last page": f"{base}?type=SharedMailbox&dirsynced=true&page={last}",
        "search": f"{base}?q={name}",
        "mailbox detail": f"{base}/mailboxes/{mbx.guid}",
        "audit log, filtered": f"{base}/audit?operation=set-mailbox&outcome=changed",
        "request journal, filtered": f"{base}/requests?status=2xx&cmdlet=set",
        "sync history": f"{base}/sync",
    }


def measure(client, url: str, repeat: int) -> tuple[float, float, float]:
    """(first render, median, worst) in milliseconds over ``repeat`` renders after the first."""
    start = time.perf_counter()
    response = client.get(url)
    first = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return first, statistics.median(times), max(times)


def main(argv=None) -> int:
    """Build both tenants, measure every page, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)

    registry = TenantRegistry(seed=7)
    # The app first, as in a running server: tenants created afterwards get their dashboard counts primed.
    client = create_app(registry).test_client()
    started = time.perf_counter()
    big = registry.create("big", seed=7, mailboxes=args.mailboxes, frozen_clock=True)
    seeded = time.perf_counter() - started
    small = registry.create("small", seed=7, mailboxes=1000, frozen_clock=True)
    prepare(big)
    prepare(small, cloud_share=0.1)
    print(
        f"seeded {args.mailboxes:,}-mailbox tenant in {seeded:.1f} s; {args.repeat} renders per page after a "
        f"first (cold) one; server-side time through the Flask test client"
    )
    print(f"{'page':34} {'first ms':>9} {'median ms':>10} {'worst ms':>9} {'1k-mbx median':>14} {'ratio':>7}")
    worst_median = 0.0
    small_pages = pages(small)
    for label, url in pages(big).items():
        # The baseline first, so template compilation is not charged to the big tenant's first render.
        _, base_median, _ = measure(client, small_pages[label], args.repeat)
        first, median, worst = measure(client, url, args.repeat)
        worst_median = max(worst_median, median)
        print(f"{label:34} {first:9.1f} {median:10.1f} {worst:9.1f} {base_median:14.1f} {median / base_median:6.1f}x")
    print(f"slowest page median: {worst_median:.1f} ms ({'under' if worst_median < 1000 else 'OVER'} one second)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
