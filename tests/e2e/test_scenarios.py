"""Every shipped scenario runs green over real HTTPS against the plugin's server (real token endpoint, wire
envelopes and SDK workflows), and the runner reports failures honestly."""

from pathlib import Path

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.scenario_tenant import load_scenario
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.scenario_runner import (
    FlaskDriver,
    HttpDriver,
    Response,
    check,
    lookup,
    main,
    run_scenario,
    substitute,
)

SCENARIOS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


def test_there_are_scenarios_for_every_documented_story():
    assert {
        "pilot-to-production",
        "tenant-default",
        "preview-silent-failure",
        "deletion-threshold",
        "writeback-legacy-app",
        "revert-loses-edits",
        "old-connect-version",
        "restore-cloud-first",
        "sdk-bulk-waves",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes_over_https(name, mock_server):
    results, _ = run_scenario(load_scenario(name), HttpDriver(mock_server.url, mock_server.ca_path))
    failed = [f"#{r.index} {r.name}: {r.detail}" for r in results if not r.passed]
    assert not failed, "\n".join(failed)
    assert len(results) == len(load_scenario(name)["steps"]) + 1


def test_in_process_flask_driver_runs_a_scenario_without_sockets():
    results, variables = run_scenario(load_scenario("revert-loses-edits"), FlaskDriver(create_app(TenantRegistry(5))))
    assert all(r.passed for r in results), [r.detail for r in results if not r.passed]
    assert variables["domain"].endswith(".onmicrosoft.com")


def test_cli_exit_codes(tmp_path, mock_server, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tenant: {mailboxes: {UserMailbox: 1}}\nsteps:\n"
        "  - {cmdlet: Get-Mailbox, params: {Identity: nobody-here}, expect: {status: 200}}\n"
    )
    assert main(["run", str(bad), "--url", mock_server.url, "--ca", mock_server.ca_path]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("tenant: {colour: blue}\n")
    assert main(["run", str(broken)]) == 2


def test_runner_reports_a_failing_expectation():
    resp = Response(200, {}, '{"value": [{"Alias": "a", "IsExchangeCloudManaged": false}]}')
    assert check({"status": 200, "json": {"value[0].Alias": "a"}}, resp) == []
    failures = check({"status": 201, "json": {"value[0].IsExchangeCloudManaged": True}, "len": {"value": 2}}, resp)
    assert len(failures) == 3


def test_substitution_keeps_types_and_paths_resolve():
    assert substitute({"a": "${n}", "b": "x-${n}"}, {"n": 3}) == {"a": 3, "b": "x-3"}
    assert lookup({"value": [{"x": {"y": 1}}]}, "value[0].x.y") == 1


def test_post_tenants_seeds_from_a_scenario_name(mock_session, mock_server):
    resp = mock_session.post(f"{mock_server.url}/_mock/tenants", json={"scenario": "pilot-to-production"})
    assert resp.status_code == 201, resp.text
    tid = resp.json()["tenantId"]
    users = mock_session.get(f"{mock_server.url}/_mock/tenants/{tid}/onprem/users/pilot-room").json()
    assert users["msExchRecipientTypeDetails"] == 8589934592
    assert mock_session.delete(f"{mock_server.url}/_mock/tenants/{tid}").status_code in (200, 204)
