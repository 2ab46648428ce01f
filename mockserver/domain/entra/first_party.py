"""Microsoft's first-party public clients that exist in every Entra tenant (Azure CLI, Microsoft Graph Command
Line Tools, Exchange Online PowerShell): their default client ids sign in to any tenant without an app
registration, as public clients (no secret), so unmodified tools and azure-identity's defaults work."""

from __future__ import annotations

import uuid

from .directory import Application

#: client id -> display name, as Entra's sign-in logs name them (docs/fidelity.md cites the sources).
FIRST_PARTY_PUBLIC_CLIENTS = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Microsoft Azure CLI",
    "14d82eec-204b-4c2f-b7e8-296a70dab67e": "Microsoft Graph Command Line Tools",
    "fb78d390-0c51-40cd-8e17-fdbfab77341b": "Microsoft Exchange REST API Based Powershell",
}
#: Namespace for the mock's stand-in service principal ids (mock-only: Entra gives each tenant its own object).
_NAMESPACE = uuid.UUID("6f1c2b1e-4a1d-4c59-9c57-2a64f5f0d3a1")


def _build(client_id: str, name: str) -> Application:
    return Application(
        name=name,
        app_id=client_id,
        object_id=str(uuid.uuid5(_NAMESPACE, f"app:{client_id}")),
        service_principal_id=str(uuid.uuid5(_NAMESPACE, f"sp:{client_id}")),
        client_secret="",
        certificate_pem="",
        private_key_pem="",
        thumbprint="",
        thumbprint_sha256="",
        app_roles=[],
    )


_APPS = {client_id: _build(client_id, name) for client_id, name in FIRST_PARTY_PUBLIC_CLIENTS.items()}


def first_party_app(client_id: str | None) -> Application | None:
    """The first-party public client with this client id (any letter case), or None: Entra knows Microsoft's own
    public clients in every tenant without a registration in it."""
    if not isinstance(client_id, str):
        return None
    return _APPS.get(client_id.strip().lower())


def is_first_party(app) -> bool:
    """Whether ``app`` is one of the first-party public clients (which hold no secret or certificate)."""
    return app is not None and _APPS.get(getattr(app, "app_id", None) or "") is app
