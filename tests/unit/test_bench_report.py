"""The benchmark driver's arithmetic and report (``loadtests/bench.py``) and its baseline endpoint
(``loadtests/baseline_app.py``), on made-up figures: no load is run and no timing is asserted."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest

from loadtests import bench


def _run(rps: float, cpu: float, failures: int = 0, p99: float = 40.0) -> dict:
    return {
        "rps": rps,
        "requests": int(rps * 15),
        "failures": failures,
        "p50": 9.0,
        "p95": 30.0,
        "p99": p99,
        "cpuMsPerRequest": cpu,
    }


def test_pair_ratios_are_per_round_throughput_and_inverse_cpu():
    rounds = [(_run(900, 1.0), _run(1000, 0.8)), (_run(1200, 0.6), _run(1000, 0.9))]
    rps, cpu = bench.pair_ratios(rounds)
    assert rps == pytest.approx([0.9, 1.2])
    assert cpu == pytest.approx([0.8, 1.5])


def test_median_run_takes_medians_and_sums_failures():
    merged = bench._median_run([_run(1, 1.0, failures=2), _run(3, 3.0), _run(2, 2.0, failures=1)])
    assert merged["rps"] == 2 and merged["cpuMsPerRequest"] == 2.0
    assert merged["failures"] == 3 and merged["requests"] == 15 + 45 + 30


def test_report_shows_both_baselines_and_the_target_ratios():
    mock = [_run(1100, 0.40), _run(900, 0.45), _run(1000, 0.50)]
    gunicorn = [_run(500, 1.00), _run(500, 1.10), _run(400, 1.00)]
    granian = [_run(1000, 0.40), _run(1000, 0.45), _run(1250, 0.50)]
    durable = [_run(880, 0.50), _run(810, 0.60), _run(700, 0.55)]
    rounds = list(zip(mock, gunicorn, strict=True))
    load = {
        "rounds": rounds,
        "granian_rounds": list(zip(mock, granian, strict=True)),
        "durable_rounds": list(zip(durable, mock, strict=True)),
        "mock": bench._median_run(mock),
        "baseline": bench._median_run(gunicorn),
        "baseline_granian": bench._median_run(granian),
        "durable": bench._median_run(durable),
        "moto": _run(200, 5.0),
        "mock_half": _run(500, 1.1, p99=12),
        "responseBytes": 238,
        "responseHeaders": 10,
    }
    args = argparse.Namespace(quick=False, users=16, seconds=15, rounds=3)
    text = bench.render(load, [], args)
    assert "same response: 238-byte body, 10 headers" in text
    assert "gunicorn 27 gthread" in text and "bare Flask on granian" in text
    # mock/gunicorn per round 2.20, 1.80, 2.50 -> 2.20; CPU 2.50, 2.44, 2.00 -> 2.44.
    assert (
        "mock / bare Flask on gunicorn 27 throughput: **2.20** (median of the rounds; target >= 1.8); "
        "by server CPU per request: **2.44**" in text
    )
    # mock/granian 1.10, 0.90, 0.80 -> 0.90; CPU 1.00, 1.00, 1.00.
    assert (
        "mock / bare Flask on granian throughput: **0.90** (median of the rounds; target >= 0.85); "
        "by server CPU per request: **1.00**" in text
    )
    # durable/mock 0.80, 0.90, 0.70 -> 0.80; CPU 0.80, 0.75, 0.91 -> 0.80.
    assert "mock --data-dir / mock in memory throughput: **0.80** (median of the rounds; target >= 0.8)" in text
    assert "mock / moto throughput: **5.00x**" in text
    assert "p99 at half load: **12 ms** (target < 20 ms)" in text
    assert text.startswith("<!-- bench.py:start -->") and text.rstrip().endswith("<!-- bench.py:end -->")


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [
            [
                "Content-Type",
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            ],
            ["request-id", "2f6b3a1e-0000-4000-8000-000000000001"],
            ["OData-Version", "4.0"],
            ["Content-Length", "1"],
        ],
    ],
)
def test_baseline_sends_the_configured_body_size_and_headers(monkeypatch, headers):
    monkeypatch.setenv("BASELINE_BYTES", "238")
    monkeypatch.setenv("BASELINE_HEADERS", json.dumps(headers))
    import loadtests.baseline_app as module

    module = importlib.reload(module)
    answer = module.app.test_client().post("/adminapi/beta/t/InvokeCommand", json={"CmdletInput": {}})
    assert answer.status_code == 200 and len(answer.data) == 238
    sent = [(k, v) for k, v in answer.headers.items() if k != "Content-Length"]
    expected = [tuple(h) for h in headers if h[0] != "Content-Length"] or [
        ("Content-Type", "application/json;odata.metadata=minimal")
    ]
    assert sent == expected
    assert answer.headers["Content-Length"] == "238"
