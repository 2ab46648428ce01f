"""Plain helpers the e2e tests share for talking to the mock over HTTPS the way a script would: an app-only
Exchange token from the token endpoint, one InvokeCommand call, and a free local port for a server to listen on."""

from __future__ import annotations

import socket


def exchange_token(session, tenant) -> str:
    """An app-only Exchange token for the seeded ``automation`` app from the mock's token endpoint."""
    app = next(a for a in tenant["apps"] if a["name"] == "automation")
    response = session.post(
        f"{tenant['url']}/{tenant['tenantId']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": app["clientSecret"],
            "scope": "https://outlook.office365.com/.default",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def invoke(session, tenant, token, cmdlet: str, **parameters) -> dict:
    """POST /adminapi/beta/{tenant}/InvokeCommand."""
    response = session.post(
        f"{tenant['url']}/adminapi/beta/{tenant['tenantId']}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
