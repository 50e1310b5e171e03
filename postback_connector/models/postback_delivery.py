# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import uuid

from odoo import _, api, fields, models, tools
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..engine import formats

CRON_XMLID = "postback_connector.ir_cron_send_deliveries"
MAX_RUNNERS = 16
#: States a delivery leaves only through the runner (or a cancellation).
ACTIVE_STATES = ("pending", "held")
#: States of a finished delivery: it can be sent again, and managers may delete it.
FINISHED_STATES = ("delivered", "failed", "cancelled")


class PostbackDelivery(models.Model):
    """One postback to send: an event and a matching trigger (the transactional outbox)."""

    _name = "postback.delivery"
    _description = "Postback Delivery"
    _order = "id desc"
    _rec_name = "webhook_id"

    webhook_id = fields.Char(
        string="Webhook ID",
        required=True,
        readonly=True,
        copy=False,
        default=lambda self: "msg_%s" % uuid.uuid4().hex,
        help="Sent as the webhook-id header; identical on every retry so the receiver can de-duplicate.",
    )
    event_id = fields.Many2one("postback.event", required=True, readonly=True, ondelete="cascade", index=True)
    trigger_id = fields.Many2one("postback.trigger", required=True, readonly=True, ondelete="cascade", index=True)
    # Copied at creation rather than stored related fields: no extra read or UPDATE
    # per delivery inside the business transaction.
    event_type_id = fields.Many2one("postback.event.type", string="Event type", readonly=True, index=True)
    order_id = fields.Many2one("sale.order", string="Order", readonly=True, index=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True, index=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    channel = fields.Selection(related="trigger_id.channel", string="Delivery method")
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("held", "On hold"),
            ("delivered", "Delivered"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        default="pending",
        required=True,
        readonly=True,
        index=True,
    )
    attempt_count = fields.Integer(string="Attempts", readonly=True)
    retry_count = fields.Integer(
        readonly=True, help="Failed attempts since the last (re)send; drives the retry schedule."
    )
    next_attempt_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    last_attempt_at = fields.Datetime(readonly=True)
    delivered_at = fields.Datetime(readonly=True)
    last_status_code = fields.Integer(string="Last status", readonly=True)
    last_error = fields.Text(readonly=True)
    payload = fields.Text(
        readonly=True, help="The exact body sent, rendered once at the first attempt and reused on retries."
    )
    payload_pretty = fields.Text(string="Payload (formatted)", compute="_compute_payload_pretty")
    claim_token = fields.Char(
        readonly=True, copy=False,
        help="Set while a runner is sending this delivery (its database session and call).",
    )
    attempt_ids = fields.One2many("postback.delivery.attempt", "delivery_id", string="Attempts log", readonly=True)

    def init(self):
        # The runner's pick query: due pending rows in time order (partial index keeps it
        # tiny whatever the size of the history).
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS postback_delivery_due_idx ON postback_delivery "
                "(next_attempt_at, id) WHERE state = 'pending'"
            )
        )
        # Per-order ordering check: "is an older delivery of this trigger and order pending?"
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS postback_delivery_order_seq_idx ON postback_delivery "
                "(trigger_id, order_id, id) WHERE state = 'pending'"
            )
        )
        # Leases of runners, checked against live database sessions at each cron call.
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS postback_delivery_claim_idx ON postback_delivery "
                "(claim_token) WHERE claim_token IS NOT NULL"
            )
        )
        self.env.cr.execute(
            SQL(
                "CREATE UNIQUE INDEX IF NOT EXISTS postback_delivery_webhook_id_uniq "
                "ON postback_delivery (webhook_id)"
            )
        )

    @api.depends("payload")
    def _compute_payload_pretty(self):
        for delivery in self:
            delivery.payload_pretty = formats.pretty(delivery.payload, formats.detect(delivery.payload))

    @api.depends("event_id", "trigger_id")
    def _compute_display_name(self):
        for delivery in self:
            delivery.display_name = "%s → %s" % (delivery.event_id.display_name or "", delivery.trigger_id.name or "")

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------
    # Deliveries are written by the system only (nobody has the write right: their
    # payload, state and trigger are what the runner signs and sends). The buttons
    # check the user's right explicitly, then write, as the system, only the fields
    # they own.
    def _check_can_act(self):
        """Postback user who can read these deliveries (record rules included) and their triggers."""
        if self.env.su:
            return
        self.env["postback.trigger"]._postback_check_group(
            _("Only Postback users can send deliveries again or cancel them."))
        self.check_access("read")
        triggers = self.sudo().trigger_id.with_env(self.env)
        triggers.check_access("read")
        triggers._check_allowed_companies()

    def action_resend(self):
        """Queue again (same webhook id and body: the receiver can de-duplicate)."""
        self._check_can_act()
        if not self:
            raise UserError(_("Select the deliveries to send again."))
        # Pending and held deliveries are already queued (maybe in a runner's hands
        # right now): only finished ones are queued again.
        deliveries = self.filtered(lambda d: d.state in FINISHED_STATES).sudo()
        if not deliveries:
            raise UserError(_("These deliveries are already waiting to be sent: only delivered, failed or "
                              "cancelled deliveries can be sent again."))
        deliveries.write(
            {
                "state": "pending",
                "retry_count": 0,
                "next_attempt_at": fields.Datetime.now(),
                "last_error": False,
                "claim_token": False,
            }
        )
        inactive = deliveries.trigger_id.filtered(lambda t: t.state != "active" or not t.active)
        deliveries._hold_for_triggers(inactive, hold=True)
        deliveries._wake_runner()
        return True

    def action_resend_failed(self):
        self._check_can_act()
        return self.filtered(lambda d: d.state == "failed").action_resend()

    def action_cancel(self):
        self._check_can_act()
        pending = self.filtered(lambda d: d.state in ACTIVE_STATES)
        if not pending:
            raise UserError(_("Only pending deliveries can be cancelled."))
        pending.sudo().write({"state": "cancelled", "claim_token": False,
                              "last_error": _("Cancelled by %s.", self.env.user.name)})
        return True

    def unlink(self):
        """Managers may delete finished history; a queued delivery is cancelled, not deleted."""
        if not self.env.su:
            self.check_access("unlink")
            if any(state in ACTIVE_STATES for state in self.sudo().mapped("state")):
                raise AccessError(_("A pending or held delivery cannot be deleted: cancel it first."))
        return super().unlink()

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    @api.model
    def _hold_for_triggers(self, triggers, hold):
        """Park the pending deliveries of inactive triggers out of the runner's way
        (``hold``), or put them back in the queue when the trigger is active again."""
        if not triggers:
            return
        self.env.flush_all()
        old, new = ("pending", "held") if hold else ("held", "pending")
        self.env.cr.execute(
            SQL("UPDATE postback_delivery SET state = %s WHERE trigger_id IN %s AND state = %s",
                new, tuple(triggers.ids), old)
        )
        self.invalidate_model(["state"])
        if not hold and self.env.cr.rowcount:
            self._wake_runner()

    def _wake_runner(self):
        """Wake the delivery crons right after this transaction commits (once per transaction)."""
        data = self.env.cr.precommit.data
        if data.get("postback_runner_woken"):
            return
        data["postback_runner_woken"] = True
        for cron in self._get_runner_crons():
            cron._trigger()

    @api.model
    def _get_runner_crons(self):
        """The delivery cron and its copies: Odoo runs one job at a time per cron record,
        so parallel runners (in different workers) are copies of the same job."""
        return self.env["ir.cron"].sudo().browse(self._get_runner_cron_ids())

    @api.model
    @tools.ormcache()
    def _get_runner_cron_ids(self):
        # Cached: enqueueing wakes the runners on every order transition.
        main = self.env.ref(CRON_XMLID, raise_if_not_found=False)
        if not main:
            return ()
        copies = self.env["ir.cron"].sudo().search(
            [("ir_actions_server_id.code", "=", main.code), ("id", "!=", main.id)]
        )
        return (main.id, *copies.ids)

    @api.model
    def _set_runner_count(self, count):
        count = max(1, min(int(count or 1), MAX_RUNNERS))
        crons = self._get_runner_crons()
        main, copies = crons[:1], crons[1:]
        for index in range(len(crons), count):
            main.copy({"name": "%s (runner %s)" % (main.name, index + 1), "active": True})
        if len(crons) > count:
            copies[count - 1:].unlink()
        self.env.registry.clear_cache()


class PostbackEndpoint(models.Model):
    """The permission check of *Resume now*, kept with the other delivery buttons.

    ``action_resume`` checks the model-level right only; this adds the record
    check (the endpoint is one the user can see, i.e. one of their companies'
    triggers sends there) before it writes as the system.
    """

    _inherit = "postback.endpoint"

    def action_resume(self):
        if not self.env.su:
            self.env["postback.trigger"]._postback_check_group(
                _("Only Postback managers can resume an endpoint."), manager=True)
            self.check_access("read")
        return super().action_resume()
