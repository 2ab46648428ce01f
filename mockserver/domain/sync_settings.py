"""Entra Connect scheduler and export settings as ``PATCH /_mock/tenants/{t}/sync`` takes them
(``Set-ADSyncScheduler``, ``Enable-ADSyncExportDeletionThreshold``, OU filtering, Cloud Sync write-back):
validated as a whole before any of them applies."""
from __future__ import annotations

import copy

from .errors import InvalidArgument
from .sync_rules import parse_version


def validated_settings(current: dict, patch: dict) -> dict:
    """The settings after ``patch``, or :class:`InvalidArgument` for the first bad key or value (nothing applied)."""
    new = copy.deepcopy(current)
    for key, value in patch.items():
        if key == "intervalMinutes":
            new[key] = _int_in(key, value, 1, 10080)
        elif key == "enabled":
            new[key] = _bool(key, value)
        elif key == "connectVersion":
            if parse_version(value) is None:
                raise InvalidArgument("connectVersion must be a dotted version such as 2.5.190.0.")
            new[key] = value.strip()
        elif key == "ouScope":
            if not isinstance(value, list) or not all(isinstance(v, str) and _looks_like_dn(v) for v in value):
                raise InvalidArgument("ouScope must be a list of distinguished names (OU=...,DC=...).")
            new[key] = [v.strip() for v in value]
        elif key == "deletionThreshold":
            new[key] = None if value is None else _int_in(key, value, 0, 10_000_000)
        elif key == "writeback":
            if not isinstance(value, dict):
                raise InvalidArgument("writeback must be an object {enabled, intervalMinutes}.")
            for wk, wv in value.items():
                if wk == "enabled":
                    new["writeback"]["enabled"] = _bool("writeback.enabled", wv)
                elif wk == "intervalMinutes":
                    new["writeback"]["intervalMinutes"] = _int_in("writeback.intervalMinutes", wv, 1, 1440)
                else:
                    raise InvalidArgument(f"Unknown writeback setting '{wk}'.")
        else:
            raise InvalidArgument(f"Unknown sync setting '{key}'.")
    return new


def _int_in(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidArgument(f"{name} must be an integer from {lo} to {hi}.")
    return value


def _bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be true or false.")
    return value


def _looks_like_dn(text: str) -> bool:
    parts = [p.strip() for p in text.split(",")]
    return bool(parts) and all("=" in p and p.split("=", 1)[0].strip() and p.split("=", 1)[1].strip()
                               for p in parts)
