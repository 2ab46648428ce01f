"""Microsoft Entra licensing (Graph ``subscribedSku``, ``assignLicense``, ``licenseDetails``, a user's
``assignedLicenses``/``assignedPlans``/``provisionedPlans``) and what an Exchange Online plan does to a user's
recipient: assigning one provisions the mailbox on the tenant clock, removing it disables the mailbox and, after
the 30-day grace period, removes it (see docs/fidelity.md, "Licences").

The tenant's SKUs come from its creation options (``options.skus``: ``{skuPartNumber: prepaid units}``); the
catalogue below holds real SKU and service plan identifiers from Microsoft's licensing reference."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from ..clock import iso
from ..errors import InvalidArgument
from ..memory import SharedList

#: Microsoft's "Product names and service plan identifiers for licensing" values the mock offers.
_SKU_CATALOGUE = {
    "ENTERPRISEPACK": (
        "6fd2c87f-b296-42f0-b197-1e91e994b900",
        (
            ("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE", "exchange"),
            ("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE", "SharePoint"),
            ("0feaeb32-d00e-4d66-bd5a-43b5b83db82c", "MCOSTANDARD", "MicrosoftCommunicationsOnline"),
            ("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1", "TeamspaceAPI"),
        ),
    ),
    "EXCHANGESTANDARD": (
        "4b9405b0-7788-4568-add1-99614e613b69",
        (("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD", "exchange"),),
    ),
    "AAD_PREMIUM": (
        "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
        (("41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM", "AADPremiumService"),),
    ),
}
#: Service plans that give a user an Exchange Online mailbox.
EXCHANGE_PLAN_IDS = frozenset({"efb87545-963c-4e0d-99df-69c6916d9eb0", "9aaf7827-d63c-4b61-89c3-182f06f82e5c"})
#: The SKU the seed and group-based auto-assignment give mailbox users.
DEFAULT_SKU = "ENTERPRISEPACK"
#: Days a de-licensed mailbox is kept (disabled) before Exchange Online removes it.
GRACE_DAYS = 30


@dataclass(frozen=True)
class Sku:
    """One SKU of the catalogue: id, part number and its service plans (id, name, service)."""

    sku_id: str
    part_number: str
    plans: tuple


SKUS = {part: Sku(sku_id, part, plans) for part, (sku_id, plans) in _SKU_CATALOGUE.items()}
SKUS_BY_ID = {s.sku_id: s for s in SKUS.values()}


def _bad(message: str, code: str = "Request_BadRequest") -> InvalidArgument:
    return InvalidArgument(message, code=code)


def validate_sku_option(value) -> dict[str, int]:
    """``options.skus`` of ``POST /_mock/tenants``: ``{skuPartNumber: prepaid units}`` of catalogue SKUs."""
    if not isinstance(value, dict) or not value:
        raise InvalidArgument(f"options.skus must be an object of SKU part numbers ({', '.join(SKUS)}) to units")
    for part, units in value.items():
        if part not in SKUS:
            raise InvalidArgument(f"options.skus: unknown SKU '{part}' (known: {', '.join(SKUS)})")
        if not isinstance(units, int) or isinstance(units, bool) or not 0 <= units <= 1_000_000:
            raise InvalidArgument(f"options.skus.{part} must be an integer from 0 to 1000000")
    return dict(value)


def tenant_sku_units(tenant) -> dict[str, int]:
    """The tenant's SKUs and their prepaid units (creation option, else enough E3 for every seeded mailbox)."""
    option = (tenant.spec.options or {}).get("skus")
    if option:
        return validate_sku_option(option)
    seats = max(25, tenant.spec.mailboxes + 25)
    return {"ENTERPRISEPACK": seats, "EXCHANGESTANDARD": 10, "AAD_PREMIUM": seats}


def _consumed(tenant) -> dict[str, int]:
    counts: dict[str, int] = {}
    for user in tenant.users:
        if user.deleted_date_time is None:
            for lic in user.assigned_licenses:
                counts[lic["skuId"]] = counts.get(lic["skuId"], 0) + 1
    return counts


