"""Requests with a start time (``not_before``): the rate limit's scheduling in the sender."""

import itertools
import time

from postback_connector.engine.http import SLOT_MISSED_ERROR, HttpSender, OutgoingRequest


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


def test_a_request_that_cannot_start_within_its_slot_is_not_sent_and_comes_back_released(receiver_factory):
    """A rate-limited request is sent inside its slot or not at all: one held up past the end
    of its slot (here its only lane is busy with a slow answer) never reaches the receiver, so
    it cannot bunch with the next slot's request; it comes back unsent, for the queue."""
    slow, throttled = receiver_factory(), receiver_factory()
    slow.route("/slow", delay=0.6)
    now = time.monotonic()
    # One thread for new endpoints (max_threads 2 = 1 worker + 1 other): the slow answer holds it.
    with HttpSender(max_workers=1, per_host=1, max_threads=2) as sender:
        in_time = request("in_time", throttled.url + "/t", not_before=now + 0.9)
        in_time.slot_end = now + 1.0
        missed = request("missed", throttled.url + "/t", not_before=now + 0.1)
        missed.slot_end = now + 0.2
        outcomes = {o.key: o for o in sender.send_all([request("busy", slow.url + "/slow"), missed, in_time])}
    assert outcomes["busy"].status == 200
    assert (outcomes["missed"].skipped, outcomes["missed"].released, outcomes["missed"].status) == (True, True, None)
    assert outcomes["missed"].error == SLOT_MISSED_ERROR
    assert outcomes["in_time"].status == 200 and not outcomes["in_time"].skipped
    assert len(throttled.hits("/t")) == 1


def test_requests_in_consecutive_slots_start_a_slot_apart(receiver):
    """Slots booked back to back (as two runners do) are honoured to within the tolerance."""
    step, start = 0.12, time.monotonic() + 0.2
    jobs = []
    for i in range(6):
        job = request(f"s{i}", receiver.url + "/s", not_before=start + i * step)
        job.slot_end = job.not_before + 0.1
        jobs.append(job)
    with HttpSender() as sender:
        outcomes = sender.send_all(list(reversed(jobs)))
    assert [o.status for o in outcomes] == [200] * 6
    arrivals = sorted(hit.at for hit in receiver.hits("/s"))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= step - 0.1, gaps


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
