# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Real receivers on 127.0.0.1 for the tests: an HTTP server and an SMTP server.

No ``odoo`` import here, so end-to-end tests outside Odoo can use them too.
"""
import collections
import contextlib
import email
import socket
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

try:
    from .. import compat
except ImportError:  # loaded on its own by the Odoo-free end-to-end tests (tests/e2e)
    compat = None

Received = collections.namedtuple("Received", "method path headers body at")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real receivers

    def log_message(self, *args):  # keep test output readable
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = self.server.receiver
        status, headers, response_body, delay = receiver._next_response(self.path, body)
        if delay:
            time.sleep(delay)
        receiver._record(Received(self.command, self.path, dict(self.headers.items()), body, time.time()))
        payload = response_body.encode() if isinstance(response_body, str) else response_body
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_GET = _handle


class HttpReceiver:
    """A programmable webhook receiver.

    ``responses`` is a list of ``(status, headers, body)`` consumed one per request;
    when empty, ``default`` answers. ``delay`` makes every answer slow.
    """

    def __init__(self, default=(200, {}, "ok"), delay=0.0, responder=None):
        self.default = default
        # responder(body) -> (status, headers, body) or None: answers chosen per request.
        self.responder = responder
        self.delay = delay
        self.responses = collections.deque()
        self.received = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%s/hook" % self.server.server_address[1]

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def queue(self, *responses):
        for response in responses:
            self.responses.append((response, {}, "") if isinstance(response, int) else response)

    def _next_response(self, path, request_body):
        with self._lock:
            chosen = self.responder(request_body) if self.responder else None
            if chosen is None:
                chosen = self.responses.popleft() if self.responses else self.default
            status, headers, body = chosen
        return status, headers, body, self.delay

    def _record(self, item):
        with self._lock:
            self.received.append(item)

    def wait_for(self, count, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.received) >= count:
                return True
            time.sleep(0.01)
        return len(self.received) >= count


class SmtpReceiver:
    """An aiosmtpd SMTP server on 127.0.0.1 keeping the parsed messages."""

    def __init__(self):
        self.messages = []
        receiver = self

        class _Handler:
            async def handle_DATA(self, server, session, envelope):
                message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
                receiver.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
                return "250 Message accepted"

        self._port = _free_port()
        self.controller = Controller(_Handler(), hostname="127.0.0.1", port=self._port)

    def __enter__(self):
        self._real_email = compat.real_email_in_tests() if compat else contextlib.nullcontext()
        self._real_email.__enter__()
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
        self._real_email.__exit__(*exc)

    @property
    def port(self):
        return self._port

    def wait_for(self, count, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages) < count:
            time.sleep(0.01)
        return len(self.messages) >= count


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GarbageReceiver:
    """A TCP server that answers every connection with bytes that are not HTTP."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.running = True

    @property
    def url(self):
        return "http://127.0.0.1:%s/hook" % self.sock.getsockname()[1]

    def _serve(self):
        while self.running:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"\x00\x01garbage that is not HTTP\r\n\r\n")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.sock.close()
