"""LDAP writes on the emulated AD (RFC 4511 Modify, Add, Delete, Modify DN) applied to the same
:class:`~.onprem.ADUser` objects through :mod:`.ad_admin`, so they carry the control plane's schema checks and
change index and reach the cloud at Entra Connect's next cycle."""

from __future__ import annotations

import base64

from . import ad_admin
from .ad import ADUser
from .ldap_tree import (
    _SYSTEM,
    ATTRIBUTE_OR_VALUE_EXISTS,
    CONSTRAINT_VIOLATION,
    ENTRY_ALREADY_EXISTS,
    INVALID_ATTRIBUTE_SYNTAX,
    NAMING_VIOLATION,
    NO_SUCH_ATTRIBUTE,
    NOT_ALLOWED_ON_NON_LEAF,
    NOT_ALLOWED_ON_RDN,
    OBJECT_CLASS_VIOLATION,
    PROTOCOL_ERROR,
    UNDEFINED_ATTRIBUTE_TYPE,
    UNWILLING_TO_PERFORM,
    DirectoryError,
    Tree,
    _escape_rdn_value,
    dn_key,
    parse_dn,
)


def _ad_value(name: str, kind: str, values: list[bytes]):
    """Typed AD value from LDAP octet strings (the inverse of :func:`_ldap_values`)."""
    if kind == "strings":
        return [_decode(name, v) for v in values]
    if len(values) > 1:
        raise DirectoryError(CONSTRAINT_VIOLATION, f"the attribute '{name}' is single-valued.")
    if not values:
        return None
    raw = values[0]
    if name == "mS-DS-ConsistencyGuid":
        if len(raw) != 16:
            raise DirectoryError(CONSTRAINT_VIOLATION, f"'{name}' takes 16 bytes.")
        return base64.b64encode(raw).decode()
    text = _decode(name, raw)
    if kind == "bool":
        if text not in ("TRUE", "FALSE"):
            raise DirectoryError(INVALID_ATTRIBUTE_SYNTAX, f"the value of '{name}' must be TRUE or FALSE.")
        return text == "TRUE"
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise DirectoryError(INVALID_ATTRIBUTE_SYNTAX, f"the value of '{name}' must be an integer.") from None
    return text


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DirectoryError(INVALID_ATTRIBUTE_SYNTAX, f"the value of '{name}' is not UTF-8.") from None


def _schema_name(name: str) -> tuple[str, str]:
    lowered = name.lower()
    for canonical, kind in ad_admin.ATTRIBUTE_TYPES.items():
        if canonical.lower() == lowered:
            return canonical, kind
    if lowered in _SYSTEM:
        raise DirectoryError(CONSTRAINT_VIOLATION, f"the attribute '{name}' is maintained by the directory.")
    raise DirectoryError(UNDEFINED_ATTRIBUTE_TYPE, f"no attribute '{name}' in the schema.")


def _user_at(tree: Tree, dn: str) -> ADUser:
    entry = tree.get(dn)
    if entry.user is None:
        raise DirectoryError(UNWILLING_TO_PERFORM, "the mock's containers are fixed; only user objects can be changed.")
    return entry.user


def modify(tenant, dn: str, changes: list[tuple[str, str, list[bytes]]]) -> tuple[ADUser, dict]:
    """LDAP Modify (RFC 4511 4.6) on an AD user: ``changes`` as (add|delete|replace, attribute, values), applied
    all or nothing with the control plane's schema checks. Returns the user and the changed attributes."""
    tree = Tree(tenant)
    ad = _user_at(tree, dn)
    current = {k: (list(v) if isinstance(v, list) else v) for k, v in ad.attrs.items()}
    patch: dict = {}
    for op, attribute, values in changes:
        name, kind = _schema_name(attribute)
        if name == "cn":
            raise DirectoryError(NOT_ALLOWED_ON_RDN, "the RDN attribute changes through Modify DN.")
        typed = _ad_value(name, kind, values) if op != "delete" or values else None
        old = patch.get(name, current.get(name))
        if op == "replace":
            patch[name] = typed
        elif op == "add":
            if not values:
                raise DirectoryError(PROTOCOL_ERROR, "an add modification needs values")
            if kind == "strings":
                have = list(old or [])
                lowered = {v.lower() for v in have}
                if any(v.lower() in lowered for v in typed):
                    raise DirectoryError(ATTRIBUTE_OR_VALUE_EXISTS, f"a value of '{name}' is already present.")
                patch[name] = have + typed
            else:
                if old not in (None, ""):
                    raise DirectoryError(ATTRIBUTE_OR_VALUE_EXISTS, f"'{name}' already has a value.")
                patch[name] = typed
        elif op == "delete":
            if old in (None, "", []):
                raise DirectoryError(NO_SUCH_ATTRIBUTE, f"'{name}' has no value to delete.")
            if not values:
                patch[name] = [] if kind == "strings" else None
            elif kind == "strings":
                have = list(old)
                gone = {v.lower() for v in typed}
                if not gone <= {v.lower() for v in have}:
                    raise DirectoryError(NO_SUCH_ATTRIBUTE, f"a value to delete is not in '{name}'.")
                patch[name] = [v for v in have if v.lower() not in gone]
            else:
                if str(typed).lower() != str(old).lower():
                    raise DirectoryError(NO_SUCH_ATTRIBUTE, f"the value to delete is not in '{name}'.")
                patch[name] = None
        else:
            raise DirectoryError(UNWILLING_TO_PERFORM, f"the modification '{op}' is not supported on '{name}'.")
    before = {k: current.get(k) for k in patch}
    ad_admin.update_ad_user(tenant, ad.sam_account_name, patch)
    return ad, {k: {"old": before[k], "new": ad.attrs.get(k)} for k in patch if before[k] != ad.attrs.get(k)}


