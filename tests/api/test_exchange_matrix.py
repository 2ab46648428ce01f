"""The authorization matrix: every seeded identity of a new tenant (plus an app whose only Exchange access is a
custom role) x every emulated Exchange cmdlet x every behaviour profile -> the exact outcome, through the real
InvokeCommand envelope over the Flask test client."""

from __future__ import annotations

import re

import pytest

from hybridsoa.mock.domain.connect import lifecycle
from hybridsoa.mock.domain.entra.directory import EntraUser
from hybridsoa.mock.domain.exchange import adminapi_cmdlets as folders
from hybridsoa.mock.domain.exchange.dispatch import all_cmdlets
from hybridsoa.mock.domain.exchange.recipient_cmdlets import new_cloud_mailbox

from .test_rbac_cmdlets import _least_privilege, add_app, invoke

OK, SILENT = "ok", "silent"
UNAUTHENTICATED, FORBIDDEN, NOT_RECOGNIZED = "401 unauthenticated", "403 no Exchange access", "403 not recognized"
#: An authorized read of a distribution group's members: no groups are modelled, so the real not-found answer.
GROUP_NOT_FOUND = "404 ManagementObjectNotFound"


def unknown(param: str) -> str:
    return f"400 parameter not found: {param}"


IDENTITIES = {
    "app automation": {"app": "automation"},
    "app graph-reader": {"app": "graph-reader"},
    "app exchange-approle-only": {"app": "exchange-approle-only"},
    "app soa-least-privilege": {"app": "soa-least-privilege"},
    "user globaladmin": {"user": "globaladmin"},
    "user exchangeadmin": {"user": "exchangeadmin"},
    "user hybridadmin": {"user": "hybridadmin"},
    "user helpdesk": {"user": "helpdesk"},
    "user globalreader": {"user": "globalreader"},
    "user user": {"user": "user"},
}

TOGGLE, CUSTOM_ATTR, SEND_ON_BEHALF = (
    "Set-Mailbox -IsExchangeCloudManaged",
    "Set-Mailbox -CustomAttribute1",
    "Set-Mailbox -GrantSendOnBehalfTo",
)
RECIPIENT_READS = {
    "Get-Mailbox",
    "Get-Recipient",
    "Get-User",
    "Get-MailUser",
    "Get-MailboxFolderPermission",
    "Get-DistributionGroupMember",
    "Get-DynamicDistributionGroupMember",
}
GROUP_READS = {"Get-DistributionGroupMember", "Get-DynamicDistributionGroupMember"}


def expected(identity: str, probe: str, profile: str) -> str:
    """The outcome the real service's rules give (DESIGN.md, domain-behaviour §1.4/§1.5/§4, docs/fidelity.md)."""
    outcome = _expected(identity, probe, profile)
    return GROUP_NOT_FOUND if outcome == OK and probe in GROUP_READS else outcome


def _expected(identity: str, probe: str, profile: str) -> str:
    reads = probe.startswith("Get-")
    toggle_by_profile = {"ga": OK, "preview": SILENT, "strict": unknown("IsExchangeCloudManaged")}
    if identity == "app graph-reader":
        return UNAUTHENTICATED  # no Exchange.ManageAsApp
    if identity in ("app exchange-approle-only", "user user", "user hybridadmin"):
        return FORBIDDEN  # no directory role that links to a role group, no assignment
    if identity in ("app automation", "user exchangeadmin"):  # Exchange Administrator -> Organization Management
        return toggle_by_profile[profile] if probe == TOGGLE else OK
    if identity == "user globaladmin":
        return OK
    if identity == "user globalreader":  # View-Only Organization Management
        return OK if reads else NOT_RECOGNIZED
    if identity == "user helpdesk":  # Help Desk: User Options + View-Only Recipients
        if probe in RECIPIENT_READS or probe == SEND_ON_BEHALF:
            return OK
        if probe == TOGGLE:
            return unknown("IsExchangeCloudManaged")
        return unknown("CustomAttribute1") if probe == CUSTOM_ATTR else NOT_RECOGNIZED
    if identity == "app soa-least-privilege":  # custom role: Set-Mailbox {Identity, IsExchangeCloudManaged}
        if probe == TOGGLE:
            return toggle_by_profile[profile]
        if probe == CUSTOM_ATTR:
            return unknown("CustomAttribute1")
        return unknown("GrantSendOnBehalfTo") if probe == SEND_ON_BEHALF else NOT_RECOGNIZED
    raise AssertionError(identity)


