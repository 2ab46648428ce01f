"""Privileged Identity Management for Microsoft Entra directory roles: role eligibility and role assignment
schedule requests (Graph ``unifiedRoleEligibilityScheduleRequest`` / ``unifiedRoleAssignmentScheduleRequest``)
and the schedules they produce. Eligibilities and assignments live in ``tenant.role_assignments`` (kind
"eligible"/"active"); an eligibility grants nothing until ``selfActivate`` creates a time-bound active assignment,
which this module removes when it expires on the tenant clock."""

from __future__ import annotations

import copy
import re
from typing import Any

from ..clock import iso, parse_iso
from ..errors import DomainError, Forbidden, InvalidArgument, NotFound, NotImplementedInMock
from .roles import BUILTIN_ROLES

ACTIONS = (
    "adminAssign",
    "adminUpdate",
    "adminRemove",
    "selfActivate",
    "selfDeactivate",
    "adminExtend",
    "adminRenew",
    "selfExtend",
    "selfRenew",
)
EMULATED_ACTIONS = ("adminAssign", "adminUpdate", "adminRemove", "selfActivate", "selfDeactivate")
#: Default Entra role setting: activations last at most 8 hours and need a justification.
MAX_ACTIVATION_SECONDS = 8 * 3600
#: PIM refuses to deactivate an activation younger than five minutes.
MIN_ACTIVE_SECONDS = 300
_DURATION_RE = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class PimError(DomainError):
    """A PIM request refused with one of PIM's own error codes (``RoleAssignmentExists`` ...)."""

    status = 400
    kind = "Pim"

    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)
        self.code = code


def policy_failed(*rules: str) -> PimError:
    """``RoleAssignmentRequestPolicyValidationFailed`` listing the failed role-setting rules."""
    listed = ",".join(f'"{r}"' for r in rules)
    return PimError("RoleAssignmentRequestPolicyValidationFailed", f"The following policy rules failed: [{listed}]")


def parse_duration(text: str) -> float:
    """ISO-8601 duration (``PT1H``, ``P1D``, ``PT30M``) in seconds."""
    m = _DURATION_RE.match(text or "") if isinstance(text, str) else None
    if not m or text in ("P", "PT"):
        raise InvalidArgument(f"The duration '{text}' is not a valid ISO 8601 duration.")
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def parse_schedule(info, now: float) -> dict:
    """Normalise a ``requestSchedule`` into start/end epoch seconds plus its Graph form."""
    if info is None:
        info = {}
    if not isinstance(info, dict):
        raise InvalidArgument("Invalid value specified for property 'scheduleInfo'.")
    start = now
    if info.get("startDateTime"):
        try:
            start = parse_iso(info["startDateTime"])
        except (TypeError, ValueError, AttributeError):
            raise InvalidArgument("Invalid value specified for property 'startDateTime'.") from None
    expiration = info.get("expiration") or {}
    if not isinstance(expiration, dict):
        raise InvalidArgument("Invalid value specified for property 'expiration'.")
    kind = expiration.get("type") or (
        "afterDuration"
        if expiration.get("duration")
        else "afterDateTime"
        if expiration.get("endDateTime")
        else "noExpiration"
    )
    end: float | None = None
    duration: Any = None
    if kind == "afterDuration":
        duration = expiration.get("duration")
        end = start + parse_duration(duration)
    elif kind == "afterDateTime":
        try:
            # A missing or non-string value raises here and is refused below.
            end = parse_iso(expiration.get("endDateTime"))  # type: ignore[arg-type]
        except (TypeError, ValueError, AttributeError):
            raise InvalidArgument("Invalid value specified for property 'endDateTime'.") from None
    elif kind not in ("noExpiration", "notSpecified"):
        raise InvalidArgument(f"Invalid value '{kind}' for property 'expiration.type'.")
    if end is not None and end <= start:
        raise policy_failed("ExpirationRule")
    return {
        "start": start,
        "end": end,
        "type": "noExpiration" if kind == "notSpecified" else kind,
        "duration": duration,
    }