def subscribed_skus(tenant) -> list[dict]:
    """``GET /subscribedSkus``: every SKU the tenant bought, with consumed and prepaid units."""
    consumed = _consumed(tenant)
    out = []
    for part, units in tenant_sku_units(tenant).items():
        sku = SKUS[part]
        out.append(
            {
                "id": f"{tenant.id}_{sku.sku_id}",
                "accountId": tenant.id,
                "accountName": tenant.name,
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "consumedUnits": consumed.get(sku.sku_id, 0),
                "prepaidUnits": {"enabled": units, "lockedOut": 0, "suspended": 0, "warning": 0},
                "servicePlans": [
                    {
                        "servicePlanId": pid,
                        "servicePlanName": name,
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    }
                    for pid, name, _ in sku.plans
                ],
                "skuId": sku.sku_id,
                "skuPartNumber": part,
                "subscriptionIds": [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.id}/{part}"))],
            }
        )
    return out


# ------------------------------------------------------------------------------------------- user state
def enabled_plan_ids(user) -> set[str]:
    """Service plans in effect for a user: every plan of each assigned SKU minus its disabledPlans."""
    out: set[str] = set()
    for lic in user.assigned_licenses:
        sku = SKUS_BY_ID.get(lic["skuId"])
        if sku is not None:
            disabled = set(lic.get("disabledPlans") or ())
            out.update(pid for pid, _, _ in sku.plans if pid not in disabled)
    return out


def has_exchange_plan(user) -> bool:
    """Whether an enabled Exchange Online plan is assigned (what makes Exchange provision a mailbox)."""
    global _last_answer
    licences = user.assigned_licenses if user is not None else None
    if not licences:
        return False
    if _last_answer[0] is licences:  # the seed's users share one unchangeable list: answered once per cycle
        return _last_answer[1]
    answer = bool(enabled_plan_ids(user) & EXCHANGE_PLAN_IDS)
    if type(licences) is SharedList:
        _last_answer = (licences, answer)
    return answer


_last_answer: tuple = (None, False)


def _plan_service(plan_id: str) -> str:
    for sku in SKUS.values():
        for pid, _, service in sku.plans:
            if pid == plan_id:
                return service
    return ""


def _plans_after(user, now: float) -> list[dict]:
    """assignedPlans after a licence change: new plans Enabled at ``now``, dropped ones kept as Deleted."""
    enabled = enabled_plan_ids(user)
    plans = {p["servicePlanId"]: dict(p) for p in user.assigned_plans}
    for pid in enabled:
        if pid not in plans or plans[pid]["capabilityStatus"] != "Enabled":
            plans[pid] = {
                "assignedDateTime": iso(now),
                "capabilityStatus": "Enabled",
                "service": _plan_service(pid),
                "servicePlanId": pid,
            }
    for pid, plan in plans.items():
        if pid not in enabled and plan["capabilityStatus"] == "Enabled":
            plan["capabilityStatus"] = "Deleted"
            plan["assignedDateTime"] = iso(now)
    return sorted(plans.values(), key=lambda p: (p["service"], p["servicePlanId"]))


def license_user(tenant, user, part: str = DEFAULT_SKU, *, shared: dict | None = None) -> None:
    """Give ``user`` one whole SKU (seed and group-based assignment); ``shared`` caches the resulting lists by
    SKU so a seeded tenant's users hold one list each, not one per user."""
    sku = SKUS[part]
    if shared is not None and part in shared:
        user.assigned_licenses, user.assigned_plans = shared[part]
        return
    licences = SharedList.of([{"skuId": sku.sku_id, "disabledPlans": []}])
    user.assigned_licenses = licences
    user.assigned_plans = SharedList.of(_plans_after(user, tenant.clock.now()))
    if shared is not None:
        shared[part] = (user.assigned_licenses, user.assigned_plans)


def _exchange_status(tenant, user) -> str:
    """provisioningStatus of the user's Exchange plan: Success once the mailbox exists, PendingActivation while it
    is being provisioned, PendingInput when Exchange cannot provision one (the mailbox is on-premises)."""
    mbx = _mailbox(tenant, user)
    if mbx is not None and mbx.is_mailbox:
        return "Success"
    kind = _ad_kind(tenant, user)
    if kind in ("onprem", "mailuser"):
        return "PendingInput"
    return "PendingActivation"


