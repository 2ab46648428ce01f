"""Microsoft Graph v1.0 client for what the SOA workflows need: users (with ``onPremises*`` properties),
``onPremisesSyncBehavior`` (object-level SOA), directory role assignments, deleted items and ``$batch``
(at most 20 requests per batch, per the JSON batching docs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import quote

from .errors import graph_error_from_batch, parse_graph_error

BATCH_LIMIT = 20

#: Built-in directory role template ids (= roleDefinitionId for built-in roles).
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
HYBRID_IDENTITY_ADMINISTRATOR = "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
HELPDESK_ADMINISTRATOR = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
ROLE_NAMES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    EXCHANGE_ADMINISTRATOR: "Exchange Administrator",
    HYBRID_IDENTITY_ADMINISTRATOR: "Hybrid Identity Administrator",
    GLOBAL_READER: "Global Reader",
    HELPDESK_ADMINISTRATOR: "Helpdesk Administrator",
}

USER_SELECT = (
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "proxyAddresses",
    "onPremisesSyncEnabled",
    "onPremisesImmutableId",
    "onPremisesSamAccountName",
    "onPremisesDistinguishedName",
    "onPremisesLastSyncDateTime",
    "onPremisesExtensionAttributes",
    "onPremisesProvisioningErrors",
)


class GraphClient:
    """Calls ``{graph}/v1.0/...`` through the shared transport with Graph's error shapes and paging (GET nextLink)."""

    def __init__(self, cloud, tokens, transport, *, version: str = "v1.0"):
        self.cloud = cloud
        self.tokens = tokens
        self.transport = transport
        self.base = f"{cloud.graph_url.rstrip('/')}/{version}"

    def _url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else f"{self.base}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: dict | None = None, json=None, headers: dict | None = None):
        """One Graph call; returns the parsed JSON body (None for 204) or raises a typed error."""
        hdrs = {"Accept": "application/json"}
        if json is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        auth = self.tokens.auth_for("graph") if hasattr(self.tokens, "auth_for") else self.tokens
        resp = self.transport.send(
            method, self._url(path), params=params, json=json, headers=hdrs, auth=auth, error_parser=parse_graph_error
        )
        if resp.status_code == 204 or not resp.content:
            return None
        ctype = resp.headers.get("Content-Type", "")
        return resp.json() if "json" in ctype or resp.content[:1] in (b"{", b"[") else resp.text

    def get(self, path: str, **params):
        """GET with query parameters (``select=[...]`` becomes ``$select``; other ``$`` options pass through)."""
        return self.request("GET", path, params=_query(params))

    def iter_pages(self, path: str, *, params: dict | None = None, headers: dict | None = None) -> Iterator[dict]:
        """Yield every item of a collection, following ``@odata.nextLink`` with GET."""
        url: str | None = path
        query = params
        while url:
            page = self.request("GET", url, params=query, headers=headers) or {}
            yield from page.get("value") or []
            url, query = page.get("@odata.nextLink"), None

    # -- users ----------------------------------------------------------------------------------------------
    def get_user(self, user_id: str, *, select: Iterable[str] | None = USER_SELECT) -> dict:
        """``GET /users/{id | userPrincipalName}``."""
        return self.get(f"users/{quote(user_id)}", select=select)

    def iter_users(
        self,
        *,
        filter: str | None = None,
        select: Iterable[str] | None = USER_SELECT,
        top: int = 999,
        advanced: bool = False,
    ) -> Iterator[dict]:
        """``GET /users`` with ``$filter``/``$select``; ``advanced`` adds ``ConsistencyLevel: eventual`` and
        ``$count``."""
        params = _query({"filter": filter, "select": select, "top": top})
        headers = None
        if advanced:
            params["$count"] = "true"
            headers = {"ConsistencyLevel": "eventual"}
        return self.iter_pages("users", params=params, headers=headers)

    def update_user(self, user_id: str, **props) -> None:
        """``PATCH /users/{id}`` (fails with SyncedObjectError for AD-mastered properties of synced users)."""
        self.request("PATCH", f"users/{quote(user_id)}", json=props)

    def get_sync_behavior(self, user_id: str) -> dict:
        """``GET /users/{id}/onPremisesSyncBehavior`` → ``{id, isCloudManaged}``."""
        return self.get(f"users/{quote(user_id)}/onPremisesSyncBehavior")

    def set_sync_behavior(self, user_id: str, is_cloud_managed: bool) -> dict | None:
        """``PATCH /users/{id}/onPremisesSyncBehavior {"isCloudManaged": ...}`` (object-level SOA switch)."""
        return self.request(
            "PATCH", f"users/{quote(user_id)}/onPremisesSyncBehavior", json={"isCloudManaged": bool(is_cloud_managed)}
        )

    # -- roles ----------------------------------------------------------------------------------------------
    def iter_role_assignments(self, principal_id: str | None = None) -> Iterator[dict]:
        """``GET /roleManagement/directory/roleAssignments`` (optionally ``$filter=principalId eq '...'``)."""
        params = {"$filter": f"principalId eq '{principal_id}'"} if principal_id else None
        return self.iter_pages("roleManagement/directory/roleAssignments", params=params)

    def assign_role(self, principal_id: str, role_definition_id: str, scope: str = "/") -> dict:
        """``POST /roleManagement/directory/roleAssignments``."""
        return self.request(
            "POST",
            "roleManagement/directory/roleAssignments",
            json={"principalId": principal_id, "roleDefinitionId": role_definition_id, "directoryScopeId": scope},
        )

    def get_organization(self) -> dict:
        """``GET /organization`` (first item): ``onPremisesSyncEnabled``, ``onPremisesLastSyncDateTime``..."""
        page = self.get("organization") or {}
        items = page.get("value") or []
        return items[0] if items else {}

    # -- deleted items --------------------------------------------------------------------------------------
    def iter_deleted_users(self) -> Iterator[dict]:
        """``GET /directory/deletedItems/microsoft.graph.user`` (the type cast is required)."""
        return self.iter_pages("directory/deletedItems/microsoft.graph.user")

    def restore_deleted(self, object_id: str) -> dict:
        """``POST /directory/deletedItems/{id}/restore``."""
        return self.request("POST", f"directory/deletedItems/{quote(object_id)}/restore")

    def purge_deleted(self, object_id: str) -> None:
        """``DELETE /directory/deletedItems/{id}`` (permanent)."""
        self.request("DELETE", f"directory/deletedItems/{quote(object_id)}")

    # -- $batch ---------------------------------------------------------------------------------------------
    def batch(self, requests_: list[dict], *, max_rounds: int = 5) -> list[dict]:
        """Run requests through ``POST /$batch`` in chunks of 20; items answered 429 are re-sent after their
        ``Retry-After``. Returns one ``{id, status, headers, body}`` per request, in input order.

        Each request is ``{method, url (relative, e.g. "/users/x"), body?, headers?, id?}``."""
        pending = []
        for n, req in enumerate(requests_):
            item = {"id": str(req.get("id", n + 1)), "method": req.get("method", "GET").upper(), "url": req["url"]}
            if req.get("body") is not None:
                item["body"] = req["body"]
                item["headers"] = {"Content-Type": "application/json", **(req.get("headers") or {})}
            elif req.get("headers"):
                item["headers"] = dict(req["headers"])
            pending.append(item)
        ids = [p["id"] for p in pending]
        if len(set(ids)) != len(ids):
            raise ValueError("$batch request ids must be unique")
        results: dict[str, dict] = {}
        for _round in range(max_rounds):
            if not pending:
                break
            retry: list[dict] = []
            wait = 0.0
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start : start + BATCH_LIMIT]
                answer = self.request("POST", "$batch", json={"requests": chunk}) or {}
                by_id = {str(r.get("id")): r for r in answer.get("responses") or []}
                for item in chunk:
                    resp = by_id.get(item["id"]) or {"id": item["id"], "status": 0, "body": None}
                    if int(resp.get("status") or 0) == 429:
                        retry.append(item)
                        ra = (resp.get("headers") or {}).get("Retry-After")
                        try:
                            wait = max(wait, float(ra))
                        except (TypeError, ValueError):
                            wait = max(wait, 1.0)
                    results[item["id"]] = resp
            pending = retry
            if pending:
                self.transport.sleep(wait)
        return [results[i] for i in ids]

    def batch_raise(self, requests_: list[dict]) -> list[dict]:
        """:meth:`batch`, raising the first failed item's typed error."""
        out = self.batch(requests_)
        for item in out:
            if int(item.get("status") or 0) >= 400:
                raise graph_error_from_batch(item)
        return out


def _query(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if value is None:
            continue
        name = key if key.startswith("$") else f"${key}"
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        out[name] = value
    return out
