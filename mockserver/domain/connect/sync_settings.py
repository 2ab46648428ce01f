"""Entra Connect scheduler and export settings as ``PATCH /_mock/tenants/{t}/sync`` takes them
(``Set-ADSyncScheduler``, ``Enable-ADSyncExportDeletionThreshold``, OU filtering, Cloud Sync write-back) and as
Graph's ``PATCH /directory/onPremisesSynchronization/{id}`` changes them (accidental-deletion prevention and the
``onPremisesDirectorySynchronizationFeature`` flags): validated as a whole before any of them applies."""

from __future__ import annotations

import copy

from ..errors import InvalidArgument
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
            new[key] = None if value is None else _int_in(key, value, 0, INT32_MAX)
        elif key == "mockCycleIntervalMinutes":
            new[key] = None if value is None else _int_in(key, value, 1, 10080)
        elif key == "deletionPreventionType":
            if value not in PREVENTION_TYPES:
                raise InvalidArgument(f"deletionPreventionType must be one of {', '.join(PREVENTION_TYPES)}.")
            new[key] = value
        elif key == "features":
            if not isinstance(value, dict) or any(
                k not in FEATURES or not isinstance(v, bool) for k, v in value.items()
            ):
                raise InvalidArgument("features must map onPremisesDirectorySynchronizationFeature flags to booleans.")
            new[key] = {**(new.get("features") or {}), **value}
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


#: Entra Connect's AllowedSyncCycleInterval: Set-ADSyncScheduler keeps a shorter CustomizedSyncCycleInterval but
#: the scheduler runs at this interval (how-to-connect-sync-feature-scheduler).
ALLOWED_SYNC_CYCLE_MINUTES = 30
INT32_MAX = 2_147_483_647
#: onPremisesDirectorySynchronizationDeletionPreventionType (v1.0 CSDL; unknownFutureValue is not settable).
PREVENTION_TYPES = ("disabled", "enabledForCount", "enabledForPercentage")
#: onPremisesDirectorySynchronizationFeature (v1.0 CSDL) with the values a new Entra Connect tenant shows.
FEATURES: dict[str, bool] = {
    "allowOnPremUpdateOfOnPremisesObjectIdentifierEnabled": False,
    "blockCloudObjectTakeoverThroughHardMatchEnabled": False,
    "blockSoftMatchEnabled": False,
    "bypassDirSyncOverridesEnabled": False,
    "cloudPasswordPolicyForPasswordSyncedUsersEnabled": False,
    "concurrentCredentialUpdateEnabled": False,
    "concurrentOrgIdProvisioningEnabled": True,
    "deviceWritebackEnabled": False,
    "directoryExtensionsEnabled": False,
    "fopeConflictResolutionEnabled": False,
    "groupWriteBackEnabled": False,
    "passwordSyncEnabled": True,
    "passwordWritebackEnabled": False,
    "quarantineUponProxyAddressesConflictEnabled": True,
    "quarantineUponUpnConflictEnabled": True,
    "softMatchOnUpnEnabled": True,
    "synchronizeUpnForManagedUsersEnabled": True,
    "unifiedGroupWritebackEnabled": False,
    "userForcePasswordChangeOnLogonEnabled": False,
    "userWritebackEnabled": False,
}
_TYPE = "microsoft.graph.onPremisesDirectorySynchronization"


def effective_interval_minutes(settings: dict) -> int:
    """CurrentlyEffectiveSyncCycleInterval: the customized interval, never below AllowedSyncCycleInterval, unless
    the mock-only ``mockCycleIntervalMinutes`` overrides the cadence."""
    override = settings.get("mockCycleIntervalMinutes")
    if override:
        return int(override)
    return max(int(settings["intervalMinutes"]), ALLOWED_SYNC_CYCLE_MINUTES)


def deletion_threshold_reached(settings: dict, deletes: int, synced: int) -> bool:
    """Prevent accidental deletes: the export stops when the pending deletes meet or exceed the threshold (the
    Entra Connect notification: "This met or exceeded the configured deletion threshold value"); a percentage
    threshold is taken of the synced objects. A threshold of 0 or none, or the type ``disabled``, never stops."""
    threshold = settings.get("deletionThreshold")
    kind = settings.get("deletionPreventionType", "enabledForCount")
    if not threshold or kind == "disabled" or deletes <= 0:
        return False
    if kind == "enabledForPercentage":
        return deletes * 100 >= threshold * max(synced, 0)
    return deletes >= threshold


def _bad_value(value, type_name: str) -> InvalidArgument:
    return InvalidArgument(
        f"Cannot convert the literal '{value}' to the expected type '{type_name}'.", code="BadRequest"
    )


def _unknown(name: str, type_name: str) -> InvalidArgument:
    return InvalidArgument(
        f"Property '{name}' does not exist on type 'microsoft.graph.{type_name}'.", code="BadRequest"
    )


def graph_patch(body: dict) -> dict:
    """``PATCH /directory/onPremisesSynchronization/{id}``: the body (``configuration.accidentalDeletionPrevention``
    and ``features``, CSDL names and types) as a settings patch for :func:`validated_settings`."""
    patch: dict = {}
    for key, value in body.items():
        if key.startswith("@odata") or key == "id":
            continue
        if key == "configuration":
            if value is None:
                continue
            if not isinstance(value, dict):
                raise _bad_value(value, "microsoft.graph.onPremisesDirectorySynchronizationConfiguration")
            for ckey, cvalue in value.items():
                if ckey.startswith("@odata"):
                    continue
                if ckey != "accidentalDeletionPrevention":
                    raise _unknown(ckey, "onPremisesDirectorySynchronizationConfiguration")
                if cvalue is None:
                    continue
                if not isinstance(cvalue, dict):
                    raise _bad_value(cvalue, "microsoft.graph.onPremisesAccidentalDeletionPrevention")
                for pkey, pvalue in cvalue.items():
                    if pkey.startswith("@odata"):
                        continue
                    if pkey == "synchronizationPreventionType":
                        if pvalue not in PREVENTION_TYPES:
                            raise _bad_value(
                                pvalue, "microsoft.graph.onPremisesDirectorySynchronizationDeletionPreventionType"
                            )
                        patch["deletionPreventionType"] = pvalue
                    elif pkey == "alertThreshold":
                        if pvalue is not None and (
                            isinstance(pvalue, bool) or not isinstance(pvalue, int) or not 0 <= pvalue <= INT32_MAX
                        ):
                            raise _bad_value(pvalue, "Edm.Int32")
                        patch["deletionThreshold"] = pvalue
                    else:
                        raise _unknown(pkey, "onPremisesAccidentalDeletionPrevention")
        elif key == "features":
            if not isinstance(value, dict):
                raise _bad_value(value, "microsoft.graph.onPremisesDirectorySynchronizationFeature")
            flags = {}
            for fkey, fvalue in value.items():
                if fkey.startswith("@odata"):
                    continue
                if fkey not in FEATURES:
                    raise _unknown(fkey, "onPremisesDirectorySynchronizationFeature")
                if not isinstance(fvalue, bool):
                    raise _bad_value(fvalue, "Edm.Boolean")
                flags[fkey] = fvalue
            patch["features"] = flags
        else:
            raise _unknown(key, "onPremisesDirectorySynchronization")
    return patch


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
    return bool(parts) and all("=" in p and p.split("=", 1)[0].strip() and p.split("=", 1)[1].strip() for p in parts)