def _mailbox(tenant, user):
    """The user's live recipient through the sync index (O(1): provisionedPlans is read for whole pages)."""
    index = tenant.sync.index
    index.refresh()
    mbx = index.mailbox_for(user.id)
    return mbx if mbx is not None and mbx.when_soft_deleted is None else None


def _ad_kind(tenant, user) -> str | None:
    """The recipient kind of a synced user's AD object (None for cloud users or unknown objects)."""
    if not user.on_premises_immutable_id:
        return None
    from ..onprem.ad import recipient_kind

    index = tenant.sync.index
    index.refresh()
    key = index.ad_key_by_anchor.get(user.on_premises_immutable_id)
    ad = tenant.ad_users.get(key) if key else None
    return recipient_kind(ad.attrs) if ad is not None else None


def provisioned_plans(tenant, user) -> list[dict]:
    """``provisionedPlans``: one entry per assigned plan, with the service's own provisioning status."""
    out = []
    for plan in user.assigned_plans:
        status = "Success"
        if plan["servicePlanId"] in EXCHANGE_PLAN_IDS and plan["capabilityStatus"] == "Enabled":
            status = _exchange_status(tenant, user)
        out.append(
            {"capabilityStatus": plan["capabilityStatus"], "provisioningStatus": status, "service": plan["service"]}
        )
    return out


