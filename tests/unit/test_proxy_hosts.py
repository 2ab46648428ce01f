"""The HTTPS proxy's pieces without sockets: which CONNECT targets it answers for (exactly the hosts of
docs/clouds.md and of the SDK's clouds), how it reads a CONNECT target, the WSGI environ it builds, and its
certificate and CA bundle (created once, then reused)."""

from __future__ import annotations

import re
from pathlib import Path

import certifi
import pytest
from cryptography import x509

from hybridsoa.mock.proxy import (
    EMULATED_HOSTS,
    Request,
    RequestReader,
    build_environ,
    connect_refusal,
    parse_connect_target,
    proxy_hosts,
    serialize_response,
)
from hybridsoa.mock.tls import ensure_ca_bundle, ensure_proxy_tls, ensure_tls
from hybridsoa.sdk.clouds import CLOUDS

ROOT = Path(__file__).resolve().parents[2]


def _clouds_md_hosts() -> set[str]:
    table = [line for line in (ROOT / "docs" / "clouds.md").read_text().splitlines() if line.startswith("| `")]
    hosts = set()
    for row in table:
        cells = row.split("|")[2:5]  # sign-in, Graph, Exchange columns
        for cell in cells:
            hosts.update(re.findall(r"https://([a-z0-9.-]+)", cell))
    return hosts


def test_the_allow_list_is_the_clouds_of_docs_clouds_md():
    assert set(EMULATED_HOSTS) == _clouds_md_hosts()
    assert set(proxy_hosts()) == set(EMULATED_HOSTS)


def test_the_allow_list_is_every_host_the_sdk_talks_to():
    sdk_hosts = {
        url.split("://", 1)[1]
        for cloud in CLOUDS.values()
        for url in (cloud.login_url, cloud.graph_url, cloud.exchange_url)
    }
    assert sdk_hosts == set(EMULATED_HOSTS)


@pytest.mark.parametrize("host", sorted(EMULATED_HOSTS))
def test_every_emulated_host_is_answered_on_443(host):
    assert connect_refusal(host, 443) is None
    refusal = connect_refusal(host, 8443)
    assert refusal and host in refusal and "443" in refusal


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "login.microsoftonline.com.evil.test",
        "graph.microsoft.co",
        "management.azure.com",
        "127.0.0.1",
        "login.windows.net",
        "x" * 400,
    ],
)
def test_any_other_host_is_refused_by_name(host):
    refusal = connect_refusal(host, 443)
    assert refusal is not None and host[:255] in refusal and "not a host the mock emulates" in refusal
    assert "Nothing is forwarded to the internet" in refusal


@pytest.mark.parametrize(
    "target,expected",
    [
        ("graph.microsoft.com:443", ("graph.microsoft.com", 443)),
        ("Graph.Microsoft.COM.:443", ("graph.microsoft.com", 443)),
        ("example.com:8080", ("example.com", 8080)),
        ("[::1]:443", ("::1", 443)),
    ],
)
def test_connect_targets_in_authority_form(target, expected):
    assert parse_connect_target(target) == expected


@pytest.mark.parametrize(
    "target",
    [
        "graph.microsoft.com",
        "graph.microsoft.com:",
        ":443",
        "host:0",
        "host:65536",
        "host:4x3",
        "host:\u0664\u0664\u0663",
        "::1:443",
        "[::1]443",
        "[::1",
        "/path",
        "host:123456",
        "",
    ],
)
def test_other_connect_targets_are_malformed(target):
    assert parse_connect_target(target) is None


def _request(target=b"/v1.0/users?$top=1", headers=None, body=b""):
    headers = headers if headers is not None else [(b"Host", b"graph.microsoft.com")]
    return Request(b"POST", target, headers, "1.1", body)


