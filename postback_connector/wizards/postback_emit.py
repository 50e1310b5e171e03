# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError


class PostbackEmit(models.TransientModel):
    """Manual confirmation of an order event (e.g. the carrier called: in transit).

    Postback users only, on orders (and transfers of that order) they can read,
    in a company they work in, once the order is confirmed.
    """

    _name = "postback.emit"
    _inherit = ["postback.checked.wizard"]
    _description = "Send an Order Event"

    order_id = fields.Many2one("sale.order", required=True, domain="[('state', 'in', ('sale', 'cancel'))]")
    picking_id = fields.Many2one("stock.picking", string="Transfer", domain="[('sale_id', '=', order_id)]")
    event_code = fields.Selection(selection="_selection_event_code", string="Event", required=True,
                                  default="order.in_transit")
    tracking_reference = fields.Char()

    @api.model
    def _selection_event_code(self):
        return [(t.code, t.name) for t in self.env["postback.event.type"].sudo().search([])]

    # ------------------------------------------------------------------
    # Permissions
    # ------------------------------------------------------------------
    @api.model
    def _check_user(self):
        self.env["postback.trigger"]._postback_check_group(
            _("Only Postback users can send order events by hand: ask your administrator for the "
              "Postback / User access."))

    def _check_scope(self):
        """The user can read the order (and the transfer, of that order) in a company they work in."""
        if self.env.su:
            return
        self._check_user()
        for wizard in self:
            order, picking = wizard.order_id, wizard.picking_id
            if not order.has_access("read") or order.sudo().company_id not in self.env.companies:
                raise AccessError(_("You can only send events of orders you are allowed to see."))
            if picking and (not picking.has_access("read") or picking.sudo().sale_id != order):
                raise AccessError(
                    _("The transfer must be one of this order's transfers, and one you are allowed to see."))
            if order.sudo().state not in ("sale", "cancel"):
                raise UserError(_("Only confirmed orders have order events: confirm the order first."))

    def action_emit(self):
        self.ensure_one()
        self._check_scope()
        # Checked above; the event is recorded (and its deliveries queued) by the system.
        events = self.order_id.sudo()._postback_emit(
            self.event_code,
            picking=self.picking_id.sudo() or None,
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
