"""The hostile receiver itself misbehaves exactly as advertised (raw sockets, no Odoo needed).

So a failing fault-injection test points at the runner, not at the harness.
"""

import hashlib
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

BODY = b'{"event_id": "evt_selftest", "status": "order.received"}'


def _request(webhook_id, body=BODY):
    head = (
        "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nwebhook-id: %s\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n" % (webhook_id, len(body))
    )
    return head.encode() + body


def _exchange(port, webhook_id, wait=1.0, limit=65536):
    """Send one request; return (bytes received within ``wait`` s, how it ended, seconds to the first byte)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    data, ending, first = b"", "open", None
    started = time.monotonic()
    try:
        sock.sendall(_request(webhook_id))
        deadline = started + wait
        while len(data) < limit and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                ending = "reset"
                break
            if not chunk:
                ending = "eof"
                break
            first = first if first is not None else time.monotonic() - started
            data += chunk
    finally:
        sock.close()
    return data, ending, first


def test_every_port_is_on_loopback_and_refused_refuses(hostile):
    """All behaviours listen on 127.0.0.1 only; the "refused" port refuses connections."""
    assert hostile.proc.poll() is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hostile.ports["refused"]), timeout=2).close()
    for name, port in hostile.ports.items():
        if name == "refused":
            continue
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            assert sock.getpeername()[0] == "127.0.0.1"


def test_behaviours_answer_as_advertised(hostile):
    """Quick raw-socket check of each misbehaviour (the first second of it), and of the request log."""
    ports = {name: port for name, port in hostile.ports.items() if name != "refused"}
    with ThreadPoolExecutor(len(ports)) as pool:
        futures = {
            name: pool.submit(_exchange, port, f"msg_selftest_{name}", 0.6 if "drip" in name else 0.4)
            for name, port in ports.items()
        }
        seen = {name: future.result() for name, future in futures.items()}

    assert seen["healthy_0"][0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert seen["slow_0"][2] >= 0.09
    assert b"\x00" in seen["nul_body"][0].split(b"\r\n\r\n", 1)[1]
    assert b"\xff\xfe" in seen["bad_header"][0].split(b"\r\n\r\n", 1)[0]
    assert b"charset=utf-16" in seen["utf16"][0]
    for name in ("charset_unknown", "charset_idna", "charset_base64", "charset_rot13"):
        assert seen[name][0].startswith(b"HTTP/1.1 200 OK\r\n"), name
    assert b"Content-Encoding: gzip" in seen["gzip"][0] and b"\x1f\x8b" in seen["gzip"][0]
    assert b"Content-Length: 6005" in seen["binary"][0]
    # drip-fed: a handful of bytes in 0.6 s, the connection still open
    for name in ("drip_status", "drip_headers", "drip_body"):
        assert seen[name][1] == "open", name
    assert len(seen["drip_status"][0]) <= 4
    assert seen["drip_headers"][0].startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\n\r\n" not in seen["drip_headers"][0]
    assert len(seen["drip_body"][0].split(b"\r\n\r\n", 1)[1]) <= 3
    assert b"Transfer-Encoding: chunked" in seen["chunked_forever"][0] and seen["chunked_forever"][1] == "open"
    assert b"Content-Length: 1000" in seen["length_too_long"][0] and seen["length_too_long"][1] == "open"
    assert seen["length_too_short"][0].endswith(b"\r\n\r\n" + b"L" * 1000)
    assert seen["hang"] == (b"", "open", None)
    assert seen["close"][:2] == (b"", "eof")
    assert seen["reset"][1] == "reset"
    assert seen["garbage_status"][0] == b"HTTP/1.1 abc\r\n\r\n"
    assert seen["spam"][0] == b"SPAM\r\n\r\n"

    # every request was logged (before answering) with its webhook-id and the body's hash
    time.sleep(0.1)
    logged = {entry["webhook_id"]: entry for entry in hostile.entries()}
    for name in seen:
        entry = logged[f"msg_selftest_{name}"]
        assert entry["behaviour"] == name
        assert entry["sha256"] == hashlib.sha256(BODY).hexdigest()
        assert entry["event_id"] == "evt_selftest"
