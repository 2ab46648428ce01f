"""Offboarding: ``New-MoveRequest -Outbound`` (a cloud mailbox moved back to the on-premises Exchange servers),
``Get-MoveRequest`` and ``Get-MoveRequestStatistics``, on the tenant clock.

A request is refused while the mailbox is ``IsExchangeCloudManaged`` (the preview's documented precondition:
hand the Exchange attributes back to on-premises before moving a mailbox back). Otherwise it runs for
``settings["moveRequestMinutes"]`` of tenant time and completes: the Exchange Online object becomes a MailUser
routed on-premises, the AD object an on-premises mailbox, and the next Entra Connect cycle agrees."""

from __future__ import annotations

from ..clock import parse_iso
from ..onprem.ad import EXO_TO_ONPREM_TYPE
from . import errors as exo_errors
from .cmdlets import Param, register_cmdlet
from .identity_resolution import check_unique, find_mailboxes, owner_of, resolve_mailbox
from .mailbox_cmdlets import apply_list_params
from .objects import guid, when

MOVABLE_TYPES = ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "MailUser")


def _duration(tenant) -> float:
    try:
        return max(0.0, float(tenant.settings.get("moveRequestMinutes") or 0) * 60)
    except (TypeError, ValueError):
        return 0.0


def _requests(tenant) -> dict:
    return tenant.move_requests


def _request_for(tenant, mbx) -> dict | None:
    return _requests(tenant).get(mbx.exchange_guid)


def _status(tenant, req: dict) -> tuple[str, str, int]:
    """(Status, StatusDetail, PercentComplete) of a request at the tenant's current time."""
    if req.get("completed"):
        return "Completed", "Completed", 100
    now = tenant.clock.now()
    elapsed = now - req["queued"]
    total = max(req["duration"], 1.0)
    percent = min(99, int(100 * elapsed / total))
    if req.get("suspendWhenReady") and elapsed >= total:
        return "AutoSuspended", "AutoSuspended", 95
    if elapsed < 0.05 * total:
        return "Queued", "Queued", 0
    if req.get("completeAfter") and elapsed >= total:
        return "Synced", "IncrementalSyncComplete", 95
    return "InProgress", "CopyingMessages", max(percent, 10)


def _on_prem_domain(tenant) -> str:
    from ..seed import ad_base_dn

    return ".".join(p.split("=", 1)[1] for p in ad_base_dn(tenant).split(","))


def new_move_request(ctx, params):
    """New-MoveRequest -Outbound: queue the move of a synced cloud mailbox back on-premises."""
    tenant = ctx.tenant
    identity = params["Identity"]
    mbx = resolve_mailbox(tenant, identity, types=MOVABLE_TYPES)
    ctx.target = mbx.name
    ctx.authorize_target(mbx)
    if not mbx.is_mailbox:
        raise exo_errors.task_invalid(
            f"The object '{mbx.name}' isn't a mailbox in Exchange Online: there is nothing "
            "to move (its mailbox is already on-premises or it has none).",
            "Ex4F0E21",
        )
    if not mbx.is_dir_synced:
        raise exo_errors.task_invalid(
            f"The mailbox '{mbx.name}' can't be moved on-premises because it isn't "
            "synchronized from your on-premises organization.",
            "Ex4F0E22",
        )
    if mbx.is_exchange_cloud_managed:
        raise exo_errors.task_invalid(
            f"The mailbox '{mbx.name}' can't be moved to on-premises because its Exchange attributes are managed in "
            "the cloud (IsExchangeCloudManaged is $true). Set IsExchangeCloudManaged to $false and wait for the "
            "next synchronization before you move the mailbox.",
            "Ex4F0E23",
        )
    existing = _request_for(tenant, mbx)
    if existing is not None and not existing.get("completed"):
        raise exo_errors.task_invalid(
            f"The user '{mbx.name}' already has a move request associated with it.", "Ex4F0E24"
        )
    now = tenant.clock.now()
    complete_after = None
    if params.get("CompleteAfter"):
        try:
            complete_after = parse_iso(str(params["CompleteAfter"]))
        except ValueError:
            raise exo_errors.cannot_convert(
                "CompleteAfter",
                params["CompleteAfter"],
                "System.DateTime",
                "String was not recognized as a valid DateTime.",
            ) from None
    duration = _duration(tenant)
    req = {
        "id": tenant.ids.guid(),
        "mailbox": mbx.guid,
        "exchangeGuid": mbx.exchange_guid,
        "queued": now,
        "duration": duration,
        "remoteHostName": params["RemoteHostName"],
        "targetDeliveryDomain": params.get("TargetDeliveryDomain") or _on_prem_domain(tenant),
        "remoteTargetDatabase": params.get("RemoteTargetDatabase") or "",
        "batchName": params.get("BatchName") or "",
        "suspendWhenReady": bool(params.get("SuspendWhenReadyToComplete")),
        "completeAfter": complete_after,
        "completed": None,
        "name": mbx.name,
        "alias": mbx.alias,
        "displayName": mbx.display_name,
    }
    _requests(tenant)[mbx.exchange_guid] = req
    if not req["suspendWhenReady"]:
        due = max(now + duration, complete_after or 0)
        tenant.sync.forward.submit_at(due, {"kind": "moveComplete", "requestId": mbx.exchange_guid})
    ctx.changes = {"MoveRequest": {"old": None, "new": "Queued"}}
    return [move_request_object(tenant, req)]