# ------------------------------------------------------------------------------------------------ probes
def _custom_role(tenant, name, drop=None):
    rbac = tenant.rbac
    if rbac._role_or_none(name) is None:
        rbac.new_role(name, "Mail Recipients")
    if drop and rbac.role(name).entry(drop) is not None:
        rbac.remove_role_entry(f"{name}\\{drop}")
    return name


def _target_sp(tenant, present: bool):
    app = tenant.app_by_name("matrix-target")
    rbac = tenant.rbac
    exists = app.service_principal_id.lower() in rbac.service_principals
    if present and not exists:
        rbac.new_service_principal(app.app_id, app.service_principal_id)
    if not present and exists:
        rbac.remove_service_principal(app.service_principal_id)
    return app


def _soft_deleted(tenant, key):
    mbx = new_cloud_mailbox(tenant, f"sd-{key}")
    lifecycle.soft_delete_mailbox_now(tenant, mbx)
    return mbx.alias


def _member(tenant, present: bool) -> str:
    """The non-identity user the role-group membership probes add and remove."""
    upn = f"matrix-member@{tenant.domain}"
    if tenant.user_by_upn(upn) is None:
        tenant.users.put(
            "matrix-member",
            EntraUser(
                id=tenant.ids.guid(),
                user_principal_name=upn,
                display_name="Matrix member",
                mail_nickname="matrix-member",
            ),
        )
    user = tenant.user_by_upn(upn)
    members = tenant.rbac.group_members.setdefault("help desk", [])
    if present and user.id not in members:
        members.append(user.id)
    if not present and user.id in members:
        members.remove(user.id)
    return upn


def _folder(tenant, present: bool) -> dict:
    """Calendar of a cloud mailbox, with (or without) an entry for the plain user, for the folder probes."""
    mbx = _cloud_managed(tenant)
    identity = f"{mbx.primary_smtp_address}:\\Calendar"
    key, display = folders._principal(tenant, f"user@{tenant.domain}")
    has = any(e["Key"] == key for e in (mbx.folder_permissions or {}).get("Calendar") or [])
    if present and not has:
        folders._store(
            tenant,
            mbx,
            "Calendar",
            folders._entries(mbx, "Calendar")
            + [{"Key": key, "User": display, "AccessRights": ["Reviewer"], "SharingPermissionFlags": None}],
        )
    if not present and has:
        mbx.folder_permissions = None
    return {"Identity": identity, "User": f"user@{tenant.domain}"}


def _assignment(tenant, key):
    _target_sp(tenant, True)
    return tenant.rbac.new_assignment("View-Only Recipients", app="matrix-target", name=f"ra-{key}").name


