"""``-Identity`` resolution as Exchange Online does it: a recipient is found by alias, name, any SMTP proxy
address, UPN, GUID (object, Exchange or ExternalDirectoryObjectId); none -> ManagementObjectNotFoundException,
several -> ManagementObjectAmbiguousException."""

from __future__ import annotations

import uuid

from ..wildcard import compile_wildcard
from . import errors as exo_errors
from .naming import exchange_netbios, tenant_constants


def _is_guid(text: str) -> bool:
    if len(text) < 32:  # no GUID form is shorter: most identities (aliases, names) stop here, without a raise
        return False
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _strip_prefix(text: str) -> str:
    return text.split(":", 1)[1] if text.lower().startswith("smtp:") else text


def mailbox_matches(mbx, key: str, as_guid: bool) -> bool:
    """Whether mailbox ``mbx`` answers to the lowercase identity ``key`` (``*`` wildcards match name, alias,
    UPN and SMTP addresses, as the Get- cmdlets allow)."""
    if "*" in key:
        pattern = compile_wildcard(key, question_mark=False)  # linear: no regex backtracking on many stars
        values = [(mbx.name or "").lower(), (mbx.alias or "").lower(), (mbx.user_principal_name or "").lower()]
        values += [a[5:].lower() for a in mbx.email_addresses if a.lower().startswith("smtp:")]
        return any(pattern.match(v) for v in values)
    if as_guid:
        return key in (mbx.guid.lower(), mbx.exchange_guid.lower(), (mbx.external_directory_object_id or "").lower())
    if key in (
        (mbx.name or "").lower(),
        (mbx.alias or "").lower(),
        (mbx.user_principal_name or "").lower(),
        (mbx.primary_smtp_address or "").lower(),
    ):
        return True
    return any(a.lower().startswith("smtp:") and a[5:].lower() == key for a in mbx.email_addresses)


def normalise_identity(tenant, text: str) -> str:
    """The other forms ``MailboxIdParameter``/``RecipientIdParameter`` accept, reduced to one the matcher knows:
    a DistinguishedName or canonical DN -> the Name in it, a LegacyExchangeDN -> the ExchangeGuid it embeds,
    ``domain\\account`` -> the account (SamAccountName). Anything else is returned unchanged."""
    low = text.lower()
    if low.startswith("cn=") and "," in low:
        suffix = tenant_constants(tenant)["dn_suffix"].lower()
        if low.endswith(suffix):
            return text[3 : len(text) - len(suffix)].replace("\\,", ",")
        return text
    if "/" in low and not low.startswith("/"):
        prefix = tenant_constants(tenant)["ou"].lower() + "/"
        if low.startswith(prefix) and len(low) > len(prefix):
            return text[len(prefix) :]
        return text
    if low.startswith("/o="):
        last = low.rsplit("/cn=", 1)[-1]
        hexpart = last.split("-", 1)[0]
        if len(hexpart) == 32 and all(c in "0123456789abcdef" for c in hexpart):
            return str(uuid.UUID(hexpart))
        return text
    if "\\" in text:
        domain, _, account = text.partition("\\")
        if domain.lower() == exchange_netbios(tenant).lower() and account:
            return account
    return text


def find_mailboxes(tenant, identity: str, *, soft_deleted: bool = False, types: tuple[str, ...] | None = None) -> list:
    """Every recipient in ``tenant.mailboxes`` answering to ``identity`` (live or soft-deleted ones)."""
    text = normalise_identity(tenant, _strip_prefix((identity or "").strip()))
    key = text.lower()
    as_guid = _is_guid(text)
    if not soft_deleted:
        fast = _indexed(tenant, key, as_guid, types)
        if fast:
            return fast
    out = []
    for mbx in tenant.mailboxes:
        if mbx.is_soft_deleted != soft_deleted:
            continue
        if types is not None and mbx.recipient_type_details not in types:
            continue
        if mailbox_matches(mbx, key, as_guid):
            out.append(mbx)
    return out


def _indexed(tenant, key: str, as_guid: bool, types) -> list:
    """Fast path for GUIDs and SMTP addresses through the sync engine's indexes (large tenants); an empty
    answer falls back to the full scan, so the result never differs from it."""
    index = tenant.sync.index
    candidates = []
    if as_guid:
        mbx = tenant.mailboxes.get(key)
        if mbx is None:
            index.refresh()
            owned = index.mailbox_by_owner.get(key)
            mbx = tenant.mailboxes.get(owned) if owned else None
        candidates = [mbx] if mbx is not None else []
    elif "@" in key:
        index.refresh()
        candidates = [tenant.mailboxes.get(k) for k in sorted(index.mailboxes_by_addr.get(key, ()))]
    elif "*" not in key:
        # The index was brought up to date just now and holds exactly the lowercase aliases and names: its hits
        # need no second match (a key without "@" cannot equal a UPN or SMTP address).
        keys = _name_index(tenant).get(key)
        if not keys:
            return []
        mailboxes = tenant.mailboxes
        out = []
        for k in keys if len(keys) == 1 else sorted(keys):
            m = mailboxes.get(k)
            if m is not None and not m.is_soft_deleted and (types is None or m.recipient_type_details in types):
                out.append(m)
        return out
    return [
        m
        for m in candidates
        if m is not None
        and not m.is_soft_deleted
        and (types is None or m.recipient_type_details in types)
        and mailbox_matches(m, key, as_guid)
    ]


