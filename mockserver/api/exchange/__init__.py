"""outlook.office365.com admin API: InvokeCommand and $batch (Exchange issue)."""

from . import (
    admin_api,  # noqa: F401  (registers the documented Admin API v2.0 endpoints on bp)
    invoke,  # noqa: F401  (registers the InvokeCommand and $batch routes on bp)
)
from .blueprint import bp  # noqa: F401  (the app registers it)
