# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The delivery runner: the cron that empties the postback queue.

One delivery is the unit of failure. A cron call is a pipeline, not a
sequence of batches:

1. **Claim** due deliveries (``FOR NO KEY UPDATE SKIP LOCKED``), render the
   ones without a payload, and take a *lease* on them: ``next_attempt_at``
   moves past the end of this call and ``claim_token`` names this runner
   (its PostgreSQL backend pid). Committed before anything is sent, so the
   exact body and the webhook-id are durable, and no other runner takes the
   rows while this one holds them.
2. **Send** them through the channel layer (``engine.http.HttpSender``:
   per-request absolute deadlines, per-endpoint lanes, circuit breaker;
   emails in the same pool through Odoo's mail on their own cursor).
3. **Record** outcomes as they come (every ~25 ms), each turned into the
   next state by ``engine.lifecycle.next_step``, with a fixed number of
   statements and a commit: a killed worker resends at most what was in
   flight. A row that cannot be written falls back to row by row; it never
   rolls back the others.
4. Claim more while the call's time budget lasts; work not started by the
   end is released untouched (no attempt). A request only starts if it can
   end inside the call's hard limit, well under ``limit_time_real_cron``.

A killed runner's leases are released by the next call as soon as its
backend is gone (``pg_stat_activity``), else when the lease ends. Endpoint
health is persisted in ``postback.endpoint``; a paused endpoint's waiting
deliveries are postponed in one statement, without attempt rows. The cron
is woken for the next due retry (``ir.cron._trigger(at=…)`` and a timer that
notifies the cron workers), so retries go out on time on an idle queue.
"""
import logging
import queue
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg2

import odoo
from odoo import _, api, fields, models, tools
from odoo.service import server as odoo_server
from odoo.tools import SQL

from .. import compat
from ..engine import http as engine_http
from ..engine import lifecycle, render, retry
from .postback_endpoint import SLOT_TOLERANCE, THROTTLE_HORIZON

_logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
#: Seconds one call keeps claiming new work.
DEFAULT_TIME_BUDGET = 20
#: Longest request (trigger timeout) and email the call may still have to wait for.
MAX_REQUEST_SECONDS = 60
SMTP_SECONDS = 60
#: A lease outlives the call's hard end by this much (clock skew, slow commit).
LEASE_GRACE = 10
#: Seconds between two writes of finished outcomes.
WRITE_INTERVAL = 0.025
#: Seconds between two claims that found nothing (while other work is in flight).
EMPTY_CLAIM_PAUSE = 0.2
DEFAULT_MAX_WORKERS = 16
DEFAULT_PER_HOST = 8
EMAIL_LANES = 2
DEFAULT_MAX_PAYLOAD_KB = 512
DEFAULT_RETENTION_DAYS = 30
DEFAULT_DISABLE_AFTER_DAYS = 5
CLAIM_ATTEMPTS = 5  # claims retried after a concurrent-update conflict with another runner
RESPONSE_BODY_LIMIT = 4096
RESPONSE_HEADERS_LIMIT = 4096
ERROR_LIMIT = 2000
PARAM_PREFIX = "postback_connector."
# Planner settings of the claim statement (see _claim_due_batch).
CLAIM_SETTINGS = "SET LOCAL jit = off; SET LOCAL enable_sort = off"
EMAIL_ORIGIN = ("smtp", "odoo", 0)
#: Seconds between two writes of endpoint health (sooner when an endpoint goes down).
HEALTH_INTERVAL = 1.0
THROTTLED_ERROR = "Not attempted yet: the endpoint's rate limit; queued for its next free slot"
#: Retries further away than this are left to the cron's regular interval.
WAKE_HORIZON = 3600

_wake_lock = threading.Lock()
_wake_timers = {}  # dbname -> (epoch, Timer)


def _keep_first(firsts, key, at):
    """``firsts[key]`` becomes the earlier of what it holds and ``at``."""
    kept = firsts.get(key)
    firsts[key] = at if kept is None else min(kept, at)


def _utc(epoch):
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


class PostbackDelivery(models.Model):
    _inherit = "postback.delivery"

    # ------------------------------------------------------------------
    # Cron entry points
    # ------------------------------------------------------------------
    @api.model
    def _cron_send_due_deliveries(self, batch_size=None, time_budget=None):
        """Send due deliveries until the queue is empty or the time budget is spent."""
        settings = self._get_runner_settings()
        budget = DEFAULT_TIME_BUDGET if time_budget is None else time_budget
        run = _Run(self, settings, batch_size or settings["batch_size"], budget)
        done = run.run()
        # Always "fully done" for ir.cron: a call bounds its own time, and more work
        # is scheduled by _schedule_wake (Odoo would otherwise call it again and
        # again inside one job, past limit_time_real_cron).
        compat.cron_report_done(self.env, done)
        return done

    @api.model
    def _cron_purge_old_deliveries(self):
        """Delete delivered rows (and their attempts) older than the retention period."""
        days = self._get_int_param("retention_days", DEFAULT_RETENTION_DAYS)
        if days <= 0:
            return 0
        limit_date = fields.Datetime.now() - timedelta(days=days)
        self.env.cr.execute(
            SQL(
                "DELETE FROM postback_delivery WHERE state = 'delivered' AND delivered_at < %s",
                limit_date,
            )
        )
        purged = self.env.cr.rowcount
        # Events whose deliveries are all gone are history nobody can act on any more.
        self.env.cr.execute(
            SQL(
                "DELETE FROM postback_event e WHERE e.occurred_at < %s AND NOT EXISTS "
                "(SELECT 1 FROM postback_delivery d WHERE d.event_id = e.id)",
                limit_date,
            )
        )
        self.env.invalidate_all()
        _logger.info("Purged %s delivered postbacks older than %s days", purged, days)
        return purged

    # ------------------------------------------------------------------
    # Claiming work
    # ------------------------------------------------------------------
    @api.model
    def _due_query(self, ordered, select, limit=None, lock=False, skip_endpoints=()):
        """Due deliveries of active triggers whose endpoint is not paused, respecting
        per-order ordering.

        Shaped so PostgreSQL walks the partial index ``postback_delivery_due_idx`` in
        order and stops after ``limit`` rows: the trigger, endpoint and ordering checks
        are scalar sub-queries (index probes per candidate), not joins that would make
        the planner read and sort every pending row first (400 ms instead of 3 ms with
        a backlog of 100,000). Deliveries of inactive triggers are "held", out of that
        index; those of a paused endpoint are postponed past the pause.
        """
        # To the microsecond (fields.Datetime.now() drops them): a delivery postponed by a
        # fraction of a second is due then, not at the next whole second.
        now = _utc(time.time())
        ordering = SQL(
            " AND (d.order_id IS NULL OR (SELECT o.id FROM postback_delivery o WHERE o.state = 'pending'"
            " AND o.trigger_id = d.trigger_id AND o.order_id = d.order_id AND o.id < d.id LIMIT 1) IS NULL)"
        ) if ordered else SQL()
        return SQL(
            "SELECT %s FROM postback_delivery d"
            " WHERE d.state = 'pending' AND d.next_attempt_at <= %s"
            " AND (SELECT t.state = 'active' AND t.active AND COALESCE((SELECT e.cooldown_until IS NULL"
            " OR e.cooldown_until <= %s FROM postback_endpoint e WHERE e.id = t.endpoint_id), TRUE)"
            " FROM postback_trigger t WHERE t.id = d.trigger_id)"
            "%s%s%s%s",
            select,
            # The caller's clock, not the transaction start: a long-lived transaction
            # (a test, a long batch loop) must still see deliveries that became due.
            now,
            now,
            # Endpoints this runner knows are down or saturated right now: not claimed again.
            SQL(" AND (SELECT COALESCE(t.endpoint_id, 0) FROM postback_trigger t WHERE t.id = d.trigger_id)"
                " <> ALL(%s)", list(skip_endpoints)) if skip_endpoints else SQL(),
            ordering,
            SQL(" ORDER BY d.next_attempt_at, d.id LIMIT %s", limit) if limit else SQL(),
            SQL(" FOR NO KEY UPDATE OF d SKIP LOCKED") if lock else SQL(),
        )

    @api.model
    def _claim_due_batch(self, limit, ordered=True, skip_endpoints=()):
        """Lock up to ``limit`` due deliveries that no other runner holds.

        Odoo transactions are REPEATABLE READ: locking a row that another runner
        updated (leased, delivered) and committed after this transaction's snapshot
        raises a serialization failure instead of skipping the row. Where the runner
        may commit it retries in a new transaction (a fresh snapshot); nothing is lost.
        """
        self.env.flush_all()
        query = self._due_query(ordered, SQL("d.id"), limit=limit, lock=True, skip_endpoints=skip_endpoints)
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            try:
                with self.env.cr.savepoint(flush=False):
                    # A short OLTP query: JIT compilation alone would cost 150 ms once a
                    # backlog makes the estimate large, and a sort would read every
                    # pending row instead of walking the due index up to ``limit``.
                    self.env.cr.execute(SQL(CLAIM_SETTINGS))
                    self.env.cr.execute(query, log_exceptions=False)
                    ids = [row[0] for row in self.env.cr.fetchall()]
                    self.env.cr.execute(SQL("SET LOCAL jit = DEFAULT; SET LOCAL enable_sort = DEFAULT"))
                    return self.browse(ids)
            except psycopg2.errors.SerializationFailure:
                if not self._may_commit():
                    raise
                self.env.cr.commit()  # pylint: disable=invalid-commit
                if attempt < CLAIM_ATTEMPTS:
                    time.sleep(random.uniform(0.005, 0.02) * attempt)
        _logger.info("Postback runner: no batch claimed after %s concurrent-update conflicts", CLAIM_ATTEMPTS)
        return self.browse()

    @api.model
    def _count_due(self, ordered=True):
        self.env.cr.execute(self._due_query(ordered, SQL("count(*)")))
        return self.env.cr.fetchone()[0]

    @api.model
    def _release_orphans(self):
        """Leases of runners whose database session is gone (a killed worker): due now."""
        self.env.flush_all()
        self.env.cr.execute(SQL(
            "UPDATE postback_delivery SET next_attempt_at = %s, claim_token = NULL"
            " WHERE claim_token IS NOT NULL AND state = 'pending'"
            " AND split_part(claim_token, ':', 1)::int NOT IN (SELECT pid FROM pg_stat_activity)",
            fields.Datetime.now()))
        released = self.env.cr.rowcount
        if released:
            self.invalidate_model(["next_attempt_at", "claim_token"])
            _logger.info("Postback runner: %s deliveries of a stopped runner are due again", released)
        return released

    def _commit_progress(self):
        """Commit so finished work survives a crash of this worker.

        Not in tests: the test cursor must stay rolled back.
        """
        if not self._may_commit():
            self.env.flush_all()
            return
        self.env.cr.commit()  # pylint: disable=invalid-commit

    def _may_commit(self):
        return not (tools.config["test_enable"] or self.env.context.get("postback_no_commit"))

    # ------------------------------------------------------------------
    # Writing outcomes
    # ------------------------------------------------------------------
    def _write_batch(self, updates, attempts, token):
        """Write states and attempt rows; a row that cannot be written never loses the others."""
        if not updates and not attempts:
            return
        cr = self.env.cr
        try:
            with cr.savepoint(flush=False):
                self._write_rows(updates, attempts, token)
        except psycopg2.Error:
            _logger.warning("Postback runner: writing %s outcomes failed; writing them one by one",
                            len(updates), exc_info=True)
            by_id = {row[0]: [] for row in updates}
            for row in attempts:
                by_id.setdefault(row[0], []).append(row)
            updates_by_id = {row[0]: row for row in updates}
            for delivery_id, rows in by_id.items():
                update = updates_by_id.get(delivery_id)
                try:
                    with cr.savepoint(flush=False):
                        self._write_rows([update] if update else [], rows, token)
                    continue
                except psycopg2.Error as error:
                    reason = _("The outcome could not be stored (%s); the receiver's answer was dropped.",
                               type(error).__name__)
                try:
                    with cr.savepoint(flush=False):
                        self._write_rows(
                            [(*update[:8], reason)] if update else [],
                            [(*row[:5], reason, None, None) for row in rows],
                            token,
                        )
                except psycopg2.Error:
                    _logger.exception("Postback runner: delivery %s could not be recorded", delivery_id)
        # Raw SQL: the ORM cache of these rows is stale now.
        self.invalidate_model()
        self.env["postback.delivery.attempt"].invalidate_model()

    def _write_rows(self, updates, attempts, token):
        cr = self.env.cr
        uid = self.env.uid
        if updates:
            # Only rows this runner still holds (a user may have cancelled or resent one).
            cr.execute_values(
                _values_update_sql(uid, token),
                updates,
                template="(%s, %s, %s, %s, %s::timestamp, %s::timestamp, %s::timestamp, %s::int, %s::text)",
                page_size=1000,
            )
        if attempts:
            cr.execute_values(
                """
                INSERT INTO postback_delivery_attempt
                    (delivery_id, attempted_at, duration_ms, status_code, outcome, error,
                     response_headers, response_body, create_uid, write_uid, create_date, write_date)
                VALUES %s
                """,
                [(*row, uid, uid) for row in attempts],
                template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC'))",
                page_size=1000,
            )

    # ------------------------------------------------------------------
    # Email channel
    # ------------------------------------------------------------------
    def _send_email(self, body, document=None):
        """Send one email delivery now, on this cursor; return an engine Outcome."""
        self.ensure_one()
        return self.trigger_id._send_email_now(
            self.id, body, document if document is not None else self.event_id._get_data(), self.webhook_id)

    @api.model
    def _email_job(self, delivery_id, trigger_id, webhook_id, body, document, *, latest_start):
        """A CallJob sending one email on its own cursor (in a sender thread)."""
        registry, uid, context = self.env.registry, self.env.uid, dict(self.env.context)

        def send():
            start = time.monotonic()
            try:
                with registry.cursor() as cr:
                    env = api.Environment(cr, uid, context)
                    return env["postback.trigger"].browse(trigger_id)._send_email_now(
                        delivery_id, body, document, webhook_id)
            except Exception as exc:  # noqa: BLE001 - e.g. the database went away: recorded as the error
                return engine_http.Outcome(
                    key=delivery_id, status=None, duration_ms=(time.monotonic() - start) * 1000,
                    error=engine_http.clean_text(str(exc) or type(exc).__name__, ERROR_LIMIT))

        return engine_http.CallJob(key=delivery_id, origin=EMAIL_ORIGIN, fn=send, latest_start=latest_start)

    def _register_hook(self):
        """After a restart, hand the leftovers of a killed runner to the cron at once
        (not when their lease ends, nor at the cron's next interval)."""
        result = super()._register_hook()
        # Only in a serving Odoo (not under tests, odoo-bin shell, scripts or -i/-u runs).
        serving = odoo_server.server is not None and "pytest" not in sys.modules
        if serving and not tools.config["test_enable"] and not tools.config.get("stop_after_init"):
            timer = threading.Timer(2.0, _wake_for_leftovers, args=(self.env.cr.dbname,))
            timer.daemon = True
            timer.name = "postback-restart"
            timer.start()
        return result

    # ------------------------------------------------------------------
    # Waking up for the next retry
    # ------------------------------------------------------------------
    @api.model
    def _schedule_wake(self, may_commit):
        """Make sure the cron runs when the next pending delivery is due."""
        self.env.flush_all()
        self.env.cr.execute(SQL(
            "SELECT min(next_attempt_at) FROM postback_delivery WHERE state = 'pending'"))
        next_at = self.env.cr.fetchone()[0]
        if not next_at:
            return None
        now = fields.Datetime.now()
        if next_at < now + timedelta(seconds=1):
            # Due now (the budget ended with work left): run again in a moment. A
            # trigger at "now" would be deleted by ir.cron when this job ends.
            next_at = now + timedelta(seconds=1)
        elif next_at > now + timedelta(seconds=WAKE_HORIZON):
            return None
        cron = self.env.ref("postback_connector.ir_cron_send_deliveries", raise_if_not_found=False)
        if not cron:
            return None
        cron = cron.sudo()
        self.env.cr.execute(SQL(
            "SELECT 1 FROM ir_cron_trigger WHERE cron_id = %s AND call_at > %s AND call_at <= %s LIMIT 1",
            cron.id, now, next_at))
        if not self.env.cr.fetchone():
            cron._trigger(next_at)
        if may_commit:
            # ir.cron notifies its workers only of triggers due now; this wakes them
            # when the retry is due (a dead process loses it: the trigger row remains).
            _wake_later(self.env.cr.dbname, next_at.replace(tzinfo=UTC).timestamp())
        return next_at

    # ------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------
    @api.model
    def _get_int_param(self, key, default):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + key)
        try:
            return int(value) if value not in (None, False, "") else default
        except ValueError:
            return default

    @api.model
    def _get_runner_settings(self):
        params = self.env["ir.config_parameter"].sudo()
        try:
            schedule = retry.parse_schedule(params.get_param(PARAM_PREFIX + "retry_schedule") or "")
        except ValueError:
            schedule = retry.DEFAULT_SCHEDULE
        return {
            "batch_size": self._get_int_param("batch_size", DEFAULT_BATCH_SIZE),
            "max_workers": self._get_int_param("max_workers", DEFAULT_MAX_WORKERS),
            "per_host": self._get_int_param("per_host", DEFAULT_PER_HOST),
            "max_payload": self._get_int_param("max_payload_kb", DEFAULT_MAX_PAYLOAD_KB) * 1024,
            "disable_after_days": self._get_int_param("disable_after_days", DEFAULT_DISABLE_AFTER_DAYS),
            "ordered": params.get_param(PARAM_PREFIX + "unordered_delivery") not in ("1", "True", "true"),
            "schedule": schedule or retry.DEFAULT_SCHEDULE,
            "check": self.env["postback.trigger"]._url_checker(),
        }


def _values_update_sql(uid, token):
    """The bulk UPDATE of delivery outcomes (psycopg2 ``execute_values`` text)."""
    token = str(token).replace("'", "''")
    return (
        "UPDATE postback_delivery AS d SET"
        " state = v.state, attempt_count = v.attempt_count, retry_count = v.retry_count,"
        " next_attempt_at = v.next_at, last_attempt_at = v.last_at, delivered_at = v.delivered_at,"
        " last_status_code = COALESCE(v.status, d.last_status_code),"
        " last_error = CASE WHEN v.state = 'delivered' THEN NULL ELSE COALESCE(v.error, d.last_error) END,"
        " claim_token = NULL, write_date = (now() AT TIME ZONE 'UTC'), write_uid = %d"
        " FROM (VALUES %%s) AS v(id, state, attempt_count, retry_count, next_at, last_at,"
        " delivered_at, status, error)"
        " WHERE d.id = v.id AND d.claim_token = '%s'" % (int(uid), token)
    )


def _wake_later(dbname, epoch):
    """Notify the cron workers of ``dbname`` at ``epoch`` (one timer per database)."""
    with _wake_lock:
        current = _wake_timers.get(dbname)
        if current and current[1].is_alive() and current[0] <= epoch + 0.05:
            return
        if current:
            current[1].cancel()
        timer = threading.Timer(max(0.0, epoch - time.time()), _notify_cron_workers, args=(dbname,))
        timer.daemon = True
        timer.name = "postback-wake"
        _wake_timers[dbname] = (epoch, timer)
        timer.start()


def _wake_for_leftovers(dbname):
    """Release the leases of runners that are gone and wake the delivery cron if work is due."""
    try:
        registry = odoo.modules.registry.Registry(dbname)
        with registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            deliveries = env["postback.delivery"]
            released = deliveries._release_orphans()
            if released or deliveries._count_due():
                for cron in deliveries._get_runner_crons():
                    cron._trigger()
            else:
                # Nothing due now: wake this server's cron workers when the next retry is.
                deliveries._schedule_wake(True)
    except Exception:
        _logger.warning("Postback runner: could not check for leftovers after start", exc_info=True)


def _notify_cron_workers(dbname):
    from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION  # noqa: PLC0415

    try:
        with odoo.sql_db.db_connect("postgres").cursor() as cr:
            cr.execute(SQL("SELECT %s('cron_trigger', %s)", SQL.identifier(ODOO_NOTIFY_FUNCTION), dbname))
    except Exception:
        _logger.warning("Postback runner: could not wake the cron workers", exc_info=True)


def _mask(text, secrets):
    """``text`` without the trigger's header values (see postback.trigger._header_secrets)."""
    if text and secrets:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "••••••")
    return text