def add(tenant, dn: str, attributes: list[tuple[str, list[bytes]]]) -> ADUser:
    """LDAP Add (RFC 4511 4.7) of a user object (``objectClass: user``) under an existing container."""
    tree = Tree(tenant)
    rdn = parse_dn(dn)
    if not rdn or rdn[0][0] != "cn":
        raise DirectoryError(NAMING_VIOLATION, "a user's RDN is CN=<name>.")
    if tree.lookup(dn_key(dn)) is not None:
        raise DirectoryError(
            ENTRY_ALREADY_EXISTS, "00002071: UpdErr: DSID-031B0DAE, problem 6005 (ENTRY_EXISTS), data 0"
        )
    parent_dn = dn.split(",", 1)[1] if "," in dn else ""
    parent = tree.get(parent_dn)
    if parent.user is not None:
        raise DirectoryError(NAMING_VIOLATION, "a user cannot hold other objects.")
    body: dict = {}
    classes: list[str] = []
    for attribute, values in attributes:
        lowered = attribute.lower()
        if lowered == "objectclass":
            classes = [_decode(attribute, v).lower() for v in values]
            continue
        if lowered == "samaccountname":
            body["sAMAccountName"] = _ad_value("sAMAccountName", "string", values)
            continue
        if lowered in ("distinguishedname", "name", "objectcategory"):
            continue
        name, kind = _schema_name(attribute)
        body[name] = _ad_value(name, kind, values)
    if "user" not in classes:
        raise DirectoryError(
            OBJECT_CLASS_VIOLATION, "the mock's directory holds user objects only (objectClass: user)."
        )
    cn = rdn[0][1]
    if body.get("cn") not in (None, cn):
        raise DirectoryError(NAMING_VIOLATION, "cn differs from the RDN.")
    body["cn"] = cn
    body["ou"] = parent.dn
    if "sAMAccountName" not in body:
        raise DirectoryError(CONSTRAINT_VIOLATION, "sAMAccountName is required.")
    return ad_admin.create_ad_user(tenant, {k: v for k, v in body.items() if v is not None or k == "ou"})


def delete(tenant, dn: str) -> ADUser:
    """LDAP Delete (RFC 4511 4.8): a user leaves AD; containers with children are refused."""
    tree = Tree(tenant)
    entry = tree.get(dn)
    if entry.user is None:
        if tree.has_children(entry.key):
            raise DirectoryError(
                NOT_ALLOWED_ON_NON_LEAF, "0000208C: UpdErr: DSID-030F1B8F, problem 6003 (CANT_ON_NON_LEAF), data 0"
            )
        raise DirectoryError(UNWILLING_TO_PERFORM, "the mock's containers are fixed.")
    return ad_admin.delete_ad_user(tenant, entry.user.sam_account_name)


def modify_dn(tenant, dn: str, new_rdn: str, delete_old: bool, new_superior: str | None) -> tuple[ADUser, str]:
    """LDAP Modify DN (RFC 4511 4.9): rename (new CN) and/or move (new superior container) a user."""
    tree = Tree(tenant)
    ad = _user_at(tree, dn)
    old_dn = ad.distinguished_name
    rdn = parse_dn(new_rdn)
    if len(rdn) != 1 or rdn[0][0] != "cn":
        raise DirectoryError(NAMING_VIOLATION, "a user's RDN is CN=<name>.")
    target_parent = ad.ou
    if new_superior:
        parent = tree.get(new_superior)
        if parent.user is not None:
            raise DirectoryError(NAMING_VIOLATION, "a user cannot hold other objects.")
        target_parent = parent.dn
    new_dn = f"CN={_escape_rdn_value(rdn[0][1])},{target_parent}"
    existing = tree.lookup(dn_key(new_dn))
    if existing is not None and existing.user is not ad:
        raise DirectoryError(
            ENTRY_ALREADY_EXISTS, "00002071: UpdErr: DSID-031B0DAE, problem 6005 (ENTRY_EXISTS), data 0"
        )
    if rdn[0][1] != (ad.attrs.get("cn") or ""):
        ad_admin.update_ad_user(tenant, ad.sam_account_name, {"cn": rdn[0][1]})
    if dn_key(target_parent) != dn_key(ad.ou):
        ad_admin.move_ad_user(tenant, ad.sam_account_name, target_parent)
    return ad, old_dn