def complete_move(tenant, key: str) -> None:
    """Timer: the move finished. The cloud mailbox becomes a MailUser routed to the on-premises mailbox, and the
    AD object becomes that on-premises mailbox (msExchRecipientTypeDetails, no targetAddress)."""
    req = _requests(tenant).get(key)
    if req is None or req.get("completed"):
        return
    mbx = tenant.mailboxes.get(req["mailbox"])
    now = tenant.clock.now()
    req["completed"] = now
    if mbx is None:
        return
    owner = owner_of(tenant, mbx)
    kind = EXO_TO_ONPREM_TYPE.get(mbx.recipient_type_details, 1)
    mbx.recipient_type_details = "MailUser"
    mbx.external_email_address = f"SMTP:{mbx.alias}@{req['targetDeliveryDomain']}"
    mbx.is_exchange_cloud_managed = False
    mbx.unlicensed_since = None
    mbx.when_changed = now
    tenant.mailboxes.touch(mbx.guid)
    tenant.sync.index.index_mailbox(mbx.guid, mbx)
    if owner is None or not owner.on_premises_immutable_id:
        return
    index = tenant.sync.index
    index.refresh()
    ad_key = index.ad_key_by_anchor.get(owner.on_premises_immutable_id)
    ad = tenant.ad_users.get(ad_key) if ad_key else None
    if ad is None:
        return
    from ..seed import ONPREM_DISPLAY_TYPE

    attrs = dict(ad.attrs)
    attrs.update(
        {
            "msExchRecipientTypeDetails": kind,
            "msExchRecipientDisplayType": ONPREM_DISPLAY_TYPE[kind],
            "msExchRemoteRecipientType": None,
            "targetAddress": None,
            "msExchMailboxGuid": mbx.exchange_guid,
        }
    )
    ad.attrs = attrs
    ad.when_changed = now
    tenant.ad_users.touch(ad_key)


def move_request_object(tenant, req: dict) -> dict:
    """Get-MoveRequest output for one request."""
    status, _, _ = _status(tenant, req)
    return {
        "DisplayName": req["displayName"],
        "Alias": req["alias"],
        "ExchangeGuid": guid(req["exchangeGuid"]),
        "Status": status,
        "StatusDetail": _status(tenant, req)[1],
        "BatchName": req["batchName"],
        "RequestStyle": "CrossOrg",
        "Direction": "Push",
        "Flags": "CrossOrg, Push",
        "RemoteHostName": req["remoteHostName"],
        "TargetDeliveryDomain": req["targetDeliveryDomain"],
        "RemoteDatabaseName": req["remoteTargetDatabase"],
        "SourceDatabase": "",
        "TargetDatabase": "",
        "Suspend": status == "AutoSuspended",
        "SuspendWhenReadyToComplete": req["suspendWhenReady"],
        "IsOffline": False,
        "Protect": False,
        "Identity": req["name"],
        "Name": req["name"],
        "Id": req["name"],
        "IsValid": True,
        "RequestGuid": guid(req["id"]),
    }


