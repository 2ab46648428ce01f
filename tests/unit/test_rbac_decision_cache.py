"""Exchange RBAC decisions are remembered between calls (the bulk toggle asks the same question thousands of
times): every change that could alter an answer must show on the very next call — RBAC administration, directory
role assignments, schedules starting or ending on the tenant clock, RBAC cmdlets, snapshot restores."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles
from hybridsoa.mock.domain.entra.tokens import Caller
from hybridsoa.mock.domain.errors import CmdletNotRecognized, UnknownParameter
from hybridsoa.mock.domain.exchange import dispatch

TOGGLE = ["Identity", "IsExchangeCloudManaged"]


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="cacheunit", seed=9, mailboxes=6)


def user_caller(tenant, name="user"):
    user = tenant.user_by_upn(f"{name}@{tenant.domain}")
    return Caller(
        tenant_id=tenant.id,
        app_id="public",
        kind="user",
        object_id=user.id,
        user_principal_name=user.user_principal_name,
    )


def admin_caller(tenant):
    return user_caller(tenant, "exchangeadmin")


def test_rbac_administration_takes_effect_on_the_next_call(tenant):
    rbac, caller = tenant.rbac, user_caller(tenant)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    assert not rbac.has_access(caller)
    held = rbac.new_assignment("Mail Recipients", user="user")
    assert rbac.has_access(caller)
    rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    # Trimming the role's entries behind an existing assignment is seen at once too.
    rbac.remove_assignment(held.name)
    rbac.new_role("Toggle Only", "Mail Recipients")
    rbac.new_assignment("Toggle Only", user="user")
    rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    rbac.set_role_entry("Toggle Only\\Set-Mailbox", TOGGLE)
    with pytest.raises(UnknownParameter):
        rbac.authorize(caller, "Set-Mailbox", ["Identity", "CustomAttribute1"])
    rbac.authorize(caller, "Set-Mailbox", TOGGLE)


def test_directory_role_changes_take_effect_on_the_next_call(tenant):
    rbac, caller = tenant.rbac, user_caller(tenant)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    assignment = tenant.assign_role(caller.object_id, roles.EXCHANGE_ADMINISTRATOR)
    rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    tenant.role_assignments.delete(assignment.id)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)


def test_a_schedule_starting_and_ending_on_the_clock_is_seen_without_any_other_change(tenant):
    rbac, caller = tenant.rbac, user_caller(tenant)
    now = tenant.clock.now()
    tenant.assign_role(caller.object_id, roles.EXCHANGE_ADMINISTRATOR, start=now + 3600, end=now + 7200)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    # Move the clock only (no timer runs, no collection changes): the decision must follow the schedule.
    tenant.clock.set(now + 3601)
    rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    tenant.clock.set(now + 7201)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)


def test_rbac_cmdlets_drop_cached_decisions_and_recipient_writes_keep_them(tenant):
    rbac, admin, caller = tenant.rbac, admin_caller(tenant), user_caller(tenant)
    mailbox = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox" and m.is_dir_synced)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    before = rbac.generation
    dispatch.invoke(tenant, admin, "Set-Mailbox", {"Identity": mailbox.alias, "IsExchangeCloudManaged": True})
    assert rbac.generation == before  # recipient edits cannot change RBAC: decisions stay cached
    dispatch.invoke(tenant, admin, "New-ManagementRoleAssignment", {"Role": "Mail Recipients", "User": "user"})
    assert rbac.generation > before
    rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    dispatch.invoke(tenant, caller, "Set-Mailbox", {"Identity": mailbox.alias, "IsExchangeCloudManaged": False})
    assert mailbox.is_exchange_cloud_managed is False


def test_a_restored_rbac_section_replaces_cached_decisions(tenant):
    rbac, caller = tenant.rbac, user_caller(tenant)
    empty = rbac.to_dict()
    rbac.new_assignment("Mail Recipients", user="user")
    rbac.authorize(caller, "Set-Mailbox", TOGGLE)
    rbac.load(empty)
    with pytest.raises(CmdletNotRecognized):
        rbac.authorize(caller, "Set-Mailbox", TOGGLE)
