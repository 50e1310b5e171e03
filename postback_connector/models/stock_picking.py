# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, models

from .sale_order import _iso


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _postback_is_customer_shipment(self):
        self.ensure_one()
        return (
            bool(self.sale_id)
            and self.picking_type_code == "outgoing"
            and self.location_dest_id.usage == "customer"
            and not self.return_id
        )

    def _postback_is_customer_return(self):
        self.ensure_one()
        return bool(self.sale_id) and bool(self.return_id) and self.location_id.usage == "customer"

    def _action_done(self):
        pending = self.filtered(lambda picking: picking.state != "done")
        delivery_before = {order.id: order.delivery_status for order in pending.sale_id}
        result = super()._action_done()
        done = pending.filtered(lambda picking: picking.state == "done")
        if not done:
            return result
        entries = []
        for picking in done:
            if picking._postback_is_customer_shipment():
                entries.append({"order": picking.sale_id, "code": "order.shipped", "picking": picking,
                                "dedup_key": "picking:%s" % picking.id})
                if picking.carrier_tracking_ref:
                    entries.append({"order": picking.sale_id, "code": "order.in_transit", "picking": picking,
                                    "dedup_key": "tracking:%s:%s" % (picking.id, picking.carrier_tracking_ref)})
            elif picking._postback_is_customer_return():
                entries.append({"order": picking.sale_id, "code": "order.returned", "picking": picking,
                                "dedup_key": "picking:%s" % picking.id})
        orders = done.sale_id
        for order in orders:
            if order.delivery_status == "full" and delivery_before.get(order.id) != "full":
                entries.append({"order": order, "code": "order.delivered", "dedup_key": "once",
                                "picking": done.filtered(lambda p, o=order: p.sale_id == o)[:1]})
        if entries:
            self.env["postback.event"]._record(entries)
        orders._postback_check_completed()
        return result

    def action_cancel(self):
        cancelling_orders = set(self.env.context.get("postback_cancelling_order_ids") or [])
        pending = self.filtered(lambda picking: picking.state not in ("done", "cancel"))
        result = super().action_cancel()
        failed = pending.filtered(
            lambda picking: picking.state == "cancel"
            and picking._postback_is_customer_shipment()
            and picking.sale_id.id not in cancelling_orders
            and picking.sale_id.state == "sale"
        )
        if failed:
            self.env["postback.event"]._record([
                {"order": picking.sale_id, "code": "order.failed", "picking": picking,
                 "dedup_key": "picking-cancel:%s" % picking.id,
                 "extra": {"failure": {"reason": "delivery_cancelled",
                                       "message": _("The delivery %s was cancelled.", picking.name)}}}
                for picking in failed
            ])
        return result

    def write(self, vals):
        if "carrier_tracking_ref" not in vals:
            return super().write(vals)
        before = {picking.id: picking.carrier_tracking_ref for picking in self}
        result = super().write(vals)
        changed = self.filtered(
            lambda picking: picking.state == "done"
            and picking.carrier_tracking_ref
            and picking.carrier_tracking_ref != before.get(picking.id)
            and picking._postback_is_customer_shipment()
        )
        if changed:
            self.env["postback.event"]._record([
                {"order": picking.sale_id, "code": "order.in_transit", "picking": picking,
                 "dedup_key": "tracking:%s:%s" % (picking.id, picking.carrier_tracking_ref)}
                for picking in changed
            ])
        return result

    def _postback_document_shipment(self):
        self.ensure_one()
        items = []
        for move in self.move_ids:
            if move.state == "cancel":
                continue
            items.append({
                "sku": move.product_id.default_code or None,
                "product": move.product_id.name or "",
                "quantity": move.quantity,
                "uom": move.product_uom.name or None,
            })
        return {
            "id": self.id,
            "reference": self.name,
            "state": self.state,
            "carrier": self.carrier_id.name or None,
            "tracking_reference": self.carrier_tracking_ref or None,
            "tracking_url": self.carrier_tracking_url or None,
            "date_done": _iso(self.date_done),
            "is_return": bool(self.return_id),
            "items": items,
        }

    def action_postback_emit(self):
        self.ensure_one()
        action = self.sale_id.action_postback_emit()
        action["context"].update(default_picking_id=self.id, default_event_code="order.in_transit")
        return action
