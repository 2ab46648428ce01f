"""outlook.office365.com admin API: InvokeCommand and $batch (Exchange issue)."""
from flask import Blueprint

bp = Blueprint("exchange", __name__)
