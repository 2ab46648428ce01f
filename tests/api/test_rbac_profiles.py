"""Behaviour profiles switched at PATCH /_mock/tenants/{t}/settings compose with custom Exchange RBAC: the
least-privilege app toggles in ga, gets the silent failure in preview and the RBAC error in strict."""

from __future__ import annotations

from .test_rbac_cmdlets import _least_privilege, add_app, error_text, invoke, synced_mailbox


def _set_profile(client, tenant, profile):
    resp = client.patch(f"/_mock/tenants/{tenant.id}/settings", json={"profile": profile})
    assert resp.status_code == 200 and resp.get_json()["profile"] == profile


def test_profile_switch_changes_what_the_custom_role_app_gets(client, make_tenant, auth_header):
    tenant = make_tenant(name="profiles", seed=41, mailboxes=6)
    app = add_app(tenant, "soa-least-privilege")
    admin = auth_header(tenant, "exchange", user="globaladmin")
    _least_privilege(client, tenant, admin, app)
    headers = auth_header(tenant, "exchange", app="soa-least-privilege")
    mbx = synced_mailbox(tenant)

    def toggle(value, who=headers):
        return invoke(client, tenant, who, "Set-Mailbox", Identity=mbx.alias, IsExchangeCloudManaged=value)

    ga = toggle(True)
    assert ga.status_code == 200 and mbx.is_exchange_cloud_managed is True

    _set_profile(client, tenant, "preview")
    preview = toggle(False)
    assert preview.status_code == 200 and mbx.is_exchange_cloud_managed is True
    assert preview.get_json()["value"] == ga.get_json()["value"]
    assert preview.get_json()["@adminapi.warnings"] == ga.get_json()["@adminapi.warnings"] == []
    record = [r for r in tenant.audit.records if r.operation == "Set-Mailbox"][-1]
    assert (record.succeeded, record.changed, record.caller["appId"]) == (True, False, app.app_id)

    _set_profile(client, tenant, "strict")
    strict = toggle(False)
    assert strict.status_code == 400
    assert error_text(strict) == "A parameter cannot be found that matches parameter name 'IsExchangeCloudManaged'."
    assert mbx.is_exchange_cloud_managed is True
    record = [r for r in tenant.audit.records if r.operation == "Set-Mailbox"][-1]
    assert (record.succeeded, record.changed) == (False, False)

    # Global Administrator can toggle in every profile; the custom role does not change that.
    assert toggle(False, admin).status_code == 200 and mbx.is_exchange_cloud_managed is False
    _set_profile(client, tenant, "ga")
    assert toggle(True).status_code == 200 and mbx.is_exchange_cloud_managed is True
