# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import uuid

from odoo import _, api, fields, models
from odoo.exceptions import UserError


class PostbackTemplatePreview(models.TransientModel):
    """Preview a template over the shipped sample, the custom sample or a real order."""

    _name = "postback.template.preview"
    _description = "Postback Template Preview"

    template_id = fields.Many2one("postback.template", required=True, ondelete="cascade")
    trigger_id = fields.Many2one("postback.trigger", ondelete="cascade")
    source = fields.Selection(
        [("sample", "Sample data of the event"), ("custom", "Custom data"), ("order", "A real order")],
        string="Preview with",
        default="sample",
        required=True,
    )
    event_type_id = fields.Many2one(
        "postback.event.type", string="Event",
        compute="_compute_event_type_id", store=True, readonly=False,
    )
    order_ref = fields.Reference(
        selection=[("sale.order", "Sales Order")], string="Order",
        help="Pick a real order: its data is built by the same code the order events use.",
    )
    input_data = fields.Text(string="Incoming data", compute="_compute_preview")
    payload = fields.Text(compute="_compute_preview")
    error_msg = fields.Text(string="Error", compute="_compute_preview")

    @api.depends("template_id")
    def _compute_event_type_id(self):
        for wizard in self:
            wizard.event_type_id = wizard.template_id.event_type_id or wizard.trigger_id.event_type_ids[:1]

    @api.depends("template_id", "source", "event_type_id", "order_ref")
    def _compute_preview(self):
        for wizard in self:
            wizard.input_data = wizard.payload = wizard.error_msg = False
            try:
                data = wizard._get_input_data()
            except UserError as error:
                wizard.error_msg = error.args[0]
                continue
            wizard.input_data = json.dumps(data, indent=2, ensure_ascii=False)
            wizard.payload, wizard.error_msg = wizard.template_id._preview_for(data)

    def _get_input_data(self):
        self.ensure_one()
        if self.source == "custom":
            if not (self.template_id.custom_sample or "").strip():
                raise UserError(_("The template has no custom data. Paste it on the template first."))
            return self.template_id._get_design_data()
        event_type = self.event_type_id or self.template_id.event_type_id
        if self.source == "order":
            if not self.order_ref:
                raise UserError(_("Pick an order to preview with its real data."))
            if not event_type:
                raise UserError(_("Choose the event to preview."))
            order = self.order_ref.sudo()
            shipping = event_type.code in ("order.shipped", "order.in_transit", "order.delivered", "order.returned")
            picking = order.picking_ids.filtered(
                lambda p: p.state == "done"
                and (p._postback_is_customer_return() if event_type.code == "order.returned"
                     else p._postback_is_customer_shipment())
            ).sorted("id")[-1:]
            transaction = order.transaction_ids.sorted("id")[-1:]
            return order._postback_document(
                event_type.code, "evt_preview_%s" % uuid.uuid4().hex, fields.Datetime.now(),
                picking=picking if shipping and picking else None,
                transaction=transaction if event_type.code == "order.failed" and transaction else None,
            )
        if not event_type:
            raise UserError(_("Choose the event whose sample data to preview."))
        return event_type._get_sample_data()

    def action_send_test(self):
        """Send this exact preview through the trigger's channel (the seed's 'run a test')."""
        self.ensure_one()
        if not self.trigger_id:
            raise UserError(_("Open the preview from a trigger to send a test."))
        if self.error_msg:
            raise UserError(self.error_msg)
        self.trigger_id._send_test(self._get_input_data())
        return self.trigger_id._notify_test_result()
