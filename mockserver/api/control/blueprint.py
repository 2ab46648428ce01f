"""The control plane's blueprint (``/_mock``), which every route module of the package registers on."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("control", __name__, url_prefix="/_mock")
