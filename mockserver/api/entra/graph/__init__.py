"""graph.microsoft.com under ``/v1.0`` and ``/beta`` (same handlers): users, object-level SOA, directory roles and
PIM, deleted items, organization, on-premises synchronization and JSON ``$batch``. Every response carries
``request-id``/``client-request-id``; every error uses the Graph envelope."""

# Route modules register on ``bp`` when imported (catch-all last so it never shadows a real route).
from . import batch, deleted, fallback, licenses, org, roles, users  # noqa: F401
from .blueprint import bp  # noqa: F401  (the app registers it)
