"""Microsoft Graph ``user`` rules: the v1.0 property vocabulary, which properties a synced (on-premises
mastered) user refuses, cloud-only create/update/delete, the object-level Source of Authority switch
(``onPremisesSyncBehavior.isCloudManaged``) and the deleted-items container with its 30-day retention."""

from __future__ import annotations

import re

from ...clock import iso, parse_iso
from ...connect import lifecycle
from ...connect.forward_sync import push_user
from ...errors import InvalidArgument, NotFound, SyncedObjectReadOnly
from ..directory import EntraUser

#: Every property of ``microsoft.graph.user`` in the v1.0 CSDL, with its type (namespace prefixes dropped).
USER_PROPERTIES: dict[str, str] = {
    "aboutMe": "String",
    "accountEnabled": "Boolean",
    "ageGroup": "String",
    "assignedLicenses": "Collection(assignedLicense)",
    "assignedPlans": "Collection(assignedPlan)",
    "authorizationInfo": "authorizationInfo",
    "birthday": "DateTimeOffset",
    "businessPhones": "Collection(String)",
    "city": "String",
    "companyName": "String",
    "consentProvidedForMinor": "String",
    "country": "String",
    "createdDateTime": "DateTimeOffset",
    "creationType": "String",
    "customSecurityAttributes": "customSecurityAttributeValue",
    "department": "String",
    "deviceEnrollmentLimit": "Int32",
    "displayName": "String",
    "employeeHireDate": "DateTimeOffset",
    "employeeId": "String",
    "employeeLeaveDateTime": "DateTimeOffset",
    "employeeOrgData": "employeeOrgData",
    "employeeType": "String",
    "externalUserState": "String",
    "externalUserStateChangeDateTime": "DateTimeOffset",
    "faxNumber": "String",
    "givenName": "String",
    "hireDate": "DateTimeOffset",
    "identities": "Collection(objectIdentity)",
    "identityParentId": "String",
    "imAddresses": "Collection(String)",
    "interests": "Collection(String)",
    "isManagementRestricted": "Boolean",
    "isResourceAccount": "Boolean",
    "jobTitle": "String",
    "lastPasswordChangeDateTime": "DateTimeOffset",
    "legalAgeGroupClassification": "String",
    "licenseAssignmentStates": "Collection(licenseAssignmentState)",
    "mail": "String",
    "mailboxSettings": "mailboxSettings",
    "mailNickname": "String",
    "mobilePhone": "String",
    "mySite": "String",
    "officeLocation": "String",
    "onPremisesDistinguishedName": "String",
    "onPremisesDomainName": "String",
    "onPremisesExtensionAttributes": "onPremisesExtensionAttributes",
    "onPremisesImmutableId": "String",
    "onPremisesLastSyncDateTime": "DateTimeOffset",
    "onPremisesProvisioningErrors": "Collection(onPremisesProvisioningError)",
    "onPremisesSamAccountName": "String",
    "onPremisesSecurityIdentifier": "String",
    "onPremisesSyncEnabled": "Boolean",
    "onPremisesUserPrincipalName": "String",
    "otherMails": "Collection(String)",
    "passwordPolicies": "String",
    "passwordProfile": "passwordProfile",
    "pastProjects": "Collection(String)",
    "postalCode": "String",
    "preferredDataLocation": "String",
    "preferredLanguage": "String",
    "preferredName": "String",
    "print": "userPrint",
    "provisionedPlans": "Collection(provisionedPlan)",
    "proxyAddresses": "Collection(String)",
    "responsibilities": "Collection(String)",
    "schools": "Collection(String)",
    "securityIdentifier": "String",
    "serviceProvisioningErrors": "Collection(serviceProvisioningError)",
    "showInAddressList": "Boolean",
    "signInActivity": "signInActivity",
    "signInSessionsValidFromDateTime": "DateTimeOffset",
    "skills": "Collection(String)",
    "state": "String",
    "streetAddress": "String",
    "surname": "String",
    "usageLocation": "String",
    "userPrincipalName": "String",
    "userType": "String",
}
ALL_PROPERTIES = ("id", "deletedDateTime") + tuple(USER_PROPERTIES)

