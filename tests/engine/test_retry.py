"""Retry schedule, Retry-After, delays and outcome classes."""

import random
from email.utils import formatdate

import pytest

from postback_connector.engine import retry


def test_default_schedule():
    assert retry.DEFAULT_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert retry.format_schedule(retry.DEFAULT_SCHEDULE) == "0, 5s, 5m, 30m, 2h, 5h, 10h, 10h"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0, 5s, 5m, 30m, 2h, 5h, 10h, 10h", retry.DEFAULT_SCHEDULE),
        ("0 5 300", (0, 5, 300)),
        ("1D; 90s, 1.5h", (86400, 90, 5400)),
        (" 10m ", (600,)),
    ],
)
def test_parse_schedule(text, expected):
    assert retry.parse_schedule(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("  , ", "empty"),
        ("5x", "'5x' is not a valid delay"),
        ("-5", "not a valid delay"),
        ("8d", "7 day maximum"),
        (", ".join(["1"] * 51), "at most 50"),
    ],
)
def test_parse_schedule_errors(text, words):
    with pytest.raises(ValueError, match=words):
        retry.parse_schedule(text)


def test_format_schedule_round_trips():
    schedule = (0, 1, 59, 60, 90, 3600, 5400, 86400, 172800)
    assert retry.format_schedule(schedule) == "0, 1s, 59s, 1m, 90s, 1h, 90m, 1d, 2d"
    assert retry.parse_schedule(retry.format_schedule(schedule)) == schedule


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert retry.parse_retry_after(None, now) is None
    assert retry.parse_retry_after("", now) is None
    assert retry.parse_retry_after("soon", now) is None
    assert retry.parse_retry_after("120", now) == 120.0
    assert retry.parse_retry_after(" 0 ", now) == 0.0
    assert retry.parse_retry_after("999999999", now) == retry.MAX_RETRY_AFTER
    assert retry.parse_retry_after(formatdate(now + 300, usegmt=True), now) == pytest.approx(300)
    assert retry.parse_retry_after(formatdate(now - 300, usegmt=True), now) == 0.0


def test_next_delay_follows_the_schedule_without_jitter():
    schedule = (0, 5, 300)
    assert [retry.next_delay(n, schedule, jitter=0) for n in range(4)] == [0.0, 5.0, 300.0, None]


def test_next_delay_jitter_stays_within_bounds_and_zero_stays_zero():
    rng = random.Random(1)
    delays = [retry.next_delay(2, retry.DEFAULT_SCHEDULE, jitter=0.1, rng=rng) for _ in range(200)]
    assert all(300 <= d <= 330 for d in delays), "never before the schedule step"
    assert len(set(delays)) > 100
    assert retry.next_delay(0, retry.DEFAULT_SCHEDULE, rng=rng) == 0.0


def test_retry_after_is_a_lower_bound():
    assert retry.next_delay(1, (0, 5, 300), retry_after=60, jitter=0) == 60.0
    assert retry.next_delay(2, (0, 5, 300), retry_after=60, jitter=0) == 300.0
    assert retry.next_delay(3, (0, 5, 300), retry_after=60) is None


def test_next_delay_rejects_negative_attempts():
    with pytest.raises(ValueError):
        retry.next_delay(-1, retry.DEFAULT_SCHEDULE)


@pytest.mark.parametrize(
    ("status", "error", "verdict"),
    [
        (200, None, "delivered"),
        (201, None, "delivered"),
        (204, None, "delivered"),
        (299, None, "delivered"),
        (200, "Invalid response: the answer could not be read", "delivered"),
        (410, None, "gone"),
        (None, "Timed out after 10 s", "retry"),
        (None, "Connection refused", "retry"),
        (301, None, "retry"),
        (302, None, "retry"),
        (400, None, "retry"),
        (401, None, "retry"),
        (404, None, "retry"),
        (429, None, "retry"),
        (500, None, "retry"),
        (503, None, "retry"),
    ],
)
def test_classify(status, error, verdict):
    assert retry.classify(status, error) == verdict


def test_retry_after_is_honoured_only_for_429_and_503():
    assert retry.honours_retry_after(429)
    assert retry.honours_retry_after(503)
    assert not any(retry.honours_retry_after(s) for s in (None, 200, 302, 410, 500, 502))