#: probe name -> (cmdlet, setup(tenant, key) -> parameters)
PROBES = {
    "Get-Mailbox": ("Get-Mailbox", lambda t, k: {}),
    "Get-Recipient": ("Get-Recipient", lambda t, k: {}),
    "Get-User": ("Get-User", lambda t, k: {}),
    "Get-OrganizationConfig": ("Get-OrganizationConfig", lambda t, k: {}),
    "Get-AcceptedDomain": ("Get-AcceptedDomain", lambda t, k: {}),
    "Get-DistributionGroupMember": ("Get-DistributionGroupMember", lambda t, k: {"Identity": "All Staff"}),
    "Get-DynamicDistributionGroupMember": ("Get-DynamicDistributionGroupMember", lambda t, k: {"Identity": "All"}),
    "Get-MailboxFolderPermission": (
        "Get-MailboxFolderPermission",
        lambda t, k: {"Identity": _folder(t, False)["Identity"]},
    ),
    "Add-MailboxFolderPermission": (
        "Add-MailboxFolderPermission",
        lambda t, k: {**_folder(t, False), "AccessRights": ["Reviewer"]},
    ),
    "Set-MailboxFolderPermission": (
        "Set-MailboxFolderPermission",
        lambda t, k: {**_folder(t, True), "AccessRights": ["Editor"]},
    ),
    "Remove-MailboxFolderPermission": ("Remove-MailboxFolderPermission", lambda t, k: _folder(t, True)),
    "Get-RoleGroup": ("Get-RoleGroup", lambda t, k: {}),
    "Get-RoleGroupMember": ("Get-RoleGroupMember", lambda t, k: {"Identity": "Organization Management"}),
    "Add-RoleGroupMember": ("Add-RoleGroupMember", lambda t, k: {"Identity": "Help Desk", "Member": _member(t, False)}),
    "Remove-RoleGroupMember": (
        "Remove-RoleGroupMember",
        lambda t, k: {"Identity": "Help Desk", "Member": _member(t, True)},
    ),
    "Get-ManagementRole": ("Get-ManagementRole", lambda t, k: {}),
    "Get-ManagementRoleEntry": ("Get-ManagementRoleEntry", lambda t, k: {"Identity": "Mail Recipients\\*"}),
    "Get-ManagementRoleAssignment": ("Get-ManagementRoleAssignment", lambda t, k: {}),
    "Get-ManagementScope": ("Get-ManagementScope", lambda t, k: {}),
    "Get-ServicePrincipal": ("Get-ServicePrincipal", lambda t, k: {}),
    TOGGLE: ("Set-Mailbox", lambda t, k: {"Identity": _toggle_target(t).alias, "IsExchangeCloudManaged": True}),
    CUSTOM_ATTR: ("Set-Mailbox", lambda t, k: {"Identity": _cloud_managed(t).alias, "CustomAttribute1": k}),
    SEND_ON_BEHALF: ("Set-Mailbox", lambda t, k: {"Identity": _cloud_managed(t).alias, "GrantSendOnBehalfTo": []}),
    "Set-User": ("Set-User", lambda t, k: {"Identity": f"user@{t.domain}", "Title": k}),
    "Get-MailUser": ("Get-MailUser", lambda t, k: {}),
    "Set-MailUser": ("Set-MailUser", lambda t, k: {"Identity": _cloud_mail_user(t), "CustomAttribute1": k}),
    "New-MoveRequest": (
        "New-MoveRequest",
        lambda t, k: {"Identity": _movable(t), "Outbound": True, "RemoteHostName": "mail.contoso.example"},
    ),
    "Get-MoveRequest": ("Get-MoveRequest", lambda t, k: {}),
    "Get-MoveRequestStatistics": ("Get-MoveRequestStatistics", lambda t, k: {"Identity": _moving(t)}),
    "Set-OrganizationConfig": (
        "Set-OrganizationConfig",
        lambda t, k: {"ExchangeAttributesServerManagedByDefault": True},
    ),
    "Undo-SoftDeletedMailbox": ("Undo-SoftDeletedMailbox", lambda t, k: {"SoftDeletedObject": _soft_deleted(t, k)}),
    "New-ManagementRole": ("New-ManagementRole", lambda t, k: {"Name": f"nr-{k}", "Parent": "Mail Recipients"}),
    "Remove-ManagementRole": ("Remove-ManagementRole", lambda t, k: {"Identity": _custom_role(t, f"rr-{k}")}),
    "Add-ManagementRoleEntry": (
        "Add-ManagementRoleEntry",
        lambda t, k: {"Identity": _custom_role(t, f"ae-{k}", drop="Get-User") + "\\Get-User"},
    ),
    "Remove-ManagementRoleEntry": (
        "Remove-ManagementRoleEntry",
        lambda t, k: {"Identity": _custom_role(t, f"re-{k}") + "\\Get-User"},
    ),
    "Set-ManagementRoleEntry": (
        "Set-ManagementRoleEntry",
        lambda t, k: {
            "Identity": _custom_role(t, f"se-{k}") + "\\Set-Mailbox",
            "Parameters": ["Identity", "IsExchangeCloudManaged"],
        },
    ),
    "New-ManagementScope": (
        "New-ManagementScope",
        lambda t, k: {"Name": f"ns-{k}", "RecipientRestrictionFilter": "Alias -like 'a*'"},
    ),
    "Remove-ManagementScope": (
        "Remove-ManagementScope",
        lambda t, k: {"Identity": t.rbac.new_scope(f"rs-{k}", "Alias -like 'b*'").name},
    ),
    "New-ManagementRoleAssignment": (
        "New-ManagementRoleAssignment",
        lambda t, k: {
            "Role": "View-Only Recipients",
            "App": _target_sp(t, True).service_principal_id,
            "Name": f"na-{k}",
        },
    ),
    "Remove-ManagementRoleAssignment": (
        "Remove-ManagementRoleAssignment",
        lambda t, k: {"Identity": _assignment(t, k)},
    ),
    "New-ServicePrincipal": (
        "New-ServicePrincipal",
        lambda t, k: {
            "AppId": _target_sp(t, False).app_id,
            "ObjectId": t.app_by_name("matrix-target").service_principal_id,
        },
    ),
    "Remove-ServicePrincipal": (
        "Remove-ServicePrincipal",
        lambda t, k: {"Identity": _target_sp(t, True).service_principal_id},
    ),
}

