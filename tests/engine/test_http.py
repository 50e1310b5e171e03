"""HttpSender against real HTTP servers on 127.0.0.1 (no mocking)."""

import time

from postback_connector.engine import netcheck
from postback_connector.engine.http import (
    USER_AGENT,
    HttpSender,
    OutgoingRequest,
    user_agent,
)


def request(key, url, body=b'{"a":1}', timeout=5.0, headers=None):
    return OutgoingRequest(
        key=key, method="POST", url=url, headers=dict(headers or {}), body=body, timeout=timeout, connect_timeout=2.0
    )


def test_user_agent_names_the_module_version():
    assert USER_AGENT == "postback_connector/1.2.0"
    assert user_agent("18.0.2.0.0") == "postback_connector/18.0.2.0.0"


def test_success_sends_body_headers_and_reports_the_answer(receiver):
    receiver.route("/hook", status=200, body=b'{"received":true}', headers={"Content-Type": "application/json"})
    with HttpSender() as sender:
        [outcome] = sender.send_all([request("k1", receiver.url + "/hook", headers={"X-Token": "abc"})])
    assert outcome.key == "k1"
    assert outcome.status == 200
    assert outcome.error is None
    assert outcome.body == '{"received":true}'
    assert outcome.headers["Content-Type"] == "application/json"
    assert outcome.duration_ms > 0
    assert not outcome.skipped
    [hit] = receiver.hits("/hook")
    assert hit.method == "POST"
    assert hit.body == b'{"a":1}'
    assert hit.headers["X-Token"] == "abc"
    assert hit.headers["User-Agent"] == USER_AGENT


def test_error_statuses_are_reported_not_raised(receiver):
    receiver.route("/500", status=500, body=b"boom")
    receiver.route("/410", status=410, body=b"gone")
    receiver.route("/429", status=429, headers={"Retry-After": "120"})
    with HttpSender() as sender:
        outcomes = sender.send_all([request(n, f"{receiver.url}/{n}") for n in ("500", "410", "429")])
    assert [o.status for o in outcomes] == [500, 410, 429]
    assert [o.key for o in outcomes] == ["500", "410", "429"]
    assert outcomes[0].body == "boom"
    assert all(o.error is None for o in outcomes)
    assert outcomes[2].retry_after == "120"
    assert outcomes[0].retry_after is None


def test_redirects_are_not_followed(receiver):
    receiver.route("/moved", status=302, headers={"Location": "/target"})
    with HttpSender() as sender:
        [outcome] = sender.send_all([request(1, receiver.url + "/moved")])
    assert outcome.status == 302
    assert outcome.headers["Location"] == "/target"
    assert receiver.hits("/target") == []


def test_connection_refused(closed_port):
    with HttpSender() as sender:
        [outcome] = sender.send_all([request(1, f"http://127.0.0.1:{closed_port}/")])
    assert outcome.status is None
    assert outcome.error == "Connection refused"
    assert not outcome.skipped


def test_large_body_is_truncated_with_a_marker(receiver):
    receiver.route("/big", body=b"x" * 10_000)
    with HttpSender(max_body=100) as sender:
        [outcome] = sender.send_all([request(1, receiver.url + "/big")])
    assert outcome.status == 200
    assert outcome.body.startswith("x" * 100)
    assert "x" * 101 not in outcome.body
    assert "truncated after 100 bytes" in outcome.body


def test_body_decoding_uses_charset_and_survives_invalid_bytes(receiver):
    receiver.route("/latin", body="café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"})
    receiver.route("/broken", body=b"ok \xff\xfe")
    with HttpSender() as sender:
        latin, broken = sender.send_all([request(1, receiver.url + "/latin"), request(2, receiver.url + "/broken")])
    assert latin.body == "café"
    assert broken.body.startswith("ok ")


def test_slow_endpoint_times_out_and_trips_the_breaker_for_its_host_only(receiver_factory):
    slow, healthy = receiver_factory(), receiver_factory()
    slow.route("/", delay=2.0)
    batch = []
    for i in range(6):
        batch.append(request(("slow", i), slow.url + "/", timeout=0.3))
        batch.append(request(("ok", i), healthy.url + "/", timeout=0.3))
    started = time.monotonic()
    with HttpSender(max_workers=8, per_host=2) as sender:
        outcomes = sender.send_all(batch)
    elapsed = time.monotonic() - started
    assert [o.key for o in outcomes] == [r.key for r in batch]
    slow_outcomes = [o for o in outcomes if o.key[0] == "slow"]
    timed_out = [o for o in slow_outcomes if not o.skipped]
    skipped = [o for o in slow_outcomes if o.skipped]
    # At most one timeout per lane; everything else on that host is skipped.
    assert 1 <= len(timed_out) <= 2
    assert all(o.error == "Timed out: no complete answer within 0.3 s" for o in timed_out)
    assert all(o.error_kind == "timeout" for o in timed_out)
    assert len(skipped) == 6 - len(timed_out)
    assert all(o.error.startswith("Not attempted") and o.status is None for o in skipped)
    assert all(o.duration_ms < 800 for o in timed_out), "the deadline is the timeout"
    assert all(o.status == 200 and o.error is None for o in outcomes if o.key[0] == "ok")
    assert len(healthy.hits()) == 6
    assert elapsed < 1.5


