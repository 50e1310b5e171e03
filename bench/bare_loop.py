"""The reference for the cron throughput: a bare keep-alive ``requests.Session().post`` loop.

    python bench/bare_loop.py URL --body-size N --count C [--max-seconds S]

Sends ``C`` POSTs of an ``N``-byte JSON body with Standard Webhooks-like
headers, one after the other on one keep-alive session, and prints
``{"count", "elapsed", "rate"}``.
"""

import argparse
import json
import sys
import time
import uuid

import requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--body-size", type=int, default=600)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()
    filler = max(0, args.body_size - len('{"filler":""}'))
    body = json.dumps({"filler": "x" * filler}).encode()
    session = requests.Session()
    session.trust_env = False
    base_headers = {
        "Content-Type": "application/json",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + "A" * 44,
    }
    # warm the connection
    warmup = session.post(args.url, data=body, headers=dict(base_headers, **{"webhook-id": "msg_warmup"}), timeout=10)
    warmup.raise_for_status()
    sent = 0
    started = time.perf_counter()
    deadline = started + args.max_seconds
    while sent < args.count and time.perf_counter() < deadline:
        headers = dict(base_headers)
        headers["webhook-id"] = "msg_bare_%s" % uuid.uuid4().hex
        response = session.post(args.url, data=body, headers=headers, timeout=10)
        response.content  # noqa: B018 - read the answer like the runner does
        sent += 1
    elapsed = time.perf_counter() - started
    sys.stdout.write(json.dumps({"count": sent, "elapsed": elapsed, "rate": sent / elapsed}) + "\n")


if __name__ == "__main__":
    main()
