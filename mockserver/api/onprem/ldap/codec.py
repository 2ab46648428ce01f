"""LDAPv3 messages on the wire (RFC 4511): framing and decoding with ldap3's ASN.1 definitions and pyasn1's BER
codec (no hand-written BER), turned into plain Python values for the session, and responses encoded back."""

from __future__ import annotations

from dataclasses import dataclass, field

from ldap3.protocol import rfc4511 as asn
from ldap3.protocol.rfc2696 import RealSearchControlValue
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pyasn1.type.namedtype import NamedType, NamedTypes

from ....domain.onprem.ldap_tree import Filter

#: Simple Paged Results (RFC 2696), the control AD clients page with.
PAGED_RESULTS = "1.2.840.113556.1.4.319"
START_TLS = "1.3.6.1.4.1.1466.20037"
WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"
NOTICE_OF_DISCONNECTION = "1.3.6.1.4.1.1466.20036"
#: Nesting depth of a search filter the listener evaluates (deeper filters are a protocol error).
MAX_FILTER_DEPTH = 32


def _with(named_types, **replacements):
    # The same NamedTypes with some components' prototypes replaced (keeping Optional/Defaulted kinds).
    return NamedTypes(*[type(nt)(nt.name, replacements.get(nt.name, nt.asn1Object)) for nt in named_types.namedTypes])


def _decoding_spec():
    """LDAPMessage as pyasn1 needs it for *decoding*. ldap3 builds And/Or/Not after Filter's class body has
    instantiated them, and pyasn1 copies componentType and tagSet into each instance at creation, so the
    prototypes inside ldap3's Filter have no component type (and Not has no [2] tag). ldap3 only encodes with
    them; here the recursive part is rebuilt from subclasses and the chain up to LDAPMessage re-pointed."""

    class _And(asn.And):
        pass

    class _Or(asn.Or):
        pass

    class _Not(asn.Not):
        pass

    and_, or_, not_ = _And(), _Or(), _Not()

    class _Filter(asn.Filter):
        componentType = _with(asn.Filter.componentType, **{"and": and_, "or": or_, "notFilter": not_})

    for proto, component in ((and_, _Filter()), (or_, _Filter())):
        proto.__dict__["componentType"] = component
        proto.__dict__["readOnly"] = {**proto.readOnly, "componentType": component}
    inner = NamedTypes(NamedType("innerNotFilter", _Filter()))
    not_.__dict__["componentType"] = inner
    not_.__dict__["readOnly"] = {**not_.readOnly, "componentType": inner}

    class _SearchRequest(asn.SearchRequest):
        componentType = _with(asn.SearchRequest.componentType, filter=_Filter())

    class _ProtocolOp(asn.ProtocolOp):
        componentType = _with(asn.ProtocolOp.componentType, searchRequest=_SearchRequest())

    class _LDAPMessage(asn.LDAPMessage):
        componentType = _with(asn.LDAPMessage.componentType, protocolOp=_ProtocolOp())

    return _LDAPMessage


_LDAPMessage = _decoding_spec()


class ProtocolError(Exception):
    """The bytes are not an LDAPv3 message the listener can answer (the connection is closed after a notice)."""


def message_size(buffer: bytes) -> int:
    """Total length of the BER element at the start of ``buffer`` (tag + length + content), or -1 when the
    length octets have not arrived yet. Indefinite lengths are refused: LDAP requires definite ones."""
    from ldap3.strategy.base import BaseStrategy

    if len(buffer) < 2:
        return -1
    if buffer[0] != 0x30:
        raise ProtocolError("an LDAPMessage is a SEQUENCE")
    if buffer[1] == 0x80:
        raise ProtocolError("indefinite length")
    if buffer[1] & 0x80 and (buffer[1] & 0x7F) > 4:
        raise ProtocolError("length of length too large")
    return BaseStrategy.compute_ldap_message_size(buffer)


@dataclass
class Request:
    """One decoded request: message id, operation name (ldap3's ProtocolOp names), its component, controls."""

    message_id: int
    op: str
    component: object
    controls: dict = field(default_factory=dict)  # oid -> (critical, value bytes | None)


