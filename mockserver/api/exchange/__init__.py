"""outlook.office365.com admin API: InvokeCommand and $batch (Exchange issue)."""
from .blueprint import bp

from . import invoke  # noqa: E402,F401  (registers the InvokeCommand and $batch routes on bp)
from . import admin_api  # noqa: E402,F401  (registers the documented Admin API v2.0 endpoints on bp)
