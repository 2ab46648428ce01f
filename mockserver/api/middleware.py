"""Cross-cutting request hooks: request journal, fault injection, throttling (stub: the faults issue fills
this in)."""
from __future__ import annotations


def install(app) -> None:
    """Register before/after request hooks on the app."""
