# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models


class PostbackTriggerActivate(models.TransientModel):
    """Confirm activating an untested trigger, or re-enable one and recover failures."""

    _name = "postback.trigger.activate"
    _description = "Activate Postback Trigger"

    trigger_ids = fields.Many2many("postback.trigger", required=True)
    mode = fields.Selection([("activate", "Activate"), ("recover", "Recover")], default="activate", required=True)
    recover_since = fields.Datetime(string="Recover failed deliveries since")
    recover_count = fields.Integer(string="Failed deliveries to send again", compute="_compute_recover_count")

    @api.depends("trigger_ids", "recover_since")
    def _compute_recover_count(self):
        for wizard in self:
            wizard.recover_count = self.env["postback.delivery"].search_count(wizard._recover_domain())

    def _recover_domain(self):
        domain = [("trigger_id", "in", self.trigger_ids.ids), ("state", "=", "failed")]
        if self.recover_since:
            domain.append(("last_attempt_at", ">=", self.recover_since))
        return domain

    def action_confirm(self):
        self.ensure_one()
        self.trigger_ids._activate()
        if self.mode == "recover":
            failed = self.env["postback.delivery"].search(self._recover_domain())
            if failed:
                failed.action_resend()
            for trigger in self.trigger_ids:
                trigger.message_post(
                    body=_("Re-enabled. Failed deliveries queued again: %s.", len(failed.filtered(
                        lambda d, t=trigger: d.trigger_id == t)))
                )
        return {"type": "ir.actions.act_window_close"}
