"""Requests with a start time (``not_before``): the rate limit's scheduling in the sender."""

import itertools
import time

from postback_connector.engine.http import HttpSender, OutgoingRequest


def request(key, url, not_before=None):
    return OutgoingRequest(key=key, method="POST", url=url, headers={}, body=b"{}", timeout=5.0,
                           connect_timeout=2.0, not_before=not_before)


def test_a_delayed_request_starts_at_its_time_and_holds_no_lane_meanwhile(receiver_factory):
    slow_host, other = receiver_factory(), receiver_factory()
    started = time.monotonic()
    with HttpSender(max_workers=1, per_host=1) as sender:
        # one worker only: if the waiting requests held it, the other host would wait too
        outcomes = sender.send_all(
            [request(f"late{i}", slow_host.url + "/t", not_before=started + 0.3 + 0.2 * i) for i in range(3)]
            + [request(f"now{i}", other.url + "/n") for i in range(5)]
        )
    assert [o.status for o in outcomes] == [200] * 8
    finished = {o.key: o.finished_at for o in outcomes}
    assert max(finished[f"now{i}"] for i in range(5)) < min(finished[f"late{i}"] for i in range(3))
    hits = slow_host.hits("/t")
    assert len(hits) == 3
    # each started no sooner than its time (finished_at is epoch; compare spacing instead)
    late = sorted(finished[f"late{i}"] for i in range(3))
    assert late[1] - late[0] >= 0.15 and late[2] - late[1] >= 0.15
    assert time.monotonic() - started >= 0.7


def test_delayed_requests_count_as_busy_and_come_back_released_when_cancelled(receiver):
    with HttpSender() as sender:
        sender.submit(request("later", receiver.url + "/x", not_before=time.monotonic() + 30))
        assert sender.busy == 1
        assert sender.delayed == 1
        [outcome] = sender.cancel_queued()
        assert (outcome.key, outcome.skipped, outcome.released) == ("later", True, True)
        assert sender.busy == 0
    assert receiver.hits() == []


def test_closing_the_sender_does_not_wait_for_delayed_requests(receiver):
    sender = HttpSender()
    sender.submit(request("later", receiver.url + "/x", not_before=time.monotonic() + 60))
    started = time.monotonic()
    sender.close()
    assert time.monotonic() - started < 2
    assert receiver.hits() == []


def test_a_minimum_interval_spaces_request_starts_even_when_they_are_submitted_together(receiver):
    with HttpSender() as sender:
        sender.set_min_interval(("http", "127.0.0.1", receiver.port), 0.1)
        outcomes = sender.send_all([request(f"r{i}", receiver.url + "/s") for i in range(5)])
    assert [o.status for o in outcomes] == [200] * 5
    finished = sorted(o.finished_at for o in outcomes)
    gaps = [b - a for a, b in itertools.pairwise(finished)]
    assert min(gaps) >= 0.08, gaps


def test_the_first_request_through_an_http_proxy_names_the_absolute_url(receiver, monkeypatch):
    """A plain-http request through HTTP_PROXY carries the absolute URL (RFC 9112 §3.2.2), from the
    first request of a new sender on (the OAuth2 token call always uses a new one)."""
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", receiver.url)  # the receiver plays the proxy
    with HttpSender() as sender:
        [outcome] = sender.send_all([request("p", "http://postback-receiver.invalid:8080/hook?x=1")])
    assert outcome.status == 200, outcome.error
    [hit] = receiver.hits()
    assert hit.path == "http://postback-receiver.invalid:8080/hook?x=1"
