"""The bench's load generator (``loadtests/loadgen.py``): the requests it builds and how it reads answers, fed by
hand (no server, no load, no timing)."""

from __future__ import annotations

import asyncio
import json

import pytest

from loadtests import loadgen


def _answer(conn: loadgen.Connection, chunks: list[bytes], request: bytes = b"GET / HTTP/1.1\r\n\r\n"):
    """Send one request on a connection with a recording transport, feed ``chunks`` as the server's answer and
    return (the future's outcome, what was written)."""

    class Transport:
        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(data)

    async def run():
        transport = Transport()
        conn.connection_made(transport)
        future = conn.send(request)
        for chunk in chunks:
            conn.data_received(chunk)
        return (future.result() if future.done() and not future.exception() else future), transport.written

    return asyncio.run(run())


def test_toggle_requests_cycle_identities_and_flip_the_value_each_pass(tmp_path, monkeypatch):
    ids = tmp_path / "ids.txt"
    ids.write_text("alice\nbob\n")
    monkeypatch.setenv("BENCH_IDENTITIES", str(ids))
    monkeypatch.setenv("BENCH_TENANT", "t1")
    monkeypatch.setenv("BENCH_TOKEN", "tok")
    build = loadgen.request_factory("mock", "127.0.0.1:8443")
    seen = []
    for n in range(4):
        head, body = build(n).split(b"\r\n\r\n", 1)
        assert head.startswith(b"POST /adminapi/beta/t1/InvokeCommand HTTP/1.1\r\n")
        assert b"Authorization: Bearer tok" in head and f"Content-Length: {len(body)}".encode() in head
        params = json.loads(body)["CmdletInput"]["Parameters"]
        seen.append((params["Identity"], params["IsExchangeCloudManaged"]))
    assert seen == [("alice", True), ("bob", True), ("alice", False), ("bob", False)]


def test_moto_requests_are_form_encoded_tag_user(monkeypatch):
    monkeypatch.delenv("BENCH_IDENTITIES", raising=False)
    head, body = loadgen.request_factory("moto", "h")(0).split(b"\r\n\r\n", 1)
    assert b"application/x-www-form-urlencoded" in head and b"Action=TagUser" in body


def test_an_answer_split_across_reads_completes_on_its_last_body_byte():
    conn = loadgen.Connection()
    status, written = _answer(
        conn, [b"HTTP/1.1 201 Created\r\nconTent-length: 10\r\n", b"\r\n01234", b"56789"], request=b"REQ"
    )
    assert status == 201 and written == [b"REQ"] and not conn.closed


def test_an_answer_is_not_complete_before_its_body():
    conn = loadgen.Connection()
    pending, _ = _answer(conn, [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12"])
    assert not pending.done()


def test_connection_close_means_the_next_request_needs_a_new_connection():
    conn = loadgen.Connection()
    status, _ = _answer(conn, [b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"])
    assert status == 500 and conn.closed
    with pytest.raises(ConnectionError):
        conn.send(b"again")


def test_an_answer_without_content_length_fails_the_request():
    conn = loadgen.Connection()
    future, _ = _answer(conn, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"])
    assert isinstance(future.exception(), ConnectionError)
