"""When a failing trigger's technical contact is told, and what URL they are shown."""

from datetime import datetime, timedelta

import pytest

from postback_connector.engine.contact_notice import FAILING, WARNING, NoticePolicy, due_notice, public_url

START = datetime(2025, 3, 3, 9, 0, 0)
#: Told after 1 hour, warned 24 hours before the disable after 5 days.
POLICY = NoticePolicy.from_hours(1, 24, 5)


def due(now, failure_sent=False, warning_sent=False, policy=POLICY, since=START):
    return due_notice(policy, now, since, failure_sent=failure_sent, warning_sent=warning_sent)


def test_nothing_before_the_notice_period():
    assert due(START) is None
    assert due(START + timedelta(minutes=59, seconds=59)) is None


def test_not_failing_is_never_due():
    assert due(START + timedelta(days=30), since=None) is None


def test_the_failure_notice_is_due_after_the_notice_period_then_once():
    assert due(START + timedelta(hours=1)) == FAILING
    assert due(START + timedelta(hours=2), failure_sent=True) is None


def test_the_warning_is_due_within_the_warning_period_before_the_disable():
    assert POLICY.disable_at(START) == START + timedelta(days=5)
    assert due(START + timedelta(days=4) - timedelta(seconds=1), failure_sent=True) is None
    assert due(START + timedelta(days=4), failure_sent=True) == WARNING
    assert due(START + timedelta(days=4, hours=1), failure_sent=True, warning_sent=True) is None


def test_a_warning_due_at_once_replaces_the_failure_notice():
    # Warned 24 hours before a disable after 1 day: due as soon as anything is.
    policy = NoticePolicy.from_hours(1, 24, 1)
    assert due(START + timedelta(hours=1), policy=policy) == WARNING
    assert due(START + timedelta(hours=2), warning_sent=True, policy=policy) is None


def test_no_warning_when_its_period_is_zero():
    policy = NoticePolicy.from_hours(1, 0, 5)
    assert due(START + timedelta(days=4, hours=23), failure_sent=True, policy=policy) is None
    assert due(START + timedelta(hours=1), policy=policy) == FAILING


def test_zero_notice_period_tells_at_the_first_failure_and_negative_periods_count_as_zero():
    assert due(START, policy=NoticePolicy.from_hours(0, 24, 5)) == FAILING
    assert due(START, policy=NoticePolicy.from_hours(-3, -1, 5)) == FAILING


def test_shortened_periods_for_tests():
    policy = NoticePolicy.from_hours(0.001, 0.01, 1)  # 3.6 s, 36 s
    assert due(START + timedelta(seconds=3), policy=policy) is None
    assert due(START + timedelta(seconds=4), policy=policy) == FAILING
    assert due(START + timedelta(days=1) - timedelta(seconds=20), failure_sent=True, policy=policy) == WARNING


def test_the_cron_limits_match_the_decision():
    now = START + timedelta(days=4, hours=2)
    assert POLICY.earliest_failing_since(now) == now - timedelta(hours=1)
    assert POLICY.warning_failing_since(now) == START + timedelta(hours=2)
    # A spell that started at the warning limit is due a warning, one a second later is not.
    assert due(now, failure_sent=True, since=POLICY.warning_failing_since(now)) == WARNING
    assert due(now, failure_sent=True, since=POLICY.warning_failing_since(now) + timedelta(seconds=1)) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://erp.customer.example/webhooks/orders", "https://erp.customer.example/webhooks/orders"),
        ("https://erp.customer.example/hook?token=s3cret", "https://erp.customer.example/hook?…"),
        ("https://erp.customer.example/hook#s3cret", "https://erp.customer.example/hook?…"),
        ("http://user:pass@10.0.0.5:8080/in", "http://10.0.0.5:8080/in"),
        ("http://[::1]:8069/hook", "http://[::1]:8069/hook"),
        ("", ""),
        (None, ""),
    ],
)
def test_public_url_hides_query_fragment_and_credentials(url, shown):
    assert public_url(url) == shown