def move_request_statistics(tenant, req: dict) -> dict:
    """Get-MoveRequestStatistics output for one request."""
    status, detail, percent = _status(tenant, req)
    total = max(req["duration"], 1.0)
    started = req["queued"] + 0.05 * total
    obj = move_request_object(tenant, req)
    obj.update(
        {
            "Status": status,
            "StatusDetail": detail,
            "PercentComplete": percent,
            "QueuedTimestamp": when(req["queued"]),
            "StartTimestamp": when(started) if tenant.clock.now() >= started or req.get("completed") else None,
            "CompletionTimestamp": when(req["completed"]) if req.get("completed") else None,
            "CompleteAfter": when(req["completeAfter"]) if req.get("completeAfter") else None,
            "TotalMailboxSize": "0 B (0 bytes)",
            "BytesTransferred": "0 B (0 bytes)",
            "ItemsTransferred": 0,
            "BadItemsEncountered": 0,
            "LargeItemsEncountered": 0,
        }
    )
    return obj


def _select(tenant, identity) -> list[dict]:
    requests = _requests(tenant)
    if identity is None:
        return sorted(requests.values(), key=lambda r: (r["queued"], r["name"]))
    boxes = find_mailboxes(tenant, identity)
    check_unique(tenant, identity, boxes)
    found = [requests[m.exchange_guid] for m in boxes if m.exchange_guid in requests]
    if not found:
        raise exo_errors.object_not_found(tenant, identity)
    return found


def get_move_request(ctx, params):
    """Get-MoveRequest: the tenant's move requests (or one by mailbox identity), optionally by -MoveStatus."""
    objects = [move_request_object(ctx.tenant, r) for r in _select(ctx.tenant, params.get("Identity"))]
    if params.get("MoveStatus"):
        objects = [o for o in objects if o["Status"] == params["MoveStatus"]]
    if params.get("BatchName") is not None:
        objects = [o for o in objects if o["BatchName"] == params["BatchName"]]
    return apply_list_params(
        objects,
        {k: v for k, v in params.items() if k == "ResultSize"},
        ctx,
        filterable=set(objects[0]) if objects else {"Status"},
    )


def get_move_request_statistics(ctx, params):
    """Get-MoveRequestStatistics -Identity: progress and timestamps of one move."""
    return [move_request_statistics(ctx.tenant, r) for r in _select(ctx.tenant, params["Identity"])]


_ID = "Microsoft.Exchange.Configuration.Tasks.MailboxOrMailUserIdParameter"
_STATUS = (
    "Queued",
    "InProgress",
    "AutoSuspended",
    "CompletionInProgress",
    "Synced",
    "Completed",
    "CompletedWithWarning",
    "Suspended",
    "Failed",
)
register_cmdlet(
    "New-MoveRequest",
    new_move_request,
    [
        Param("Identity", "Identity", required=True, position=0, type_name=_ID),
        Param("Outbound", "Switch", required=True),
        Param("RemoteHostName", "String", required=True),
        Param("RemoteCredential", "String", no_op=True),
        Param("TargetDeliveryDomain", "String"),
        Param("RemoteTargetDatabase", "String"),
        Param("BatchName", "String"),
        Param("BadItemLimit", "Unlimited", no_op=True),
        Param("LargeItemLimit", "Unlimited", no_op=True),
        Param("AcceptLargeDataLoss", "Switch", no_op=True),
        Param("CompleteAfter", "String"),
        Param("SuspendWhenReadyToComplete", "Switch"),
        Param("PrimaryOnly", "Switch", no_op=True),
        Param("ArchiveOnly", "Switch", no_op=True),
        Param("Confirm", "Switch", no_op=True),
    ],
    writes=True,
    noun="MoveRequest",
    description="Moves a mailbox back on-premises (-Outbound only).",
)
register_cmdlet(
    "Get-MoveRequest",
    get_move_request,
    [
        Param(
            "Identity",
            "Identity",
            position=0,
            type_name="Microsoft.Exchange.Management.RecipientTasks.MoveRequestIdParameter",
        ),
        Param(
            "MoveStatus", "Enum", enum=_STATUS, type_name="Microsoft.Exchange.Data.Directory.Recipient.RequestStatus"
        ),
        Param("BatchName", "String"),
        Param("ResultSize", "Unlimited"),
    ],
    writes=False,
    noun="MoveRequest",
    description="Move requests and their status.",
)
register_cmdlet(
    "Get-MoveRequestStatistics",
    get_move_request_statistics,
    [
        Param(
            "Identity",
            "Identity",
            required=True,
            position=0,
            type_name="Microsoft.Exchange.Management.RecipientTasks.MoveRequestIdParameter",
        )
    ],
    writes=False,
    noun="MoveRequestStatistics",
    description="Progress of one move request.",
)
