"""One LDAP connection's conversation: bind state, paged-search cookies and the answer to each request. The
directory rules live in :mod:`hybridsoa.mock.domain.onprem.ldap_tree`; this module maps requests onto them under the
tenant's lock (the same lock the HTTP API takes), records them in the tenant's audit log and flushes the
durable store, exactly as the control plane's AD endpoints do."""

from __future__ import annotations

import logging
from collections import OrderedDict

from ....domain.errors import DomainError
from ....domain.onprem import ldap_tree as dit
from ....domain.onprem import ldap_writes as writes
from . import codec

log = logging.getLogger("hybridsoa.ldap")

_WRITE_OPS = {
    "modifyRequest": "modifyResponse",
    "addRequest": "addResponse",
    "delRequest": "delResponse",
    "modDNRequest": "modDNResponse",
}
_OPERATIONS = {0: "add", 1: "delete", 2: "replace", 3: "increment"}


class Session:
    """State of one client connection; :meth:`handle` answers one decoded request with response bytes."""

    def __init__(self, registry, *, tls_active: bool, can_start_tls: bool):
        self.registry = registry
        self.tenant = None
        self.tls_active = tls_active
        self.can_start_tls = can_start_tls
        self.start_tls_now = False
        self.closed = False
        self._paged: OrderedDict[bytes, dict] = OrderedDict()
        self._cookies = 0

    # ---------------------------------------------------------------------------------------- dispatch
    def handle(self, request: codec.Request) -> list[bytes]:
        """The response messages for one request (none for unbind and abandon)."""
        op = request.op
        for oid, (critical, _value) in request.controls.items():
            if critical and oid != codec.PAGED_RESULTS:
                done = {
                    "searchRequest": "searchResDone",
                    "bindRequest": "bindResponse",
                    "compareRequest": "compareResponse",
                    "extendedReq": "extendedResp",
                    **_WRITE_OPS,
                }.get(op)
                if done is None:
                    return []
                return [
                    codec.result(
                        request.message_id,
                        done,
                        dit.UNAVAILABLE_CRITICAL_EXTENSION,
                        "",
                        f"the critical control {oid} is not supported",
                    )
                ]
        try:
            if op == "bindRequest":
                return [self._bind(request)]
            if op == "unbindRequest":
                self.closed = True
                return []
            if op == "abandonRequest":
                return []
            if op == "extendedReq":
                return [self._extended(request)]
            if op == "searchRequest":
                return self._search(request)
            if op == "compareRequest":
                return [self._compare(request)]
            if op in _WRITE_OPS:
                return [self._write(request)]
        except codec.ProtocolError as exc:
            return [codec.result(request.message_id, _response_op(op), dit.PROTOCOL_ERROR, "", str(exc))]
        # A response op (searchResEntry...) sent by a client: not a request at all.
        raise codec.ProtocolError(f"{op} is not a request")

    # -------------------------------------------------------------------------------------------- bind
    def _bind(self, request) -> bytes:
        c = request.component
        mid = request.message_id
        self._paged.clear()
        self.tenant = None
        if int(c["version"]) != 3:
            return codec.result(mid, "bindResponse", dit.PROTOCOL_ERROR, "", "only LDAP version 3 is supported")
        auth = c["authentication"]
        kind = auth.getName()
        if kind != "simple":
            return codec.result(
                mid,
                "bindResponse",
                dit.AUTH_METHOD_NOT_SUPPORTED,
                "",
                "the mock's LDAP port supports simple binds only",
            )
        name = codec.text(c["name"])
        password = auth.getComponent().asOctets().decode("utf-8", "replace")
        if not name and not password:
            return codec.result(mid, "bindResponse", dit.SUCCESS)  # anonymous: only the root DSE is readable
        try:
            self.tenant = dit.authenticate(self.registry, name, password)
        except DomainError as exc:
            return codec.result(mid, "bindResponse", dit.result_code_for(exc), "", exc.message)
        return codec.result(mid, "bindResponse", dit.SUCCESS)

    # ---------------------------------------------------------------------------------------- extended
    def _extended(self, request) -> bytes:
        c = request.component
        mid = request.message_id
        oid = codec.text(c["requestName"])
        if oid == codec.START_TLS:
            if self.tls_active or not self.can_start_tls:
                return codec.result(
                    mid,
                    "extendedResp",
                    dit.OPERATIONS_ERROR,
                    "",
                    "TLS is already active on this connection" if self.tls_active else "no certificate for StartTLS",
                    response_name=codec.START_TLS,
                )
            self.start_tls_now = True
            return codec.result(mid, "extendedResp", dit.SUCCESS, response_name=codec.START_TLS)
        if oid == codec.WHO_AM_I:
            who = b""
            if self.tenant is not None:
                who = f"u:{dit.netbios_name(self.tenant)}\\{dit.SERVICE_ACCOUNT}".encode()
            return codec.result(mid, "extendedResp", dit.SUCCESS, response_value=who)
        return codec.result(
            mid, "extendedResp", dit.PROTOCOL_ERROR, "", f"the extended operation {oid} is not supported"
        )

    # ------------------------------------------------------------------------------------------ search
    def _root_dse(self, mid, attributes) -> list[bytes]:
        attrs = {
            "supportedLDAPVersion": ["3"],
            "supportedControl": [codec.PAGED_RESULTS],
            "supportedExtension": [codec.START_TLS, codec.WHO_AM_I],
            "isSynchronized": ["TRUE"],
        }
        if self.tenant is not None:
            base = dit.base_dn(self.tenant)
            attrs.update({"namingContexts": [base], "defaultNamingContext": [base], "rootDomainNamingContext": [base]})
        selected = dit.select(dit.Entry(dn="", attributes=attrs), attributes)
        return [codec.entry(mid, "", selected), codec.result(mid, "searchResDone", dit.SUCCESS)]

    def _search(self, request) -> list[bytes]:
        c = request.component
        mid = request.message_id
        base = codec.text(c["baseObject"])
        scope = int(c["scope"])
        size_limit = int(c["sizeLimit"])
        types_only = bool(c["typesOnly"])
        attributes = [codec.text(a) for a in c["attributes"]]
        flt = codec.to_filter(c["filter"])
        if base == "" and scope == 0:
            return self._root_dse(mid, attributes)
        if self.tenant is None:
            return [codec.result(mid, "searchResDone", dit.OPERATIONS_ERROR, "", dit.BIND_REQUIRED_TEXT)]
        paged = request.controls.get(codec.PAGED_RESULTS)
        page_size, cookie = codec.paged_request(paged[1]) if paged else (0, b"")
        tenant = self.tenant
        out: list[bytes] = []
        with tenant.lock:
            tenant.catch_up()
            try:
                tree = dit.Tree(tenant)
                if cookie:
                    state = self._paged.pop(cookie, None)
                    if state is None or state["request"] != (base, scope, c["filter"]):
                        return [
                            codec.result(
                                mid,
                                "searchResDone",
                                dit.UNWILLING_TO_PERFORM,
                                "",
                                "the paged results cookie is not valid",
                            )
                        ]
                    keys, offset = state["keys"], state["offset"]
                else:
                    keys = tree.scope(base, scope, flt)
                    offset = 0
            except DomainError as exc:
                return [
                    codec.result(mid, "searchResDone", dit.result_code_for(exc), dit.matched_dn_for(exc), exc.message)
                ]
            if paged and page_size == 0:
                # RFC 2696: a zero page size abandons the paged search.
                return [codec.result(mid, "searchResDone", dit.SUCCESS, controls=[codec.paged_control(b"")])]
            # Without paging AD stops at MaxPageSize; a client sizeLimit caps the whole search either way.
            cap = min(size_limit or len(keys) + 1, len(keys) + 1)
            if paged:
                limit = min(page_size, dit.MAX_PAGE_SIZE, max(0, cap - offset))
            else:
                limit = min(cap, dit.MAX_PAGE_SIZE)
            sent = 0
            for key in keys[offset : offset + limit]:
                entry = tree.lookup(key)
                if entry is None:
                    continue  # deleted since the first page
                out.append(codec.entry(mid, entry.dn, dit.select(entry, attributes), types_only))
                sent += 1
            next_offset = offset + limit
        if size_limit and len(keys) > size_limit and next_offset >= size_limit:
            out.append(codec.result(mid, "searchResDone", dit.SIZE_LIMIT_EXCEEDED, "", "Size limit exceeded"))
            return out
        if not paged and len(keys) > limit:
            out.append(
                codec.result(
                    mid,
                    "searchResDone",
                    dit.SIZE_LIMIT_EXCEEDED,
                    "",
                    "the search matched more than MaxPageSize (1000) entries; use the paged results control",
                )
            )
            return out
        controls = None
        if paged:
            next_cookie = b""
            if next_offset < len(keys):
                self._cookies += 1
                next_cookie = str(self._cookies).encode()
                self._paged[next_cookie] = {"request": (base, scope, c["filter"]), "keys": keys, "offset": next_offset}
                while len(self._paged) > dit.MAX_PAGED_SEARCHES:
                    self._paged.popitem(last=False)
            controls = [codec.paged_control(next_cookie)]
        out.append(codec.result(mid, "searchResDone", dit.SUCCESS, controls=controls))
        return out

    def _compare(self, request) -> bytes:
        c = request.component
        mid = request.message_id
        if self.tenant is None:
            return codec.result(mid, "compareResponse", dit.OPERATIONS_ERROR, "", dit.BIND_REQUIRED_TEXT)
        ava = c["ava"]
        flt = dit.Filter(kind="eq", attribute=codec.text(ava["attributeDesc"]), value=ava["assertionValue"].asOctets())
        with self.tenant.lock:
            self.tenant.catch_up()
            try:
                entry = dit.Tree(self.tenant).get(codec.text(c["entry"]))
            except DomainError as exc:
                return codec.result(
                    mid, "compareResponse", dit.result_code_for(exc), dit.matched_dn_for(exc), exc.message
                )
            hit = dit.matches(flt, entry)
        if hit is None:
            return codec.result(
                mid, "compareResponse", dit.UNDEFINED_ATTRIBUTE_TYPE, "", "no such attribute in the schema"
            )
        return codec.result(mid, "compareResponse", 6 if hit else 5)

    # ------------------------------------------------------------------------------------------- writes
    def _write(self, request) -> bytes:
        op = request.op
        mid = request.message_id
        response = _WRITE_OPS[op]
        if self.tenant is None:
            return codec.result(mid, response, dit.OPERATIONS_ERROR, "", dit.BIND_REQUIRED_TEXT)
        c = request.component
        tenant = self.tenant
        with tenant.lock:
            tenant.catch_up()
            try:
                if op == "modifyRequest":
                    changes = []
                    for change in c["changes"]:
                        operation = _OPERATIONS.get(int(change["operation"]), "?")
                        mod = change["modification"]
                        changes.append((operation, codec.text(mod["type"]), [v.asOctets() for v in mod["vals"]]))
                    ad, changed = writes.modify(tenant, codec.text(c["object"]), changes)
                    tenant.add_audit_record(
                        "ldap",
                        "Modify",
                        None,
                        target=ad.sam_account_name,
                        parameters={"dn": ad.distinguished_name},
                        changes=changed,
                    )
                elif op == "addRequest":
                    attrs = [(codec.text(a["type"]), [v.asOctets() for v in a["vals"]]) for a in c["attributes"]]
                    ad = writes.add(tenant, codec.text(c["entry"]), attrs)
                    tenant.add_audit_record(
                        "ldap",
                        "Add",
                        None,
                        target=ad.sam_account_name,
                        changes={"created": {"old": None, "new": ad.distinguished_name}},
                    )
                elif op == "delRequest":
                    ad = writes.delete(tenant, codec.text(c))
                    tenant.add_audit_record(
                        "ldap",
                        "Delete",
                        None,
                        target=ad.sam_account_name,
                        changes={"deleted": {"old": ad.distinguished_name, "new": None}},
                    )
                else:
                    superior = codec.text(c["newSuperior"]) if c["newSuperior"].isValue else None
                    ad, old = writes.modify_dn(
                        tenant, codec.text(c["entry"]), codec.text(c["newrdn"]), bool(c["deleteoldrdn"]), superior
                    )
                    tenant.add_audit_record(
                        "ldap",
                        "ModifyDN",
                        None,
                        target=ad.sam_account_name,
                        changes={"distinguishedName": {"old": old, "new": ad.distinguished_name}},
                    )
            except DomainError as exc:
                return codec.result(mid, response, dit.result_code_for(exc), dit.matched_dn_for(exc), exc.message)
            store = self.registry.store
            if store is not None:
                store.flush(tenant)
        return codec.result(mid, response, dit.SUCCESS)


def _response_op(op: str) -> str:
    return {
        "bindRequest": "bindResponse",
        "searchRequest": "searchResDone",
        "compareRequest": "compareResponse",
        "extendedReq": "extendedResp",
        **_WRITE_OPS,
    }.get(op, "extendedResp")
