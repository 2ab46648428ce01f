"""The Exchange Online admin API's blueprint, which the InvokeCommand routes register on."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("exchange", __name__)