def test_environ_is_https_on_443_with_the_real_host_name():
    env = build_environ(
        _request(
            headers=[
                (b"Host", b"graph.microsoft.com"),
                (b"Content-Type", b"application/json"),
                (b"Accept", b"a"),
                (b"accept", b"b"),
                (b"X_Spoofed", b"1"),
                (b"Content-Length", b"2"),
            ],
            body=b"{}",
        ),
        "graph.microsoft.com",
        ("127.0.0.1", 5555),
    )
    assert env["wsgi.url_scheme"] == "https" and env["SERVER_PORT"] == "443"
    assert env["HTTP_HOST"] == "graph.microsoft.com" and env["SERVER_NAME"] == "graph.microsoft.com"
    assert env["PATH_INFO"] == "/v1.0/users" and env["QUERY_STRING"] == "$top=1"
    assert env["CONTENT_TYPE"] == "application/json" and env["CONTENT_LENGTH"] == "2"
    assert env["HTTP_ACCEPT"] == "a, b" and "HTTP_X_SPOOFED" not in env
    assert env["wsgi.input"].read() == b"{}" and env["REMOTE_ADDR"] == "127.0.0.1"


def test_environ_path_is_percent_decoded_as_wsgi_requires():
    env = build_environ(_request(target=b"/v1.0/users/a%40b.com%2F%E2%82%AC"), "graph.microsoft.com", None)
    assert env["PATH_INFO"] == "/v1.0/users/a@b.com/\u20ac".encode("utf-8").decode("latin-1")
    assert env["RAW_URI"] == "/v1.0/users/a%40b.com%2F%E2%82%AC" and "CONTENT_LENGTH" not in env


def test_environ_refuses_a_target_that_is_not_a_path():
    with pytest.raises(ValueError):
        build_environ(_request(target=b"https://graph.microsoft.com/v1.0/users"), "graph.microsoft.com", None)


def test_reader_queues_pipelined_requests_with_their_bodies():
    reader = RequestReader()
    reader.feed(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    )
    first, second = reader.done
    assert (first.method, first.target, first.body, first.keep_alive) == (b"POST", b"/a", b"abc", True)
    assert (second.method, second.target, second.body) == (b"GET", b"/b", b"hi")


@pytest.mark.parametrize(
    "data,status",
    [
        (b"\x16\x03\x01\x02\x00\x01\x00", 400),
        (b"GET / HTTP/1.1\r\nBad Header: y\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n" + b"a" * 1000, None),
    ],
)
def test_reader_refuses_garbage_and_oversized_heads(data, status):
    from hybridsoa.mock.proxy import _Refused

    reader = RequestReader()
    if status is None:
        reader.feed(data)  # a large declared body is fine until it arrives
        assert not reader.done
        return
    with pytest.raises(_Refused) as refused:
        reader.feed(data)
    assert refused.value.status == status


def test_reader_stops_at_a_connect_head_and_keeps_what_follows():
    reader = RequestReader()
    data = b"CONNECT graph.microsoft.com:443 HTTP/1.1\r\nHost: graph.microsoft.com:443\r\n\r\n\x16\x03"
    reader.feed(data)
    assert reader.upgrade_at is not None and data[reader.upgrade_at :] == b"\x16\x03"


def test_responses_frame_with_content_length_and_drop_unsafe_headers():
    out = serialize_response(
        200,
        b"OK",
        [
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
            ("X-Bad", "a\r\nInjected: 1"),
            ("Content-Length", "2"),
        ],
        b"{}",
        keep_alive=False,
    )
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 200 OK",
        b"Content-Type: application/json",
        b"Content-Length: 2",
        b"Connection: close",
    ]
    assert body == b"{}"


def test_proxy_certificate_covers_every_host_and_is_reused(tmp_path):
    first = ensure_proxy_tls(tmp_path, proxy_hosts())
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    names = set(
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    )
    assert names == set(EMULATED_HOSTS)
    ca = x509.load_pem_x509_certificate(first.ca.read_bytes())
    assert cert.issuer == ca.subject and first.ca == ensure_tls(tmp_path).ca
    pem, key = first.cert.read_bytes(), first.key.read_bytes()
    again = ensure_proxy_tls(tmp_path, list(reversed(proxy_hosts())))
    assert again.cert.read_bytes() == pem and again.key.read_bytes() == key


def test_ca_bundle_holds_the_local_ca_then_the_public_roots(tmp_path):
    bundle = ensure_ca_bundle(tmp_path)
    text = bundle.read_text()
    local = ensure_tls(tmp_path).ca.read_text().strip()
    assert text.startswith(local) and Path(certifi.where()).read_text() in text
    stamp = bundle.stat().st_mtime_ns
    assert ensure_ca_bundle(tmp_path) == bundle and bundle.stat().st_mtime_ns == stamp
