"""The benchmark baseline: a minimal Flask endpoint at the InvokeCommand path that returns a fixed JSON body of
the same size as the mock's Set-Mailbox answer (``BASELINE_BYTES``). Served by the same gunicorn settings and TLS
as the mock, it measures what the server stack alone costs."""
from __future__ import annotations

import json
import os

from flask import Flask, Response

app = Flask(__name__)
_SIZE = int(os.environ.get("BASELINE_BYTES", "200"))
_skeleton = {"@odata.context": "https://localhost/adminapi/beta/t/$metadata#Collection(Exchange.GenericHashTable)",
             "adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": [], "value": [],
             "pad": ""}
_skeleton["pad"] = "x" * max(0, _SIZE - len(json.dumps(_skeleton)))
BODY = json.dumps(_skeleton).encode()


@app.post("/adminapi/beta/<tenant>/InvokeCommand")
def invoke(tenant):
    """Answer every InvokeCommand with the same body (no parsing, no state)."""
    return Response(BODY, status=200, content_type="application/json;odata.metadata=minimal")