def _bounded_headers(headers):
    text = "\n".join("%s: %s" % item for item in (headers or {}).items())
    return text[:RESPONSE_HEADERS_LIMIT]


class _Run:
    """One cron call: claim, send, record, until the budget is spent or nothing is due."""

    def __init__(self, model, settings, batch_size, budget):
        self.model = model
        self.env = model.env
        self.settings = settings
        self.batch_size = max(1, int(batch_size))
        self.may_commit = model._may_commit()
        started = time.monotonic()
        self.claim_until = started + max(0.0, float(budget))
        hard = max(0.0, float(budget)) + MAX_REQUEST_SECONDS + 2
        limit = tools.config.get("limit_time_real_cron") or -1
        if limit <= 0:
            limit = tools.config.get("limit_time_real") or 0
        if limit > 0:
            hard = min(hard, limit * 0.9)
        self.hard_end = started + hard
        self.lease_seconds = hard + LEASE_GRACE
        self.env.cr.execute("SELECT pg_backend_pid()")
        self.token = "%s:%s" % (self.env.cr.fetchone()[0], uuid.uuid4().hex[:16])
        self.inflight = {}  # delivery id -> dict
        self.triggers = {}  # trigger id -> dict (request factory, endpoint, retry flag...)
        self.origins = {}  # endpoint id -> origin
        self.samples = {}  # endpoint id -> health sample not written yet
        self.trigger_signals = {"delivered": set(), "failed": {}, "gone": {}}
        self.rng = random.Random()
        self.buffer = []
        self.done = 0
        self.sender = None
        self.lease_wake = False
        self.health_written = 0.0
        self.health_pool = None
        self.health_future = None

    # -- main loop ---------------------------------------------------------------

    def run(self):
        model = self.model
        model._release_orphans()
        settings = self.settings
        self.sender = engine_http.HttpSender(
            max_workers=settings["max_workers"], per_host=settings["per_host"],
            max_body=RESPONSE_BODY_LIMIT, check=settings["check"],
            cooldown=lifecycle.COOLDOWN_SECONDS,
        )
        self.sender.set_host_limit(EMAIL_ORIGIN, EMAIL_LANES)
        try:
            self._loop()
            self._commit_and_flush(force=True)
        except Exception:
            # Nothing more may start; what is running ends by its deadline. The leases
            # of what was claimed make it due again (same body, same webhook-id).
            self.sender.cancel_queued()
            raise
        finally:
            if self.health_pool is not None:
                self.health_pool.shutdown(wait=True)
            self.sender.close()
        model._schedule_wake(self.may_commit)
        return self.done

    def _loop(self):
        claiming = True
        last_empty_claim = 0.0
        last_write = 0.0
        low_water = max(1, self.batch_size // 2)
        while True:
            now = time.monotonic()
            outcomes = self._drain()
            wrote = False
            if claiming and now >= self.claim_until:
                claiming = False
                outcomes.extend(self.sender.cancel_queued())
            if outcomes:
                self._record(outcomes)
                wrote = True
                last_write = now
            claimed = 0
            # Requests waiting for a rate-limited endpoint's slot, and those stuck on an endpoint
            # that is not moving (up to a batch of them), do not hold up the claims of the others.
            stalled = min(self.sender.stalled, self.batch_size)  # every one of them is in self.inflight
            if claiming and len(self.inflight) - self.sender.delayed - stalled <= low_water and (
                wrote or not self.inflight or now - last_empty_claim >= EMPTY_CLAIM_PAUSE
            ):
                claimed = self._claim_and_send(self.batch_size - len(self.inflight) + stalled)
                if not claimed:
                    last_empty_claim = now
                    if not self.inflight:
                        self._commit_and_flush()
                        return
            if wrote:
                self._commit_and_flush()
            if not self.inflight:
                if not claiming:
                    return
                continue
            # Wait for outcomes, grouping those that finish close together.
            self._wait(max(0.0, last_write + WRITE_INTERVAL - time.monotonic()), claiming)

    def _drain(self):
        outcomes, self.buffer = self.buffer, []
        results = self.sender.results
        while True:
            try:
                outcomes.append(results.get_nowait())
            except queue.Empty:
                return outcomes

    def _wait(self, group_for, claiming):
        timeout = EMPTY_CLAIM_PAUSE if claiming else 1.0
        if claiming:
            timeout = min(timeout, max(0.001, self.claim_until - time.monotonic()))
        try:
            self.buffer.append(self.sender.results.get(timeout=timeout))
        except queue.Empty:
            return
        if group_for > 0:
            time.sleep(group_for)

    # -- claiming ------------------------------------------------------------------

    def _claim_and_send(self, limit):
        model = self.model
        unavailable = self.sender.unavailable_origins()
        skip = [endpoint_id for endpoint_id, origin in self.origins.items() if origin in unavailable]
        batch = model._claim_due_batch(max(1, limit), self.settings["ordered"], skip_endpoints=skip)
        if not batch:
            return 0
        now_epoch = time.time()
        lease_end = _utc(now_epoch + self.lease_seconds)
        jobs, leases, failures = [], [], []
        documents, specs = {}, {}
        throttled = {}  # endpoint id -> (rate, its requests in claim order)
        max_payload = self.settings["max_payload"]
        for delivery in batch:
            trigger = delivery.trigger_id
            info = self._trigger_info(trigger)
            new_payload = None
            try:
                body = delivery.payload.encode() if delivery.payload else None
                if body is None:
                    event = delivery.event_id
                    if event.id not in documents:
                        documents[event.id] = event._get_data()
                    if trigger.id not in specs:
                        specs[trigger.id] = trigger.template_id._get_render_spec(trigger.payload_format)
                    body = model.env["postback.template"]._render_spec(specs[trigger.id], documents[event.id])
                    new_payload = body.decode()
                if len(body) > max_payload:
                    raise render.RenderError(
                        _("The payload is %(size)s KB, over the limit of %(limit)s KB.",
                          size=len(body) // 1024, limit=max_payload // 1024)
                    )
            except render.RenderError as error:
                failures.append((delivery, _("The template could not be rendered: %s", error)))
                continue
            except Exception as error:
                _logger.exception("Postback delivery %s could not be prepared", delivery.id)
                failures.append((delivery, _("Unexpected error while preparing: %s", error)))
                continue
            self.inflight[delivery.id] = {
                "secrets": info["secrets"],
                "trigger_id": trigger.id,
                "endpoint_id": info["endpoint_id"],
                "retry_on_failure": info["retry_on_failure"],
                "attempt_count": delivery.attempt_count,
                "retry_count": delivery.retry_count,
                "last_attempt_at": delivery.last_attempt_at,
                "email": info["email"],
            }
            leases.append((delivery.id, new_payload))
            if info["email"]:
                document = documents.get(delivery.event_id.id) or delivery.event_id._get_data()
                if self.may_commit:
                    jobs.append(model._email_job(
                        delivery.id, trigger.id, delivery.webhook_id, body, document,
                        latest_start=self.hard_end - SMTP_SECONDS))
                else:
                    jobs.append(("inline-email", delivery, body, document))
            else:
                request = info["factory"](delivery.id, body, delivery.webhook_id)
                request.latest_start = self.hard_end - request.timeout
                if info["rate"]:
                    throttled.setdefault(info["endpoint_id"], (info["rate"], []))[1].append(request)
                jobs.append(request)
        if self.may_commit and not self.lease_wake:
            # If this worker dies, its leases end then: make sure a cron runs at that time.
            self.lease_wake = True
            cron = self.env.ref("postback_connector.ir_cron_send_deliveries", raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger(lease_end + timedelta(seconds=1))
        # Failures are leased too: their outcome is written like any other.
        self._lease(leases + [(delivery.id, None) for delivery, _error in failures], lease_end)
        for delivery, error in failures:
            self.inflight[delivery.id] = {
                "trigger_id": delivery.trigger_id.id, "endpoint_id": None, "retry_on_failure": False,
                "attempt_count": delivery.attempt_count, "retry_count": delivery.retry_count,
                "last_attempt_at": delivery.last_attempt_at, "email": False, "final": error,
            }
            self.buffer.append(engine_http.Outcome(delivery.id, None, error=str(error)))
        # The lease and the exact bodies are durable before anything leaves.
        model._commit_progress()
        if throttled:
            # Booked after the commit, just before sending: a slot is not spent waiting for it.
            jobs = self._pace(jobs, throttled)
        for job in jobs:
            if isinstance(job, tuple):  # tests: the email goes out on this cursor
                _tag, delivery, body, document = job
                outcome = delivery._send_email(body, document)
                outcome.finished_at = time.time()
                self.buffer.append(outcome)
            else:
                self.sender.submit(job)
        return len(batch)

    def _pace(self, jobs, throttled):
        """Give the requests of rate-limited endpoints their sending slots (reserved in the
        database, so the rate holds across runners): each waits for its slot in the sender
        without holding a lane; those without a slot within the horizon go back to the queue
        untouched (no attempt), due when the endpoint's next slot is free."""
        horizon = min(THROTTLE_HORIZON, max(0.0, self.claim_until - time.monotonic()))
        grants = self.env["postback.endpoint"]._reserve_slots(
            {endpoint_id: (len(requests), rate) for endpoint_id, (rate, requests) in throttled.items()}, horizon,
            own_transaction=self.may_commit)
        postponed = set()
        for endpoint_id, (_rate, requests) in throttled.items():
            first, step, granted, next_free, anchor = grants.get(
                endpoint_id, (0.0, 0.0, len(requests), 0.0, time.monotonic()))
            for index, request in enumerate(requests):
                if index < granted:
                    # Sent inside its slot or not at all (then back to the queue, unsent).
                    request.not_before = anchor + first + index * step
                    request.slot_end = request.not_before + SLOT_TOLERANCE
                    request.latest_start = max(request.latest_start or 0.0, request.slot_end)
                else:
                    postponed.add(request.key)
                    self.buffer.append(engine_http.Outcome(
                        request.key, None, error=THROTTLED_ERROR, skipped=True, blocked_for=max(0.0, next_free)))
        return [job for job in jobs if isinstance(job, tuple) or job.key not in postponed] if postponed else jobs

    def _lease(self, leases, lease_end):
        if not leases:
            return
        self.env.cr.execute_values(
            "UPDATE postback_delivery AS d SET next_attempt_at = v.lease_end, claim_token = v.token,"
            " payload = COALESCE(v.payload, d.payload)"
            " FROM (VALUES %s) AS v(id, payload, lease_end, token) WHERE d.id = v.id",
            [(delivery_id, payload, lease_end, self.token) for delivery_id, payload in leases],
            template="(%s, %s, %s::timestamp, %s)", page_size=1000,
        )

    def _trigger_info(self, trigger):
        info = self.triggers.get(trigger.id)
        if info is None:
            endpoint = trigger.endpoint_id
            factory = None if trigger.channel == "email" else trigger._http_request_factory()
            info = {
                "endpoint_id": endpoint.id or None,
                "retry_on_failure": trigger.retry_on_failure,
                "email": trigger.channel == "email",
                "factory": factory,
                "rate": (endpoint.rate_limit or 0.0) if trigger.channel == "url" else 0.0,
                # The credentials of its requests (an OAuth2 token fetched by the sender's threads).
                "auth": getattr(factory, "auth", None),
                # A receiver may echo the request's headers: their values are secrets.
                "secrets": trigger._header_secrets(),
            }
            if endpoint:
                origin = engine_http.origin_of(trigger.url)
                self.origins[endpoint.id] = origin
                if endpoint.consecutive_failures:
                    # On probation: one request at a time until it answers again.
                    self.sender.set_host_limit(origin, 1)
            self.triggers[trigger.id] = info
        return info

    # -- recording -------------------------------------------------------------------

    def _record(self, outcomes):
        settings = self.settings
        now = fields.Datetime.now()
        updates, attempts = [], []
        signals = self.trigger_signals
        for outcome in outcomes:
            info = self.inflight.pop(outcome.key, None)
            if info is None:
                continue
            if info.get("final"):
                step = lifecycle.failed_to_prepare(info["final"])
            else:
                step = lifecycle.next_step(
                    outcome, retries_done=info["retry_count"], schedule=settings["schedule"],
                    retry_on_failure=info["retry_on_failure"], rng=self.rng)
            error = step.error
            if step.gone:
                error = _("The receiver answered 410 Gone: the trigger has been disabled.")
            elif error is None and step.error_status and step.state != lifecycle.DELIVERED:
                error = _("The receiver answered HTTP %s.", step.error_status)
            secrets = info.get("secrets")
            if error:
                error = engine_http.clean_text(_mask(str(error), secrets), ERROR_LIMIT)
            attempted = step.attempt is not None
            attempted_at = _utc(outcome.finished_at) if attempted else None
            attempt_count = info["attempt_count"] + (1 if attempted else 0)
            retry_count = info["retry_count"] + (1 if attempted and step.state != lifecycle.DELIVERED else 0)
            next_at = _utc(step.next_at) if step.next_at else now
            updates.append((
                outcome.key, step.state, attempt_count, retry_count, next_at,
                attempted_at or info["last_attempt_at"] or None,
                attempted_at if step.state == lifecycle.DELIVERED else None,
                (outcome.status or 0) if attempted else None, error,
            ))
            if attempted:
                self.done += 1
                attempts.append((
                    outcome.key, attempted_at, round(outcome.duration_ms, 2), outcome.status or 0,
                    step.attempt, error,
                    _mask(_bounded_headers(outcome.headers), secrets) or None,
                    _mask(outcome.body, secrets) or None,
                ))
                if step.state == lifecycle.DELIVERED:
                    signals["delivered"].add(info["trigger_id"])
                else:
                    # The spell starts at the first failed attempt, not when this is flushed.
                    _keep_first(signals["failed"], info["trigger_id"], attempted_at)
                if step.gone:
                    signals["gone"][info["trigger_id"]] = True
            self._sample(info, outcome, step, error)
        self.model._write_batch(updates, attempts, self.token)
        self._keep_tokens()

    def _keep_tokens(self):
        """OAuth2 tokens the sender's threads obtained: kept on their triggers for the next
        calls and the other runners (written here, where the cursor is)."""
        triggers = self.env["postback.trigger"]
        for trigger_id, info in self.triggers.items():
            if info.get("auth") is not None:
                triggers.browse(trigger_id)._keep_oauth2_token(info["auth"])

    def _sample(self, info, outcome, step, error):
        endpoint_id = info["endpoint_id"]
        if not endpoint_id or step.attempt is None or step.health == lifecycle.NONE:
            return
        sample = self.samples.setdefault(endpoint_id, {
            "ok": 0, "failed": 0, "down": 0, "latency_sum": 0.0, "latency_n": 0, "last_error": None})
        if step.health == lifecycle.UP and outcome.status and 200 <= outcome.status < 300:
            sample["ok"] += 1
        else:
            sample["failed"] += 1
            sample["last_error"] = error
            if step.health == lifecycle.DOWN:
                sample["down"] += 1
        if outcome.status:
            sample["latency_sum"] += outcome.duration_ms
            sample["latency_n"] += 1

    def _commit_and_flush(self, force=False):
        # Outcomes first: the health transaction must not wait on this one's row locks.
        self.model._commit_progress()
        self._flush_signals(force)
        self.model._commit_progress()

    def _flush_signals(self, force=False):
        """Endpoint health, then trigger health: advisory data other runners may be
        updating at the same moment.

        Endpoint health goes in its own short READ COMMITTED transaction (concurrent
        runners wait for each other on the row instead of failing on it), at most once
        a second unless an endpoint just went down (its pause must start at once).
        """
        busy = self.health_future is not None and not self.health_future.done()
        if force and busy:
            self.health_future.result()
            busy = False
        if self.samples and not busy and (force or any(s["down"] for s in self.samples.values())
                                          or time.monotonic() - self.health_written >= HEALTH_INTERVAL):
            samples, self.samples = self.samples, {}
            self.health_written = time.monotonic()
            if self.may_commit and not force:
                # Off the delivery loop: its own cursor, in its own thread (the sender has
                # already stopped the endpoint in memory; this shares it with the others).
                if self.health_pool is None:
                    self.health_pool = ThreadPoolExecutor(1, thread_name_prefix="postback-health")
                self.health_future = self.health_pool.submit(self._health_job, samples)
            else:
                self._health_job(samples)
        signals = self.trigger_signals
        if signals["delivered"] or signals["failed"] or signals["gone"]:
            self.trigger_signals = {"delivered": set(), "failed": {}, "gone": {}}
            triggers = self.env["postback.trigger"].sudo()
            cr = self.env.cr
            try:
                with cr.savepoint():
                    triggers._update_health(
                        signals["delivered"], signals["failed"],
                        {tid: triggers.browse(tid) for tid in signals["gone"]}, self.settings)
            except psycopg2.errors.SerializationFailure:
                self.trigger_signals["delivered"] |= signals["delivered"]
                for tid, first in signals["failed"].items():
                    _keep_first(self.trigger_signals["failed"], tid, first)
                self.trigger_signals["gone"].update(signals["gone"])

    def _health_job(self, samples):
        try:
            self._write_health(samples)
        except psycopg2.Error:
            _logger.info("Postback runner: endpoint health not recorded this time", exc_info=True)
            return
        except Exception:
            _logger.warning("Postback runner: endpoint health not recorded", exc_info=True)
            return
        for endpoint_id, sample in samples.items():
            if sample["ok"] and endpoint_id in self.origins:
                self.sender.set_host_limit(self.origins[endpoint_id], None)

    def _write_health(self, samples):
        now = fields.Datetime.now()
        if not self.may_commit:  # tests: in the test transaction
            paused = self.env["postback.endpoint"].sudo()._record_health(samples, now)
            self._pause(self.env, paused)
            return
        with self.env.registry.cursor() as cr:
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            env = api.Environment(cr, self.env.uid, {})
            paused = env["postback.endpoint"].sudo()._record_health(samples, now)
            self._pause(env, paused)
            # Its own cursor, not the cron's transaction: the health is shared with every runner at once.
            cr.commit()  # pylint: disable=invalid-commit

    def _pause(self, env, paused):
        """Postpone the waiting deliveries of endpoints that just stopped answering."""
        if not paused:
            return
        for endpoint_id, (until, seconds) in paused.items():
            origin = self.origins.get(endpoint_id)
            if origin:
                self.sender.block(origin, seconds)
            env.cr.execute(SQL(
                "UPDATE postback_delivery d SET next_attempt_at = %s FROM postback_trigger t"
                " WHERE t.id = d.trigger_id AND t.endpoint_id = %s AND d.state = 'pending'"
                " AND d.next_attempt_at < %s AND d.claim_token IS NULL",
                until, endpoint_id, until))
        env["postback.delivery"].invalidate_model(["next_attempt_at"])

