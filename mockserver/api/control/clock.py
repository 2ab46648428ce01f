"""Control plane: clock routes (registered on the shared /_mock blueprint)."""
from . import bp  # noqa: F401
