"""The benchmark baseline: a minimal Flask endpoint at the InvokeCommand path that answers every call with a fixed
response of the same size as the mock's Set-Mailbox answer: a body of ``BASELINE_BYTES`` bytes and, when
``BASELINE_HEADERS`` is set (a JSON list of ``[name, value]`` pairs, as ``bench.py`` copies them from a real
answer of the mock), the same response headers. Served by the same gunicorn settings and TLS as the mock, it
measures what the server stack alone costs for that response."""

from __future__ import annotations

import json
import os

from flask import Flask, Response

app = Flask(__name__)
_SIZE = int(os.environ.get("BASELINE_BYTES", "200"))
_skeleton = {
    "@odata.context": "https://localhost/adminapi/beta/t/$metadata#Collection(Exchange.GenericHashTable)",
    "adminapi.warnings@odata.type": "#Collection(String)",
    "@adminapi.warnings": [],
    "value": [],
    "pad": "",
}
_skeleton["pad"] = "x" * max(0, _SIZE - len(json.dumps(_skeleton)))
BODY = json.dumps(_skeleton).encode()
#: The answer's headers; Content-Length is Flask's to set, from the body.
HEADERS = [
    (name, value)
    for name, value in json.loads(os.environ.get("BASELINE_HEADERS") or "[]")
    if name.lower() != "content-length"
]
_CONTENT_TYPE = "application/json;odata.metadata=minimal"


@app.post("/adminapi/beta/<tenant>/InvokeCommand")
def invoke(tenant):
    """Answer every InvokeCommand with the same body and headers (no parsing, no state)."""
    if HEADERS:
        return Response(BODY, status=200, headers=HEADERS)
    return Response(BODY, status=200, content_type=_CONTENT_TYPE)