def test_dead_host_cools_down_across_batches_without_network(receiver, closed_port):
    dead = f"http://127.0.0.1:{closed_port}/"
    with HttpSender(per_host=1) as sender:
        first = sender.send_all([request(1, dead), request(2, dead)])
        second = sender.send_all([request(3, dead), request(4, receiver.url + "/")])
    assert [o.skipped for o in first] == [False, True]
    assert second[0].skipped and second[0].retry_after == "30"
    assert "trying again in 30 s" in second[0].error
    assert second[1].status == 200, "other hosts are not affected"


def test_a_block_set_by_the_runner_skips_the_host_until_it_ends(closed_port, receiver):
    dead = f"http://127.0.0.1:{closed_port}/"
    with HttpSender(per_host=1, cooldown=0.05) as sender:
        sender.block(("http", "127.0.0.1", closed_port), 0.2)
        paused = sender.send_all([request(1, dead), request(2, receiver.url + "/")])
        time.sleep(0.25)
        probe = sender.send_all([request(3, dead)])
    assert paused[0].skipped and paused[0].blocked_for > 0.1
    assert paused[1].status == 200
    assert probe[0].error == "Connection refused" and not probe[0].skipped


def test_without_cool_down_the_breaker_lasts_one_batch(closed_port):
    dead = f"http://127.0.0.1:{closed_port}/"
    with HttpSender(per_host=1, cooldown=0) as sender:
        sender.send_all([request(1, dead), request(2, dead)])
        second = sender.send_all([request(3, dead)])
    assert second[0].error == "Connection refused" and not second[0].skipped


def test_keep_alive_reuses_one_connection_across_batches(receiver):
    with HttpSender(per_host=1) as sender:
        for i in range(10):
            [outcome] = sender.send_all([request(i, receiver.url + "/")])
            assert outcome.status == 200
        outcomes = sender.send_all([request(i, receiver.url + "/") for i in range(10)])
    assert all(o.status == 200 for o in outcomes)
    assert len(receiver.hits()) == 20
    assert receiver.connections == 1


def test_concurrent_lanes_are_bounded_per_host(receiver):
    with HttpSender(max_workers=16, per_host=3) as sender:
        for _batch in range(3):
            outcomes = sender.send_all([request(i, receiver.url + "/") for i in range(30)])
            assert all(o.status == 200 for o in outcomes)
    assert len(receiver.hits()) == 90
    # One connection per lane at most, and they are reused between batches.
    assert receiver.connections <= 3


def test_many_hosts_keep_order(receiver_factory):
    receivers = [receiver_factory() for _ in range(4)]
    for index, rec in enumerate(receivers):
        rec.route("/", body=str(index).encode())
    batch = [request(i, receivers[i % 4].url + "/") for i in range(40)]
    with HttpSender(max_workers=4, per_host=2) as sender:
        outcomes = sender.send_all(batch)
    assert [o.key for o in outcomes] == list(range(40))
    assert [o.body for o in outcomes] == [str(i % 4) for i in range(40)]


def test_check_refuses_without_sending(receiver):
    refused = []

    def check(url):
        refused.append(url)
        raise netcheck.UnsafeTargetError("Not allowed here")

    with HttpSender(check=check) as sender:
        [outcome] = sender.send_all([request(1, receiver.url + "/")])
    assert outcome.status is None
    assert outcome.error == "Not allowed here"
    assert refused == [receiver.url + "/"]
    assert receiver.hits() == []


def test_real_target_check_blocks_loopback(receiver):
    with HttpSender(check=lambda url: netcheck.check_target(url, allow_private=False)) as sender:
        [outcome] = sender.send_all([request(1, receiver.url + "/")])
    assert "loopback" in outcome.error
    assert receiver.hits() == []


