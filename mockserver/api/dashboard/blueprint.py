"""The dashboard's blueprint (``/``), which the route module registers on."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__)
