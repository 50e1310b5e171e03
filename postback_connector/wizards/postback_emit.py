# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models
from odoo.exceptions import UserError


class PostbackEmit(models.TransientModel):
    """Manual confirmation of an order event (e.g. the carrier called: in transit)."""

    _name = "postback.emit"
    _description = "Send an Order Event"

    order_id = fields.Many2one("sale.order", required=True)
    picking_id = fields.Many2one("stock.picking", string="Transfer", domain="[('sale_id', '=', order_id)]")
    event_code = fields.Selection(selection="_selection_event_code", string="Event", required=True,
                                  default="order.in_transit")
    tracking_reference = fields.Char()

    @api.model
    def _selection_event_code(self):
        return [(t.code, t.name) for t in self.env["postback.event.type"].sudo().search([])]

    def action_emit(self):
        self.ensure_one()
        events = self.order_id._postback_emit(
            self.event_code,
            picking=self.picking_id or None,
            tracking_reference=self.tracking_reference or None,
            origin="manual",
        )
        if not events:
            raise UserError(_("No active trigger of this customer listens to this event: nothing was sent."))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Event recorded"),
                "message": _("Postbacks queued: %s.", sum(len(e.delivery_ids) for e in events)),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
