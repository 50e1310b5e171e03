"""A minimal, fast HTTP/1.1 keep-alive webhook receiver for the benchmark (asyncio, one process).

    python bench/fast_receiver.py [--port 0] [--hang-port 0] [--hang-ports 4] [--drip-ports 2]
                                  [--extra-ports 0] [--drip-interval 0.2] [--drip-max-seconds 300]

* ``--port``: answers every request ``HTTP/1.1 200 OK`` (Content-Length,
  keep-alive) right after reading it; counts requests, distinct
  ``webhook-id`` headers, ids received more than once, and keeps the
  arrival time of the first receipt of every id.
* ``--extra-ports N``: N more ports on 127.0.0.1 answering like ``--port``
  (one receiver process behind many distinct host:port endpoints); the
  counters are shared.
* ``--hang-port`` / ``--hang-ports N``: N ports that read requests and never
  answer (endpoints that always time out); counted in ``hang_requests``.
  Several, so that each measurement can meet an endpoint that no runner
  has seen fail yet (a runner may remember, even persist, a cool-down).
* ``--drip-ports N``: N ports that read a request, then answer its status
  line and headers one byte every ``--drip-interval`` seconds and never
  finish them (closed after ``--drip-max-seconds``): a per-read timeout
  never fires, only an absolute per-request deadline stops it; counted in
  ``drip_requests``.
* ``GET /__stats`` on the main port returns the counters as JSON;
  ``GET /__times`` the arrival times (time.time()) of the first receipt of
  every distinct id, in arrival order; ``GET /__reset`` zeroes everything.
  Control requests are not counted.

Prints ``{"port": P, "hang_port": Q, "hang_ports": [...], "drip_ports": [...],
"extra_ports": [...]}`` on stdout once listening (0 picks free ports; only
127.0.0.1 is ever bound). Parsing is deliberately minimal: request line,
headers, Content-Length body (no chunked bodies, which the runner never
sends).
"""

import argparse
import asyncio
import json
import resource
import signal
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
MAX_HEAD = 64 * 1024


class Stats:
    def __init__(self):
        self.reset()

    def reset(self):
        self.requests = 0
        self.ids = {}  # webhook-id -> times received
        self.times = []  # arrival time of the first receipt of each id
        self.body_bytes = 0
        self.hang_requests = 0
        self.drip_requests = 0
        self.connections = 0
        self.ports = set()
        self.first_at = None
        self.last_at = None

    def as_dict(self):
        repeated = [count for count in self.ids.values() if count > 1]
        return {
            "requests": self.requests,
            "unique": len(self.ids),
            "repeated_ids": len(repeated),
            "max_receipts": max(repeated, default=1 if self.ids else 0),
            "body_bytes": self.body_bytes,
            "hang_requests": self.hang_requests,
            "drip_requests": self.drip_requests,
            "connections": self.connections,
            "ports_hit": len(self.ports),
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


STATS = Stats()


async def read_request(reader):
    """(method, path, headers(lower-case name -> value), body) or None at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        return None
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) < 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0") or 0)
    body = await reader.readexactly(length) if length else b""
    return parts[0], parts[1], headers, body


async def serve_ok(reader, writer):
    STATS.connections += 1
    local_port = (writer.get_extra_info("sockname") or ("", 0))[1]
    try:
        while True:
            request = await read_request(reader)
            if request is None:
                break
            _method, path, headers, body = request
            if path.startswith(b"/__"):
                if path == b"/__reset":
                    STATS.reset()
                payload = json.dumps(STATS.times if path == b"/__times" else STATS.as_dict()).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
                await writer.drain()
                continue
            now = time.time()
            STATS.requests += 1
            STATS.body_bytes += len(body)
            STATS.first_at = STATS.first_at or now
            STATS.last_at = now
            STATS.ports.add(local_port)
            webhook_id = headers.get(b"webhook-id")
            if webhook_id:
                seen = STATS.ids.get(webhook_id, 0)
                STATS.ids[webhook_id] = seen + 1
                if not seen:
                    STATS.times.append(now)
            close = headers.get(b"connection", b"").lower() == b"close"
            writer.write(OK_CLOSE if close else OK)
            await writer.drain()
            if close:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve_hang(reader, writer):
    """Read requests and never answer; hold the connection until the client gives up."""
    try:
        while True:
            request = await read_request(reader)
            if request is None:
                break
            STATS.hang_requests += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def make_serve_drip(interval, max_seconds):
    async def serve_drip(reader, writer):
        """Read one request, then dribble an endless status line + header block, one byte at a time."""
        try:
            request = await read_request(reader)
            if request is None:
                return
            STATS.drip_requests += 1
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Drip: "
            deadline = time.monotonic() + max_seconds
            position = 0
            while time.monotonic() < deadline and not reader.at_eof():
                byte = head[position : position + 1] if position < len(head) else b"."
                position += 1
                writer.write(byte)
                await writer.drain()
                await asyncio.sleep(interval)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return serve_drip


async def listen(handler, port):
    return await asyncio.start_server(handler, "127.0.0.1", port, limit=MAX_HEAD, backlog=1024)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


async def main(args):
    raise_fd_limit()
    ok_server = await listen(serve_ok, args.port)
    hang_servers = [await listen(serve_hang, args.hang_port if i == 0 else 0) for i in range(max(1, args.hang_ports))]
    serve_drip = make_serve_drip(args.drip_interval, args.drip_max_seconds)
    drip_servers = [await listen(serve_drip, 0) for _ in range(args.drip_ports)]
    extra_servers = [await listen(serve_ok, 0) for _ in range(args.extra_ports)]

    def port_of(server):
        return server.sockets[0].getsockname()[1]

    sys.stdout.write(
        json.dumps(
            {
                "port": port_of(ok_server),
                "hang_port": port_of(hang_servers[0]),
                "hang_ports": [port_of(s) for s in hang_servers],
                "drip_ports": [port_of(s) for s in drip_servers],
                "extra_ports": [port_of(s) for s in extra_servers],
            }
        )
        + "\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = [ok_server, *hang_servers, *drip_servers, *extra_servers]
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hang-port", type=int, default=0)
    parser.add_argument(
        "--hang-ports", type=int, default=4, help="endpoints that never answer (the first: --hang-port)"
    )
    parser.add_argument("--drip-ports", type=int, default=2, help="endpoints that dribble their answer")
    parser.add_argument("--drip-interval", type=float, default=0.2, help="seconds between two bytes of a drip answer")
    parser.add_argument("--drip-max-seconds", type=float, default=300.0, help="a drip connection is closed after this")
    parser.add_argument("--extra-ports", type=int, default=0, help="more 200 OK endpoints (distinct ports)")
    asyncio.run(main(parser.parse_args()))
