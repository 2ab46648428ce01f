"""Control plane: whole-tenant snapshots (``GET|PUT /_mock/tenants/{t}/snapshot``): save a tenant as one
versioned JSON document and restore it in place (same id, same signing key: issued tokens stay valid) or as
a new tenant (PUT to a name or id that does not exist yet).

Big tenants: a snapshot body may be as large as ``SNAPSHOT_MAX_CONTENT_LENGTH`` (2 GiB by default; every other
route keeps the app's 32 MiB ``MAX_CONTENT_LENGTH``). Both directions go through a spooled temporary file (in
memory up to 1 MiB, on disk beyond), never through one string: a GET writes the document a row at a time under
the tenant's lock and sends the file once the lock is let go; a PUT receives the whole body into the file with
the tenant's lock let go, then parses it a window at a time (``bounds.load_stream``) and builds the new tenant,
and takes the lock again only to install it."""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from flask import Response, current_app, jsonify, request
from werkzeug.wsgi import get_input_stream, wrap_file

from ...domain import bounds, memory, snapshot
from ..common import registry
from ..middleware import overload_parts, request_tenant
from .blueprint import bp
from .common import ControlError, tenant_or_404

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
#: Bytes a snapshot body or document keeps in memory before its spooled file moves to disk.
SPOOL_IN_MEMORY = 1 << 20
#: Collection rows above which a GET holds automatic collections off while it writes (about 1 MB of snapshot).
BIG_DOCUMENT_ROWS = 1000
#: Snapshot bodies over the app's MAX_CONTENT_LENGTH received at once. The body gate (``api/body_gate.py``) reads
#: every smaller body before the app runs, with a bounded number of threads; these it leaves to this route, so
#: they get a bound of their own: clients that announce a big body and withhold it hold at most this many threads.
BIG_UPLOADS = 2
_big_uploads = threading.BoundedSemaphore(BIG_UPLOADS)
#: Bytes read from the client, or sent to it, at a time.
_IO_CHUNK = 1 << 20


@bp.get("/tenants/<t>/snapshot")
def get_snapshot(t):
    """The whole tenant as one JSON document (format ``hybridsoa.tenant-snapshot``, versioned)."""
    tenant = tenant_or_404(t)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the response closes it
    try:
        # Under the tenant's lock (middleware.begin holds it for the request): one consistent moment of the tenant.
        # The lock is let go when the view returns, so a slow reader of the file holds nothing.
        # A big document's temporary rows would trigger full collections, each walking the whole heap: held off.
        with registry().collections_held_off(snapshot.row_count(tenant) > BIG_DOCUMENT_ROWS):
            size = snapshot.write_tenant(tenant, spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    response = Response(
        wrap_file(request.environ, spool, _IO_CHUNK), mimetype="application/json", direct_passthrough=True
    )
    response.content_length = size
    return response


@bp.put("/tenants/<t>/snapshot")
def put_snapshot(t):
    """Restore a snapshot into tenant ``t`` (replacing it) or, when ``t`` does not exist, create it from the
    snapshot (``t`` is its new name, or its new id when it is a GUID; ``?name=`` names a GUID-addressed one).
    Bodies up to ``SNAPSHOT_MAX_CONTENT_LENGTH`` bytes (2 GiB by default); larger ones answer 413.
    ---
    put:
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, description: "A document from GET /_mock/tenants/{t}/snapshot."}
      responses:
        200:
          description: The restored tenant.
        400:
          description: Not a snapshot document, or one this version cannot restore (nothing changes).
        413:
          description: The body is larger than the server's snapshot bound (SNAPSHOT_MAX_CONTENT_LENGTH).
    """
    if not request.is_json:
        raise ControlError(400, "InvalidJson", "The request body must be a snapshot JSON document.")
    reg = registry()
    existing = request_tenant(request.environ)  # locked by middleware.begin when the tenant exists
    limit = current_app.config.get("SNAPSHOT_MAX_CONTENT_LENGTH", bounds.MAX_SNAPSHOT_BYTES)
    # Over the bound: werkzeug's 413 before anything is read, in the app's error shape as on every route.
    stream = get_input_stream(request.environ, max_content_length=limit)
    # A body the gate did not read (over MAX_CONTENT_LENGTH) takes one of BIG_UPLOADS slots while it arrives;
    # none free: the 503 with Retry-After the gate answers when its readers are all busy.
    slot = [(request.content_length or 0) > (current_app.config.get("MAX_CONTENT_LENGTH") or 0)]
    if slot[0] and not _big_uploads.acquire(blocking=False):
        status, error, headers = overload_parts(request.environ)
        return jsonify(error), status, headers
    try:
        return _put(reg, t, existing, stream, slot)
    finally:
        if slot[0]:
            _big_uploads.release()


def _put(reg, t: str, existing, stream: IO[bytes], slot: list[bool]):
    # put_snapshot's work once the request may go on: receive, parse, build, install.
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
        with _let_go(existing):
            size = _receive(stream, body)
        if slot[0]:
            slot[0] = False
            _big_uploads.release()
        # A big body builds millions of objects: full collections would walk them again and again while other
        # tenants wait, so they are held off until the tenant is built, installed and frozen (_freeze_large).
        with reg.collections_held_off(size > bounds.GRADUAL_FROM):
            with _let_go(existing):
                try:
                    doc = bounds.load_stream(body)
                except ValueError:
                    raise ControlError(
                        400, "InvalidJson", "The request body must be a snapshot JSON document."
                    ) from None
                try:
                    tenant, status = _build(reg, t, existing, doc)
                finally:
                    # The parsed body: freed a slice at a time, not in one deallocation cascade.
                    memory.dismantle(doc)
            if existing is not None:
                reg.put(tenant)  # under the old tenant's lock again: requests to it wait, then find the new one
    with tenant.lock:
        return jsonify(tenant.summary()), status


def _receive(stream: IO[bytes], body: IO[bytes]) -> int:
    # The whole body into the spooled file, a chunk at a time (the engine reads the socket without the GIL).
    size = 0
    while data := stream.read(_IO_CHUNK):
        body.write(data)
        size += len(data)
    body.seek(0)
    return size


@contextmanager
def _let_go(tenant) -> Iterator[None]:
    # Receiving and parsing a big body takes minutes at most, seconds at least: the tenant's other requests (and
    # durable commits that would wait for its lock) go on meanwhile; its replacement is installed under the lock.
    if tenant is None:
        yield
        return
    tenant.lock.release()
    try:
        yield
    finally:
        tenant.lock.acquire()


def _build(reg, t: str, existing, doc) -> tuple:
    snapshot.validate(doc)
    if existing is not None:
        return snapshot.restore_tenant(doc, tenant_id=existing.id, name=existing.name, owned=True), 200
    if _GUID.match(t):
        new_id, new_name = t.lower(), (request.args.get("name") or doc["tenant"]["name"]).lower()
    else:
        new_id, new_name = None, t.lower()
    if not _NAME.match(new_name):
        raise ControlError(400, "ValidationError", "name must be 1-48 lowercase letters, digits or hyphens.")
    # Built without the registry lock (a big snapshot takes seconds): the name is reserved meanwhile.
    built = reg.adopt(new_name, new_id, lambda: snapshot.restore_tenant(doc, tenant_id=new_id, name=new_name))
    return built, 201
