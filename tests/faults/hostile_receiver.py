"""A hostile webhook receiver for the fault-injection tests: one port per misbehaviour, 127.0.0.1 only.

    python hostile_receiver.py --log requests.jsonl [--healthy 4] [--slow 4] [--slow-delay 0.1]
                               [--hold 30] [--drip 0.3]

Stdlib only. Prints one JSON line at start, ``{"event": "ports", "pid": ...,
"ports": {behaviour: port}}``, then nothing else on stdout. Every request it
reads completely is logged as a JSON line in ``--log`` (behaviour, port,
webhook-id header, sha256 and size of the body, ``event_id`` of a JSON body,
time) *before* it is answered, so the tests can count arrivals and repeats
whatever happens next.

Every blocking behaviour (hanging, drip-feeding, never-ending bodies) gives
up after ``--hold`` seconds and closes the connection, so nothing here can
outlive a test run by much. Bound to 127.0.0.1 only, never another address.
"""

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time

HOST = "127.0.0.1"  # loopback only, on purpose
MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
READ_TIMEOUT = 60.0


class Ctx:
    """Settings shared by every handler."""

    def __init__(self, args):
        self.hold = args.hold
        self.drip = args.drip
        self.slow_delay = args.slow_delay
        self._log = open(args.log, "a", encoding="utf-8")  # lives as long as the process
        self._lock = threading.Lock()

    def log(self, behaviour, port, request):
        headers, body = request["headers"], request["body"]
        event_id = None
        with contextlib.suppress(ValueError, AttributeError, UnicodeDecodeError):
            event_id = json.loads(body).get("event_id")
        line = json.dumps(
            {
                "t": time.time(),
                "behaviour": behaviour,
                "port": port,
                "method": request["method"],
                "webhook_id": headers.get("webhook-id"),
                "sha256": hashlib.sha256(body).hexdigest(),
                "size": len(body),
                "event_id": event_id,
            }
        )
        with self._lock:
            self._log.write(line + "\n")
            self._log.flush()

    def deadline(self):
        return time.monotonic() + self.hold


# -- reading requests -------------------------------------------------------------


def read_request(conn, buffer):
    """One HTTP/1.1 request from ``conn`` (``buffer`` keeps bytes of the next one); None at EOF."""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_HEAD:
            return None
        data = conn.recv(65536)
        if not data:
            return None
        buffer.extend(data)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length") or 0), MAX_BODY)
    body = bytearray(rest)
    while len(body) < length:
        data = conn.recv(65536)
        if not data:
            return None
        body.extend(data)
    buffer[:] = body[length:]
    return {"method": method, "headers": headers, "body": bytes(body[:length])}


def response(status, headers, body, reason=None):
    """Raw bytes of a well-formed answer (Content-Length added unless a header sets the framing)."""
    reasons = {200: "OK"}
    lines = [f"HTTP/1.1 {status} {reason or reasons.get(status, 'Whatever')}".encode()]
    names = {(name.lower() if isinstance(name, str) else name.decode().lower()) for name, _value in headers}
    if "content-length" not in names and "transfer-encoding" not in names:
        headers = [*headers, ("Content-Length", str(len(body)))]
    for name, value in headers:
        raw_name = name.encode() if isinstance(name, str) else name
        raw_value = value.encode("latin-1") if isinstance(value, str) else value
        lines.append(raw_name + b": " + raw_value)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def wait_for_close(conn, deadline):
    """Hold the connection (reading and dropping whatever comes) until the peer closes or the deadline."""
    while time.monotonic() < deadline:
        conn.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue
        except OSError:
            return


def drip(conn, data, pause, deadline):
    """Send ``data`` one byte at a time, ``pause`` seconds apart; False if the peer went away or time ran out."""
    for index in range(len(data)):
        if time.monotonic() > deadline:
            return False
        try:
            conn.sendall(data[index : index + 1])
        except OSError:
            return False
        time.sleep(pause)
    return True


# -- behaviours ---------------------------------------------------------------------
# A handler gets (conn, ctx) after the request was read and logged; it returns True
# to keep the connection for the next request (keep-alive), False to close it.

WEIRD_HEADER = b"a\x01b\x1bc\x7f d\xff\xfe\xc3\x28 e\xe9t\xe9"
CONTROL_BODY = b"ok\x00\x01\x02\x03\x1b[31mred\x1b[0m\x07\x08\x0b\x0c\x0e\x1f\x7f done\r\n\ttab\x00end"
INVALID_UTF8 = b"ok \xff\xfe \xc3\x28 \xed\xa0\x80 \xf0\x28\x8c\x28 \xc0\xaf end"
UTF16_TEXT = "ok – réçu ✓ 受け取った"
CODEC_BODY = b"ok \xff\x00\x01 done"
GZIP_PLAIN = b"A" * 200_000  # a small gzip expanding far beyond the 4 KB stored


def _binary_body():
    rng = random.Random(20261128)
    return b"\x00\x00\x01\xff" + rng.randbytes(6000) + b"\x00"


BINARY_BODY = _binary_body()


def static(status, headers, body):
    def handler(conn, _ctx):
        conn.sendall(response(status, headers, body))
        return True

    return handler


def healthy(conn, _ctx):
    conn.sendall(response(200, [("Content-Type", "application/json")], b'{"ok": true}'))
    return True


def slow_healthy(conn, ctx):
    time.sleep(ctx.slow_delay)
    return healthy(conn, ctx)


