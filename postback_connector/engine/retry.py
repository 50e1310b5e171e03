"""When to try a postback again.

A schedule is a tuple of delays in seconds: entry ``n`` is the wait before
attempt ``n + 1``, so the first entry (normally 0) is the wait before the
first attempt. Once every entry has been used the delivery is given up.

Outcome classes:

* ``delivered``: any 2xx answer;
* ``gone``: 410, the receiver says the endpoint no longer exists, so
  retrying is pointless;
* ``retry``: everything else: network errors and timeouts, 3xx (redirects
  are not followed, so the message did not arrive), other 4xx (often a
  fixable configuration problem on the receiver's side), 429 and 5xx.

Retry-After is honoured only on 429 and 503, the statuses for which HTTP
defines it as "come back later"; it can lengthen a wait, never shorten it.
"""

import math
import random
import re
from datetime import UTC
from email.utils import parsedate_to_datetime

from ._values import EngineMessage, _lt

DEFAULT_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
#: Longest Retry-After honoured, in seconds (a day).
MAX_RETRY_AFTER = 24 * 3600
#: Longest single delay accepted in a schedule, in seconds (a week).
MAX_DELAY = 7 * 24 * 3600
#: Most attempts a schedule may describe.
MAX_ATTEMPTS = 50

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DELAY_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)
_RETRY_AFTER_STATUSES = frozenset({429, 503})


class ScheduleError(EngineMessage, ValueError):
    """A retry schedule that cannot be used, its merchant sentence carried by code."""


def parse_schedule(text):
    """Parse "0, 5s, 5m, 30m, 2h" (units s, m, h, d; bare numbers are seconds)."""
    items = [item for item in re.split(r"[,;\s]+", (text or "").strip()) if item]
    if not items:
        raise ScheduleError(_lt("The retry schedule is empty; enter delays such as: 0, 5s, 5m, 30m, 2h"))
    if len(items) > MAX_ATTEMPTS:
        raise ScheduleError(_lt("The retry schedule can have at most %(limit)s attempts"), {"limit": MAX_ATTEMPTS})
    delays = []
    for item in items:
        match = _DELAY_RE.fullmatch(item)
        if not match:
            raise ScheduleError(
                _lt("'%(item)s' is not a valid delay in the retry schedule; use a number followed by "
                    "s, m, h or d, for example 30m"),
                {"item": item},
            )
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
        if seconds > MAX_DELAY:
            raise ScheduleError(
                _lt("The delay '%(item)s' in the retry schedule is longer than the 7 day maximum"), {"item": item}
            )
        delays.append(round(seconds))
    return tuple(delays)


def format_schedule(schedule):
    """The text form of a schedule, using the largest exact unit per delay."""
    parts = []
    for delay in schedule:
        seconds = int(delay)
        if seconds == 0:
            parts.append("0")
            continue
        for unit in ("d", "h", "m", "s"):
            if seconds % _UNITS[unit] == 0:
                parts.append(f"{seconds // _UNITS[unit]}{unit}")
                break
    return ", ".join(parts)


def parse_retry_after(value, now):
    """Seconds to wait from a Retry-After header, or None.

    Accepts delta-seconds and HTTP dates; a date in the past gives 0 and
    anything above a day is capped so a receiver cannot park a delivery
    for weeks. Garbage gives None (as if the header was absent).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    else:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:  # HTTP dates are GMT by definition
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return float(min(max(seconds, 0.0), MAX_RETRY_AFTER))


def next_delay(attempts_done, schedule, retry_after=None, jitter=0.1, rng=random):
    """Seconds to wait before the next attempt, or None when giving up.

    ``attempts_done`` is the number of attempts already made (0 before the
    first). Jitter spreads retries of many deliveries that failed together
    by up to ``jitter`` of the delay, always later (a retry never goes out
    before its schedule step); a ``retry_after`` is a lower bound.
    """
    if attempts_done < 0:
        raise ValueError("attempts_done cannot be negative")
    if attempts_done >= len(schedule):
        return None
    delay = float(schedule[attempts_done])
    if delay and jitter:
        delay *= 1.0 + rng.uniform(0.0, jitter)
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return max(delay, 0.0)


def classify(status, error=None):
    """Classify one attempt as "delivered", "gone" or "retry".

    The status decides when there is one: a receiver that answered 2xx got
    the message even if reading the rest of its answer failed. ``error``
    only matters when there is no status, and then always means retry.
    """
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    return "retry"


def honours_retry_after(status):
    """True for the statuses whose Retry-After header is respected."""
    return status in _RETRY_AFTER_STATUSES
