"""Fixtures for the engine tests: real HTTP receivers on 127.0.0.1."""

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from postback_connector.engine import netcheck


@dataclass
class Route:
    status: int = 200
    body: bytes = b"ok"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    #: time.monotonic() when the request was read
    at: float = 0.0


class Receiver:
    """A ThreadingHTTPServer on an ephemeral 127.0.0.1 port with scripted routes.

    Speaks HTTP/1.1 with keep-alive and counts accepted TCP connections, so
    tests can check that the sender reuses connections.
    """

    def __init__(self):
        self.routes = {}
        self.received = []
        self.connections = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        # A client that gave up (timeout test) makes the late write fail;
        # that is expected and must not clutter the test output.
        self.server.handle_error = lambda request, client_address: None
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def route(self, path, status=200, body=b"ok", headers=None, delay=0.0):
        self.routes[path] = Route(status, body, dict(headers or {}), delay)

    def hits(self, path=None):
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # Headers and body go out as two writes; without NODELAY the
                # second waits for a delayed ACK and every request takes 40 ms.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with receiver._lock:
                    receiver.connections += 1

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.received.append(
                        Received(self.command, self.path, dict(self.headers), body, time.monotonic()))
                route = receiver.routes.get(self.path, Route())
                if route.delay:
                    time.sleep(route.delay)
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


@pytest.fixture
def receiver_factory():
    created = []

    def make():
        receiver = Receiver()
        created.append(receiver)
        return receiver

    yield make
    for receiver in created:
        receiver.close()


@pytest.fixture
def receiver(receiver_factory):
    return receiver_factory()


@pytest.fixture
def closed_port():
    """A 127.0.0.1 port nobody listens on (connections are refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(autouse=True)
def _fresh_resolver_cache():
    netcheck.clear_cache()
    yield
    netcheck.clear_cache()