def test_empty_batch_and_reuse_after_close(receiver):
    sender = HttpSender()
    assert sender.send_all([]) == []
    assert sender.send_all([request(1, receiver.url + "/")])[0].status == 200
    sender.close()
    assert sender.send_all([request(2, receiver.url + "/")])[0].status == 200
    sender.close()


def test_invalid_header_is_an_outcome_error(receiver):
    with HttpSender() as sender:
        [outcome] = sender.send_all([request(1, receiver.url + "/", headers={"X-Bad": "a\r\nInjected: 1"})])
    assert outcome.status is None
    assert outcome.error
    assert receiver.hits() == []


def test_receiver_cookies_are_not_sent_back(receiver):
    receiver.route("/", headers={"Set-Cookie": "session=abc; Path=/"})
    with HttpSender(per_host=1) as sender:
        sender.send_all([request(1, receiver.url + "/"), request(2, receiver.url + "/")])
    assert [hit.headers.get("Cookie") for hit in receiver.hits()] == [None, None]


def test_many_sequential_requests_complete(receiver):
    # Not a timing test: a sanity check that the hot path holds up.
    with HttpSender() as sender:
        outcomes = sender.send_all([request(i, receiver.url + "/") for i in range(200)])
    assert sum(o.status == 200 for o in outcomes) == 200


class _RawServer:
    """A 127.0.0.1 TCP server answering every connection with ``script(conn)``."""

    def __init__(self, script):
        import socket as socket_module  # noqa: PLC0415
        import threading  # noqa: PLC0415

        self.sock = socket_module.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.script = script
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%s/hook" % self.sock.getsockname()[1]

    def _serve(self):
        import threading  # noqa: PLC0415

        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            conn.recv(65536)
            self.script(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def _drip(data):
    def script(conn, stop):
        for byte in data:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.1)
    return script


def _endless_chunks(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"1\r\nx\r\n")
        time.sleep(0.05)


