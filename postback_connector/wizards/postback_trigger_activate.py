# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models


class PostbackTriggerActivate(models.TransientModel):
    """Confirm activating an untested trigger, or re-enable one and recover failures.

    Postback managers only, on triggers they may edit (their companies).
    """

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
        domain = [("trigger_id", "in", self._get_triggers().ids), ("state", "=", "failed")]
        if self.recover_since:
            domain.append(("last_attempt_at", ">=", self.recover_since))
        return domain

    @api.model_create_multi
    def create(self, vals_list):
        self.env["postback.trigger"]._postback_check_group(
            _("Only Postback managers can activate or re-enable triggers."), manager=True)
        wizards = super().create(vals_list)
        wizards._check_triggers()
        return wizards

    def write(self, vals):
        result = super().write(vals)
        self._check_triggers()
        return result

    def _get_triggers(self):
        """All the triggers of the wizard, also those the user cannot read (a many2many
        read as the user silently drops them): those must refuse, not vanish."""
        return self.sudo().trigger_ids.with_env(self.env)

    def _check_triggers(self):
        if self.env.su:
            return
        self._get_triggers()._check_can_manage()

    def action_confirm(self):
        self.ensure_one()
        self._check_triggers()
        triggers = self._get_triggers()
        triggers._activate()
        if self.mode == "recover":
            # Read as the user: only the failed deliveries they can see are queued again.
            failed = self.env["postback.delivery"].search(self._recover_domain())
            if failed:
                failed.action_resend()
            for trigger in triggers:
                trigger.message_post(
                    body=_("Re-enabled. Failed deliveries queued again: %s.", len(failed.filtered(
                        lambda d, t=trigger: d.trigger_id == t)))
                )
        return {"type": "ir.actions.act_window_close"}