#: What GET /users and GET /users/{id} return without $select.
#: Every navigation property of ``microsoft.graph.user`` in the v1.0 CSDL (the mock models ``manager`` and
#: ``directReports``; Graph refuses the rest as the mock cannot answer them).
NAVIGATION_PROPERTIES = frozenset(
    {
        "activities",
        "adhocCalls",
        "agreementAcceptances",
        "appRoleAssignments",
        "authentication",
        "calendar",
        "calendarGroups",
        "calendars",
        "calendarView",
        "chats",
        "cloudClipboard",
        "cloudPCs",
        "contactFolders",
        "contacts",
        "createdObjects",
        "dataSecurityAndGovernance",
        "deviceManagementTroubleshootingEvents",
        "directReports",
        "drive",
        "drives",
        "employeeExperience",
        "events",
        "extensions",
        "followedSites",
        "inferenceClassification",
        "insights",
        "joinedTeams",
        "licenseDetails",
        "mailFolders",
        "managedAppRegistrations",
        "managedDevices",
        "manager",
        "memberOf",
        "messages",
        "oauth2PermissionGrants",
        "onenote",
        "onlineMeetings",
        "onPremisesSyncBehavior",
        "outlook",
        "ownedDevices",
        "ownedObjects",
        "people",
        "permissionGrants",
        "photo",
        "photos",
        "planner",
        "presence",
        "registeredDevices",
        "scopedRoleMemberOf",
        "settings",
        "solutions",
        "sponsorOf",
        "sponsors",
        "teamwork",
        "todo",
        "transitiveMemberOf",
    }
)

DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)

#: Graph property -> EntraUser attribute, for properties the directory model holds itself.
FIELD_MAP = {
    "userPrincipalName": "user_principal_name",
    "displayName": "display_name",
    "givenName": "given_name",
    "surname": "surname",
    "jobTitle": "job_title",
    "department": "department",
    "mail": "mail",
    "mailNickname": "mail_nickname",
    "accountEnabled": "account_enabled",
    "userType": "user_type",
    "usageLocation": "usage_location",
}

#: Never settable through PATCH /users (service-maintained or only changed through other APIs).
READ_ONLY = frozenset(
    {
        "id",
        "deletedDateTime",
        "createdDateTime",
        "creationType",
        "proxyAddresses",
        "assignedLicenses",
        "assignedPlans",
        "provisionedPlans",
        "licenseAssignmentStates",
        "onPremisesDistinguishedName",
        "onPremisesDomainName",
        "onPremisesImmutableId",
        "onPremisesLastSyncDateTime",
        "onPremisesProvisioningErrors",
        "onPremisesSamAccountName",
        "onPremisesSecurityIdentifier",
        "onPremisesSyncEnabled",
        "onPremisesUserPrincipalName",
        "securityIdentifier",
        "signInActivity",
        "serviceProvisioningErrors",
        "externalUserState",
        "externalUserStateChangeDateTime",
        "identityParentId",
        "isManagementRestricted",
        "lastPasswordChangeDateTime",
        "legalAgeGroupClassification",
        "mailboxSettings",
        "print",
        "signInSessionsValidFromDateTime",
        "authorizationInfo",
        "customSecurityAttributes",
        "deviceEnrollmentLimit",
    }
)

#: Writable on a synced user too: cloud-only attributes that Entra Connect does not master.
CLOUD_MASTERED = frozenset(
    {
        "usageLocation",
        "preferredLanguage",
        "preferredDataLocation",
        "aboutMe",
        "birthday",
        "interests",
        "mySite",
        "pastProjects",
        "responsibilities",
        "schools",
        "skills",
        "preferredName",
    }
)

#: Writable scalar/collection types (complex types are handled by name).
_SIMPLE_TYPES = {"String": str, "Boolean": bool, "Int32": int}

SYNCED_MESSAGE = (
    "Unable to update the specified properties for on-premises mastered Directory Sync objects or "
    "objects currently undergoing migration."
)
RETENTION_DAYS = 30
_EXT_KEYS = tuple(f"extensionAttribute{i}" for i in range(1, 16))
#: Characters Entra allows in the part of a UPN before the @ (letters, digits and ' . - _ ! # ^ ~).
_UPN_LOCAL_RE = re.compile(r"^[A-Za-z0-9'._!#^~-]{1,64}$")
_NICK_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}$")


