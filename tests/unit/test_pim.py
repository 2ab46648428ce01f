"""PIM domain rules: eligibility grants nothing, self activation with policy checks, expiry on the tenant clock,
deactivation, admin assignment and removal, durations."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra import roles as R
from hybridsoa.mock.domain.entra.pim import PimError, parse_duration, parse_schedule
from hybridsoa.mock.domain.entra.tokens import issue_access_token, verify_access_token
from hybridsoa.mock.domain.errors import Forbidden, InvalidArgument, NotImplementedInMock

EXO = R.EXCHANGE_ADMINISTRATOR


@pytest.fixture
def t(make_tenant):
    return make_tenant(name="pim", seed=7, mailboxes=4)


def user_caller(t, name="user"):
    user = t.user_by_upn(f"{name}@{t.domain}")
    token, _ = issue_access_token(t, "graph", app=t.app_by_name("automation"), user=user)
    return user, verify_access_token(t, token, "graph")


def app_caller(t):
    token, _ = issue_access_token(t, "graph", app=t.app_by_name("automation"))
    return verify_access_token(t, token, "graph")


def make_eligible(t, user, role=EXO, expiration=None):
    body = {
        "action": "adminAssign",
        "principalId": user.id,
        "roleDefinitionId": role,
        "directoryScopeId": "/",
        "justification": "on call",
        "scheduleInfo": {"expiration": expiration or {"type": "noExpiration"}},
    }
    return t.pim.submit("eligibility", body, app_caller(t))


def activate(t, caller, user, duration="PT1H", justification="ticket 42", role=EXO):
    body = {
        "action": "selfActivate",
        "principalId": user.id,
        "roleDefinitionId": role,
        "directoryScopeId": "/",
        "justification": justification,
        "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": duration}},
    }
    return t.pim.submit("assignment", body, caller)


@pytest.mark.parametrize(
    "text,seconds",
    [("PT1H", 3600), ("PT30M", 1800), ("P1D", 86400), ("PT1H30M", 5400), ("PT45S", 45), ("P1DT2H", 93600)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1H", "PT", "P", "PTH", "", None, 5])
def test_parse_duration_rejects(text):
    with pytest.raises(InvalidArgument):
        parse_duration(text)


def test_schedule_forms(t):
    now = t.clock.now()
    assert parse_schedule(None, now)["end"] is None
    s = parse_schedule(
        {
            "startDateTime": "2026-01-05T10:00:00Z",
            "expiration": {"type": "afterDateTime", "endDateTime": "2026-01-05T12:00:00Z"},
        },
        now,
    )
    assert s["end"] - s["start"] == 7200
    with pytest.raises(PimError):
        parse_schedule({"expiration": {"type": "afterDateTime", "endDateTime": "2020-01-01T00:00:00Z"}}, now)
    with pytest.raises(InvalidArgument):
        parse_schedule({"expiration": {"type": "sometimes"}}, now)


def test_eligible_grants_nothing_until_activated_then_expires(t):
    user, caller = user_caller(t)
    req = make_eligible(t, user)
    assert req["status"] == "Provisioned" and req["targetScheduleId"]
    assert t.active_role_ids(user.id) == []
    token, _ = issue_access_token(t, "graph", app=t.app_by_name("automation"), user=user)
    assert verify_access_token(t, token, "graph").wids == []

    act = activate(t, caller, user, "PT1H")
    assert act["status"] == "Provisioned" and act["action"] == "selfActivate"
    assert t.active_role_ids(user.id) == [EXO]
    token, _ = issue_access_token(t, "graph", app=t.app_by_name("automation"), user=user)
    assert verify_access_token(t, token, "graph").wids == [EXO]
    assert t.pim.next_due() == pytest.approx(t.clock.now() + 3600)

    t.advance(59)
    assert t.active_role_ids(user.id) == [EXO]
    t.advance(2)
    assert t.active_role_ids(user.id) == []
    assert [a.kind for a in t.role_assignments if a.principal_id == user.id] == ["eligible"]
    assert t.audit.query(operation="Role assignment expired")


@pytest.mark.parametrize(
    "duration,justification,rules",
    [
        ("PT9H", "ok", ["ExpirationRule"]),
        ("PT1H", "", ["JustificationRule"]),
        ("PT10H", None, ["ExpirationRule", "JustificationRule"]),
    ],
)
def test_activation_policy_rules(t, duration, justification, rules):
    user, caller = user_caller(t)
    make_eligible(t, user)
    with pytest.raises(PimError) as exc:
        activate(t, caller, user, duration, justification)
    assert exc.value.code == "RoleAssignmentRequestPolicyValidationFailed"
    assert exc.value.message == "The following policy rules failed: [" + ",".join(f'"{r}"' for r in rules) + "]"
    assert t.active_role_ids(user.id) == []


def test_activation_without_eligibility_fails_eligibility_rule(t):
    user, caller = user_caller(t)
    with pytest.raises(PimError) as exc:
        activate(t, caller, user)
    assert '"EligibilityRule"' in exc.value.message


def test_self_actions_are_for_the_signed_in_user_only(t):
    user, _ = user_caller(t)
    other, other_caller = user_caller(t, "helpdesk")
    make_eligible(t, user)
    with pytest.raises(Forbidden):
        activate(t, other_caller, user)
    with pytest.raises(PimError):
        activate(t, app_caller(t), user)


def test_activation_is_capped_by_a_time_bound_eligibility(t):
    user, caller = user_caller(t)
    make_eligible(t, user, expiration={"type": "afterDuration", "duration": "PT30M"})
    activate(t, caller, user, "PT1H")
    act = next(a for a in t.role_assignments if a.principal_id == user.id and a.kind == "active")
    assert act.end_date_time == pytest.approx(t.clock.now() + 1800)
    t.advance(31)
    assert t.active_role_ids(user.id) == [] and not t.pim.eligibilities(user.id)


def test_deactivate_needs_five_minutes(t):
    user, caller = user_caller(t)
    make_eligible(t, user)
    activate(t, caller, user)
    body = {"action": "selfDeactivate", "principalId": user.id, "roleDefinitionId": EXO, "directoryScopeId": "/"}
    with pytest.raises(PimError) as exc:
        t.pim.submit("assignment", body, caller)
    assert exc.value.code == "ActiveDurationTooShort"
    t.advance(6)
    req = t.pim.submit("assignment", body, caller)
    assert req["status"] == "Revoked" and t.active_role_ids(user.id) == []
    with pytest.raises(PimError) as exc:
        t.pim.submit("assignment", body, caller)
    assert exc.value.code == "RoleAssignmentDoesNotExist"


def test_duplicates_and_admin_remove(t):
    user, caller = user_caller(t)
    make_eligible(t, user)
    with pytest.raises(PimError) as exc:
        make_eligible(t, user)
    assert exc.value.code == "RoleAssignmentExists"
    activate(t, caller, user)
    remove = {"action": "adminRemove", "principalId": user.id, "roleDefinitionId": EXO, "directoryScopeId": "/"}
    assert t.pim.submit("eligibility", remove, app_caller(t))["status"] == "Revoked"
    # Removing the eligibility ends what was activated from it.
    assert t.active_role_ids(user.id) == [] and t.pim.eligibilities(user.id) == []


def test_admin_assign_active_with_end_and_validation_only(t):
    user, _ = user_caller(t)
    body = {
        "action": "adminAssign",
        "principalId": user.id,
        "roleDefinitionId": R.GLOBAL_READER,
        "directoryScopeId": "/",
        "justification": "audit",
        "isValidationOnly": True,
        "scheduleInfo": {"expiration": {"type": "afterDuration", "duration": "P1D"}},
    }
    req = t.pim.submit("assignment", body, app_caller(t))
    assert req["status"] == "Granted" and t.active_role_ids(user.id) == [] and not t.pim.list_requests("assignment")
    body["isValidationOnly"] = False
    t.pim.submit("assignment", body, app_caller(t))
    assert t.active_role_ids(user.id) == [R.GLOBAL_READER]
    t.advance(24 * 60 + 1)
    assert t.active_role_ids(user.id) == []


@pytest.mark.parametrize(
    "patch,error",
    [
        ({"action": "bogus"}, InvalidArgument),
        ({"action": "selfExtend"}, NotImplementedInMock),
        ({"roleDefinitionId": "00000000-0000-0000-0000-000000000000"}, PimError),
        ({"principalId": "00000000-0000-0000-0000-000000000000"}, PimError),
        ({"principalId": None}, InvalidArgument),
        ({"directoryScopeId": "/administrativeUnits/x"}, NotImplementedInMock),
        ({"scheduleInfo": "tomorrow"}, InvalidArgument),
    ],
)
def test_bad_requests_change_nothing(t, patch, error):
    user, _ = user_caller(t)
    body = {
        "action": "adminAssign",
        "principalId": user.id,
        "roleDefinitionId": EXO,
        "directoryScopeId": "/",
        "justification": "x",
        **patch,
    }
    before = len(t.role_assignments)
    with pytest.raises(error):
        t.pim.submit("eligibility", body, app_caller(t))
    assert len(t.role_assignments) == before and not t.pim.requests


def test_state_round_trip(t):
    user, caller = user_caller(t)
    make_eligible(t, user)
    activate(t, caller, user)
    data = t.pim.to_dict()
    t.pim.requests.clear()
    t.pim.load(data)
    assert len(t.pim.list_requests("eligibility")) == 1 and len(t.pim.list_requests("assignment")) == 1
