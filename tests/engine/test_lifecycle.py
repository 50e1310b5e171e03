"""The delivery state machine (engine.lifecycle): one outcome in, the next step out."""

import random

from postback_connector.engine import lifecycle
from postback_connector.engine.http import Outcome

SCHEDULE = (0, 5, 300)
T = 1_700_000_000.25  # an outcome known a quarter second past a whole second


def step(outcome, retries_done=0, retry_on_failure=True, schedule=SCHEDULE):
    return lifecycle.next_step(outcome, retries_done=retries_done, schedule=schedule,
                               retry_on_failure=retry_on_failure, jitter=0, rng=random.Random(1))


def answer(status, **kw):
    return Outcome("k", status, finished_at=T, **kw)


def test_2xx_is_delivered_and_the_endpoint_is_up():
    result = step(answer(204))
    assert (result.state, result.attempt, result.next_at, result.health) == ("delivered", "delivered", None, "up")


def test_a_200_cut_off_at_the_deadline_is_delivered_but_the_endpoint_is_down():
    result = step(answer(200, error="cut off", error_kind="timeout"))
    assert result.state == "delivered" and result.health == "down"


def test_410_fails_for_good_and_asks_to_disable_the_trigger():
    result = step(answer(410))
    assert result.state == "failed" and result.gone and result.attempt == "failed"


def test_500_is_retried_at_the_next_schedule_step_never_earlier():
    result = step(answer(500), retries_done=0)
    assert result.state == "pending" and result.attempt == "retry"
    assert result.next_at == 1_700_000_006  # T + 5 s, rounded up to the second
    assert result.next_at >= T + 5
    assert result.error is None and result.error_status == 500


def test_retry_after_on_503_is_a_lower_bound_counted_from_the_answer():
    result = step(answer(503, retry_after="120"))
    assert result.next_at >= T + 120
    ignored = step(answer(500, retry_after="120"))
    assert ignored.next_at < T + 120, "Retry-After is honoured on 429/503 only"


def test_a_zero_delay_is_due_at_once():
    result = step(answer(500), schedule=(0, 0, 0))
    assert result.state == "pending" and result.next_at <= T


def test_schedule_used_up_or_no_retry_means_failed():
    assert step(answer(500), retries_done=2).state == "failed"
    assert step(answer(500), retry_on_failure=False).state == "failed"


def test_timeouts_and_refused_connections_trip_the_endpoint():
    for kind in ("timeout", "connect"):
        result = step(Outcome("k", None, error="x", error_kind=kind, finished_at=T))
        assert result.health == "down" and result.state == "pending" and result.error == "x"


def test_garbage_answers_are_errors_not_down_and_policy_refusals_say_nothing_of_the_endpoint():
    assert step(Outcome("k", None, error="bad", error_kind="protocol", finished_at=T)).health == "error"
    assert step(Outcome("k", None, error="no", error_kind="refused", finished_at=T)).health == "none"


def test_a_skipped_delivery_is_not_an_attempt_and_waits_for_the_pause():
    result = step(Outcome("k", None, skipped=True, blocked_for=30.0, finished_at=T))
    assert result.attempt is None and result.state == "pending"
    assert result.next_at >= T + 30


def test_a_skipped_delivery_is_due_when_the_endpoint_can_take_it_not_at_the_next_whole_second():
    """Not an attempt, so nothing to round up for: a busy endpoint's excess is due when its lanes
    are expected to be free (here 0.7 s), never sooner than half a second."""
    assert step(Outcome("k", None, skipped=True, blocked_for=0.7, finished_at=T)).next_at == T + 0.7
    assert step(Outcome("k", None, skipped=True, blocked_for=0.0, finished_at=T)).next_at == T + 0.5


def test_a_released_delivery_is_due_again_at_once():
    result = step(Outcome("k", None, skipped=True, released=True, finished_at=T))
    assert result.attempt is None and result.next_at <= T


def test_an_accepted_email_is_delivered():
    assert step(Outcome("k", None, finished_at=T)).state == "delivered"
    assert step(Outcome("k", None, error="SMTP down", finished_at=T)).state == "pending"


def test_failed_to_prepare_is_final():
    result = lifecycle.failed_to_prepare("template broken")
    assert result.state == "failed" and result.attempt == "failed" and result.error == "template broken"


def test_cooldown_starts_at_30_s_doubles_and_stops_at_15_min():
    lengths = [lifecycle.next_cooldown(0)]
    for _ in range(8):
        lengths.append(lifecycle.next_cooldown(lengths[-1]))
    assert lengths[:4] == [30, 60, 120, 240]
    assert max(lengths) == 900