def _ext_attrs(user: EntraUser) -> dict:
    attrs = user.on_premises_extension_attributes
    return {key: (attrs[i] if i < len(attrs) else None) for i, key in enumerate(_EXT_KEYS)}


def _sid(user: EntraUser) -> str:
    # Entra derives a cloud SID (S-1-12-1-...) from the object id's four 32-bit words.
    hexid = user.id.replace("-", "")
    return "S-1-12-1-" + "-".join(str(int(hexid[i : i + 8], 16)) for i in range(0, 32, 8))


_MIN_DATE = "0001-01-01T00:00:00Z"

#: Graph property -> how to read it from an EntraUser (properties not listed come from ``user.extra`` or null).
_GETTERS = {
    "id": lambda u: u.id,
    "deletedDateTime": lambda u: iso(u.deleted_date_time),
    "businessPhones": lambda u: list(u.extra.get("businessPhones") or []),
    "otherMails": lambda u: list(u.extra.get("otherMails") or []),
    "imAddresses": lambda u: list(u.extra.get("imAddresses") or []),
    "assignedLicenses": lambda u: [
        {"disabledPlans": list(lic.get("disabledPlans") or ()), "skuId": lic["skuId"]} for lic in u.assigned_licenses
    ],
    "assignedPlans": lambda u: [dict(p) for p in u.assigned_plans],
    # The tenant-free reading (the service's status is patched in by graph_view_in where a tenant is at hand).
    "provisionedPlans": lambda u: [
        {"capabilityStatus": p["capabilityStatus"], "provisioningStatus": "Success", "service": p["service"]}
        for p in u.assigned_plans
    ],
    "identities": lambda u: [
        {
            "signInType": "userPrincipalName",
            "issuer": u.user_principal_name.split("@")[-1],
            "issuerAssignedId": u.user_principal_name,
        }
    ],
    "proxyAddresses": lambda u: list(u.proxy_addresses),
    "createdDateTime": lambda u: iso(u.created_date_time),
    "deviceEnrollmentLimit": lambda u: 5,
    "birthday": lambda u: u.extra.get("birthday") or _MIN_DATE,
    "hireDate": lambda u: u.extra.get("hireDate") or _MIN_DATE,
    "onPremisesSyncEnabled": lambda u: u.on_premises_sync_enabled,
    "onPremisesImmutableId": lambda u: u.on_premises_immutable_id,
    "onPremisesSamAccountName": lambda u: u.on_premises_sam_account_name,
    "onPremisesDistinguishedName": lambda u: u.on_premises_distinguished_name,
    "onPremisesDomainName": lambda u: u.on_premises_domain_name,
    "onPremisesUserPrincipalName": lambda u: u.on_premises_user_principal_name,
    "onPremisesSecurityIdentifier": lambda u: u.on_premises_security_identifier,
    "onPremisesLastSyncDateTime": lambda u: iso(u.on_premises_last_sync_date_time),
    "onPremisesExtensionAttributes": _ext_attrs,
    "onPremisesProvisioningErrors": lambda u: [dict(e) for e in u.on_premises_provisioning_errors],
    "securityIdentifier": _sid,
}
for _name, _attr in FIELD_MAP.items():
    _GETTERS[_name] = (lambda attr: lambda u: getattr(u, attr))(_attr)


def graph_property(user: EntraUser, name: str):
    """One property of the user in Graph's vocabulary (null for properties the mock does not model)."""
    getter = _GETTERS.get(name)
    if getter is not None:
        return getter(user)
    return user.extra.get(name)


def graph_view(user: EntraUser, names=None) -> dict:
    """The user in Graph's vocabulary: every property (the full projection ``$select`` picks from), or only
    ``names`` (what a filter or a page needs, so large tenants are not rendered whole on every request)."""
    return {name: graph_property(user, name) for name in (ALL_PROPERTIES if names is None else names)}


def graph_view_in(tenant, user: EntraUser, names=None) -> dict:
    """:func:`graph_view` with the properties that need the tenant (provisionedPlans: each service's own
    provisioning status, e.g. Exchange's PendingInput for an on-premises mailbox)."""
    view = graph_view(user, names)
    if "provisionedPlans" in view and user.assigned_plans:
        from ..licensing import provisioned_plans

        view["provisionedPlans"] = provisioned_plans(tenant, user)
    return view


