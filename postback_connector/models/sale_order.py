# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import compat

# Version of the input document; bumped only on incompatible changes.
DOCUMENT_SCHEMA_VERSION = 1


def _iso(value):
    """Plain ISO 8601 text (UTC, 'Z') for datetimes, ISO dates, None for empty."""
    if not value:
        return None
    if hasattr(value, "hour"):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value.isoformat()


def _money(amount, currency):
    return round(amount or 0.0, currency.decimal_places if currency else 2)


class SaleOrder(models.Model):
    _inherit = "sale.order"

    postback_event_ids = fields.One2many("postback.event", "order_id", string="Postback events")
    postback_event_count = fields.Integer(
        compute="_compute_postback_event_count", groups="postback_connector.group_postback_user"
    )

    def _compute_postback_event_count(self):
        groups = self.env["postback.event"]._read_group([("order_id", "in", self.ids)], ["order_id"], ["__count"])
        counts = {order.id: count for order, count in groups}
        for order in self:
            order.postback_event_count = counts.get(order.id, 0)

    # ------------------------------------------------------------------
    # Transitions (record only: super() first, then note what happened)
    # ------------------------------------------------------------------
    def _action_confirm(self):
        result = super()._action_confirm()
        if self:
            self.env["postback.event"]._record([{"order": order, "code": "order.received"} for order in self])
        return result

    def _action_cancel(self):
        to_cancel = self.filtered(lambda order: order.state != "cancel")
        # Pickings cancelled because the whole order is cancelled are not "failed" deliveries.
        result = super(SaleOrder, self.with_context(postback_cancelling_order_ids=self.ids))._action_cancel()
        cancelled = to_cancel.filtered(lambda order: order.state == "cancel")
        if cancelled:
            self.env["postback.event"]._record([{"order": order, "code": "order.canceled"} for order in cancelled])
        return result

    def _postback_check_completed(self):
        """Record ``order.completed`` for orders fully delivered and fully invoiced (once)."""
        completed = self.filtered(lambda order: order._postback_is_completed())
        if completed:
            self.env["postback.event"]._record(
                [{"order": order, "code": "order.completed", "dedup_key": "once"} for order in completed]
            )

    def _postback_is_completed(self):
        self.ensure_one()
        invoices = self.invoice_ids.filtered(lambda move: move.state != "cancel")
        return (
            self.state == "sale"
            and self.delivery_status == "full"
            and self.invoice_status == "invoiced"
            and bool(invoices)
            and all(move.state == "posted" for move in invoices)
        )

    # ------------------------------------------------------------------
    # Public API for integrations (e.g. carrier connectors)
    # ------------------------------------------------------------------
    def _postback_emit(self, event_code, *, picking=None, tracking_reference=None, extra=None, dedup_key=None,
                       origin="code"):
        """Emit an order event from code, e.g. ``order._postback_emit("order.in_transit",
        picking=picking, tracking_reference="1Z999")``.

        Returns the recorded ``postback.event`` records (none when no active trigger of
        the customer listens to that event, or when ``dedup_key`` was already used).
        """
        if not self.env["postback.event.type"].sudo().search_count([("code", "=", event_code)]):
            raise UserError(_("“%s” is not a known postback event.", event_code))
        extra = dict(extra or {})
        if tracking_reference:
            extra.setdefault("shipment", {})["tracking_reference"] = tracking_reference
        return self.env["postback.event"]._record(
            [
                {"order": order, "code": event_code, "picking": picking, "extra": extra, "dedup_key": dedup_key}
                for order in self
            ],
            origin=origin,
        )

    def action_postback_emit(self):
        """Open the manual emission wizard (Postback users only)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Send an order event"),
            "res_model": "postback.emit",
            "view_mode": "form",
            "target": "new",
            "context": {"default_order_id": self.id},
        }

    def action_view_postback_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("postback_connector.postback_event_action")
        action["domain"] = [("order_id", "=", self.id)]
        return action

    # ------------------------------------------------------------------
    # The input document
    # ------------------------------------------------------------------
    @api.model
    def _postback_document_customer(self, partner):
        return {
            "id": partner.id,
            "name": partner.name or "",
            "ref": partner.ref or None,
            "email": partner.email or None,
            "phone": partner.phone or None,
            "vat": partner.vat or None,
        }

    @api.model
    def _postback_document_address(self, partner):
        return {
            "name": partner.name or "",
            "street": partner.street or None,
            "street2": partner.street2 or None,
            "zip": partner.zip or None,
            "city": partner.city or None,
            "state": partner.state_id.name or None,
            "country_code": partner.country_id.code or None,
            "phone": partner.phone or None,
            "email": partner.email or None,
        }

    def _postback_document(self, event_code, event_uid, occurred_at, *, picking=None, transaction=None, extra=None):
        """The canonical input document of an event: plain JSON-ready values only.

        Relational values are read through recordsets that share one prefetch set, so
        building documents costs a fixed number of queries whatever the number of lines.
        """
        self.ensure_one()
        currency = self.currency_id
        lines = []
        for line in self.order_line:
            if line.display_type:
                continue
            product = line.product_id
            lines.append({
                "id": line.id,
                "sku": product.default_code or None,
                "product": product.name or "",
                "description": line.name or "",
                "qty_ordered": line.product_uom_qty,
                "qty_delivered": line.qty_delivered,
                "qty_invoiced": line.qty_invoiced,
                "uom": line[compat.SALE_LINE_UOM_FIELD].name or None,
                "price_unit": _money(line.price_unit, currency),
                "discount": line.discount,
                "subtotal": _money(line.price_subtotal, currency),
                "total": _money(line.price_total, currency),
            })
        document = {
            "schema_version": DOCUMENT_SCHEMA_VERSION,
            "event": {"id": event_uid, "type": event_code, "occurred_at": _iso(occurred_at)},
            "customer": self._postback_document_customer(self.partner_id.commercial_partner_id),
            "order": {
                "id": self.id,
                "reference": self.name,
                "client_reference": self.client_order_ref or None,
                "state": self.state,
                "date_order": _iso(self.date_order),
                "commitment_date": _iso(self.commitment_date),
                "currency": currency.name,
                "amount_untaxed": _money(self.amount_untaxed, currency),
                "amount_tax": _money(self.amount_tax, currency),
                "amount_total": _money(self.amount_total, currency),
                "delivery_status": self.delivery_status or None,
                "invoice_status": self.invoice_status or None,
                "lines": lines,
                "shipping_address": self._postback_document_address(self.partner_shipping_id),
            },
            "shipment": picking._postback_document_shipment() if picking else None,
            "payment": transaction._postback_document_payment() if transaction else None,
            "failure": None,
        }
        for key, value in (extra or {}).items():
            # A partial object (e.g. shipment.tracking_reference) completes the built one.
            built = document.get(key)
            document[key] = dict(built, **value) if isinstance(value, dict) and isinstance(built, dict) else value
        return document