def license_details(tenant, user) -> list[dict]:
    """``GET /users/{id}/licenseDetails``: one entry per assigned SKU with its plans' provisioning status."""
    out = []
    for lic in user.assigned_licenses:
        sku = SKUS_BY_ID.get(lic["skuId"])
        if sku is None:
            continue
        disabled = set(lic.get("disabledPlans") or ())
        plans = []
        for pid, name, _ in sku.plans:
            if pid in disabled:
                status = "Disabled"
            elif pid in EXCHANGE_PLAN_IDS:
                status = _exchange_status(tenant, user)
            else:
                status = "Success"
            plans.append(
                {"servicePlanId": pid, "servicePlanName": name, "provisioningStatus": status, "appliesTo": "User"}
            )
        raw = uuid.UUID(user.id).bytes + uuid.UUID(sku.sku_id).bytes
        out.append(
            {
                "id": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                "servicePlans": plans,
                "skuId": sku.sku_id,
                "skuPartNumber": sku.part_number,
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- assignLicense
def _guid(value, *, what: str) -> str:
    if value is None:
        raise _bad(
            "A null value was found with the expected type 'Edm.Guid[Nullable=False]'. The expected type "
            "'Edm.Guid[Nullable=False]' does not allow null values.",
            "BadRequest",
        )
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        raise _bad(f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'.", "BadRequest") from None


def parse_assign_body(body) -> tuple[list[dict], list[str]]:
    """The ``addLicenses``/``removeLicenses`` of an assignLicense body, typed; both are required."""
    if not isinstance(body, dict):
        raise _bad("Empty Payload. JSON content expected.", "BadRequest")
    for name in body:
        if name not in ("addLicenses", "removeLicenses") and not name.startswith("@odata"):
            raise _bad(
                f"The parameter '{name}' in the request payload is not a valid parameter for the operation "
                "'assignLicense'.",
                "BadRequest",
            )
    for name in ("addLicenses", "removeLicenses"):
        if not isinstance(body.get(name), list):
            raise _bad(
                f"The parameter '{name}' in the request payload is required and must be a collection.", "BadRequest"
            )
    adds = []
    for item in body["addLicenses"]:
        if not isinstance(item, dict):
            raise _bad(
                "Invalid value for parameter 'addLicenses': an assignedLicense object is expected.", "BadRequest"
            )
        disabled = item.get("disabledPlans", [])
        if not isinstance(disabled, list):
            raise _bad(
                "A null value was found with the expected type 'Collection(Edm.Guid)[Nullable=False]'. The "
                "expected type does not allow null values.",
                "BadRequest",
            )
        adds.append(
            {
                "skuId": _guid(item.get("skuId"), what="skuId"),
                "disabledPlans": [_guid(p, what="disabledPlans") for p in disabled],
            }
        )
    removes = [_guid(v, what="removeLicenses") for v in body["removeLicenses"]]
    return adds, removes


def assign_license(tenant, user, body, caller=None) -> None:
    """``POST /users/{id}/assignLicense``: validate the whole request (usage location, known SKUs, free units,
    removals the user holds), then apply it and schedule the Exchange consequences."""
    adds, removes = parse_assign_body(body)
    units = {SKUS[p].sku_id: n for p, n in tenant_sku_units(tenant).items()}
    if adds and not user.usage_location:
        raise _bad("License assignment cannot be done for user with invalid usage location.")
    held = {lic["skuId"] for lic in user.assigned_licenses}
    for lic in adds:
        if lic["skuId"] not in units:
            raise _bad(f"License {lic['skuId']} does not correspond to a valid company License.")
        sku = SKUS_BY_ID[lic["skuId"]]
        plan_ids = {pid for pid, _, _ in sku.plans}
        for pid in lic["disabledPlans"]:
            if pid not in plan_ids:
                raise _bad(f"The service plan {pid} is not part of the license {lic['skuId']}.")
    for sku_id in removes:
        if sku_id not in held:
            raise _bad(f"User does not have a corresponding license: {sku_id}.")
    consumed = _consumed(tenant)
    for lic in adds:
        if lic["skuId"] not in held and consumed.get(lic["skuId"], 0) >= units[lic["skuId"]]:
            raise _bad(f"Subscription {lic['skuId']} has no more available licenses.")
    had_exchange = has_exchange_plan(user)
    licences = {lic["skuId"]: lic for lic in user.assigned_licenses if lic["skuId"] not in removes}
    for lic in adds:
        licences[lic["skuId"]] = lic
    old = [dict(lic) for lic in user.assigned_licenses]
    user.assigned_licenses = sorted(licences.values(), key=lambda lic: lic["skuId"])
    user.assigned_plans = _plans_after(user, tenant.clock.now())
    tenant.users.touch(user.id)
    now_exchange = has_exchange_plan(user)
    if now_exchange and not had_exchange:
        schedule_provisioning(tenant, user)
    elif had_exchange and not now_exchange:
        disable_mailbox(tenant, user)
    tenant.add_audit_record(
        "graph",
        "Change user license",
        caller,
        target=user.user_principal_name,
        parameters={"addLicenses": adds, "removeLicenses": removes},
        changes={"assignedLicenses": {"old": old, "new": [dict(x) for x in user.assigned_licenses]}},
    )


def provisioning_delay(tenant) -> float:
    """Seconds between an Exchange plan's assignment and the mailbox (``mailboxProvisioningDelayMinutes``)."""
    try:
        return max(0.0, float(tenant.settings.get("mailboxProvisioningDelayMinutes") or 0) * 60)
    except (TypeError, ValueError):
        return 0.0


def schedule_provisioning(tenant, user) -> None:
    """Queue the mailbox Exchange Online provisions for a newly licensed user, on the tenant clock (or, for a
    mailbox disabled within its grace period, re-enable it at once)."""
    mbx = _mailbox(tenant, user)
    if mbx is not None and mbx.is_mailbox and mbx.unlicensed_since is not None:
        mbx.unlicensed_since = None
        mbx.when_changed = tenant.clock.now()
        tenant.mailboxes.touch(mbx.guid)
        return
    tenant.sync.forward.submit_at(
        tenant.clock.now() + provisioning_delay(tenant), {"kind": "provision", "userId": user.id}
    )


def disable_mailbox(tenant, user) -> None:
    """The Exchange plan was removed: the mailbox is disabled now and removed after the grace period."""
    mbx = _mailbox(tenant, user)
    now = tenant.clock.now()
    if mbx is None or not mbx.is_mailbox or mbx.unlicensed_since is not None:
        return
    if mbx.recipient_type_details != "UserMailbox":
        return  # shared, room and equipment mailboxes need no licence
    mbx.unlicensed_since = now
    mbx.when_changed = now
    tenant.mailboxes.touch(mbx.guid)
    tenant.sync.forward.submit_at(now + GRACE_DAYS * 86400, {"kind": "delicense", "userId": user.id, "since": now})


def provision_now(tenant, user_id: str) -> None:
    """Timer: Exchange Online creates the licensed user's mailbox, if the user still holds an Exchange plan.
    A remote-mailbox user's MailUser becomes its UserMailbox; a user without Exchange attributes (cloud-first)
    or a cloud user gets a new mailbox whose IsExchangeCloudManaged is the tenant-wide default."""
    from ..exchange.identity_resolution import mailbox_of

    user = tenant.users.get(user_id)
    if user is None or user.deleted_date_time is not None or not has_exchange_plan(user):
        return
    mbx = mailbox_of(tenant, user)
    kind = _ad_kind(tenant, user)
    now = tenant.clock.now()
    if kind in ("onprem", "mailuser"):
        return  # the mailbox lives on-premises (or there is none to make): Exchange leaves it PendingInput
    if mbx is not None:
        if mbx.is_mailbox:
            return
        if kind == "remote":
            mbx.recipient_type_details = "UserMailbox"
            mbx.external_email_address = None
            if mbx.exchange_guid == str(uuid.UUID(int=0)):
                mbx.exchange_guid = tenant.ids.guid()
            mbx.when_changed = now
            tenant.mailboxes.touch(mbx.guid)
            tenant.sync.index.index_mailbox(mbx.guid, mbx)
        return
    from ..exchange.mailboxes import Mailbox

    alias = user.mail_nickname or user.user_principal_name.split("@", 1)[0]
    primary = user.mail or user.user_principal_name
    cloud_default = bool(tenant.org_config.get("ExchangeAttributesCloudManagedByDefault"))
    synced = bool(user.on_premises_sync_enabled)
    addresses = list(user.proxy_addresses) or [f"SMTP:{primary}"]
    name = user.display_name if synced else alias
    mbx = Mailbox(
        guid=tenant.ids.guid(),
        exchange_guid=tenant.ids.guid(),
        external_directory_object_id=user.id,
        name=_free_name(tenant, name),
        alias=alias,
        display_name=user.display_name,
        user_principal_name=user.user_principal_name,
        primary_smtp_address=primary,
        email_addresses=addresses,
        recipient_type_details="UserMailbox",
        is_dir_synced=synced,
        is_exchange_cloud_managed=synced and cloud_default,
        immutable_id=user.on_premises_immutable_id,
        when_created=now,
        when_changed=now,
    )
    tenant.mailboxes.put(mbx.guid, mbx)
    tenant.sync.index.index_mailbox(mbx.guid, mbx)


def _free_name(tenant, name: str) -> str:
    taken = {m.name.lower() for m in tenant.mailboxes}
    if name.lower() not in taken:
        return name
    n = 2
    while f"{name}{n}".lower() in taken:
        n += 1
    return f"{name}{n}"


def delicense_now(tenant, user_id: str, since: float) -> None:
    """Timer: the grace period of a de-licensed mailbox ended without a new licence; Exchange Online removes the
    mailbox. A synced remote-mailbox user is left a MailUser (its AD object still says remote mailbox); any other
    user is left without a recipient."""
    from ..exchange.identity_resolution import mailbox_of

    user = tenant.users.get(user_id)
    if user is None:
        return
    mbx = mailbox_of(tenant, user)
    if mbx is None or mbx.unlicensed_since != since or has_exchange_plan(user):
        return
    if _ad_kind(tenant, user) == "remote":
        mbx.recipient_type_details = "MailUser"
        mbx.unlicensed_since = None
        mbx.exchange_guid = str(uuid.UUID(int=0))
        mbx.external_email_address = _routing_address(mbx)
        mbx.when_changed = tenant.clock.now()
        tenant.mailboxes.touch(mbx.guid)
    else:
        tenant.mailboxes.delete(mbx.guid)
    tenant.sync.index.reset()


def _routing_address(mbx) -> str | None:
    for addr in mbx.email_addresses:
        if addr.lower().startswith("smtp:") and ".mail.onmicrosoft.com" in addr.lower():
            return "SMTP:" + addr[5:]
    return "SMTP:" + mbx.primary_smtp_address if mbx.primary_smtp_address else None
