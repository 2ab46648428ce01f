"""Every shipped scenario runs green in-process (Flask test client, real token endpoint and wire envelopes)."""
from pathlib import Path

import pytest

from mockserver.app import create_app
from mockserver.domain.scenario_tenant import load_scenario
from mockserver.domain.tenant import TenantRegistry
from mockserver.scenario_runner import FlaskDriver, check, lookup, run_scenario, substitute, Response

SCENARIOS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


def test_there_are_scenarios_for_every_documented_story():
    assert {"pilot-to-production", "tenant-default", "preview-silent-failure", "deletion-threshold",
            "writeback-legacy-app", "revert-loses-edits", "old-connect-version",
            "restore-cloud-first"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes(name):
    scenario = load_scenario(name)
    results, _ = run_scenario(scenario, FlaskDriver(create_app(TenantRegistry(seed=5))))
    failed = [f"#{r.index} {r.name}: {r.detail}" for r in results if not r.passed]
    assert not failed, "\n".join(failed)


def test_runner_reports_a_failing_expectation():
    resp = Response(200, {}, '{"value": [{"Alias": "a", "IsExchangeCloudManaged": false}]}')
    assert check({"status": 200, "json": {"value[0].Alias": "a"}}, resp) == []
    failures = check({"status": 201, "json": {"value[0].IsExchangeCloudManaged": True}, "len": {"value": 2}}, resp)
    assert len(failures) == 3


def test_substitution_keeps_types_and_paths_resolve():
    assert substitute({"a": "${n}", "b": "x-${n}"}, {"n": 3}) == {"a": 3, "b": "x-3"}
    assert lookup({"value": [{"x": {"y": 1}}]}, "value[0].x.y") == 1