def gzip_body(conn, _ctx):
    body = gzip.compress(GZIP_PLAIN)
    conn.sendall(response(200, [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")], body))
    return True


def drip_status(conn, ctx):
    line = b"HTTP/1.1 200 " + b"O" * 1000 + b"\r\nContent-Length: 2\r\n\r\nok"
    drip(conn, line, ctx.drip, ctx.deadline())
    return False


def drip_headers(conn, ctx):
    deadline = ctx.deadline()
    with contextlib.suppress(OSError):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
    drip(conn, b"X-Drip: " + b"a" * 1000 + b"\r\nContent-Length: 2\r\n\r\nok", ctx.drip, deadline)
    return False


def drip_body(conn, ctx):
    deadline = ctx.deadline()
    with contextlib.suppress(OSError):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
    drip(conn, b"b" * 1000, ctx.drip, deadline)
    return False


def chunked_forever(conn, ctx):
    deadline = ctx.deadline()
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        while time.monotonic() < deadline:  # never the terminating 0-length chunk
            conn.sendall(b"40\r\n" + b"c" * 64 + b"\r\n")
            time.sleep(0.1)
    except OSError:
        pass
    return False


def length_too_long(conn, ctx):
    """Says 1000 bytes, sends 10 and keeps the connection open."""
    with contextlib.suppress(OSError):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789")
    wait_for_close(conn, ctx.deadline())
    return False


def length_too_short(conn, _ctx):
    """Says 10 bytes, sends 1000 (the rest lands where the next answer should start)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n" + b"L" * 1000)
    return True


def reset_mid_answer(conn, _ctx):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/pl")
    time.sleep(0.05)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # SO_LINGER 0: the close sends a TCP RST
    return False


def garbage_status(conn, _ctx):
    conn.sendall(b"HTTP/1.1 abc\r\n\r\n")
    return False


def spam(conn, _ctx):
    conn.sendall(b"SPAM\r\n\r\n")
    return False


def hang(conn, ctx):
    wait_for_close(conn, ctx.deadline())
    return False


def close_silently(_conn, _ctx):
    return False


BEHAVIOURS = {
    # 200 answers with strange bodies, headers, charsets, encodings: acknowledged
    "nul_body": static(200, [("Content-Type", "text/plain; charset=utf-8")], CONTROL_BODY),
    "bad_header": static(200, [("Content-Type", "text/plain"), ("X-Weird", WEIRD_HEADER)], b"ok"),
    "invalid_utf8": static(200, [("Content-Type", "text/plain; charset=utf-8")], INVALID_UTF8),
    "utf16": static(200, [("Content-Type", "text/plain; charset=utf-16")], UTF16_TEXT.encode("utf-16")),
    "binary": static(200, [("Content-Type", "application/octet-stream")], BINARY_BODY),
    "charset_unknown": static(200, [("Content-Type", "text/plain; charset=x-nonsense")], CODEC_BODY),
    "charset_idna": static(200, [("Content-Type", "text/plain; charset=idna")], CODEC_BODY),
    "charset_base64": static(200, [("Content-Type", "text/plain; charset=base64")], CODEC_BODY),
    "charset_rot13": static(200, [("Content-Type", "text/plain; charset=rot13")], CODEC_BODY),
    "gzip": gzip_body,
    # slow or endless answers: only an absolute deadline stops them
    "drip_status": drip_status,
    "drip_headers": drip_headers,
    "drip_body": drip_body,
    "chunked_forever": chunked_forever,
    "length_too_long": length_too_long,
    "hang": hang,
    # broken answers
    "length_too_short": length_too_short,
    "reset": reset_mid_answer,
    "garbage_status": garbage_status,
    "spam": spam,
    "close": close_silently,
}


def serve_connection(conn, behaviour, handler, port, ctx):
    buffer = bytearray()
    try:
        conn.settimeout(READ_TIMEOUT)
        while True:
            request = read_request(conn, buffer)
            if request is None:
                return
            ctx.log(behaviour, port, request)
            if not handler(conn, ctx):
                return
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def accept_loop(sock, behaviour, handler, ctx):
    port = sock.getsockname()[1]
    while True:
        try:
            conn, _addr = sock.accept()
        except OSError:
            return
        threading.Thread(target=serve_connection, args=(conn, behaviour, handler, port, ctx), daemon=True).start()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="JSON lines file of the requests received")
    parser.add_argument("--healthy", type=int, default=4, help="healthy endpoints (200 at once)")
    parser.add_argument("--slow", type=int, default=4, help="healthy endpoints answering after --slow-delay")
    parser.add_argument("--slow-delay", type=float, default=0.1)
    parser.add_argument("--hold", type=float, default=30.0, help="longest a connection is held open")
    parser.add_argument("--drip", type=float, default=0.3, help="seconds between two drip-fed bytes")
    args = parser.parse_args(argv)
    ctx = Ctx(args)
    behaviours = dict(BEHAVIOURS)
    behaviours.update({f"healthy_{n}": healthy for n in range(args.healthy)})
    behaviours.update({f"slow_{n}": slow_healthy for n in range(args.slow)})
    ports, sockets = {}, []
    for behaviour, handler in behaviours.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        sock.listen(256)
        ports[behaviour] = sock.getsockname()[1]
        sockets.append(sock)
        threading.Thread(target=accept_loop, args=(sock, behaviour, handler, ctx), daemon=True).start()
    # "refused": a port bound (so nobody else takes it) but not listening: connections get a RST
    refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    refused.bind((HOST, 0))
    ports["refused"] = refused.getsockname()[1]
    sys.stdout.write(json.dumps({"event": "ports", "pid": os.getpid(), "host": HOST, "ports": ports}) + "\n")
    sys.stdout.flush()
    threading.Event().wait()  # until SIGTERM / SIGKILL


if __name__ == "__main__":
    main()