def test_drip_fed_answers_and_endless_bodies_stop_at_the_absolute_deadline():
    servers = [
        _RawServer(_drip(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),  # status line dripped
        _RawServer(_drip(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"y" * 100 + b"\r\n\r\n")),  # headers dripped
        _RawServer(_endless_chunks),
    ]
    try:
        started = time.monotonic()
        with HttpSender() as sender:
            outcomes = sender.send_all([request(i, s.url, timeout=0.8) for i, s in enumerate(servers)])
        elapsed = time.monotonic() - started
    finally:
        for server in servers:
            server.close()
    assert elapsed < 2.0, "every request ends at its deadline, in parallel"
    assert all(o.error_kind == "timeout" for o in outcomes)
    assert all(o.duration_ms < 1300 for o in outcomes)
    assert outcomes[0].status is None and outcomes[1].status is None
    assert outcomes[2].status == 200, "the receiver acknowledged before its body went on forever"
    assert outcomes[2].error == "The answer did not end within the timeout; it was cut off"


def test_lying_content_length_garbage_status_and_silent_close_are_errors_not_crashes():
    def lying(conn, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort")
        stop.wait(3)

    def garbage(conn, _stop):
        conn.sendall(b"SPAM\r\n\r\n")

    def silent(_conn, _stop):
        return

    servers = [_RawServer(lying), _RawServer(garbage), _RawServer(silent)]
    try:
        with HttpSender() as sender:
            outcomes = sender.send_all([request(i, s.url, timeout=0.8) for i, s in enumerate(servers)])
    finally:
        for server in servers:
            server.close()
    assert outcomes[0].status == 200 and outcomes[0].body == "short" and outcomes[0].error_kind == "timeout"
    assert outcomes[1].status is None and outcomes[1].error_kind == "protocol"
    assert "not valid HTTP" in outcomes[1].error
    assert outcomes[2].status is None and outcomes[2].error_kind == "protocol"


def test_a_header_value_http_cannot_carry_is_refused_without_echoing_it(receiver):
    with HttpSender() as sender:
        [outcome] = sender.send_all([request(1, receiver.url + "/", headers={"Authorization": "Bearer s3cr3t\n"})])
    assert outcome.status is None and outcome.error_kind == "invalid"
    assert "s3cr3t" not in outcome.error
    assert receiver.hits() == []


def test_a_slow_endpoint_keeps_a_bounded_queue_the_rest_is_postponed_not_attempted(receiver_factory):
    slow, fast = receiver_factory(), receiver_factory()
    slow.route("/", delay=0.4)
    with HttpSender(max_workers=8, per_host=2) as sender:
        sender.send_all([request("warm", slow.url + "/")])  # the sender learns it is slow
        started = time.monotonic()
        outcomes = sender.send_all(
            [request(("slow", i), slow.url + "/") for i in range(20)]
            + [request(("fast", i), fast.url + "/") for i in range(20)])
        elapsed = time.monotonic() - started
    slow_ones = [o for o in outcomes if o.key[0] == "slow"]
    sent = [o for o in slow_ones if not o.skipped]
    postponed = [o for o in slow_ones if o.skipped]
    assert len(sent) == 2 + 2 * 2, "its lanes plus a queue of two lanes' worth"
    assert all(o.status == 200 for o in sent)
    assert all(o.blocked_for >= 1.0 and "slowly" in o.error for o in postponed)
    assert all(o.status == 200 for o in outcomes if o.key[0] == "fast")
    assert elapsed < 2.0


def test_the_request_goes_to_the_checked_address_not_to_a_second_dns_answer(receiver_factory):
    """DNS rebinding: the name is resolved once, by the check; the transport connects to
    that answer even though the resolver would now answer another address."""
    import socket as socket_module  # noqa: PLC0415

    first = receiver_factory()  # 127.0.0.1
    second = Receiver127(first.port)  # same port on 127.0.0.2: the "rebound" answer
    answers = [("127.0.0.1",), ("127.0.0.2",)]
    calls = []

    def resolver(host, port):
        calls.append(host)
        address = answers[min(len(calls), len(answers)) - 1][0]
        return [(socket_module.AF_INET, socket_module.SOCK_STREAM, 6, "", (address, port))]

    netcheck.set_resolver(resolver)
    try:
        url = f"http://rebind.example:{first.port}/hook"

        def check(target):  # the policy's lookup, without the policy (both answers are loopback here)
            netcheck.validate_url(target)
            return netcheck._resolve("rebind.example", first.port)

        with HttpSender(check=check) as sender:
            [outcome] = sender.send_all([request(1, url)])
        netcheck.clear_cache()
        assert netcheck._resolve("rebind.example", first.port)[0].compressed == "127.0.0.2", "the answer changed"
    finally:
        netcheck.set_resolver(None)
        second.close()
    assert outcome.status == 200
    assert len(first.hits()) == 1 and first.hits()[0].headers["Host"] == f"rebind.example:{first.port}"
    assert second.hits == [], "nothing reached the second answer"


class Receiver127:
    """Accepts on 127.0.0.2:port and records whether anything arrived."""

    def __init__(self, port):
        import socket as socket_module  # noqa: PLC0415
        import threading  # noqa: PLC0415

        self.hits = []
        self.sock = socket_module.socket()
        self.sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.2", port))
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            self.hits.append(conn.recv(4096))
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def test_a_name_resolving_inside_the_network_is_refused_before_any_connection(receiver):
    import socket as socket_module  # noqa: PLC0415

    netcheck.set_resolver(lambda host, port: [
        (socket_module.AF_INET, socket_module.SOCK_STREAM, 6, "", ("127.0.0.1", port))])
    try:
        with HttpSender(check=lambda url: netcheck.check_target(url, allow_private=False)) as sender:
            [outcome] = sender.send_all([request(1, f"http://internal.example:{receiver.port}/hook")])
    finally:
        netcheck.set_resolver(None)
    assert outcome.status is None and outcome.error_kind == "refused"
    assert "loopback" in outcome.error
    assert receiver.hits() == [], "nothing was sent"


def test_jobs_stuck_on_an_endpoint_that_does_not_move_are_counted_as_stalled(receiver_factory):
    """The runner claims more work for the others while an endpoint hangs: it reads
    ``stalled`` (the hanging endpoint's running and queued jobs), never the healthy ones."""
    hanging, fast = receiver_factory(), receiver_factory()
    hanging.route("/", delay=3.0)
    with HttpSender(max_workers=8, per_host=2) as sender:
        for i in range(5):
            sender.submit(request(("hang", i), hanging.url + "/", timeout=1.0))
        assert sender.stalled == 0, "not known to be stuck before it had time to answer"
        time.sleep(0.35)  # nothing of it moved for longer than SLOW_SECONDS
        for i in range(3):
            sender.submit(request(("fast", i), fast.url + "/"))
        assert sender.stalled == 5, "2 running until their deadline + 3 queued behind them"
        outcomes = [sender.results.get(timeout=5) for _ in range(8)]
        fast_ones = [o for o in outcomes if o.key[0] == "fast"]
        assert len(fast_ones) == 3 and all(o.status == 200 for o in fast_ones)
        # the two timeouts trip the breaker: the queued three come back skipped, nothing is left
        assert sum(1 for o in outcomes if o.key[0] == "hang" and o.skipped) == 3
        assert sender.stalled == 0


def test_several_hanging_endpoints_at_once_never_take_the_others_workers(receiver_factory):
    """Three endpoints hang at once and together their lanes outnumber the workers:
    the requests they hold stop counting as workers within SLOW_SECONDS, so the healthy
    endpoints' postbacks (queued behind them at first) go long before the timeouts."""
    hanging = [receiver_factory() for _ in range(3)]
    fast = [receiver_factory() for _ in range(2)]
    for receiver in hanging:
        receiver.route("/", delay=4.0)
    with HttpSender(max_workers=4, per_host=2, cooldown=0) as sender:
        started = time.monotonic()
        for n, receiver in enumerate(hanging):
            for i in range(2):
                sender.submit(request(("hang", n, i), receiver.url + "/", timeout=3.0))
        for n, receiver in enumerate(fast):
            for i in range(10):
                sender.submit(request(("fast", n, i), receiver.url + "/"))
        fast_done = []
        while len(fast_done) < 20:
            outcome = sender.results.get(timeout=5)
            assert outcome.key[0] == "fast", "a healthy postback waited for a hanging endpoint's timeout"
            assert outcome.status == 200
            fast_done.append(time.monotonic() - started)
        assert max(fast_done) < 1.5, fast_done
        assert all(len(r.hits()) == 2 for r in hanging), "every hanging endpoint still got its own requests"
        assert sum(len(r.hits()) for r in fast) == 20
        hung = [sender.results.get(timeout=5) for _ in range(6)]
        assert all(o.error_kind == "timeout" for o in hung)


def test_endpoints_not_known_fast_share_the_threads_beyond_the_workers(receiver_factory):
    """New, slow or hanging endpoints get the threads beyond max_workers (max_threads -
    max_workers of them), never the workers of the endpoints known to be fast."""
    hanging = [receiver_factory() for _ in range(4)]
    fast = receiver_factory()
    for receiver in hanging:
        receiver.route("/", delay=2.5)
    with HttpSender(max_workers=2, per_host=2, max_threads=5, cooldown=0) as sender:
        sender.submit(request("known", fast.url + "/"))
        assert sender.results.get(timeout=5).status == 200  # the fast endpoint has answered
        for n, receiver in enumerate(hanging):
            for i in range(2):
                sender.submit(request(("hang", n, i), receiver.url + "/", timeout=1.5))
        time.sleep(0.5)
        assert sum(len(r.hits()) for r in hanging) == 3, "3 threads beyond the 2 workers, the other 5 wait"
        started = time.monotonic()
        for i in range(6):
            sender.submit(request(("fast", i), fast.url + "/"))
        fast_done = [sender.results.get(timeout=5) for _ in range(6)]
        assert all(o.key[0] == "fast" and o.status == 200 for o in fast_done)
        assert time.monotonic() - started < 0.8, "the fast endpoint kept its workers"
        outcomes = [sender.results.get(timeout=8) for _ in range(8)]
        assert all(o.error_kind == "timeout" for o in outcomes)


def test_an_endpoint_gets_all_its_lanes_once_it_has_answered(receiver_factory):
    """Two lanes until the first answer: an endpoint that never answers ties up two threads
    until its timeout pauses it (its other queued requests are not attempted), while one
    that answers, even slowly, opens all of its lanes at its first answer."""
    hanging, slow = receiver_factory(), receiver_factory()
    hanging.route("/", delay=3.0)
    slow.route("/", delay=0.3)
    with HttpSender(max_workers=16, per_host=8) as sender:
        for i in range(8):
            sender.submit(request(("hang", i), hanging.url + "/", timeout=1.0))
        for i in range(20):
            sender.submit(request(("slow", i), slow.url + "/"))
        time.sleep(0.2)
        assert len(hanging.hits()) == 2 and len(slow.hits()) == 2
        time.sleep(0.25)  # the slow endpoint's first two answers came at 0.3 s
        assert len(slow.hits()) == 10, "2 answered, 8 lanes running"
        outcomes = [sender.results.get(timeout=5) for _ in range(28)]
    hang = [o for o in outcomes if o.key[0] == "hang"]
    assert sum(1 for o in hang if o.error_kind == "timeout") == 2
    assert sum(1 for o in hang if o.skipped) == 6, "paused after its first wave: never sent"
    assert len(hanging.hits()) == 2
    assert all(o.status == 200 for o in outcomes if o.key[0] == "slow")
