"""Issue 21, over real TLS: on a 10,000-mailbox tenant a 10,000-star ``-like`` and a 10,000-term ``-Filter`` each
answer within a second (and a 10,000-term chain of ``-like`` patterns), and ``/_mock/health`` keeps answering
while they run. The bound is generous (on an idle 2-core machine each takes about a third of it; before, 30 stars
took over a minute) and each filter is timed as the best of three runs, so a neighbour's burst of CPU on a shared
machine is not mistaken for the mock's cost. The linearity itself is shown by work counts in
tests/unit/test_linear_evaluators.py."""

from __future__ import annotations

import threading
import time

import pytest

from .wire import exchange_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.mock_tenant(mailboxes=10_000)
def test_pathological_filters_on_a_big_tenant_answer_within_a_second(tenant, mock_session):
    token = exchange_token(mock_session, tenant)
    url = f"{tenant['url']}/adminapi/beta/{tenant['tenantId']}/InvokeCommand"
    health_times: list[float] = []
    stop = threading.Event()

    def poll_health():
        while not stop.is_set():
            started = time.perf_counter()
            answer = mock_session.get(f"{tenant['url']}/_mock/health", timeout=5)
            assert answer.status_code == 200
            health_times.append(time.perf_counter() - started)

    def get_mailbox(text: str):
        """(answer, best time of three runs)."""
        best = None
        for _ in range(3):
            started = time.perf_counter()
            response = mock_session.post(
                url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
                json={
                    "CmdletInput": {
                        "CmdletName": "Get-Mailbox",
                        "Parameters": {"Filter": text, "ResultSize": "Unlimited"},
                    }
                },
            )
            took = time.perf_counter() - started
            best = took if best is None else min(best, took)
        return response, best

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    try:
        stars, stars_took = get_mailbox("Name -like '" + "*" * 10_000 + "#'")
        first = "Name -eq 'nobody'"
        names = " -or ".join([first] + [f"Alias -eq 'a{i}'" for i in range(9_999)])
        terms, terms_took = get_mailbox(names)
        likes = " -or ".join(f"Name -like '*nobody{i}*'" for i in range(10_000))
        like_terms, likes_took = get_mailbox(likes)  # before: over five minutes (a wildcard match per term)
    finally:
        stop.set()
        poller.join(timeout=10)
    assert stars.status_code == 200 and stars.json()["value"] == [], stars.text[:300]
    assert terms.status_code == 200 and terms.json()["value"] == [], terms.text[:300]
    assert stars_took < 1.0, stars_took
    assert like_terms.status_code == 200 and like_terms.json()["value"] == [], like_terms.text[:300]
    assert terms_took < 1.0, terms_took
    assert likes_took < 1.0, likes_took
    assert health_times and max(health_times) < 1.0, health_times
