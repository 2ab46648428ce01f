"""Built-in Microsoft Entra directory roles (real template ids) and the permission names the mock knows."""

from __future__ import annotations

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
HYBRID_IDENTITY_ADMINISTRATOR = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"
HELPDESK_ADMINISTRATOR = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
EXCHANGE_RECIPIENT_ADMINISTRATOR = "31392ffb-586c-42d1-9346-e59415a2cc4e"
SECURITY_ADMINISTRATOR = "194ae4cb-b126-40b2-bd5b-6091b380977d"
COMPLIANCE_ADMINISTRATOR = "17315797-102d-40b4-93e0-432062caca18"

#: template id -> (displayName, description)
BUILTIN_ROLES: dict[str, tuple[str, str]] = {
    GLOBAL_ADMINISTRATOR: (
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    ),
    EXCHANGE_ADMINISTRATOR: ("Exchange Administrator", "Can manage all aspects of the Exchange product."),
    HYBRID_IDENTITY_ADMINISTRATOR: (
        "Hybrid Identity Administrator",
        "Can manage Active Directory to Microsoft Entra cloud provisioning, Microsoft Entra Connect, "
        "pass-through authentication (PTA), password hash synchronization (PHS), seamless "
        "single sign-on (seamless SSO), and federation settings.",
    ),
    HELPDESK_ADMINISTRATOR: (
        "Helpdesk Administrator",
        "Can reset passwords for non-administrators and Helpdesk Administrators.",
    ),
    GLOBAL_READER: ("Global Reader", "Can read everything that a Global Administrator can, but not update anything."),
    USER_ADMINISTRATOR: (
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    ),
    PRIVILEGED_ROLE_ADMINISTRATOR: (
        "Privileged Role Administrator",
        "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
    ),
    EXCHANGE_RECIPIENT_ADMINISTRATOR: (
        "Exchange Recipient Administrator",
        "Can create or update Exchange Online recipients within the Exchange Online organization.",
    ),
    SECURITY_ADMINISTRATOR: (
        "Security Administrator",
        "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
    ),
    COMPLIANCE_ADMINISTRATOR: (
        "Compliance Administrator",
        "Can read and manage compliance configuration and reports in Microsoft Entra ID and Microsoft 365.",
    ),
}

ROLE_BY_NAME = {name: tid for tid, (name, _) in BUILTIN_ROLES.items()}

#: Exchange Online resource app and its app role.
EXCHANGE_RESOURCE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
EXCHANGE_MANAGE_AS_APP = "Exchange.ManageAsApp"
EXCHANGE_MANAGE_AS_APP_ID = "dc50a0fb-09a3-484d-be87-e023b12c6440"
GRAPH_RESOURCE_APP_ID = "00000003-0000-0000-c000-000000000000"

#: Resources tokens can be issued for: audience string -> short api name.
RESOURCES = {
    "https://outlook.office365.com": "exchange",
    "https://outlook.office.com": "exchange",
    EXCHANGE_RESOURCE_APP_ID: "exchange",
    "https://graph.microsoft.com": "graph",
    GRAPH_RESOURCE_APP_ID: "graph",
}

#: Delegated scopes a public client gets for each api when it asks for ``<resource>/.default``.
DEFAULT_DELEGATED_SCOPES = {
    "exchange": ["Exchange.Manage"],
    "graph": [
        "User.ReadWrite.All",
        "Directory.Read.All",
        "User-OnPremisesSyncBehavior.ReadWrite.All",
        "RoleManagement.ReadWrite.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "Organization.Read.All",
        "OnPremDirectorySynchronization.Read.All",
    ],
}


def role_name(template_id: str) -> str:
    """Display name of a built-in role template id (or the id itself when unknown)."""
    return BUILTIN_ROLES.get(template_id, (template_id, ""))[0]
