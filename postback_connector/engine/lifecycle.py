"""A delivery's life as a small state machine: from one outcome, what happens next.

Pure functions over plain values (no clock reads, no I/O), in the manner of
OCA queue_job's ``set_done`` / ``postpone`` / ``set_failed``::

    pending --2xx--------------------------> delivered
    pending --410--------------------------> failed (trigger disabled)
    pending --other answer / no answer-----> pending (next step of the schedule)
                                         \\-> failed (schedule used up, or no Retry on Failure)
    pending --not attempted (skipped)------> pending (endpoint paused / runner out of time;
                                                      no attempt counted)
    pending --cannot be prepared-----------> failed (template error, payload too large)

``next_step`` returns a ``Step``: the next state, whether an attempt row is
written (and its outcome), when to try next (epoch seconds, rounded *up* to
the second so a retry never goes out before its Retry-After or schedule
step), the error to show, and the health signal for the endpoint.
"""

import math
import random
from dataclasses import dataclass

from . import retry
from .http import TRIPPING_KINDS

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
#: Health signals: the endpoint answered / did not answer in time or could
#: not be reached (trips the breaker) / answered something unusable fast /
#: no information (not attempted, or not an HTTP endpoint problem).
UP, DOWN, ERROR, NONE = "up", "down", "error", "none"
#: Shortest wait of a delivery postponed because its endpoint is paused or busy.
MIN_POSTPONE = 0.5
#: First and longest pause of an endpoint that keeps timing out or refusing.
COOLDOWN_SECONDS = 30.0
MAX_COOLDOWN_SECONDS = 900.0


@dataclass(frozen=True)
class Step:
    state: str
    #: outcome of the attempt row ("delivered", "retry", "failed"); None: not an attempt.
    attempt: str | None
    #: epoch seconds of the next try (pending only).
    next_at: float | None
    error: str | None
    health: str = NONE
    #: the receiver answered 410 Gone: disable the trigger.
    gone: bool = False
    #: the receiver's status when the error is "it answered HTTP <status>".
    error_status: int | None = None


def _at(finished, delay):
    """Epoch second of the next try: rounded up, so never early; a delay of 0 is "now"."""
    return math.ceil(finished + delay) if delay > 0 else math.floor(finished)


def _up_or_down(outcome):
    return DOWN if outcome.error_kind in TRIPPING_KINDS else UP


def next_step(outcome, *, retries_done, schedule, retry_on_failure, jitter=0.1, rng=random):
    """The step after ``outcome`` (an ``http.Outcome``) of a delivery that failed ``retries_done`` times."""
    finished = outcome.finished_at
    if outcome.skipped:
        # Not an attempt, so no Retry-After or schedule step to honour: due exactly when the
        # endpoint is expected to take it (a busy endpoint's lanes free, its pause over).
        if outcome.released:
            return Step(PENDING, None, math.floor(finished), None, NONE)
        return Step(PENDING, None, finished + max(MIN_POSTPONE, outcome.blocked_for), None, NONE)
    status = outcome.status
    if status is None and not outcome.error:  # an email accepted by the SMTP server
        return Step(DELIVERED, DELIVERED, None, None, NONE)
    verdict = retry.classify(status, outcome.error)
    if verdict == "delivered":
        return Step(DELIVERED, DELIVERED, None, None, _up_or_down(outcome))
    if verdict == "gone":
        return Step(FAILED, FAILED, None, None, UP, gone=True, error_status=410)
    if status is not None:
        health = _up_or_down(outcome)
    elif outcome.error_kind in TRIPPING_KINDS:
        health = DOWN
    elif outcome.error_kind in ("protocol", "unexpected"):
        health = ERROR
    else:
        health = NONE  # refused by the address policy, invalid header: nothing about the endpoint
    error = outcome.error
    error_status = None if error else status
    delay = None
    if retry_on_failure:
        retry_after = None
        if outcome.retry_after and retry.honours_retry_after(status):
            retry_after = retry.parse_retry_after(outcome.retry_after, finished)
        delay = retry.next_delay(retries_done + 1, schedule, retry_after, jitter=jitter, rng=rng)
    if delay is None:
        return Step(FAILED, FAILED, None, error, health, error_status=error_status)
    return Step(PENDING, "retry", _at(finished, delay), error, health, error_status=error_status)


def failed_to_prepare(error):
    """The step of a delivery that cannot be rendered or sent at all (final)."""
    return Step(FAILED, FAILED, None, error, NONE)


def next_cooldown(previous):
    """Length of an endpoint's next pause: 30 s, doubling while it keeps failing, at most 15 min."""
    if not previous or previous <= 0:
        return COOLDOWN_SECONDS
    return min(MAX_COOLDOWN_SECONDS, max(COOLDOWN_SECONDS, previous * 2))
