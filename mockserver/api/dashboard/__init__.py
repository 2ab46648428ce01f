"""Read-only web dashboard at / (dashboard issue)."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)
