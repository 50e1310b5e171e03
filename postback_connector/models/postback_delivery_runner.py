# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The delivery runner: the cron that empties the postback queue.

Many runners may work at once (several Odoo workers or servers, or several copies
of the cron): each batch is claimed with ``FOR NO KEY UPDATE SKIP LOCKED``, so a
delivery is handled by exactly one runner at a time. The network part runs in a
thread pool over plain data; the ORM stays in the cron's own thread.
"""
import logging
import random
import time
from datetime import timedelta

import psycopg2

from odoo import _, api, fields, models, tools
from odoo.tools import SQL

from ..engine import http as engine_http
from ..engine import render, retry

_logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
# Seconds one call keeps taking batches before reporting progress. Odoo calls a cron
# that reports remaining work up to 10 times in one job, and multi-process servers
# kill a cron job running past --limit-time-real-cron (120 s by default): 10 s per
# call keeps a whole job well inside it, and the job is rescheduled at once.
DEFAULT_TIME_BUDGET = 10
DEFAULT_MAX_WORKERS = 16
DEFAULT_PER_HOST = 8
DEFAULT_MAX_PAYLOAD_KB = 512
DEFAULT_RETENTION_DAYS = 30
DEFAULT_DISABLE_AFTER_DAYS = 5
CLAIM_ATTEMPTS = 5  # claims retried after a concurrent-update conflict with another runner
SKIPPED_DELAY = 5  # seconds: a delivery postponed because its endpoint just failed in the batch
RESPONSE_BODY_LIMIT = 4096
RESPONSE_HEADERS_LIMIT = 4096
PARAM_PREFIX = "postback_connector."
# Planner settings of the claim statement (see _claim_due_batch).
CLAIM_SETTINGS = "SET LOCAL jit = off; SET LOCAL enable_sort = off"


class PostbackDelivery(models.Model):
    _inherit = "postback.delivery"

    # ------------------------------------------------------------------
    # Cron entry points
    # ------------------------------------------------------------------
    @api.model
    def _cron_send_due_deliveries(self, batch_size=None, time_budget=None):
        """Send due deliveries batch after batch until the queue is empty or time is up."""
        settings = self._get_runner_settings()
        batch_size = batch_size or settings["batch_size"]
        time_budget = DEFAULT_TIME_BUDGET if time_budget is None else time_budget
        started = time.monotonic()
        done = 0
        with engine_http.HttpSender(
            max_workers=settings["max_workers"],
            per_host=settings["per_host"],
            max_body=RESPONSE_BODY_LIMIT,
            check=settings["check"],
        ) as sender:
            while True:
                batch = self._claim_due_batch(batch_size, settings["ordered"])
                if not batch:
                    break
                batch._send_batch(sender, settings)
                done += len(batch)
                self._commit_progress()
                if time.monotonic() - started > time_budget:
                    break
        self.env["ir.cron"]._notify_progress(done=done, remaining=self._count_due(settings["ordered"]))
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
    def _due_query(self, ordered, select, limit=None, lock=False):
        """Due deliveries of active triggers, respecting per-order ordering.

        Shaped so PostgreSQL walks the partial index ``postback_delivery_due_idx`` in
        order and stops after ``limit`` rows: the trigger and ordering checks are scalar
        sub-queries (index probes per candidate), not joins that would make the planner
        read and sort every pending row first (400 ms instead of 3 ms with a backlog of
        100,000). Deliveries of inactive triggers are "held", out of that index.
        """
        ordering = SQL(
            " AND (d.order_id IS NULL OR (SELECT o.id FROM postback_delivery o WHERE o.state = 'pending'"
            " AND o.trigger_id = d.trigger_id AND o.order_id = d.order_id AND o.id < d.id LIMIT 1) IS NULL)"
        ) if ordered else SQL()
        return SQL(
            "SELECT %s FROM postback_delivery d"
            " WHERE d.state = 'pending' AND d.next_attempt_at <= %s"
            " AND (SELECT t.state = 'active' AND t.active FROM postback_trigger t WHERE t.id = d.trigger_id)"
            "%s%s%s",
            select,
            # The caller's clock, not the transaction start: a long-lived transaction
            # (a test, a long batch loop) must still see deliveries that became due.
            fields.Datetime.now(),
            ordering,
            SQL(" ORDER BY d.next_attempt_at, d.id LIMIT %s", limit) if limit else SQL(),
            SQL(" FOR NO KEY UPDATE OF d SKIP LOCKED") if lock else SQL(),
        )

    @api.model
    def _claim_due_batch(self, limit, ordered=True):
        """Lock up to ``limit`` due deliveries that no other runner holds.

        Odoo transactions are REPEATABLE READ: locking a row that another runner
        updated (delivered) and committed after this transaction's snapshot raises
        a serialization failure instead of skipping the row. A claim starts a
        batch, so where the runner may commit it retries in a new transaction
        (a fresh snapshot); nothing is lost.
        """
        self.env.flush_all()
        query = self._due_query(ordered, SQL("d.id"), limit=limit, lock=True)
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

    def _commit_progress(self):
        """Commit after each batch so finished work survives a crash of this worker.

        Not in tests: the test cursor must stay rolled back.
        """
        if not self._may_commit():
            self.env.flush_all()
            return
        self.env.cr.commit()  # pylint: disable=invalid-commit

    def _may_commit(self):
        return not (tools.config["test_enable"] or self.env.context.get("postback_no_commit"))

    # ------------------------------------------------------------------
    # One batch
    # ------------------------------------------------------------------
    def _send_batch(self, sender, settings):
        """Render, send and record one claimed batch. Never raises for one bad delivery."""
        now = fields.Datetime.now()
        results = {}  # delivery id -> dict(outcome fields)
        to_store_payload = {}
        http_requests = []
        email_deliveries = []
        specs = {}
        documents = {}
        request_factories = {}
        for delivery in self:
            trigger = delivery.trigger_id
            try:
                body = delivery.payload.encode() if delivery.payload else None
                if body is None:
                    event = delivery.event_id
                    if event.id not in documents:
                        documents[event.id] = event._get_data()
                    if trigger.id not in specs:
                        specs[trigger.id] = trigger.template_id._get_render_spec()
                    body = self.env["postback.template"]._render_spec(specs[trigger.id], documents[event.id])
                    to_store_payload[delivery.id] = body.decode()
                if len(body) > settings["max_payload"]:
                    raise render.RenderError(
                        _("The payload is %(size)s KB, over the limit of %(limit)s KB.",
                          size=len(body) // 1024, limit=settings["max_payload"] // 1024)
                    )
            except render.RenderError as error:
                results[delivery.id] = {"final_error": _("The template could not be rendered: %s", error)}
                continue
            except Exception as error:
                _logger.exception("Postback delivery %s could not be prepared", delivery.id)
                results[delivery.id] = {"final_error": _("Unexpected error while preparing: %s", error)}
                continue
            if trigger.channel == "email":
                email_deliveries.append((delivery, body))
            else:
                if trigger.id not in request_factories:
                    request_factories[trigger.id] = trigger._http_request_factory()
                http_requests.append(request_factories[trigger.id](delivery.id, body, delivery.webhook_id))

        for outcome in sender.send_all(http_requests):
            results[outcome.key] = {"outcome": outcome}
        for delivery, body in email_deliveries:
            results[delivery.id] = {"outcome": delivery._send_email(body)}

        self._record_results(results, to_store_payload, settings, now)

    def _send_email(self, body):
        """Send one email delivery now through Odoo's mail; return an engine-like Outcome."""
        self.ensure_one()
        start = time.monotonic()
        try:
            with self.env.cr.savepoint():
                values = self.trigger_id._prepare_mail_values(body, self.event_id._get_data(), self.webhook_id)
                mail = self.env["mail.mail"].sudo().create(values)
                mail.send(raise_exception=False)
                error = None if mail.state == "sent" else (mail.failure_reason or _("The email could not be sent."))
        except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error, never stops the batch
            error = str(exc)
        return engine_http.Outcome(
            key=self.id,
            status=None,
            headers={},
            body="",
            duration_ms=(time.monotonic() - start) * 1000,
            error=error,
            retry_after=None,
        )

    def _record_results(self, results, payloads, settings, now):
        """Write states and attempt rows for a batch with a fixed number of queries."""
        rng = random.Random()
        updates = []
        attempts = []
        delivered_triggers, failed_triggers, gone_triggers = set(), set(), {}
        by_id = {delivery.id: delivery for delivery in self}
        for delivery_id, result in results.items():
            delivery = by_id[delivery_id]
            trigger = delivery.trigger_id
            outcome = result.get("outcome")
            status = outcome.status if outcome else None
            error = outcome.error if outcome else result["final_error"]
            duration = outcome.duration_ms if outcome else 0.0
            attempt_count = delivery.attempt_count + 1
            retry_count = delivery.retry_count + 1
            next_at = None
            delivered_at = None
            if outcome is not None and outcome.skipped:
                # Not attempted: its endpoint failed just before (this batch, or it is
                # cooling down). Not an attempt: try again when the endpoint may be back.
                state, attempt_outcome = "pending", "skipped"
                attempt_count, retry_count = delivery.attempt_count, delivery.retry_count
                pause = retry.parse_retry_after(outcome.retry_after, time.time()) or 0
                next_at = now + timedelta(seconds=max(SKIPPED_DELAY, pause))
            elif outcome is None:
                state, attempt_outcome = "failed", "failed"
            else:
                # An email has no status code: no error means the SMTP server accepted it.
                verdict = "delivered" if status is None and not error else retry.classify(status, error)
                if verdict == "delivered":
                    state, attempt_outcome, delivered_at = "delivered", "delivered", now
                    error = None
                elif verdict == "gone":
                    state, attempt_outcome = "failed", "failed"
                    error = _("The receiver answered 410 Gone: the trigger has been disabled.")
                    gone_triggers[trigger.id] = trigger
                else:
                    delay = None
                    if trigger.retry_on_failure:
                        retry_after = None
                        if outcome.retry_after and retry.honours_retry_after(status):
                            retry_after = retry.parse_retry_after(outcome.retry_after, time.time())
                        delay = retry.next_delay(retry_count, settings["schedule"], retry_after, rng=rng)
                    if delay is None:
                        state, attempt_outcome = "failed", "failed"
                    else:
                        state, attempt_outcome = "pending", "retry"
                        next_at = now + timedelta(seconds=delay)
                    if not error:
                        error = _("The receiver answered HTTP %s.", status)
            if state == "delivered":
                delivered_triggers.add(trigger.id)
            elif attempt_outcome in ("failed", "retry"):
                failed_triggers.add(trigger.id)
            updates.append((
                delivery_id, state, attempt_count, retry_count, next_at or now,
                (delivery.last_attempt_at or None) if attempt_outcome == "skipped" else now,
                delivered_at, status or 0, error, payloads.get(delivery_id),
            ))
            attempts.append((
                delivery_id, now, round(duration, 2), status or 0, attempt_outcome, error,
                _bounded_headers(outcome.headers) if outcome else None,
                outcome.body if outcome else None,
            ))
        self._write_batch(updates, attempts)
        self.env["postback.trigger"]._update_health(delivered_triggers, failed_triggers, gone_triggers, settings)

    def _write_batch(self, updates, attempts):
        if not updates:
            return
        cr = self.env.cr
        uid = self.env.uid
        cr.execute_values(
            """
            UPDATE postback_delivery AS d SET
                state = v.state, attempt_count = v.attempt_count, retry_count = v.retry_count,
                next_attempt_at = v.next_at, last_attempt_at = v.last_at, delivered_at = v.delivered_at,
                last_status_code = v.status, last_error = v.error,
                payload = COALESCE(v.payload, d.payload),
                write_date = (now() AT TIME ZONE 'UTC'), write_uid = %s
            FROM (VALUES %%s) AS v(id, state, attempt_count, retry_count, next_at, last_at,
                                   delivered_at, status, error, payload)
            WHERE d.id = v.id
            """ % int(uid),
            updates,
            template="(%s, %s, %s, %s, %s::timestamp, %s::timestamp, %s::timestamp, %s, %s, %s)",
            page_size=1000,
        )
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
        # Raw SQL above: the ORM cache of these rows is stale now.
        self.invalidate_recordset()
        self.env["postback.delivery.attempt"].invalidate_model()

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


def _bounded_headers(headers):
    text = "\n".join("%s: %s" % item for item in (headers or {}).items())
    return text[:RESPONSE_HEADERS_LIMIT]
