"""graph.microsoft.com under /v1.0 and /beta (Graph issue)."""
from flask import Blueprint

bp = Blueprint("graph", __name__)
