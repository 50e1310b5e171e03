# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Real receivers on 127.0.0.1 for the tests: an HTTP server and an SMTP server.

No ``odoo`` import here, so end-to-end tests outside Odoo can use them too.
"""
import base64
import collections
import contextlib
import email
import json
import secrets
import socket
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus

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
        status, headers, response_body, delay = receiver._next_response(self.path, body, dict(self.headers.items()))
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
    when empty, ``default`` answers. ``delay`` makes every answer slow. ``guard(headers,
    body)`` sees every request first (a receiver's own authentication or signature
    check): an answer from it replaces the others.
    """

    def __init__(self, default=(200, {}, "ok"), delay=0.0, responder=None, guard=None):
        self.default = default
        # responder(body) -> (status, headers, body) or None: answers chosen per request.
        self.responder = responder
        self.guard = guard
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

    def _next_response(self, path, request_body, request_headers=None):
        with self._lock:
            chosen = self.guard(request_headers or {}, request_body) if self.guard else None
            if chosen is None and self.responder:
                chosen = self.responder(request_body)
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


class TokenEndpoint:
    """A local OAuth2 token endpoint (client credentials grant, RFC 6749 §4.4).

    Written from the RFC, not from the connector: it checks the HTTP Basic client
    authentication (id and secret form-encoded, §2.3.1) and the grant type, and
    answers ``{"access_token", "token_type": "Bearer", "expires_in"}`` with tokens
    that expire after ``expires_in`` seconds (``None``: the answer has no
    ``expires_in``, the token lives an hour). ``calls`` keeps each request (its
    headers and form); ``failure = (status, body)`` answers that instead.
    ``guard`` is the check of a protected receiver: 401 unless the request carries
    a token issued here and still valid; ``revoke()`` ends every token issued.
    """

    def __init__(self, client_id="postback-client", client_secret="s3cr3t-client-value", expires_in=3600):
        self.client_id, self.client_secret, self.expires_in = client_id, client_secret, expires_in
        self.calls = []
        self.tokens = {}  # token -> epoch it expires
        self.failure = None
        self.delay = 0.0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer = endpoint._answer(dict(self.headers.items()), body)
                if endpoint.delay:
                    time.sleep(endpoint.delay)
                payload = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%s/oauth/token" % self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, headers, body):
        form = {key: values[0] for key, values in parse_qs(body.decode("ascii", "replace")).items()}
        with self._lock:
            self.calls.append((headers, form))
            if self.failure:
                return self.failure
        scheme, _sep, credentials = (headers.get("Authorization") or "").partition(" ")
        try:
            client_id, _sep, client_secret = base64.b64decode(credentials).decode().partition(":")
        except ValueError:
            client_id = client_secret = None
        if scheme.lower() != "basic" or (unquote_plus(client_id or ""), unquote_plus(client_secret or "")) != (
                self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        token = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = time.time() + (3600 if self.expires_in is None else self.expires_in)
        answer = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return 200, answer

    def valid(self, authorization):
        scheme, _sep, token = (authorization or "").partition(" ")
        with self._lock:
            expires = self.tokens.get(token)
        return scheme == "Bearer" and expires is not None and time.time() < expires

    def revoke(self):
        with self._lock:
            self.tokens.clear()

    def guard(self, headers, body):
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if self.valid(authorization):
            return None
        return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, '{"error": "invalid_token"}'


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