class _NameIndex:
    """Lowercase alias and name -> mailbox keys, kept current through the collection's change log."""

    def __init__(self, mailboxes):
        #: The collection indexed: a snapshot restore that swaps in a new one gets a fresh index.
        self.mailboxes = mailboxes
        self.seq = 0
        self.by_name: dict[str, set[str]] = {}
        #: The (alias, name) each key is indexed under, as stored on the mailbox (shared strings, and an unchanged
        #: pair is found without lowercasing anything).
        self.raw_of: dict[str, tuple] = {}

    def refresh(self, mailboxes) -> dict[str, set[str]]:
        """Fold in the mailboxes changed since the last call; return the index."""
        if mailboxes.current_seq() == self.seq:
            return self.by_name
        changed = mailboxes.changed_since(self.seq)
        if len(changed) < 2000:
            self._fold(mailboxes, changed)
        else:
            # The first call on a big tenant builds a small set per mailbox: collections over the seeded heap wait.
            from ..memory import bulk_allocation

            with bulk_allocation(len(changed)):
                self._fold(mailboxes, changed)
        self.seq = mailboxes.current_seq()
        return self.by_name

    def _fold(self, mailboxes, changed) -> None:
        raw_of, by_name = self.raw_of, self.by_name
        for key in changed:
            mbx = mailboxes.get(key)
            raw = (mbx.alias, mbx.name) if mbx is not None else None
            old = raw_of.get(key)
            if raw == old:
                continue  # most changes (a toggle, an attribute) leave alias and name alone
            if old is not None:
                del raw_of[key]
                for name in _lowered_names(old):
                    keys = by_name.get(name)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del by_name[name]
            if raw is not None:
                raw_of[key] = raw
                for name in _lowered_names(raw):
                    by_name.setdefault(name, set()).add(key)


def _lowered_names(raw: tuple) -> set[str]:
    # The index keys of an (alias, name) pair.
    return {(raw[0] or "").lower(), (raw[1] or "").lower()} - {""}


def _name_index(tenant) -> dict[str, set[str]]:
    index = tenant.exo_name_index
    if index is None or index.mailboxes is not tenant.mailboxes:
        index = tenant.exo_name_index = _NameIndex(tenant.mailboxes)
    return index.refresh(tenant.mailboxes)


def resolve_mailbox(tenant, identity: str, *, soft_deleted: bool = False, types: tuple[str, ...] | None = None):
    """The one recipient answering to ``identity``, or the real not-found / ambiguous error."""
    found = find_mailboxes(tenant, identity, soft_deleted=soft_deleted, types=types)
    if not found:
        raise exo_errors.object_not_found(tenant, identity)
    if len(found) > 1:
        raise exo_errors.object_ambiguous(identity)
    return found[0]


def owner_of(tenant, mbx):
    """The Entra user joined to a recipient through ExternalDirectoryObjectId (None for orphans)."""
    return tenant.users.get(mbx.external_directory_object_id) if mbx.external_directory_object_id else None


def mailbox_of(tenant, user, *, soft_deleted: bool = False):
    """The recipient owned by an Entra user, or None."""
    for mbx in tenant.mailboxes:
        if mbx.external_directory_object_id == user.id and mbx.is_soft_deleted == soft_deleted:
            return mbx
    return None


def find_users(tenant, identity: str) -> list:
    """Live Entra users answering to ``identity`` (Get-User/Set-User): object id, UPN, alias, name, SMTP;
    ``*`` wildcards allowed."""
    text = normalise_identity(tenant, _strip_prefix((identity or "").strip()))
    key = text.lower()
    as_guid = _is_guid(text)
    wildcard = compile_wildcard(key, question_mark=False) if "*" in key else None
    owners = {m.external_directory_object_id: m for m in tenant.mailboxes if not m.is_soft_deleted}
    found = []
    for user in tenant.users:
        if user.deleted_date_time is not None:
            continue
        mbx = owners.get(user.id)
        names = (
            user.user_principal_name.lower(),
            (user.mail_nickname or "").lower(),
            (user.mail or "").lower(),
            user_name(user, mbx).lower(),
        )
        if wildcard is not None:
            hit = any(wildcard.match(n) for n in names) or (mbx is not None and mailbox_matches(mbx, key, False))
        elif as_guid:
            hit = user.id.lower() == key or (mbx is not None and mailbox_matches(mbx, key, True))
        else:
            hit = key in names or (mbx is not None and mailbox_matches(mbx, key, False))
        if hit:
            found.append(user)
    return found


def resolve_user(tenant, identity: str):
    """The one live Entra user answering to ``identity``, or the real not-found / ambiguous error."""
    found = find_users(tenant, identity)
    if not found:
        raise exo_errors.object_not_found(tenant, identity)
    if len(found) > 1:
        raise exo_errors.object_ambiguous(identity)
    return found[0]


def user_name(user, mbx=None) -> str:
    """Exchange's Name of a user object: the recipient's name when there is one; else, for a synced user, its AD
    cn (Entra keeps it only as the start of onPremisesDistinguishedName), else the UPN prefix."""
    if mbx is not None:
        return mbx.name
    dn = user.on_premises_distinguished_name
    if dn and dn[:3].upper() == "CN=" and user.on_premises_sync_enabled:
        return _rdn_value(dn)
    return user.mail_nickname or user.user_principal_name.split("@", 1)[0]


def _rdn_value(dn: str) -> str:
    # "CN=Bailey\, Amanda,OU=..." -> "Bailey, Amanda": the first RDN up to its first unescaped comma.
    out, i = [], 3
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            out.append(dn[i + 1])
            i += 2
            continue
        if ch == ",":
            break
        out.append(ch)
        i += 1
    return "".join(out)


def check_unique(tenant, identity: str, found: list) -> list:
    """Get- cmdlets given a non-wildcard -Identity that matches several objects fail as the Set- ones do."""
    if len(found) > 1 and "*" not in (identity or ""):
        raise exo_errors.object_ambiguous(identity)
    return found
