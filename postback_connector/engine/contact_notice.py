"""When the customer's technical contact is told that a trigger keeps failing.

A pure decision over plain values (no clock reads, no I/O). A trigger's
*failing spell* starts at its first failure (``failing_since``) and ends when
a delivery gets through or the trigger is re-enabled. Within one spell the
contact gets at most::

    failing_since + notice_after ............ FAILING  "your postbacks are failing"
    disable_at - warn_before ................ WARNING  "they will be disabled on …"
    disable_at = failing_since + disable_after  (the trigger is disabled: told by the caller)

Nothing is sent before ``notice_after`` (a short outage tells nobody). When the
warning is already due by then (a warning period as long as the disable
delay) only the warning goes out: it says all the first notice would.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

FAILING, WARNING = "failing", "warning"


@dataclass(frozen=True)
class NoticePolicy:
    """The three periods of a failing spell (``timedelta``); ``warn_before`` 0: no warning."""

    notice_after: timedelta
    warn_before: timedelta
    disable_after: timedelta

    @classmethod
    def from_hours(cls, notice_after_hours, warn_before_hours, disable_after_days):
        return cls(
            notice_after=timedelta(hours=max(0.0, float(notice_after_hours))),
            warn_before=timedelta(hours=max(0.0, float(warn_before_hours))),
            disable_after=timedelta(days=max(0, int(disable_after_days))),
        )

    def disable_at(self, failing_since):
        """When a trigger failing since ``failing_since`` is disabled (if still failing)."""
        return failing_since + self.disable_after

    def earliest_failing_since(self, now):
        """Spells that started at or before this may have a notice due at ``now``."""
        return now - self.notice_after

    def warning_failing_since(self, now):
        """Spells that started at or before this are within the warning period at ``now``."""
        return now - self.disable_after + self.warn_before


def due_notice(policy, now, failing_since, *, failure_sent, warning_sent):
    """The notice to send at ``now`` for a spell that began at ``failing_since``: FAILING, WARNING or None."""
    if failing_since is None or failing_since > policy.earliest_failing_since(now):
        return None
    if policy.warn_before and not warning_sent and failing_since <= policy.warning_failing_since(now):
        return WARNING
    if not failure_sent and not warning_sent:
        return FAILING
    return None


def public_url(url):
    """``url`` as it may be shown outside: no query string or fragment (they may carry tokens)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    hidden = "?…" if parts.query or parts.fragment else ""
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = "[%s]" % netloc
    try:
        port = parts.port
    except ValueError:
        port = None
    if port:
        netloc = "%s:%s" % (netloc, port)
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + hidden
