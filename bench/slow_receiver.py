"""A small threaded HTTP receiver that answers ``200`` after a fixed delay (default 200 ms), loopback only.

    python bench/slow_receiver.py [--port 0] [--delay 0.2]

The webhook receiver of step 9 (Odoo's own "Send Webhook Notification"
server action vs our trigger): a plain ``http.server.ThreadingHTTPServer``
on 127.0.0.1, one thread per connection, HTTP/1.1 with Content-Length (so
keep-alive works for clients that want it; Odoo's ``requests.post`` opens
a new connection every time). Every POST/PUT is answered ``200 ok`` after
``--delay`` seconds and counted per path.

``GET /__stats`` returns ``{"requests": {path: count}, "ids": distinct
webhook-id headers}``; ``GET /__reset`` zeroes the counters. Prints
``{"port": P}`` on stdout once listening.
"""

import argparse
import collections
import http.server
import json
import signal
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.2
    lock = threading.Lock()
    requests = collections.Counter()
    ids = set()

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, payload, content_type="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path == "/__reset":
            with self.lock:
                self.requests.clear()
                self.ids.clear()
        with self.lock:
            payload = json.dumps({"requests": dict(self.requests), "ids": len(self.ids)}).encode()
        self._answer(payload, "application/json")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        time.sleep(self.delay)
        with self.lock:
            self.requests[self.path] += 1
            if self.headers.get("webhook-id"):
                self.ids.add(self.headers["webhook-id"])
        self._answer(b"ok")

    do_PUT = do_POST


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    Handler.delay = args.delay
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
