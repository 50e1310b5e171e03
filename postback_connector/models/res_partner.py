# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    postback_trigger_ids = fields.One2many("postback.trigger", "partner_id", string="Triggers")
    postback_trigger_count = fields.Integer(
        compute="_compute_postback_counts", groups="postback_connector.group_postback_user"
    )
    postback_delivery_count = fields.Integer(
        compute="_compute_postback_counts", groups="postback_connector.group_postback_user"
    )
    postback_failed_count = fields.Integer(
        compute="_compute_postback_counts", groups="postback_connector.group_postback_user"
    )

    def _compute_postback_counts(self):
        triggers = dict(
            self.env["postback.trigger"]._read_group([("partner_id", "in", self.ids)], ["partner_id"], ["__count"])
        )
        deliveries = {}
        failures = {}
        for partner, state, count in self.env["postback.delivery"]._read_group(
            [("partner_id", "in", self.ids)], ["partner_id", "state"], ["__count"]
        ):
            deliveries[partner] = deliveries.get(partner, 0) + count
            if state == "failed":
                failures[partner] = count
        for partner in self:
            partner.postback_trigger_count = triggers.get(partner, 0)
            partner.postback_delivery_count = deliveries.get(partner, 0)
            partner.postback_failed_count = failures.get(partner, 0)

    def write(self, vals):
        result = super().write(vals)
        if vals.get("active") is False:
            # An archived customer gets no more postbacks: stop its triggers.
            triggers = self.env["postback.trigger"].sudo().search([("partner_id", "in", self.ids)])
            if triggers:
                triggers.write({
                    "active": False,
                    "state": "disabled",
                    "disabled_reason": _("The customer was archived."),
                })
        return result

    def _postback_action(self, xmlid):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(xmlid)
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {"default_partner_id": self.id}
        return action

    def action_view_postback_triggers(self):
        return self._postback_action("postback_connector.postback_trigger_action")

    def action_view_postback_deliveries(self):
        return self._postback_action("postback_connector.postback_delivery_action")

    def action_view_postback_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("postback_connector.postback_event_action")
        action["domain"] = [("partner_id", "=", self.commercial_partner_id.id)]
        return action

    def action_view_postback_failures(self):
        action = self._postback_action("postback_connector.postback_delivery_action")
        action["context"] = {"search_default_failed": 1}
        return action
