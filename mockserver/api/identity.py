"""login.microsoftonline.com: OpenID configuration, JWKS, token and device code endpoints (foundation issue)."""
from flask import Blueprint

bp = Blueprint("identity", __name__)