_TOGGLE_ALIAS: dict[str, str] = {}


def _cloud_mail_user(tenant) -> str:
    """A cloud mail user (its Exchange attributes are cloud-mastered), made once per tenant."""
    found = next((m for m in tenant.mailboxes if m.alias == "matrix-mu"), None)
    if found is None:
        from hybridsoa.mock.domain.exchange.recipient_cmdlets import new_mail_user

        found = new_mail_user(tenant, "matrix-mu", "matrix-mu@partner.example")
    return found.alias


def _movable(tenant) -> str:
    """A synced, not cloud-managed user mailbox with no move request yet (earlier probes' requests dropped)."""
    mbx = [m for m in tenant.mailboxes if m.is_dir_synced and m.recipient_type_details == "UserMailbox"][-1]
    mbx.is_exchange_cloud_managed = False
    tenant.move_requests.pop(mbx.exchange_guid, None)
    return mbx.alias


def _moving(tenant) -> str:
    """A mailbox with a move request in progress."""
    alias = _movable(tenant)
    from hybridsoa.mock.domain.exchange.move_requests import _requests

    mbx = next(m for m in tenant.mailboxes if m.alias == alias)
    _requests(tenant)[mbx.exchange_guid] = {
        "id": "00000000-0000-0000-0000-0000000000aa",
        "mailbox": mbx.guid,
        "exchangeGuid": mbx.exchange_guid,
        "queued": tenant.clock.now(),
        "duration": 3600.0,
        "remoteHostName": "mail.contoso.example",
        "targetDeliveryDomain": "contoso.example",
        "remoteTargetDatabase": "",
        "batchName": "",
        "suspendWhenReady": False,
        "completeAfter": None,
        "completed": None,
        "name": mbx.name,
        "alias": mbx.alias,
        "displayName": mbx.display_name,
    }
    return alias


def _toggle_target(tenant):
    """A dir-synced user mailbox, flag reset to False before each toggle probe."""
    mbx = next(m for m in tenant.mailboxes if m.alias == _TOGGLE_ALIAS[tenant.id])
    mbx.is_exchange_cloud_managed = False
    tenant.mailboxes.touch(mbx.guid)
    return mbx


def _cloud_managed(tenant):
    synced = [m for m in tenant.mailboxes if m.is_dir_synced and m.recipient_type_details == "UserMailbox"]
    mbx = synced[1]
    mbx.is_exchange_cloud_managed = True
    tenant.mailboxes.touch(mbx.guid)
    return mbx


_PARAM_RE = re.compile(r"^A parameter cannot be found that matches parameter name '([^']+)'\.$")