def decode(data: bytes) -> Request:
    """One LDAPMessage from exactly its bytes; ProtocolError for anything pyasn1 or the schema refuses."""
    try:
        message, rest = decoder.decode(data, asn1Spec=_LDAPMessage())
    except Exception as exc:  # noqa: BLE001  (pyasn1 raises several types, and RecursionError on absurd nesting)
        raise ProtocolError(f"undecodable message: {type(exc).__name__}") from None
    if rest:
        raise ProtocolError("trailing bytes after the message")
    try:
        op = message["protocolOp"]
        name = op.getName()
        component = op.getComponent()
        controls = {}
        if message["controls"].isValue:
            for control in message["controls"]:
                value = control["controlValue"]
                controls[str(control["controlType"])] = (
                    bool(control["criticality"]) if control["criticality"].isValue else False,
                    value.asOctets() if value.isValue else None,
                )
        return Request(int(message["messageID"]), name, component, controls)
    except Exception as exc:  # noqa: BLE001  (any pyasn1 access error means the message is malformed)
        raise ProtocolError(f"malformed message: {type(exc).__name__}") from None


def text(value) -> str:
    """An LDAPString as str (ProtocolError if it is not UTF-8)."""
    try:
        return value.asOctets().decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("an LDAPString is not UTF-8") from None


def to_filter(node, depth: int = 0) -> Filter:
    """A decoded Filter CHOICE as :class:`~hybridsoa.mock.domain.onprem.ldap_tree.Filter`."""
    if depth > MAX_FILTER_DEPTH:
        raise ProtocolError("filter nested too deeply")
    name = node.getName()
    c = node.getComponent()
    if name in ("and", "or"):
        return Filter(kind=name, children=[to_filter(child, depth + 1) for child in c])
    if name == "notFilter":
        return Filter(kind="not", children=[to_filter(c["innerNotFilter"], depth + 1)])
    if name in ("equalityMatch", "greaterOrEqual", "lessOrEqual", "approxMatch"):
        kind = {"equalityMatch": "eq", "greaterOrEqual": "ge", "lessOrEqual": "le", "approxMatch": "approx"}[name]
        return Filter(kind=kind, attribute=text(c["attributeDesc"]), value=c["assertionValue"].asOctets())
    if name == "present":
        return Filter(kind="present", attribute=text(c))
    if name == "substringFilter":
        f = Filter(kind="sub", attribute=text(c["type"]))
        for piece in c["substrings"]:
            which, value = piece.getName(), piece.getComponent().asOctets()
            if which == "initial":
                f.initial = value
            elif which == "final":
                f.final = value
            else:
                f.any.append(value)
        return f
    if name == "extensibleMatch":
        return Filter(
            kind="ext",
            rule=text(c["matchingRule"]) if c["matchingRule"].isValue else "",
            attribute=text(c["type"]) if c["type"].isValue else "",
            value=c["matchValue"].asOctets(),
        )
    raise ProtocolError(f"unknown filter {name}")


# --------------------------------------------------------------------------------------------- responses
def _fill_result(component, code: int, matched: str = "", message: str = "", referrals=None):
    component["resultCode"] = asn.ResultCode(code)
    component["matchedDN"] = asn.LDAPDN(matched.encode("utf-8"))
    component["diagnosticMessage"] = asn.LDAPString(message.encode("utf-8"))
    if referrals:
        ref = asn.Referral()
        for i, uri in enumerate(referrals):
            ref.setComponentByPosition(i, asn.URI(uri.encode("utf-8")))
        component["referral"] = ref
    return component


_RESPONSES = {
    "bindResponse": asn.BindResponse,
    "searchResDone": asn.SearchResultDone,
    "modifyResponse": asn.ModifyResponse,
    "addResponse": asn.AddResponse,
    "delResponse": asn.DelResponse,
    "modDNResponse": asn.ModifyDNResponse,
    "compareResponse": asn.CompareResponse,
    "extendedResp": asn.ExtendedResponse,
}


