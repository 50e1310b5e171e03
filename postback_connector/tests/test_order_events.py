# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo.tests import Form, tagged

from .common import PostbackCase

ALL_EVENTS = (
    "order.received", "order.failed", "order.canceled", "order.returned",
    "order.completed", "order.delivered", "order.shipped", "order.in_transit",
)


@tagged("post_install", "-at_install")
class OrderFlowCase(PostbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        cls.product = cls.env["product.product"].create({
            "name": "Pallet of tiles", "default_code": "TILE-01", "type": "consu", "is_storable": True,
            "list_price": 10.0, "invoice_policy": "order",
        })
        cls.product_b = cls.env["product.product"].create({
            "name": "Grout", "default_code": "GROUT-02", "type": "consu", "is_storable": True, "list_price": 4.0,
        })
        for product in cls.product | cls.product_b:
            cls.env["stock.quant"]._update_available_quantity(product, cls.warehouse.lot_stock_id, 1000)
        cls.trigger = cls.make_trigger(events=ALL_EVENTS)

    def make_order(self, partner=None, lines=((None, 5),)):
        return self.env["sale.order"].create({
            "partner_id": (partner or self.contact).id,
            "client_order_ref": "PO-77",
            "order_line": [
                (0, 0, {"product_id": (product or self.product).id, "product_uom_qty": qty}) for product, qty in lines
            ],
        })

    def validate(self, picking, quantities=None, backorder=True):
        for move in picking.move_ids:
            move.quantity = (quantities or {}).get(move.product_id, move.product_uom_qty)
            move.picked = True
        result = picking.button_validate()
        if isinstance(result, dict) and result.get("res_model") == "stock.backorder.confirmation":
            wizard = Form(self.env["stock.backorder.confirmation"].with_context(result["context"])).save()
            wizard.process() if backorder else wizard.process_cancel_backorder()
        return picking

    def events(self, order, code=None):
        domain = [("order_id", "=", order.id)] + ([("code", "=", code)] if code else [])
        return self.env["postback.event"].search(domain, order="id")

    def deliveries(self, order, code=None):
        return self.events(order, code).delivery_ids


@tagged("post_install", "-at_install")
class TestOrderEvents(OrderFlowCase):
    def test_confirming_a_quotation_fires_order_received_once(self):
        order = self.make_order()
        self.assertFalse(self.events(order))
        order.action_confirm()
        event = self.events(order)
        self.assertEqual(event.code, "order.received")
        self.assertEqual(len(event.delivery_ids), 1)
        self.assertEqual(event.delivery_ids.trigger_id, self.trigger)
        self.assertEqual(event.delivery_ids.state, "pending")
        document = event._get_data()
        self.assertEqual(document["event"]["type"], "order.received")
        self.assertEqual(document["order"]["reference"], order.name)
        self.assertEqual(document["order"]["client_reference"], "PO-77")
        self.assertEqual(document["customer"]["name"], "Bianchi Logistica", "the contact counts as its company")
        self.assertEqual(document["order"]["lines"][0]["sku"], "TILE-01")
        self.assertEqual(document["order"]["lines"][0]["qty_ordered"], 5.0)
        self.assertEqual(document["order"]["amount_total"], order.amount_total)
        order.write({"client_order_ref": "PO-78"})
        self.assertEqual(len(self.events(order)), 1, "re-saving the order fires nothing")

    def test_partial_then_full_shipment(self):
        order = self.make_order()
        order.action_confirm()
        picking = order.picking_ids
        self.validate(picking, {self.product: 2})
        shipped = self.events(order, "order.shipped")
        self.assertEqual(len(shipped), 1)
        self.assertEqual(shipped._get_data()["shipment"]["reference"], picking.name)
        self.assertEqual(shipped._get_data()["shipment"]["items"][0]["quantity"], 2.0)
        self.assertFalse(self.events(order, "order.delivered"), "a partial shipment is not a delivery")
        backorder = order.picking_ids - picking
        self.assertEqual(len(backorder), 1)
        self.validate(backorder)
        shipped = self.events(order, "order.shipped")
        self.assertEqual(len(shipped), 2, "one order.shipped per shipment")
        self.assertEqual(set(shipped.picking_id.ids), set(order.picking_ids.ids))
        delivered = self.events(order, "order.delivered")
        self.assertEqual(len(delivered), 1)
        self.assertEqual(delivered._get_data()["order"]["delivery_status"], "full")
        self.assertEqual(len(self.deliveries(order)), 4, "received + 2 shipped + delivered")

    def test_return_of_goods_fires_order_returned(self):
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        wizard = self.env["stock.return.picking"].with_context(
            active_ids=picking.ids, active_id=picking.id, active_model="stock.picking"
        ).create({})
        wizard.product_return_moves.quantity = 1
        action = wizard.action_create_returns()
        return_picking = self.env["stock.picking"].browse(action["res_id"])
        self.assertFalse(self.events(order, "order.returned"), "creating the return is not returning")
        self.validate(return_picking)
        returned = self.events(order, "order.returned")
        self.assertEqual(len(returned), 1)
        self.assertTrue(returned._get_data()["shipment"]["is_return"])
        self.assertEqual(len(self.events(order, "order.shipped")), 1, "a return is not a shipment")

    def test_cancel_fires_order_canceled_not_failed(self):
        order = self.make_order()
        order.action_confirm()
        order._action_cancel()
        self.assertEqual(len(self.events(order, "order.canceled")), 1)
        self.assertFalse(self.events(order, "order.failed"), "pickings cancelled with their order are no failure")
        self.assertEqual(self.events(order, "order.canceled")._get_data()["order"]["state"], "cancel")

    def test_cancelled_delivery_of_an_open_order_is_a_failure(self):
        order = self.make_order()
        order.action_confirm()
        order.picking_ids.action_cancel()
        failed = self.events(order, "order.failed")
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed._get_data()["failure"]["reason"], "delivery_cancelled")

    def test_failed_payment_fires_order_failed_with_the_payment(self):
        order = self.make_order()
        order.action_confirm()
        provider = self.env["payment.provider"].search([], limit=1)
        transaction = self.env["payment.transaction"].create({
            "provider_id": provider.id,
            "payment_method_id": self.env.ref("payment.payment_method_unknown").id,
            "amount": order.amount_total,
            "currency_id": order.currency_id.id,
            "partner_id": order.partner_id.id,
            "reference": "PB-TX-1",
            "sale_order_ids": [(6, 0, order.ids)],
        })
        transaction._set_error("The card was declined.")
        failed = self.events(order, "order.failed")
        self.assertEqual(len(failed), 1)
        document = failed._get_data()
        self.assertEqual(document["payment"]["reference"], "PB-TX-1")
        self.assertEqual(document["payment"]["state"], "error")
        self.assertEqual(document["failure"]["message"], "The card was declined.")
        transaction._set_error("again")
        self.assertEqual(len(self.events(order, "order.failed")), 1, "the same failure fires once")

    def test_completed_once_when_fully_delivered_and_invoiced(self):
        order = self.make_order()
        order.action_confirm()
        self.validate(order.picking_ids)
        self.assertFalse(self.events(order, "order.completed"))
        invoice = order._create_invoices()
        self.assertFalse(self.events(order, "order.completed"), "a draft invoice does not complete the order")
        invoice.action_post()
        completed = self.events(order, "order.completed")
        self.assertEqual(len(completed), 1)
        self.assertEqual(completed._get_data()["order"]["invoice_status"], "invoiced")
        order._postback_check_completed()
        self.assertEqual(len(self.events(order, "order.completed")), 1, "fires exactly once")

    def test_tracking_reference_fires_in_transit(self):
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        picking.carrier_tracking_ref = "TRK-1"
        in_transit = self.events(order, "order.in_transit")
        self.assertEqual(len(in_transit), 1)
        self.assertEqual(in_transit._get_data()["shipment"]["tracking_reference"], "TRK-1")
        picking.carrier_tracking_ref = "TRK-1"
        picking.write({"carrier_tracking_ref": "TRK-1", "note": "x"})
        self.assertEqual(len(self.events(order, "order.in_transit")), 1, "same reference: no new event")
        picking.carrier_tracking_ref = "TRK-2"
        self.assertEqual(len(self.events(order, "order.in_transit")), 2, "a changed reference fires again")

    def test_emit_by_code_and_by_hand(self):
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        events = order._postback_emit("order.in_transit", picking=picking, tracking_reference="CARRIER-9")
        self.assertEqual(events.origin, "code")
        self.assertEqual(events._get_data()["shipment"]["tracking_reference"], "CARRIER-9")
        wizard = self.env["postback.emit"].create({"order_id": order.id, "event_code": "order.in_transit",
                                                   "picking_id": picking.id, "tracking_reference": "HAND-1"})
        wizard.action_emit()
        manual = self.events(order, "order.in_transit").filtered(lambda e: e.origin == "manual")
        self.assertEqual(manual._get_data()["shipment"]["tracking_reference"], "HAND-1")

    def test_rolled_back_order_change_leaves_no_event_and_no_delivery(self):
        order = self.make_order()
        events_before = self.env["postback.event"].search_count([])
        deliveries_before = self.env["postback.delivery"].search_count([])
        try:
            with self.env.cr.savepoint():
                order.action_confirm()
                self.assertEqual(len(self.events(order)), 1)
                raise RuntimeError("the business transaction fails after the confirmation")
        except RuntimeError:
            pass
        self.env.invalidate_all()
        self.assertEqual(self.env["postback.event"].search_count([]), events_before)
        self.assertEqual(self.env["postback.delivery"].search_count([]), deliveries_before)

    def test_no_delivery_without_a_matching_active_trigger(self):
        stranger = self.env["res.partner"].create({"name": "No Trigger Srl", "is_company": True})
        order = self.make_order(partner=stranger)
        order.action_confirm()
        self.assertFalse(self.events(order))

        other = self.env["res.partner"].create({"name": "Verdi Spa", "is_company": True, "email": "v@v.example"})
        template = self.template.copy({"partner_id": other.id})
        draft = self.make_trigger(partner_id=other.id, template_id=template.id, state="draft")
        disabled = self.make_trigger(partner_id=other.id, template_id=template.id)
        disabled.action_deactivate()
        archived = self.make_trigger(partner_id=other.id, template_id=template.id)
        archived.action_archive()
        other_event = self.make_trigger(partner_id=other.id, template_id=template.id, events=("order.shipped",))
        order = self.make_order(partner=other)
        order.action_confirm()
        self.assertFalse(self.events(order).delivery_ids)
        self.assertTrue(draft and disabled and other_event)

    def test_one_delivery_per_matching_trigger(self):
        second = self.make_trigger(name="Second endpoint", events=("order.received",))
        order = self.make_order()
        order.action_confirm()
        deliveries = self.deliveries(order)
        self.assertEqual(deliveries.trigger_id, self.trigger | second)
        self.assertEqual(len(set(deliveries.mapped("webhook_id"))), 2)

    def test_emitting_costs_the_same_queries_for_1_and_100_lines(self):
        small = self.make_order(lines=((None, 1),))
        big = self.make_order(lines=tuple((self.product if i % 2 else self.product_b, i + 1) for i in range(100)))
        (small | big).action_confirm()
        counts = []
        for order in (small, big):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            order._postback_emit("order.in_transit")
            counts.append(self.env.cr.sql_log_count - before)
        self.assertEqual(len(big.order_line), 100)
        self.assertEqual(counts[0], counts[1], "queries for 1 line vs 100 lines: %s" % counts)

    def test_shipped_samples_match_real_documents(self):
        """The shipped samples have exactly the keys and types of the real documents."""
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        picking.carrier_tracking_ref = "TRK-9"
        for code in ("order.received", "order.shipped", "order.delivered", "order.in_transit"):
            real = self.events(order, code)[:1]._get_data()
            sample = self.event_types[code]._get_sample_data()
            self.assertEqual(set(real), set(sample), code)
            for part in ("event", "customer", "order"):
                self.assertEqual(set(real[part]), set(sample[part]), "%s.%s" % (code, part))
            self.assertEqual(set(real["order"]["lines"][0]), set(sample["order"]["lines"][0]))
            if sample["shipment"]:
                self.assertEqual(set(real["shipment"]), set(sample["shipment"]), code)
                self.assertEqual(set(real["shipment"]["items"][0]), set(sample["shipment"]["items"][0]))
            json.dumps(real)  # plain values only