def classify(resp) -> str:
    """Map a response to an outcome kind, checking each kind's exact wire shape."""
    if resp.status_code == 200:
        return OK
    if resp.status_code == 401:
        assert resp.get_data() == b""
        return UNAUTHENTICATED
    diag = resp.headers.get("x-ms-diagnostics", "")
    if resp.status_code == 403:
        assert resp.get_data() == b"", "403 answers carry no body"
        if (
            "invalid_cmdlet" in diag
            and "is not recognized" in diag
            and "management role entries" in resp.headers.get("x-hybridsoa-note", "")
        ):
            return NOT_RECOGNIZED
        if "insufficient_role" in diag:
            return FORBIDDEN
        return f"403 {diag}"
    body = resp.get_json(silent=True) or {}
    message = body.get("error", {}).get("details", [{}])[0].get("message", "")
    err_id, exc_type, text = (message.split("|", 2) + ["", ""])[:3]
    if resp.status_code == 404 and exc_type.endswith("ManagementObjectNotFoundException"):
        return GROUP_NOT_FOUND
    m = _PARAM_RE.match(text)
    if resp.status_code == 400 and m and exc_type == "System.Management.Automation.ParameterBindingException":
        return unknown(m.group(1))
    return f"{resp.status_code} {text}"


@pytest.fixture(scope="module")
def covered_cmdlets():
    return {cmdlet for cmdlet, _ in PROBES.values()}


def test_matrix_probes_cover_every_emulated_cmdlet(covered_cmdlets):
    emulated = {spec.name for spec in all_cmdlets()}
    assert emulated - covered_cmdlets == set(), "add a matrix probe for each newly emulated cmdlet"
    assert covered_cmdlets - emulated == set()


@pytest.mark.parametrize("profile", ["ga", "preview", "strict"])
def test_identity_cmdlet_profile_matrix(profile, make_tenant, client, auth_header):
    tenant = make_tenant(name=f"matrix-{profile}", seed=21, mailboxes=6, profile=profile)
    add_app(tenant, "soa-least-privilege")
    add_app(tenant, "matrix-target", app_roles=())
    _least_privilege(
        client, tenant, auth_header(tenant, "exchange", user="globaladmin"), tenant.app_by_name("soa-least-privilege")
    )
    _TOGGLE_ALIAS[tenant.id] = next(
        m.alias for m in tenant.mailboxes if m.is_dir_synced and m.recipient_type_details == "UserMailbox"
    )
    seeded = {f"app {a.name}" for a in tenant.apps if a.name != "matrix-target"} | {
        f"user {u['userPrincipalName'].split('@')[0]}" for u in tenant.credentials()["users"]
    }
    assert seeded == set(IDENTITIES), "every seeded identity (and the custom-role app) is in the matrix"
    headers = {name: auth_header(tenant, "exchange", **who) for name, who in IDENTITIES.items()}
    mismatches, cells = [], 0
    for identity in IDENTITIES:
        for n, (probe, (cmdlet, setup)) in enumerate(PROBES.items()):
            key = f"{identity.split()[1][:10]}-{n}"
            with tenant.lock:
                params = setup(tenant, key)
            audit_before = len(tenant.audit.records)
            resp = invoke(client, tenant, headers[identity], cmdlet, **params)
            got = classify(resp)
            if probe == TOGGLE and got == OK:
                flipped = _toggle_target_state(tenant)
                records = tenant.audit.records[audit_before:]
                assert records and records[-1].operation == "Set-Mailbox" and records[-1].succeeded
                if not flipped:
                    assert records[-1].changed is False
                    body = resp.get_json()
                    assert body["value"] == [] and body["@adminapi.warnings"] == []
                    got = SILENT
            want = expected(identity, probe, profile)
            cells += 1
            if got != want:
                mismatches.append((identity, probe, want, got))
    assert cells == len(IDENTITIES) * len(PROBES)
    assert mismatches == []


def _toggle_target_state(tenant) -> bool:
    return next(m for m in tenant.mailboxes if m.alias == _TOGGLE_ALIAS[tenant.id]).is_exchange_cloud_managed
