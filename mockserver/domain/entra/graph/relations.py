"""The ``manager`` / ``directReports`` navigation properties of ``microsoft.graph.user`` (Entra Connect exports
AD's ``manager`` reference): who a user's manager is, who reports to a user, and the transitive manager chain
``$expand=manager($levels=n|max)`` walks."""

from __future__ import annotations

from ..directory import EntraUser


def _live(tenant, user_id: str | None) -> EntraUser | None:
    user = tenant.users.get(user_id) if user_id else None
    return user if user is not None and user.deleted_date_time is None else None


def manager_of(tenant, user: EntraUser) -> EntraUser | None:
    """``GET /users/{id}/manager``: the live manager, or None (Graph then answers 404 / omits the expansion)."""
    return _live(tenant, user.manager_id)


def reports_index(tenant) -> dict[str, list[EntraUser]]:
    """Manager id -> live direct reports, in directory order (one pass, for a page of expansions)."""
    out: dict[str, list[EntraUser]] = {}
    for user in tenant.users:
        if user.manager_id and user.deleted_date_time is None:
            out.setdefault(user.manager_id, []).append(user)
    return out


def direct_reports(tenant, user: EntraUser, index: dict | None = None) -> list[EntraUser]:
    """``GET /users/{id}/directReports``: live users whose manager is ``user``."""
    index = reports_index(tenant) if index is None else index
    return list(index.get(user.id, ()))


def manager_chain(tenant, user: EntraUser, levels: int) -> list[EntraUser]:
    """Managers above ``user``, nearest first, at most ``levels`` of them (-1 = up to the root); a reference
    cycle stops the walk at the first repeated user."""
    chain: list = []
    seen = {user.id}
    current = user
    while levels < 0 or len(chain) < levels:
        nxt = manager_of(tenant, current)
        if nxt is None or nxt.id in seen:
            break
        chain.append(nxt)
        seen.add(nxt.id)
        current = nxt
    return chain
