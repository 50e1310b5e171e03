# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import uuid

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

SHIPPING_EVENTS = ("order.shipped", "order.in_transit", "order.delivered", "order.returned")


class PostbackTemplatePreview(models.TransientModel):
    """Preview a template over the shipped sample, the custom sample or a real order.

    Everything it shows or sends is checked against the user's own rights first:
    a Postback user, the template and trigger readable, and a real order only if
    the user can read it and it is an order of the trigger's (or template's)
    customer in its company. The order's document is then built as the system,
    like the order events build it.
    """

    _name = "postback.template.preview"
    _inherit = ["postback.checked.wizard"]
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
        domain="[('id', 'in', allowed_event_type_ids)] if allowed_event_type_ids else []",
        help="The event whose data is previewed and sent as a test: the events of the trigger.",
    )
    allowed_event_type_ids = fields.Many2many(
        "postback.event.type", compute="_compute_allowed_event_type_ids",
        help="The trigger's events (every event when the preview is not of a trigger).",
    )
    data_label = fields.Char(string="Data used", compute="_compute_preview")
    test_done = fields.Boolean(readonly=True)
    test_ok = fields.Boolean(string="Test succeeded", readonly=True)
    test_result = fields.Text(string="Test result", readonly=True)
    customer_id = fields.Many2one(
        "res.partner", string="Customer", compute="_compute_scope",
        help="Only orders of this customer can be previewed.",
    )
    company_id = fields.Many2one("res.company", compute="_compute_scope")
    order_id = fields.Many2one(
        "sale.order", string="Order",
        domain="([('partner_id.commercial_partner_id', '=', customer_id)] if customer_id else [])"
        " + ([('company_id', '=', company_id)] if company_id else [])",
        help="Pick a real order of the customer: its data is built by the same code the order events use.",
    )
    # The order as a reference (kept for callers of the first versions).
    order_ref = fields.Reference(
        selection=[("sale.order", "Sales Order")], string="Order (reference)",
        compute="_compute_order_ref", inverse="_inverse_order_ref",
    )
    input_data = fields.Text(string="Incoming data", compute="_compute_preview")
    payload = fields.Text(compute="_compute_preview")
    error_msg = fields.Text(string="Error", compute="_compute_preview")

    @api.depends("trigger_id")
    def _compute_allowed_event_type_ids(self):
        for wizard in self:
            wizard.allowed_event_type_ids = wizard.trigger_id.sudo().event_type_ids

    @api.depends("template_id", "trigger_id")
    def _compute_event_type_id(self):
        for wizard in self:
            design = wizard.template_id.sudo().event_type_id
            events = wizard.trigger_id.sudo().event_type_ids
            # The template's design event, when the trigger fires on it; else the trigger's first event.
            wizard.event_type_id = design if design and (not events or design in events) else events[:1] or design

    @api.depends("trigger_id", "template_id")
    def _compute_scope(self):
        for wizard in self:
            trigger, template = wizard.trigger_id.sudo(), wizard.template_id.sudo()
            wizard.customer_id = (trigger.commercial_partner_id or template.partner_id.commercial_partner_id).id
            wizard.company_id = (trigger.company_id or template.company_id).id

    @api.depends("order_id")
    def _compute_order_ref(self):
        for wizard in self:
            wizard.order_ref = "sale.order,%s" % wizard.order_id.id if wizard.order_id else False

    def _inverse_order_ref(self):
        for wizard in self:
            wizard.order_id = wizard.order_ref.id if wizard.order_ref else False

    @api.depends("template_id", "trigger_id", "source", "event_type_id", "order_id")
    def _compute_preview(self):
        for wizard in self:
            wizard.input_data = wizard.payload = wizard.error_msg = False
            wizard.data_label = wizard._data_label()
            try:
                data = wizard._get_input_data()
            except AccessError:
                # Not a message for the preview pane: a refusal.
                raise
            except UserError as error:
                wizard.error_msg = error.args[0]
                continue
            wizard.input_data = json.dumps(data, indent=2, ensure_ascii=False)
            wizard.payload, wizard.error_msg = wizard.template_id._preview_for(
                data, wizard.trigger_id.sudo().payload_format or None)

    # ------------------------------------------------------------------
    # Permissions
    # ------------------------------------------------------------------
    @api.model
    def _check_user(self):
        self.env["postback.trigger"]._postback_check_group(_("Only Postback users can preview templates."))

    def _check_scope(self):
        """The user may see the template, the trigger and the order of this preview."""
        if self.env.su:
            return
        self._check_user()
        for wizard in self:
            template, trigger = wizard.template_id, wizard.trigger_id
            template.check_access("read")
            template._check_allowed_companies()
            if trigger:
                trigger._check_can_read(_("Only Postback users can preview templates."))
                if template != trigger.sudo().template_id:
                    raise AccessError(_("The preview of a trigger shows the trigger's own template."))
            if wizard.order_id:
                wizard._check_order(wizard.order_id)

    def _check_order(self, order):
        """A real order: readable by the user, of the customer and company of the preview."""
        self.ensure_one()
        if self.env.su:
            return
        refused = AccessError(
            _("You can only preview orders of this customer that you are allowed to see."))
        if not order.has_access("read"):
            raise refused
        order_sudo = order.sudo()
        if order_sudo.company_id not in self.env.companies:
            raise refused
        if self.customer_id and order_sudo.partner_id.commercial_partner_id != self.customer_id:
            raise refused
        if self.company_id and order_sudo.company_id != self.company_id:
            raise refused

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    def _data_label(self):
        """What the preview renders, for the test result ("the sample data of “Order shipped”")."""
        self.ensure_one()
        event = self.event_type_id or self.template_id.event_type_id
        if self.source == "custom":
            return _("the custom data of template “%s”", self.template_id.name)
        if self.source == "order":
            if not self.order_id:
                return _("a real order (pick one)")
            return _("order %(order)s as “%(event)s”", order=self.order_id.sudo().name, event=event.name)
        return _("the sample data of “%s”", event.name) if event else _("no data")

    def _get_input_data(self):
        self.ensure_one()
        self._check_scope_for_render()
        if self.source == "custom":
            if not (self.template_id.custom_sample or "").strip():
                raise UserError(_("The template has no custom data. Paste it on the template first."))
            return self.template_id._get_design_data()
        event_type = self.event_type_id or self.template_id.event_type_id
        if self.source == "order":
            if not self.order_id:
                raise UserError(_("Pick an order to preview with its real data."))
            if not event_type:
                raise UserError(_("Choose the event to preview."))
            self._check_order(self.order_id)
            # Checked above: the document is built as the order events build it.
            order = self.order_id.sudo()
            shipping = event_type.code in SHIPPING_EVENTS
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

    def _check_scope_for_render(self):
        """The template (and trigger) of a not yet saved preview (onchange) are checked too."""
        if self.env.su:
            return
        self._check_user()
        self.template_id.check_access("read")
        if self.trigger_id:
            self.trigger_id._check_can_read(_("Only Postback users can preview templates."))

    def action_send_test(self):
        """Send this exact preview through the trigger's channel (the seed's 'run a test')."""
        self.ensure_one()
        if not self.trigger_id:
            raise UserError(_("Open the preview from a trigger to send a test."))
        # Before anything is rendered or leaves: may this user test this trigger,
        # with this template and this order?
        self.trigger_id._check_can_test()
        self._check_scope()
        data = self._get_input_data()
        if self.error_msg:
            raise UserError(self.error_msg)
        trigger = self.trigger_id.sudo()
        trigger._send_test(data, self._data_label())
        trigger._hide_header_values_in_test_result()
        # The merchant stays in the preview (and in the trigger dialog below it), with the result in place.
        self.write({"test_done": True, "test_ok": trigger.last_test_ok, "test_result": trigger.last_test_result})
        return {
            "type": "ir.actions.act_window",
            "name": _("Preview & Test"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "context": dict(self.env.context, dialog_size="extra-large"),
        }
