"""``hybridsoa-mock scenario list`` lists every scenario once, even when the shipped folder and the working
directory's ``scenarios/`` are the same folder (running from the repository) or both hold a name."""

from __future__ import annotations

from hybridsoa.mock.domain import scenario_tenant


def test_each_scenario_is_listed_once(tmp_path, monkeypatch):
    shipped, local = tmp_path / "shipped", tmp_path / "local"
    for folder, names in ((shipped, ("b", "a")), (local, ("a", "c"))):
        folder.mkdir()
        for name in names:
            (folder / f"{name}.yaml").write_text("name: x\n")
    monkeypatch.setattr(
        scenario_tenant, "SCENARIO_DIRS", [shipped, tmp_path / "local" / ".." / "shipped", local, tmp_path / "missing"]
    )
    assert scenario_tenant.scenario_names() == ["a", "b", "c"]


def test_the_shipped_scenarios_are_listed_from_the_repository(monkeypatch):
    names = scenario_tenant.scenario_names()
    assert len(names) == len(set(names)) and "cloud-first-licensing" in names
