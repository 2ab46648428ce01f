"""Snapshot class paths: a snapshot names each object's class by its dotted path; only the mock's own domain
classes load back, under the name the package is installed as now and under the old top-level ``mockserver``
name (snapshots written before the packages were installed as ``hybridsoa.mock``), including modules that moved
into per-service folders."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.entra.directory import EntraUser
from hybridsoa.mock.domain.errors import InvalidArgument
from hybridsoa.mock.domain.faults import FaultRule


def test_a_class_path_names_the_installed_package_and_loads_back():
    path = snapshot.class_path(object.__new__(FaultRule))
    assert path == f"{FaultRule.__module__}.FaultRule"
    assert snapshot._load_class(path) is FaultRule


OLD_CLASS_PATHS = [
    "mockserver.domain.faults.FaultRule",  # rename-packages: keep
    "mockserver.domain.directory.EntraUser",  # rename-packages: keep (before the per-service folders)
]


@pytest.mark.parametrize("old_path", OLD_CLASS_PATHS)
def test_snapshots_naming_the_old_top_level_package_still_load(old_path):
    assert snapshot._load_class(old_path) in (FaultRule, EntraUser)


OUTSIDE_THE_DOMAIN = [
    "os.system",
    "builtins.eval",
    "mockserverx.domain.faults.FaultRule",
    "mockserver.api.common.ControlError",  # rename-packages: keep
]


@pytest.mark.parametrize("path", OUTSIDE_THE_DOMAIN)
def test_classes_outside_the_domain_package_are_refused(path):
    with pytest.raises(InvalidArgument, match="unknown object class"):
        snapshot._load_class(path)
