"""A minimal, fast HTTP/1.1 keep-alive webhook receiver for the benchmark (asyncio, one process).

    python bench/fast_receiver.py [--port 0] [--hang-port 0]

* ``--port``: answers every request ``HTTP/1.1 200 OK`` (Content-Length,
  keep-alive) right after reading it; counts requests and distinct
  ``webhook-id`` headers.
* ``--hang-port``: reads requests and never answers (an endpoint that
  always times out); counts them too.
* ``GET /__stats`` on the main port returns the counters as JSON;
  ``GET /__reset`` zeroes them. Control requests are not counted.

Prints ``{"port": P, "hang_port": Q}`` on stdout once listening (0 picks
free ports). Parsing is deliberately minimal: request line, headers,
Content-Length body (no chunked bodies, which the runner never sends).
"""

import argparse
import asyncio
import json
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
        self.ids = set()
        self.body_bytes = 0
        self.hang_requests = 0
        self.connections = 0
        self.first_at = None
        self.last_at = None

    def as_dict(self):
        return {
            "requests": self.requests,
            "unique": len(self.ids),
            "body_bytes": self.body_bytes,
            "hang_requests": self.hang_requests,
            "connections": self.connections,
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
    try:
        while True:
            request = await read_request(reader)
            if request is None:
                break
            _method, path, headers, body = request
            if path.startswith(b"/__"):
                if path == b"/__reset":
                    STATS.reset()
                payload = json.dumps(STATS.as_dict()).encode()
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
            webhook_id = headers.get(b"webhook-id")
            if webhook_id:
                STATS.ids.add(webhook_id)
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


async def main(port, hang_port):
    ok_server = await asyncio.start_server(serve_ok, "127.0.0.1", port, limit=MAX_HEAD, backlog=1024)
    hang_server = await asyncio.start_server(serve_hang, "127.0.0.1", hang_port, limit=MAX_HEAD, backlog=1024)
    sys.stdout.write(
        json.dumps(
            {
                "port": ok_server.sockets[0].getsockname()[1],
                "hang_port": hang_server.sockets[0].getsockname()[1],
            }
        )
        + "\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with ok_server, hang_server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hang-port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.hang_port))
