"""Exchange Online RBAC: management roles, role groups, scopes, assignments and their cmdlets."""