def find_user(tenant, key: str, *, include_deleted: bool = False) -> EntraUser:
    """``/users/{id | userPrincipalName}``: the live user, or :class:`NotFound` in Graph's words."""
    user = tenant.users.get(key)
    if user is None and "@" in key:
        user = tenant.user_by_upn(key)
    if user is None or (user.deleted_date_time is not None and not include_deleted):
        raise NotFound(
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        )
    return user


def _check_value(name: str, value) -> None:
    kind = USER_PROPERTIES[name]
    bad = InvalidArgument(f"Invalid value specified for property '{name}' of resource 'User'.")
    if value is None:
        if name in (
            "accountEnabled",
            "displayName",
            "userPrincipalName",
            "mailNickname",
            "passwordProfile",
            "onPremisesExtensionAttributes",
        ) or kind.startswith("Collection("):
            raise bad
        return
    if kind in _SIMPLE_TYPES:
        expected = _SIMPLE_TYPES[kind]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise bad
    elif kind == "Collection(String)":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        if name == "businessPhones" and len(value) > 1:
            raise bad
    elif kind == "DateTimeOffset":
        try:
            parse_iso(value)
        except (TypeError, ValueError, AttributeError):
            raise bad from None
    elif kind == "onPremisesExtensionAttributes":
        if (
            not isinstance(value, dict)
            or any(k not in _EXT_KEYS and not k.startswith("@odata") for k in value)
            or any(v is not None and not isinstance(v, str) for k, v in value.items() if k in _EXT_KEYS)
        ):
            raise bad
    elif kind == "passwordProfile" and (not isinstance(value, dict) or not isinstance(value.get("password", ""), str)):
        raise bad
    if isinstance(value, str) and len(value) > 1024:
        raise bad


def validate_changes(body: dict, *, creating: bool = False) -> dict:
    """Check a PATCH/POST body against the user type: unknown, read-only and mistyped properties are refused."""
    if not isinstance(body, dict):
        raise InvalidArgument("Empty Payload. JSON content expected.")
    changes = {}
    for name, value in body.items():
        if name.startswith("@odata") or "@odata." in name:
            continue
        if name not in USER_PROPERTIES and name not in ("id", "deletedDateTime"):
            raise InvalidArgument(
                f"Property '{name}' does not exist on type 'microsoft.graph.user'.", code="BadRequest"
            )
        if name in READ_ONLY and not (creating and name == "onPremisesImmutableId"):
            raise InvalidArgument(f"Property '{name}' is read-only and cannot be set.")
        _check_value(name, value)
        changes[name] = value
    return changes


def _check_upn(tenant, upn: str, *, exclude: str | None = None) -> None:
    local, _, domain = upn.partition("@")
    if not _UPN_LOCAL_RE.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidArgument("Property userPrincipalName is invalid.")
    if not local or domain.lower() not in verified_domains(tenant):
        raise InvalidArgument(
            "The domain portion of the userPrincipalName property is invalid. You must use one of "
            "the verified domain names in your organization."
        )
    other = tenant.user_by_upn(upn)
    if other is not None and other.id != exclude:
        raise InvalidArgument(
            "Another object with the same value for property userPrincipalName already exists.", conflict=True
        )


def verified_domains(tenant) -> list[str]:
    """The tenant's verified domain names (its initial ``onmicrosoft.com`` domain)."""
    return [tenant.domain.lower()]


def _apply(tenant, user: EntraUser, changes: dict) -> dict:
    applied = {}
    for name, value in changes.items():
        if name == "passwordProfile":
            if value.get("password"):
                user.password = value["password"]
                applied[name] = {"old": None, "new": "(password set)"}
            continue
        if name in FIELD_MAP:
            old = getattr(user, FIELD_MAP[name])
            setattr(user, FIELD_MAP[name], value)
        elif name == "onPremisesImmutableId":
            # Settable on create only (validate_changes): the source anchor a later hard match joins on.
            old = user.on_premises_immutable_id
            user.on_premises_immutable_id = value
        elif name == "onPremisesExtensionAttributes":
            old = list(user.on_premises_extension_attributes)
            attrs = list(old) + [None] * (15 - len(old))
            for i, key in enumerate(_EXT_KEYS):
                if key in value:
                    attrs[i] = value[key]
            user.on_premises_extension_attributes = attrs
            value = attrs
        else:
            old = user.extra.get(name)
            user.extra[name] = value
        if old != value:
            applied[name] = {"old": old, "new": value}
    return applied


