# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Endpoint health: one row per receiving server (scheme + host + port).

Shared by every runner and cron call through the database: when an endpoint
stops answering, the first runner that meets it pauses it (``cooldown_until``)
and postpones its waiting deliveries, so no other runner pays the timeout
again until the pause ends. Written by the runner only, in bulk.
"""
import math
import time

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.tools import SQL

from .. import compat
from ..engine import http as engine_http
from ..engine import lifecycle

#: Weight of the newest request in the latency average.
LATENCY_WEIGHT = 0.2
#: Highest rate limit a merchant can set (requests per second).
MAX_RATE_LIMIT = 1000.0
#: Requests are paced this much under the rate: slots are RATE_MARGIN / rate apart, and a
#: request is sent within SLOT_TOLERANCE seconds of its slot's start or not at all, so any
#: second of the receiver's clock holds at most ``rate`` of them as long as the start delay
#: plus the network's jitter stays under RATE_MARGIN - 1 seconds (0.1 s + up to 0.1 s here).
RATE_MARGIN = 1.2
SLOT_TOLERANCE = 0.1
#: How far ahead one claim of a runner reserves sending slots of a throttled endpoint.
THROTTLE_HORIZON = 2.0


class PostbackEndpoint(models.Model):
    _name = "postback.endpoint"
    _description = "Postback Endpoint"
    _order = "name"

    name = fields.Char(string="Endpoint", required=True, readonly=True, index=True,
                       help="Scheme, server and port the postbacks go to.")
    trigger_ids = fields.One2many("postback.trigger", "endpoint_id", string="Triggers", readonly=True)
    trigger_count = fields.Integer(compute="_compute_trigger_count")
    health = fields.Selection(
        [("healthy", "Healthy"), ("failing", "Failing"), ("paused", "Paused"), ("unknown", "Not used yet")],
        compute="_compute_health",
        help="Paused: it stopped answering, its postbacks wait until the pause ends (then one is tried first).",
    )
    consecutive_failures = fields.Integer(string="Failures in a row", readonly=True,
                                          help="Requests that failed in a row.")
    cooldown_until = fields.Datetime(string="Paused until", readonly=True)
    cooldown_seconds = fields.Integer(string="Pause length (s)", readonly=True)
    last_error = fields.Text(readonly=True)
    last_failure_at = fields.Datetime(string="Last failure", readonly=True)
    last_success_at = fields.Datetime(string="Last success", readonly=True)
    latency_ms = fields.Float(string="Average answer time (ms)", readonly=True, digits=(16, 1))
    request_count = fields.Integer(string="Requests", readonly=True)
    failure_count = fields.Integer(string="Failed requests", readonly=True)
    rate_limit = fields.Float(
        string="Max requests per second", digits=(16, 2),
        help="Optional: the most postbacks per second this server receives, from all triggers and all runners "
        "together (e.g. 5 for a receiver that allows 5 requests per second). Empty or 0: no limit. The other "
        "endpoints are never held up by it.",
    )
    # Epoch seconds (database clock) of the next free sending slot of a throttled endpoint,
    # shared by every runner: each claim reserves its slots here.
    throttle_next = fields.Float(readonly=True, copy=False)

    _name_unique = compat.Constraint("unique(name)", "An endpoint is recorded once.")

    @api.constrains("rate_limit")
    def _check_rate_limit(self):
        for endpoint in self:
            if endpoint.rate_limit < 0 or endpoint.rate_limit > MAX_RATE_LIMIT:
                raise ValidationError(_(
                    "Endpoint %(name)s: the rate limit must be between 0 (no limit) and %(max)s requests per "
                    "second.", name=endpoint.name, max=int(MAX_RATE_LIMIT)))

    def write(self, vals):
        # Endpoints are written by the runner (as the system); a manager may set the rate limit only.
        if not self.env.su:
            self.env["postback.trigger"]._postback_check_group(
                _("Only Postback managers can change the rate limit of an endpoint."), manager=True)
            if set(vals) - {"rate_limit"}:
                raise AccessError(_("Only the rate limit of an endpoint can be changed; the rest is measured."))
            return super(PostbackEndpoint, self.sudo()).write(vals)
        return super().write(vals)

    def _compute_trigger_count(self):
        groups = self.env["postback.trigger"]._read_group(
            [("endpoint_id", "in", self.ids)], ["endpoint_id"], ["__count"])
        counts = {endpoint.id: count for endpoint, count in groups}
        for endpoint in self:
            endpoint.trigger_count = counts.get(endpoint.id, 0)

    def _compute_health(self):
        now = fields.Datetime.now()
        for endpoint in self:
            if endpoint.cooldown_until and endpoint.cooldown_until > now:
                endpoint.health = "paused"
            elif endpoint.consecutive_failures:
                endpoint.health = "failing"
            elif endpoint.request_count:
                endpoint.health = "healthy"
            else:
                endpoint.health = "unknown"

    def action_view_triggers(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("postback_connector.postback_trigger_action")
        action["domain"] = [("endpoint_id", "=", self.id)]
        return action

    def action_resume(self):
        """End the pause now (e.g. the customer fixed their server): waiting postbacks go out at once."""
        self.env["postback.trigger"].check_access("write")
        endpoints = self.sudo()
        endpoints.write({"cooldown_until": False})
        deliveries = self.env["postback.delivery"].sudo()
        self.env.cr.execute(SQL(
            "UPDATE postback_delivery d SET next_attempt_at = %s FROM postback_trigger t"
            " WHERE t.id = d.trigger_id AND t.endpoint_id IN %s AND d.state = 'pending'"
            " AND d.next_attempt_at > %s AND d.claim_token IS NULL",
            fields.Datetime.now(), tuple(self.ids), fields.Datetime.now()))
        deliveries.invalidate_model(["next_attempt_at"])
        deliveries._wake_runner()
        return True

    # ------------------------------------------------------------------
    # Used by triggers and the runner
    # ------------------------------------------------------------------
    @api.model
    def _for_url(self, url):
        """The endpoint of a URL (created when new), or an empty recordset."""
        try:
            origin = engine_http.origin_of(url or "")
        except ValueError:
            return self.browse()
        if not origin[1]:
            return self.browse()
        name = engine_http.origin_name(origin)
        self.env.cr.execute(SQL(
            "INSERT INTO postback_endpoint (name, consecutive_failures, request_count, failure_count,"
            " create_uid, write_uid, create_date, write_date)"
            " VALUES (%s, 0, 0, 0, %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
            " ON CONFLICT (name) DO NOTHING", name, self.env.uid, self.env.uid))
        self.env.cr.execute(SQL("SELECT id FROM postback_endpoint WHERE name = %s", name))
        return self.browse(self.env.cr.fetchone()[0])

    @api.model
    def _reserve_slots(self, wanted, horizon=THROTTLE_HORIZON, own_transaction=False):
        """Reserve sending slots of throttled endpoints, shared by every runner.

        ``wanted``: endpoint id -> (requests to send, rate per second). Returns endpoint
        id -> (delay of the first slot, seconds between slots, slots granted, seconds until
        the next free slot, the time.monotonic() the delays count from): slots are granted
        up to ``horizon`` seconds ahead; the rest waits in the queue, not in a runner. The
        delays count from the moment the database read its clock (the middle of the
        query's round trip), not from the end of the transaction: two runners' slots stay
        ``step`` apart whatever their commit latency.

        ``own_transaction`` (a runner that may commit): the reservation is a short
        transaction of its own, READ COMMITTED, committed at once: the endpoint rows are
        locked in id order for a few milliseconds, and each runner reads the slots the
        others booked (the runner's own REPEATABLE READ snapshot would fail to lock a row
        another runner just updated). Otherwise (tests) on this cursor.
        """
        if not wanted:
            return {}
        if not own_transaction:
            return self._book_slots(self.env.cr, wanted, horizon)
        with self.env.registry.cursor() as cr:
            cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
            return self._book_slots(cr, wanted, horizon)

    @api.model
    def _book_slots(self, cr, wanted, horizon):
        asked = time.monotonic()
        cr.execute(SQL(
            "SELECT id, COALESCE(throttle_next, 0), extract(epoch FROM clock_timestamp())::float"
            " FROM postback_endpoint WHERE id IN %s ORDER BY id FOR NO KEY UPDATE", tuple(sorted(wanted))))
        found = cr.fetchall()
        anchor = (asked + time.monotonic()) / 2
        grants, rows = {}, []
        for endpoint_id, next_free, db_now in found:
            count, rate = wanted[endpoint_id]
            step = RATE_MARGIN / rate
            start = max(next_free, db_now)
            room = db_now + horizon - start
            granted = 0 if room < 0 else min(count, math.floor(room / step) + 1)
            new_next = start + granted * step
            grants[endpoint_id] = (start - db_now, step, granted, new_next - db_now, anchor)
            if granted:
                rows.append((endpoint_id, new_next))
        if rows:
            cr.execute_values(
                "UPDATE postback_endpoint AS e SET throttle_next = v.next FROM (VALUES %s) AS v(id, next)"
                " WHERE e.id = v.id", rows, template="(%s, %s::float)")
        return grants

    @api.model
    def _record_health(self, samples, now):
        """Apply a runner's health samples in one statement.

        ``samples``: endpoint id -> dict(ok: delivered requests, failed: other attempts,
        down: those of them that timed out or could not connect, latency_sum, latency_n,
        last_error).
        An endpoint that was down gets a pause (30 s, doubling while it keeps failing,
        at most 15 min); returns {endpoint id: (pause end, pause seconds)} for the
        endpoints paused now, so the caller can postpone their waiting deliveries.
        """
        if not samples:
            return {}
        # Locked in id order: concurrent runners update one endpoint one after the other.
        self.env.cr.execute(SQL(
            "SELECT id, consecutive_failures, cooldown_seconds, latency_ms, cooldown_until FROM postback_endpoint"
            " WHERE id IN %s ORDER BY id FOR NO KEY UPDATE", tuple(sorted(samples))))
        current = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        rows, paused = [], {}
        for endpoint_id, sample in samples.items():
            if endpoint_id not in current:
                continue
            failures, pause, latency, paused_until = current[endpoint_id]
            failed = sample["failed"]
            if sample["down"] and not sample["ok"] and paused_until and paused_until > now:
                until = None  # the rest of the wave that paused it: the pause stands as it is
            elif sample["down"] and not sample["ok"]:
                pause = lifecycle.next_cooldown(pause if failures else 0)
                until = fields.Datetime.add(now, seconds=pause)
                paused[endpoint_id] = (until, pause)
            else:
                until = None
                if sample["ok"]:
                    pause = 0
            if sample["latency_n"]:
                average = sample["latency_sum"] / sample["latency_n"]
                latency = average if not latency else latency + LATENCY_WEIGHT * (average - latency)
            consecutive = 0 if sample["ok"] else (failures or 0) + failed
            rows.append((
                endpoint_id, consecutive, until, int(pause or 0), sample["last_error"],
                now if failed else None, now if sample["ok"] else None, round(latency or 0.0, 1),
                sample["ok"] + failed, failed,
            ))
        self.env.cr.execute_values(
            """
            UPDATE postback_endpoint AS e SET
                consecutive_failures = v.consecutive,
                cooldown_until = COALESCE(v.until, CASE WHEN v.consecutive = 0 THEN NULL ELSE e.cooldown_until END),
                cooldown_seconds = v.pause,
                last_error = COALESCE(v.error, e.last_error),
                last_failure_at = COALESCE(v.failed_at, e.last_failure_at),
                last_success_at = COALESCE(v.ok_at, e.last_success_at),
                latency_ms = v.latency,
                request_count = e.request_count + v.requests,
                failure_count = e.failure_count + v.failures,
                write_date = (now() AT TIME ZONE 'UTC')
            FROM (VALUES %s) AS v(id, consecutive, until, pause, error, failed_at, ok_at, latency, requests, failures)
            WHERE e.id = v.id
            """,
            rows,
            template="(%s, %s, %s::timestamp, %s, %s, %s::timestamp, %s::timestamp, %s, %s, %s)",
        )
        self.invalidate_model()
        return paused
