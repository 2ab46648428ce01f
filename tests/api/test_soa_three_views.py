"""One truth, three views (issue 19 deliverable 5): random sequences of cloud edits, Connect cycles, write-back
runs, reverts (IsExchangeCloudManaged $false), AD edits, deletes and restores (out of the sync scope and back,
or Undo-SoftDeletedMailbox while the AD object is out of scope),
checked after every step through the public surfaces only: Exchange (``Get-Mailbox``), Graph (the user's
mail, mailNickname, proxyAddresses, onPremisesExtensionAttributes, displayName) and AD (the control plane's
on-premises object). What must agree, and when, is the SOA attribute table's (mockserver/domain/soa_attributes):

* FROM_EXCHANGE rows (mail, mailNickname, proxyAddresses): Graph shows the mailbox's values at every step;
* where AD is the authority (flag off), a Connect cycle makes Exchange equal AD for every synced row;
* where the cloud is (flag on), a cycle leaves Exchange alone and a write-back run makes AD equal Exchange for
  every written-back row (the others keep their AD value);
* FROM_AD rows (identity, onPremisesExtensionAttributes) equal AD in Graph after every cycle;
* an Exchange edit of an AD-mastered attribute is refused and changes nothing.

Deterministic (derandomized), on the tenant clock, a few seconds."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hybridsoa.mock.domain import soa_attributes as soa

# ------------------------------------------------------------------------------------------------ the steps
flags = st.tuples(st.just("flag"), st.booleans())
cloud_edits = st.tuples(
    st.just("cloud"),
    st.sampled_from(
        [
            "EmailAddresses",
            "Alias",
            "PrimarySmtpAddress",
            "CustomAttribute3",
            "HiddenFromAddressListsEnabled",
            "ExtensionCustomAttribute2",
        ]
    ),
    st.integers(0, 3),
)
ad_edits = st.tuples(
    st.just("ad"),
    st.sampled_from(
        [
            "proxyAddresses",
            "mailNickname",
            "extensionAttribute3",
            "msExchHideFromAddressLists",
            "displayName",
            "msExchExtensionCustomAttribute2",
        ]
    ),
    st.integers(0, 3),
)
plain = st.sampled_from([("cycle",), ("writeback",), ("delete",), ("restore",), ("undo",)])
steps = st.lists(st.one_of(flags, cloud_edits, ad_edits, plain, plain), min_size=1, max_size=14)


class Views:
    """The three services as a client sees them, for one synced mailbox."""

    def __init__(self, client, tenant, auth_header, sam):
        self.client, self.tenant, self.sam = client, tenant, sam
        self.exo = auth_header(tenant, "exchange")
        self.graph = auth_header(tenant, "graph")
        self.base = f"/_mock/tenants/{tenant.id}"
        self.user_id = self.graph_user()["id"]
        self.anchor_upn = self.graph_user()["userPrincipalName"]

    def invoke(self, cmdlet, params):
        return self.client.post(
            f"/adminapi/beta/{self.tenant.id}/InvokeCommand",
            json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
            headers=self.exo,
        )

    def mailbox(self) -> dict | None:
        resp = self.invoke("Get-Mailbox", {"Identity": self.anchor_upn})
        if resp.status_code == 200:
            return resp.get_json()["value"][0]
        resp = self.invoke("Get-Mailbox", {"Identity": self.anchor_upn, "SoftDeletedMailbox": True})
        assert resp.status_code == 200, resp.get_json()
        return dict(resp.get_json()["value"][0], _softDeleted=True)

    def graph_user(self) -> dict:
        select = "id,userPrincipalName,mail,mailNickname,proxyAddresses,onPremisesExtensionAttributes,displayName"
        key = getattr(self, "user_id", None) or self.sam_upn()
        resp = self.client.get(f"/v1.0/users/{key}?$select={select}", headers=self.graph)
        if resp.status_code == 404:
            resp = self.client.get(f"/v1.0/directory/deletedItems/{key}?$select={select}", headers=self.graph)
            assert resp.status_code == 200, resp.get_json()
            return dict(resp.get_json(), _deleted=True)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def sam_upn(self) -> str:
        return self.ad()["userPrincipalName"]

    def ad(self) -> dict:
        resp = self.client.get(f"{self.base}/onprem/users/{self.sam}")
        assert resp.status_code == 200, resp.get_json()
        user = resp.get_json()
        return {**user, **(user.get("attributes") or {})}

    def patch_ad(self, attrs):
        resp = self.client.patch(f"{self.base}/onprem/users/{self.sam}", json=attrs)
        assert resp.status_code == 200, resp.get_json()

    def run(self, policy):
        resp = self.client.post(f"{self.base}/sync/cycles", json={"policyType": policy})
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def move(self, ou):
        resp = self.client.post(f"{self.base}/onprem/users/{self.sam}/move", json={"ou": ou})
        assert resp.status_code == 200, resp.get_json()


def graph_value(user: dict, attr):
    top, _, sub = attr.graph.partition("/")
    value = user.get(top)
    return (value or {}).get(sub) if sub else value


def exchange_type_of_ad(value):
    from hybridsoa.mock.domain.onprem.ad import REMOTE_TYPE_TO_EXO

    return REMOTE_TYPE_TO_EXO.get(value, value)


def assert_graph_mirrors_exchange(box, user):
    for attr in soa.ENTRA_MIRRORED:
        assert not soa.differs(attr, graph_value(user, attr), box.get(attr.name)), (attr.name, user, box)


def assert_exchange_equals_ad(box, ad, rows):
    for attr in rows:
        ad_value = ad.get(attr.ad)
        if attr.kind == soa.TYPE:
            assert box.get(attr.name) == exchange_type_of_ad(ad_value), attr.name
            continue
        assert not soa.differs(attr, box.get(attr.name), ad_value), (attr.name, box.get(attr.name), ad_value)


def assert_graph_follows_ad(user, ad):
    for attr in soa.SOA_ATTRIBUTES:
        if attr.graph_source == soa.FROM_AD:
            assert not soa.differs(attr, graph_value(user, attr), ad.get(attr.ad)), (attr.name, user)


def exchange_state(box) -> dict:
    return {a.name: soa.normalize(a, box.get(a.name)) for a in soa.EXCHANGE if a.name in box}


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
# The symptom: a cloud alias edit and a write-back, then Graph must show the new smtp: address.
@example(
    script=[
        ("flag", True),
        ("cloud", "EmailAddresses", 1),
        ("cloud", "Alias", 1),
        ("writeback",),
        ("cycle",),
        ("flag", False),
        ("cycle",),
    ]
)
# Restored in the cloud while out of scope, edited there, then taken over again by the hard match.
@example(
    script=[
        ("flag", True),
        ("cloud", "Alias", 1),
        ("delete",),
        ("undo",),
        ("cloud", "EmailAddresses", 2),
        ("cycle",),
        ("restore",),
        ("writeback",),
        ("flag", False),
        ("cycle",),
    ]
)
# A cloud-managed mailbox with cloud edits leaves the sync scope and comes back.
@example(
    script=[
        ("flag", True),
        ("cloud", "Alias", 2),
        ("cloud", "PrimarySmtpAddress", 2),
        ("delete",),
        ("restore",),
        ("ad", "mailNickname", 1),
        ("cycle",),
        ("writeback",),
    ]
)
def test_exchange_graph_and_ad_agree_per_the_soa_table(client, registry, auth_header, script):
    # One name for every example: its signing keys are then made once per process (RSA generation is the slow
    # part of creating a tenant); the tenant is deleted after each example.
    tenant = registry.create(name="threeviews", seed=7, mailboxes=3, frozen_clock=True, options={"mix": "uniform"})
    try:
        _run(client, tenant, auth_header, script)
    finally:
        registry.delete(tenant.id)


def _run(client, tenant, auth_header, script):
    tenant.sync.update_settings({"writeback": {"enabled": True}})
    sam = next(a.sam_account_name for a in tenant.ad_users if a.attrs.get("msExchRecipientTypeDetails") == 2147483648)
    v = Views(client, tenant, auth_header, sam)
    home_ou = v.ad()["distinguishedName"].split(",", 1)[1]
    outside = "OU=Disabled," + home_ou[home_ou.index("DC=") :]  # the seeded OU outside the sync scope
    domain = tenant.domain
    in_scope, deleted = True, False

    for step in script:
        before = v.mailbox()
        kind = step[0]
        cycled = kind == "cycle"
        if kind == "flag":
            resp = v.invoke("Set-Mailbox", {"Identity": v.anchor_upn, "IsExchangeCloudManaged": step[1]})
            # Only a synced live mailbox takes the flag (a cloud-restored one is cloud-only now).
            assert (resp.status_code == 200) == (not before.get("_softDeleted") and before["IsDirSynced"]), step
        elif kind == "cloud":
            name, n = step[1], step[2]
            value = {
                "EmailAddresses": {"Add": [f"smtp:c{n}.{sam}@{domain}"]},
                "Alias": f"cloud{n}{sam}",
                "PrimarySmtpAddress": f"p{n}.{sam}@{domain}",
                "CustomAttribute3": f"cloud-{n}",
                "HiddenFromAddressListsEnabled": bool(n % 2),
                "ExtensionCustomAttribute2": [f"x{n}", "y"],
            }[name]
            resp = v.invoke("Set-Mailbox", {"Identity": v.anchor_upn, name: value})
            if before.get("_softDeleted"):
                assert resp.status_code != 200
            elif before["IsExchangeCloudManaged"] or not before["IsDirSynced"]:
                assert resp.status_code == 200, resp.get_json()
            else:
                # AD is the authority: the write rules refuse it and nothing changes.
                assert resp.status_code == 400 and "synchronized from your on-premises" in resp.get_data(as_text=True)
                assert exchange_state(v.mailbox()) == exchange_state(before)
        elif kind == "ad":
            name, n = step[1], step[2]
            ad = v.ad()
            value = {
                "proxyAddresses": [p for p in (ad.get("proxyAddresses") or []) if not p.startswith("smtp:a")]
                + [f"smtp:a{n}.{sam}@{domain}"],
                "mailNickname": f"onprem{n}{sam}",
                "extensionAttribute3": f"ad-{n}",
                "msExchHideFromAddressLists": bool(n % 2),
                "displayName": f"AD Name {n}",
                "msExchExtensionCustomAttribute2": [f"ad{n}"],
            }[name]
            v.patch_ad({name: value})
        elif kind == "cycle":
            v.run("Delta")
        elif kind == "writeback":
            v.run("Writeback")
        elif kind == "delete" and in_scope:
            v.move(outside)
            v.run("Delta")
            in_scope, deleted, cycled = False, True, True
        elif kind == "restore" and not in_scope:
            # Back in scope: the hard match restores the deleted objects or takes over the cloud-restored ones.
            v.move(home_ou)
            v.run("Delta")
            in_scope, deleted, cycled = True, False, True
        elif kind == "undo" and deleted:
            # Restored in the cloud while the AD object is out of scope: mailbox and user come back, cloud-only.
            resp = v.invoke("Undo-SoftDeletedMailbox", {"SoftDeletedObject": v.anchor_upn})
            assert resp.status_code == 200, resp.get_json()
            deleted = False

        box, user, ad = v.mailbox(), v.graph_user(), v.ad()
        # Deletes and restores reach both cloud services together.
        assert bool(box.get("_softDeleted")) == bool(user.get("_deleted")) == deleted, (step, box, user)
        assert_graph_mirrors_exchange(box, user)
        if kind == "restore" and cycled:
            assert box["IsDirSynced"] is True, box  # hard match: synced again, whichever way it was restored
        if cycled and in_scope:
            assert_graph_follows_ad(user, ad)
            if box["IsExchangeCloudManaged"]:
                assert exchange_state(box) == exchange_state(before) or kind == "restore", step
            else:
                assert_exchange_equals_ad(box, ad, soa.SYNCED_EXCHANGE)
        if kind == "writeback" and in_scope and box["IsExchangeCloudManaged"]:
            assert_exchange_equals_ad(box, ad, soa.WRITTEN_BACK)


def test_cloud_only_mailbox_edits_reach_graph(client, make_tenant, auth_header):
    """For a cloud-only user Exchange Online masters every Exchange attribute Graph shows: addresses, alias and
    the Exchange custom attributes (Graph's onPremisesExtensionAttributes, which Graph itself keeps read-only
    only for synced users)."""
    tenant = make_tenant(name="cloudviews", seed=3, mailboxes=2, options={"cloudMailboxes": 1})
    box = next(m for m in tenant.mailboxes if not m.is_dir_synced and m.is_mailbox)
    v = Views.__new__(Views)
    v.client, v.tenant, v.exo = client, tenant, auth_header(tenant, "exchange")
    resp = v.invoke(
        "Set-Mailbox",
        {
            "Identity": box.alias,
            "EmailAddresses": {"Add": [f"smtp:extra@{tenant.domain}"]},
            "Alias": "renamed",
            "CustomAttribute4": "CLOUD-4",
        },
    )
    assert resp.status_code == 200, resp.get_json()
    gh = auth_header(tenant, "graph")
    user = client.get(
        f"/v1.0/users/{box.external_directory_object_id}?$select=mail,mailNickname,proxyAddresses,"
        f"onPremisesExtensionAttributes",
        headers=gh,
    ).get_json()
    assert f"smtp:extra@{tenant.domain}" in user["proxyAddresses"] and user["mailNickname"] == "renamed"
    assert user["onPremisesExtensionAttributes"]["extensionAttribute4"] == "CLOUD-4"
    mailbox = v.invoke("Get-Mailbox", {"Identity": "renamed"}).get_json()["value"][0]
    assert_graph_mirrors_exchange(mailbox, user)