def update_user(tenant, user: EntraUser, body: dict, caller=None) -> dict:
    """``PATCH /users/{id}``: synced users refuse on-premises-mastered properties; returns the real changes."""
    changes = validate_changes(body)
    mastered = [name for name in changes if name not in CLOUD_MASTERED]
    if user.is_synced and mastered:
        tenant.add_audit_record(
            "graph", "Update user", caller, target=user.id, parameters=body, succeeded=False, error=SYNCED_MESSAGE
        )
        raise SyncedObjectReadOnly(SYNCED_MESSAGE)
    if "userPrincipalName" in changes:
        _check_upn(tenant, changes["userPrincipalName"], exclude=user.id)
    if "mailNickname" in changes and not _NICK_RE.match(changes["mailNickname"] or ""):
        raise InvalidArgument("Invalid value specified for property 'mailNickname' of resource 'User'.")
    applied = _apply(tenant, user, changes)
    if applied:
        tenant.users.touch(user.id)
        tenant.sync.index.index_user(user.id, user)
        if {"displayName", "userPrincipalName"} & set(applied):
            # Identity edits reach the user's Exchange mailbox through forward sync (with its delay).
            push_user(tenant, user)
    tenant.add_audit_record("graph", "Update user", caller, target=user.id, parameters=_redact(body), changes=applied)
    return applied


def _redact(body: dict) -> dict:
    if isinstance(body, dict) and "passwordProfile" in body:
        return {**body, "passwordProfile": {"password": "***"}}
    return body


def create_user(tenant, body: dict, caller=None) -> EntraUser:
    """``POST /users``: a cloud-only member user; accountEnabled, displayName, mailNickname,
    userPrincipalName and passwordProfile are required."""
    changes = validate_changes(body, creating=True)
    for required in ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"):
        if changes.get(required) in (None, ""):
            raise InvalidArgument(
                f"Property '{required}' is required when creating the user."
                if required != "passwordProfile"
                else "Invalid value specified for property 'passwordProfile' of resource 'User'."
            )
    if not changes["passwordProfile"].get("password"):
        raise InvalidArgument("Invalid value specified for property 'passwordProfile' of resource 'User'.")
    if not _NICK_RE.match(changes["mailNickname"]):
        raise InvalidArgument("Invalid value specified for property 'mailNickname' of resource 'User'.")
    _check_upn(tenant, changes["userPrincipalName"])
    user = EntraUser(
        id=tenant.ids.guid(),
        user_principal_name=changes["userPrincipalName"],
        display_name=changes["displayName"],
        created_date_time=tenant.clock.now(),
    )
    _apply(tenant, user, changes)
    tenant.users.put(user.id, user)
    tenant.sync.index.index_user(user.id, user)
    tenant.add_audit_record(
        "graph",
        "Add user",
        caller,
        target=user.id,
        parameters=_redact(body),
        changes={"userPrincipalName": {"old": None, "new": user.user_principal_name}},
    )
    return user


# ------------------------------------------------------------------ lifecycle (shared with Entra Connect)
# Entra Connect's lifecycle module owns mailbox side effects, DeletingCloudOnlyObjectNotAllowed and purges.


def delete_user(tenant, user: EntraUser, caller=None) -> None:
    """``DELETE /users/{id}``: soft delete into deleted items (30 days); synced users are refused."""
    if user.is_synced:
        tenant.add_audit_record("graph", "Delete user", caller, target=user.id, succeeded=False, error=SYNCED_MESSAGE)
        raise SyncedObjectReadOnly(SYNCED_MESSAGE)
    lifecycle.soft_delete_user(tenant, user)
    tenant.add_audit_record(
        "graph",
        "Delete user",
        caller,
        target=user.id,
        changes={"deletedDateTime": {"old": None, "new": iso(user.deleted_date_time)}},
    )