def schedule_info(start: float | None, end: float | None, kind: str | None = None, duration: str | None = None) -> dict:
    """The Graph ``requestSchedule`` for a start/end pair."""
    kind = kind or ("noExpiration" if end is None else "afterDateTime")
    return {
        "startDateTime": iso(start),
        "recurrence": None,
        "expiration": {"type": kind, "endDateTime": iso(end), "duration": duration},
    }


class PimState:
    """One tenant's PIM schedule requests, plus the expiry timer for time-bound eligibilities and activations."""

    def __init__(self, tenant):
        self.tenant = tenant
        #: request id -> Graph-shaped request dict (``kind`` "eligibility"|"assignment" kept alongside).
        self.requests: dict[str, dict] = {}
        #: role assignment id -> {"createdUsing": request id, "modifiedDateTime": epoch}
        self.schedule_meta: dict[str, dict] = {}

    # ------------------------------------------------------------ timer
    def next_due(self) -> float | None:
        """Earliest end of a time-bound eligibility or assignment still on the books."""
        assignments = self.tenant.role_assignments
        # Asked before every request: remembered until the collection changes (its sequence moves on put,
        # touch and delete, which is how schedules are created, rescheduled and removed).
        stamp = (id(assignments), assignments.current_seq(), len(assignments))
        cached = self.__dict__.get("_due")
        if cached is not None and cached[0] == stamp:
            return cached[1]
        ends = [a.end_date_time for a in assignments if a.end_date_time is not None]
        due = min(ends) if ends else None
        self.__dict__["_due"] = (stamp, due)
        return due

    def due_by(self, now: float) -> bool:
        """Whether a schedule has ended at ``now`` (asked before every request)."""
        due = self.next_due()
        return due is not None and due <= now

    def run_due(self, now: float) -> None:
        """Remove eligibilities and assignments whose schedule has ended (an expired activation grants nothing)."""
        for a in list(self.tenant.role_assignments):
            if a.end_date_time is not None and a.end_date_time <= now:
                self.tenant.role_assignments.delete(a.id)
                self.schedule_meta.pop(a.id, None)
                self.tenant.add_audit_record(
                    "graph",
                    "Role assignment expired" if a.kind == "active" else "Role eligibility expired",
                    None,
                    target=a.principal_id,
                    parameters={"roleDefinitionId": a.role_definition_id, "scheduleId": a.id},
                    changes={a.kind: {"old": a.role_definition_id, "new": None}},
                )

    # ------------------------------------------------------------ queries
    def eligibilities(self, principal_id: str | None = None) -> list:
        """Eligible assignments (``unifiedRoleEligibilitySchedule`` rows)."""
        return [
            a
            for a in self.tenant.role_assignments
            if a.kind == "eligible" and (principal_id is None or a.principal_id == principal_id)
        ]

    def assignments(self, principal_id: str | None = None) -> list:
        """Active assignments, permanent and time-bound (``unifiedRoleAssignmentSchedule`` rows)."""
        return [
            a
            for a in self.tenant.role_assignments
            if a.kind == "active" and (principal_id is None or a.principal_id == principal_id)
        ]

    def list_requests(self, kind: str, principal_id: str | None = None) -> list[dict]:
        """Schedule requests of one kind, oldest first."""
        return [
            r
            for r in self.requests.values()
            if r["kind"] == kind and (principal_id is None or r["principalId"] == principal_id)
        ]

    def get_request(self, kind: str, request_id: str) -> dict:
        """One schedule request or :class:`NotFound`."""
        req = self.requests.get(request_id)
        if req is None or req["kind"] != kind:
            raise NotFound(
                f"Resource '{request_id}' does not exist or one of its queried reference-property "
                "objects are not present."
            )
        return req

    # ------------------------------------------------------------ requests
    def submit(self, kind: str, body: dict, caller) -> dict:
        """``POST .../roleEligibilityScheduleRequests`` (kind "eligibility") or
        ``.../roleAssignmentScheduleRequests`` (kind "assignment"): validate, apply, return the request."""
        t = self.tenant
        now = t.clock.now()
        if not isinstance(body, dict):
            raise InvalidArgument("Empty Payload. JSON content expected.")
        action = body.get("action")
        if not isinstance(action, str) or action not in ACTIONS:
            raise InvalidArgument(f"Invalid value '{action}' for property 'action'.")
        if action not in EMULATED_ACTIONS:
            raise NotImplementedInMock(f"The action '{action}' is not emulated by the mock.")
        if kind == "eligibility" and action in ("selfActivate", "selfDeactivate"):
            raise InvalidArgument(f"The action '{action}' is not valid for role eligibility schedule requests.")
        principal_id = body.get("principalId")
        role_id = body.get("roleDefinitionId")
        scope = body.get("directoryScopeId") or "/"
        if not isinstance(principal_id, str) or not principal_id:
            raise InvalidArgument("The principalId property is required.")
        if not isinstance(role_id, str) or role_id not in BUILTIN_ROLES:
            raise PimError("RoleNotFound", f"The role definition '{role_id}' was not found.")
        if scope != "/":
            raise NotImplementedInMock("Only the tenant-wide directory scope '/' is emulated.")
        if t.users.get(principal_id) is None and t.app_by_service_principal(principal_id) is None:
            raise PimError("SubjectNotFound", f"The principal '{principal_id}' was not found in the directory.")
        justification = body.get("justification")
        if justification is not None and not isinstance(justification, str):
            raise InvalidArgument("Invalid value specified for property 'justification'.")
        if action.startswith("self"):
            if caller is None or caller.is_app:
                raise PimError("InvalidRequest", "Self actions can only be requested by a signed-in user.")
            if caller.object_id != principal_id:
                raise Forbidden("The principalId must be the object id of the signed-in user for self actions.")
        schedule = parse_schedule(body.get("scheduleInfo"), now)
        validation_only = bool(body.get("isValidationOnly"))
        handler = getattr(self, f"_{kind}_{action}")
        target, status = handler(principal_id, role_id, scope, schedule, justification, validation_only, now)
        request_id = t.ids.guid()
        created_by: dict[str, Any] = {"application": None, "device": None, "user": None}
        if caller is not None and not caller.is_app:
            created_by["user"] = {"id": caller.object_id, "displayName": None}
        elif caller is not None:
            created_by["application"] = {"id": caller.app_id, "displayName": None}
        req = {
            "kind": kind,
            "id": request_id,
            "status": status,
            "action": action,
            "principalId": principal_id,
            "roleDefinitionId": role_id,
            "directoryScopeId": scope,
            "appScopeId": None,
            "isValidationOnly": validation_only,
            "targetScheduleId": target,
            "justification": justification,
            "scheduleInfo": schedule_info(schedule["start"], schedule["end"], schedule["type"], schedule["duration"]),
            "ticketInfo": {
                "ticketNumber": (body.get("ticketInfo") or {}).get("ticketNumber")
                if isinstance(body.get("ticketInfo"), dict)
                else None,
                "ticketSystem": (body.get("ticketInfo") or {}).get("ticketSystem")
                if isinstance(body.get("ticketInfo"), dict)
                else None,
            },
            "createdDateTime": iso(now),
            "completedDateTime": iso(now),
            "approvalId": None,
            "customData": None,
            "createdBy": created_by,
        }
        if not validation_only:
            self.requests[request_id] = req
            if target and target in t.role_assignments:
                self.schedule_meta[target] = {"createdUsing": request_id, "modifiedDateTime": now}
            t.add_audit_record(
                "graph",
                f"{'Eligibility' if kind == 'eligibility' else 'Assignment'} schedule request ({action})",
                caller,
                target=principal_id,
                parameters={"roleDefinitionId": role_id, "action": action, "justification": justification},
                changes={"status": {"old": None, "new": status}, "scheduleId": {"old": None, "new": target}},
            )
        return req

    def _find(self, kind: str, principal_id: str, role_id: str, scope: str, *, assignment_type: str | None = None):
        return [
            a
            for a in self.tenant.role_assignments
            if a.kind == kind
            and a.principal_id == principal_id
            and a.role_definition_id == role_id
            and a.directory_scope_id == scope
            and (assignment_type is None or a.assignment_type == assignment_type)
        ]

    def _create(self, kind, principal_id, role_id, scope, schedule, member_type="Direct", assignment_type="Assigned"):
        a = self.tenant.assign_role(
            principal_id, role_id, kind=kind, start=schedule["start"], end=schedule["end"], member_type=member_type
        )
        a.directory_scope_id = scope
        a.assignment_type = assignment_type
        self.tenant.role_assignments.touch(a.id)
        return a

    def _eligibility_adminAssign(self, principal_id, role_id, scope, schedule, justification, validate, now):
        if self._find("eligible", principal_id, role_id, scope):
            raise PimError("RoleAssignmentExists", "The Role assignment already exists.")
        if validate:
            return None, "Granted"
        return self._create("eligible", principal_id, role_id, scope, schedule).id, "Provisioned"

    def _reschedule(self, found, schedule, validate):
        """adminUpdate of an eligibility or an assignment: move the existing one to the new schedule."""
        if not found:
            raise PimError("RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        if not validate:
            found[0].start_date_time, found[0].end_date_time = schedule["start"], schedule["end"]
            self.tenant.role_assignments.touch(found[0].id)
        return found[0].id, "Provisioned" if not validate else "Granted"

    def _eligibility_adminUpdate(self, principal_id, role_id, scope, schedule, justification, validate, now):
        found = self._find("eligible", principal_id, role_id, scope)
        return self._reschedule(found, schedule, validate)

    def _eligibility_adminRemove(self, principal_id, role_id, scope, schedule, justification, validate, now):
        found = self._find("eligible", principal_id, role_id, scope)
        if not found:
            raise PimError("RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        if validate:
            return found[0].id, "Granted"
        for a in found:
            self.tenant.role_assignments.delete(a.id)
            self.schedule_meta.pop(a.id, None)
        # Removing the eligibility also ends what was activated from it.
        for a in self._find("active", principal_id, role_id, scope, assignment_type="Activated"):
            self.tenant.role_assignments.delete(a.id)
            self.schedule_meta.pop(a.id, None)
        return found[0].id, "Revoked"

    def _assignment_adminAssign(self, principal_id, role_id, scope, schedule, justification, validate, now):
        if self._find("active", principal_id, role_id, scope):
            raise PimError("RoleAssignmentExists", "The Role assignment already exists.")
        if validate:
            return None, "Granted"
        return self._create("active", principal_id, role_id, scope, schedule).id, "Provisioned"

    def _assignment_adminUpdate(self, principal_id, role_id, scope, schedule, justification, validate, now):
        found = self._find("active", principal_id, role_id, scope, assignment_type="Assigned")
        return self._reschedule(found, schedule, validate)

    def _assignment_adminRemove(self, principal_id, role_id, scope, schedule, justification, validate, now):
        found = self._find("active", principal_id, role_id, scope)
        if not found:
            raise PimError("RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        if not validate:
            for a in found:
                self.tenant.role_assignments.delete(a.id)
                self.schedule_meta.pop(a.id, None)
        return found[0].id, "Revoked" if not validate else "Granted"

    def _assignment_selfActivate(self, principal_id, role_id, scope, schedule, justification, validate, now):
        eligible = [
            a
            for a in self._find("eligible", principal_id, role_id, scope)
            if (a.start_date_time is None or a.start_date_time <= schedule["start"])
            and (a.end_date_time is None or a.end_date_time > schedule["start"])
        ]
        failed = []
        if not eligible:
            failed.append("EligibilityRule")
        if schedule["end"] is None or schedule["end"] - schedule["start"] > MAX_ACTIVATION_SECONDS:
            failed.append("ExpirationRule")
        if not (justification or "").strip():
            failed.append("JustificationRule")
        if failed:
            raise policy_failed(*failed)
        if self._find("active", principal_id, role_id, scope):
            raise PimError("RoleAssignmentExists", "The Role assignment already exists.")
        if validate:
            return None, "Granted"
        end = schedule["end"]
        if eligible[0].end_date_time is not None:
            end = min(end, eligible[0].end_date_time)
        a = self._create("active", principal_id, role_id, scope, {**schedule, "end": end}, assignment_type="Activated")
        self.schedule_meta[a.id] = {"activatedUsing": eligible[0].id}
        return a.id, "Provisioned"

    def _assignment_selfDeactivate(self, principal_id, role_id, scope, schedule, justification, validate, now):
        found = self._find("active", principal_id, role_id, scope, assignment_type="Activated")
        if not found:
            raise PimError("RoleAssignmentDoesNotExist", "The Role assignment does not exist.")
        if now - (found[0].start_date_time or found[0].created_date_time) < MIN_ACTIVE_SECONDS:
            raise PimError(
                "ActiveDurationTooShort",
                "The role assignment cannot be deactivated within five minutes of its activation.",
            )
        if not validate:
            for a in found:
                self.tenant.role_assignments.delete(a.id)
                self.schedule_meta.pop(a.id, None)
        return found[0].id, "Revoked" if not validate else "Granted"

    # ------------------------------------------------------------ rendering helpers (Graph vocabulary)
    def schedule_view(self, a) -> dict:
        """A role assignment as ``unifiedRoleEligibilitySchedule`` / ``unifiedRoleAssignmentSchedule``."""
        meta = self.schedule_meta.get(a.id, {})
        view = {
            "id": a.id,
            "principalId": a.principal_id,
            "roleDefinitionId": a.role_definition_id,
            "directoryScopeId": a.directory_scope_id,
            "appScopeId": None,
            "createdUsing": meta.get("createdUsing"),
            "createdDateTime": iso(a.created_date_time),
            "modifiedDateTime": iso(meta.get("modifiedDateTime")),
            "status": "Provisioned",
            "memberType": a.member_type,
            "scheduleInfo": schedule_info(a.start_date_time or a.created_date_time, a.end_date_time),
        }
        if a.kind == "active":
            view["assignmentType"] = a.assignment_type
        return view

    def instance_view(self, a) -> dict:
        """A role assignment in effect now as ``unifiedRoleAssignmentScheduleInstance`` /
        ``unifiedRoleEligibilityScheduleInstance`` (one instance per non-recurring schedule)."""
        view = {
            "id": a.id,
            "principalId": a.principal_id,
            "roleDefinitionId": a.role_definition_id,
            "directoryScopeId": a.directory_scope_id,
            "appScopeId": None,
            "startDateTime": iso(a.start_date_time or a.created_date_time),
            "endDateTime": iso(a.end_date_time),
            "memberType": a.member_type,
        }
        if a.kind == "active":
            view.update(
                {"assignmentType": a.assignment_type, "roleAssignmentScheduleId": a.id, "roleAssignmentOriginId": a.id}
            )
        else:
            view["roleEligibilityScheduleId"] = a.id
        return view

    def instances(self, kind: str, principal_id: str | None = None) -> list:
        """Eligibilities (kind "eligible") or assignments ("active") whose schedule covers the current time."""
        now = self.tenant.clock.now()
        return [
            a
            for a in self.tenant.role_assignments
            if a.kind == kind
            and (principal_id is None or a.principal_id == principal_id)
            and (a.start_date_time is None or a.start_date_time <= now)
            and (a.end_date_time is None or now < a.end_date_time)
        ]

    def to_dict(self) -> dict:
        """Serializable state."""
        return copy.deepcopy({"requests": self.requests, "scheduleMeta": self.schedule_meta})

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
        self.requests = copy.deepcopy(dict(data.get("requests") or {}))
        self.schedule_meta = copy.deepcopy(dict(data.get("scheduleMeta") or {}))