def _message(message_id: int, op: str, component, controls: list | None = None) -> bytes:
    message = asn.LDAPMessage()
    message["messageID"] = asn.MessageID(message_id)
    message["protocolOp"] = asn.ProtocolOp().setComponentByName(op, component)
    if controls:
        built = asn.Controls()
        for i, (oid, value) in enumerate(controls):
            control = asn.Control()
            control["controlType"] = asn.LDAPOID(oid.encode())
            control["controlValue"] = asn.ControlValue(value)
            built.setComponentByPosition(i, control)
        message["controls"] = built
    return encoder.encode(message)


def result(
    message_id: int,
    op: str,
    code: int,
    matched: str = "",
    message: str = "",
    *,
    referrals=None,
    controls: list | None = None,
    response_name: str | None = None,
    response_value: bytes | None = None,
) -> bytes:
    """An LDAPResult-shaped response (``op`` one of bindResponse, searchResDone, modifyResponse, ...)."""
    component = _fill_result(_RESPONSES[op](), code, matched, message, referrals)
    if response_name is not None:
        component["responseName"] = asn.ResponseName(response_name.encode())
    if response_value is not None:
        component["responseValue"] = asn.ResponseValue(response_value)
    return _message(message_id, op, component, controls)


_FAST = {"verifyConstraints": False, "matchTags": False, "matchConstraints": False}


def _put(container, position: int, value):
    container.setComponentByPosition(position, value, **_FAST)
    return container


def entry(message_id: int, dn: str, attributes: list[tuple[str, list]], types_only: bool = False) -> bytes:
    """A SearchResultEntry: the DN and (name, values) pairs; values as str or bytes. Built from pyasn1's
    untyped universal types with the entry's [APPLICATION 4] tag: the same BER as the typed schema, without
    the per-component schema checks that make the typed form several times slower for large searches."""
    attrs = univ.SequenceOf()
    for i, (name, values) in enumerate(attributes):
        vals = univ.SetOf()
        if not types_only:
            for j, value in enumerate(values):
                _put(vals, j, univ.OctetString(value if isinstance(value, bytes) else str(value).encode("utf-8")))
        partial = univ.Sequence()
        _put(partial, 0, univ.OctetString(name.encode("utf-8")))
        _put(partial, 1, vals)
        _put(attrs, i, partial)
    component = univ.Sequence(tagSet=asn.SearchResultEntry.tagSet)
    _put(component, 0, univ.OctetString(dn.encode("utf-8")))
    _put(component, 1, attrs)
    message = univ.Sequence()
    _put(message, 0, univ.Integer(message_id))
    _put(message, 1, component)
    return encoder.encode(message)


def paged_control(cookie: bytes) -> tuple[str, bytes]:
    """The Simple Paged Results response control (size 0 = no estimate, as AD answers; empty cookie = done)."""
    value = RealSearchControlValue()
    value["size"] = 0
    value["cookie"] = cookie
    return PAGED_RESULTS, encoder.encode(value)


def paged_request(value: bytes | None) -> tuple[int, bytes]:
    """(page size, cookie) of a request's paged results control value."""
    if value is None:
        raise ProtocolError("the paged results control needs a value")
    try:
        decoded, rest = decoder.decode(value, asn1Spec=RealSearchControlValue())
        size, cookie = int(decoded["size"]), decoded["cookie"].asOctets()
    except Exception:  # noqa: BLE001  (pyasn1 raises several types for a damaged value)
        raise ProtocolError("the paged results control value is not a realSearchControlValue") from None
    if rest or size < 0:
        raise ProtocolError("the paged results control value is not a realSearchControlValue")
    return size, cookie


def notice_of_disconnection(message: str) -> bytes:
    """The unsolicited notification (RFC 4511 4.4.1) sent before the listener drops a connection it cannot
    follow any more (undecodable or oversized message)."""
    return result(0, "extendedResp", 2, "", message, response_name=NOTICE_OF_DISCONNECTION)