def revoke_sign_in_sessions(tenant, user: EntraUser, caller=None) -> None:
    """Graph ``revokeSignInSessions``: sessions issued before now are invalid (``signInSessionsValidFromDateTime``);
    the token service and resource checks compare against it."""
    user.extra["signInSessionsValidFromDateTime"] = iso(tenant.clock.now())
    tenant.add_audit_record("graph", "Revoke user sign-in sessions", caller, target=user.id)


def deleted_users(tenant) -> list[EntraUser]:
    """Users in the deleted-items container, oldest deletion first (expired ones purged first)."""
    purge_expired(tenant)
    return sorted((u for u in tenant.users if u.deleted_date_time is not None), key=lambda u: u.deleted_date_time)


def find_deleted(tenant, key: str) -> EntraUser:
    """``/directory/deletedItems/{id}``: a soft-deleted user, or :class:`NotFound`."""
    purge_expired(tenant)
    user = tenant.users.get(key)
    if user is None or user.deleted_date_time is None:
        raise NotFound(
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
        )
    return user


def restore_deleted(tenant, user: EntraUser, caller=None) -> EntraUser:
    """``POST /directory/deletedItems/{id}/restore``: back to a live user (UPN must still be free)."""
    other = tenant.user_by_upn(user.user_principal_name)
    if other is not None:
        raise InvalidArgument(
            "Another object with the same value for property userPrincipalName already exists.", conflict=True
        )
    lifecycle.restore_user(tenant, user.id)
    tenant.add_audit_record(
        "graph", "Restore user", caller, target=user.id, changes={"deletedDateTime": {"old": "set", "new": None}}
    )
    return user


def purge_deleted(tenant, user: EntraUser, caller=None) -> None:
    """``DELETE /directory/deletedItems/{id}``: permanent deletion."""
    lifecycle.purge_user(tenant, user.id)
    tenant.add_audit_record(
        "graph", "Hard delete user", caller, target=user.id, changes={"purged": {"old": False, "new": True}}
    )


def purge_expired(tenant) -> int:
    """Purge users deleted more than 30 days ago on the tenant clock (if no timer got there first)."""
    cutoff = tenant.clock.now() - RETENTION_DAYS * 86400
    expired = [u for u in tenant.users if u.deleted_date_time is not None and u.deleted_date_time <= cutoff]
    for user in expired:
        lifecycle.purge_user(tenant, user.id)
    return len(expired)


# ------------------------------------------------------------------ object-level SOA
def set_sync_behavior(tenant, user: EntraUser, is_cloud_managed, caller=None) -> dict:
    """``PATCH /users/{id}/onPremisesSyncBehavior``: move the user's SOA to the cloud (true) or hand it back to
    Entra Connect (false; the next cycle takes it over). Only objects that came from on-premises qualify."""
    if not isinstance(is_cloud_managed, bool):
        raise InvalidArgument(
            "Invalid value specified for property 'isCloudManaged' of resource 'OnPremisesSyncBehavior'."
        )
    if user.on_premises_immutable_id is None and user.on_premises_sync_enabled is None and not user.is_cloud_managed:
        # No public source gives Graph's answer for a never-synced user (docs/fidelity.md): the text is the mock's.
        raise InvalidArgument(
            "The Source of Authority can only be changed for objects synchronized from an on-premises directory.",
            note="no public source for this refusal: code and text are hybridsoa's",
        )
    old = {"isCloudManaged": user.is_cloud_managed, "onPremisesSyncEnabled": user.on_premises_sync_enabled}
    lifecycle.set_object_soa(tenant, user, is_cloud_managed)
    new = {"isCloudManaged": user.is_cloud_managed, "onPremisesSyncEnabled": user.on_premises_sync_enabled}
    changes = {k: {"old": old[k], "new": new[k]} for k in old if old[k] != new[k]}
    operation = (
        "Change Source of Authority from AD to cloud"
        if is_cloud_managed
        else "Undo changes to Source of Authority from AD DS to cloud"
    )
    tenant.add_audit_record(
        "graph", operation, caller, target=user.id, parameters={"isCloudManaged": is_cloud_managed}, changes=changes
    )
    return changes
