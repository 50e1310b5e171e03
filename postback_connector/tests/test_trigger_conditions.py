# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged

from .receivers import HttpReceiver
from .test_order_events import OrderFlowCase


@tagged("post_install", "-at_install")
class TestTriggerConditions(OrderFlowCase):
    """A trigger with a condition (a domain on the order) fires only for the customer's matching orders."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.europe = cls.env["crm.team"].create({"name": "Europe"})
        cls.americas = cls.env["crm.team"].create({"name": "Americas"})
        cls.vip = cls.env["crm.tag"].create({"name": "VIP"})
        cls.berlin = cls.env["res.partner"].create({
            "name": "Bianchi Berlin", "type": "delivery", "parent_id": cls.customer.id,
            "country_id": cls.env.ref("base.de").id, "city": "Berlin",
        })
        cls.milano = cls.env["res.partner"].create({
            "name": "Bianchi Milano", "type": "delivery", "parent_id": cls.customer.id,
            "country_id": cls.env.ref("base.it").id, "city": "Milano",
        })

    def order(self, qty=60, team=None, tags=(), shipping=None):
        order = self.make_order(lines=((None, qty),))
        order.write({
            "team_id": (team or self.europe).id,
            "tag_ids": [(6, 0, [tag.id for tag in tags])],
            "partner_shipping_id": (shipping or self.berlin).id,
        })
        return order

    def conditional(self, condition, url="http://127.0.0.1:9/europe", events=("order.received", "order.shipped")):
        return self.make_trigger(name="Europe over 500", events=events, url=url, condition_domain=condition)

    def delivered_orders(self, trigger, code):
        deliveries = self.env["postback.delivery"].search([("trigger_id", "=", trigger.id)])
        return deliveries.filtered(lambda d: d.event_id.code == code).order_id

    def test_only_the_matching_order_is_delivered_on_confirmation_and_shipment(self):
        with HttpReceiver() as receiver:
            trigger = self.conditional(
                '[("team_id", "=", %d), ("amount_total", ">", 500), ("tag_ids", "in", [%d])]'
                % (self.europe.id, self.vip.id),
                url=receiver.url,
            )
            matching = self.order(qty=60, tags=[self.vip])  # 60 at 10 € + taxes, Europe, VIP
            small = self.order(qty=5, tags=[self.vip])  # same customer, team and tag, 50 €
            (matching | small).action_confirm()  # one batch: the condition is evaluated on both at once
            for order in matching | small:
                self.validate(order.picking_ids)
            self.run_queue()

        for code in ("order.received", "order.shipped"):
            self.assertEqual(self.delivered_orders(trigger, code), matching, code)
            self.assertEqual(self.delivered_orders(self.trigger, code), matching | small,
                             "a trigger without a condition fires for every order (%s)" % code)
        bodies = [json.loads(request.body) for request in receiver.received]
        self.assertEqual(sorted(body["status"] for body in bodies), ["order.received", "order.shipped"])
        self.assertEqual({body["order_number"] for body in bodies}, {matching.name})
        # the order that did not match still has its events, for the trigger without a condition
        self.assertEqual(self.deliveries(small).trigger_id, self.trigger)

    def test_sales_team_and_delivery_country(self):
        trigger = self.conditional(
            '["|", ("team_id.name", "=", "Americas"), ("partner_shipping_id.country_id.code", "=", "DE")]',
            events=("order.received", "order.shipped", "order.canceled"),
        )
        german = self.order(shipping=self.berlin, team=self.europe)
        italian = self.order(shipping=self.milano, team=self.europe)
        american = self.order(shipping=self.milano, team=self.americas)
        (german | italian | american).action_confirm()
        self.assertEqual(self.delivered_orders(trigger, "order.received"), german | american)
        self.validate(italian.picking_ids)
        self.validate(german.picking_ids)
        self.assertEqual(self.delivered_orders(trigger, "order.shipped"), german)
        (italian | american)._action_cancel()
        self.assertEqual(self.delivered_orders(trigger, "order.canceled"), american)

    def test_the_condition_is_evaluated_when_the_event_happens(self):
        trigger = self.conditional('[("tag_ids", "in", [%d])]' % self.vip.id)
        order = self.order()
        order.action_confirm()
        self.assertFalse(self.delivered_orders(trigger, "order.received"))
        order.tag_ids = self.vip
        self.validate(order.picking_ids)
        self.assertEqual(self.delivered_orders(trigger, "order.shipped"), order)

    def test_no_event_when_no_trigger_of_the_customer_matches(self):
        self.trigger.action_deactivate()
        trigger = self.conditional('[("amount_total", ">=", 500)]')
        small, big = self.order(qty=5), self.order(qty=60)
        (small | big).action_confirm()
        self.assertFalse(self.events(small), "no trigger fires for the small order: nothing is recorded")
        self.assertEqual(self.events(big).delivery_ids.trigger_id, trigger)

    def test_the_condition_is_the_merchants_filter_not_a_permission(self):
        """Evaluated as the superuser: the salesperson confirming the order need not read what it names."""
        trigger = self.conditional('[("partner_shipping_id.country_id.code", "=", "DE"), ("team_id", "!=", False)]')
        salesman = self.make_user("cond_salesman", "sales_team.group_sale_salesman_all_leads")
        order = self.order()
        order.with_user(salesman).action_confirm()
        self.assertEqual(self.delivered_orders(trigger, "order.received"), order)

    def test_send_test_ignores_the_condition(self):
        with HttpReceiver() as receiver:
            trigger = self.conditional('[("amount_total", ">", 1000000000)]', url=receiver.url,
                                       events=("order.shipped",))
            trigger.action_test_send()
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        self.assertEqual(len(receiver.received), 1)

    def test_query_count_does_not_grow_with_the_orders_when_a_condition_is_set(self):
        trigger = self.conditional(
            '[("amount_total", ">", 500), ("tag_ids", "in", [%d]), ("team_id.name", "=", "Europe"), '
            '("partner_shipping_id.country_id.code", "in", ["DE", "AT"])]' % self.vip.id,
            events=("order.in_transit",),
        )
        single = self.order(tags=[self.vip])
        orders = self.env["sale.order"].browse()
        for index in range(20):
            orders |= self.order(qty=60 if index % 2 else 5, tags=[self.vip] if index % 3 else [],
                                 shipping=self.berlin if index % 4 else self.milano)
        (single | orders).action_confirm()
        counts = []
        for batch in (single, orders):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            batch._postback_emit("order.in_transit")
            self.env.flush_all()
            counts.append(self.env.cr.sql_log_count - before)
        expected = orders.filtered(
            lambda o: o.amount_total > 500 and self.vip in o.tag_ids and o.partner_shipping_id == self.berlin)
        self.assertTrue(expected and expected != orders)
        self.assertEqual(self.delivered_orders(trigger, "order.in_transit"), single | expected)
        self.assertEqual(counts[0], counts[1], "queries of the event recording for 1 vs 20 orders: %s" % counts)


@tagged("post_install", "-at_install")
class TestConditionValidation(OrderFlowCase):
    def set_condition(self, condition, trigger=None):
        (trigger or self.trigger).condition_domain = condition

    def test_what_the_domain_editor_writes_is_accepted(self):
        tag = self.env["crm.tag"].create({"name": "VIP"})
        for condition in (
            "[]",
            "",
            '[("amount_total", ">", 500)]',
            '[("tag_ids", "in", [%d])]' % tag.id,
            '["|", ("team_id", "=", False), ("team_id.name", "ilike", "europe")]',
            '[("partner_shipping_id.country_id", "in", [%d])]' % self.env.ref("base.de").id,
            '[("partner_shipping_id", "any", [("country_id.code", "=", "DE")])]',
            '[("warehouse_id", "=", %d), ("carrier_id", "!=", False)]' % self.warehouse.id,
            '[("date_order", ">=", "2026-01-01 00:00:00"), ("commitment_date", "=", False)]',
            '["!", ("state", "in", ["cancel"])]',
            "[(1, '=', 1)]",
        ):
            self.set_condition(condition)
            self.env.flush_all()
            self.assertEqual(self.trigger.condition_domain, condition)

    def test_an_unknown_field_is_named(self):
        with self.assertRaisesRegex(ValidationError, "the condition uses “amount_totl”, but Sales Order has no "
                                                     "field “amount_totl”"):
            self.set_condition('[("amount_totl", ">", 500)]')
        with self.assertRaisesRegex(ValidationError, "“partner_shipping_id.country_id.cod”, but Country has no "
                                                     "field “cod”"):
            self.set_condition('[("partner_shipping_id.country_id.cod", "=", "DE")]')
        with self.assertRaisesRegex(ValidationError, "“partner_shipping_id.nope”, but Contact has no field “nope”"):
            self.set_condition('[("partner_shipping_id", "any", [("nope", "=", 1)])]')
        with self.assertRaisesRegex(ValidationError, "“amount_total.currency”, but “amount_total” has no fields"):
            self.set_condition('[("amount_total.currency", "=", "EUR")]')

    def test_expressions_and_malformed_domains_are_refused(self):
        for condition, message in (
            ('[("date_order", ">=", context_today().strftime("%Y-%m-%d"))]', "a date relative to today"),
            ('[("user_id", "=", uid)]', "“uid”, which is not a fixed value"),
            ('[("amount_total", ">", 500]', "cannot be read"),
            ('["&", ("amount_total", ">", 500)]', "incomplete"),
            ('[("amount_total", "bigger", 500)]', "the operator “bigger”, which Odoo does not know"),
            ('[("amount_total", ">", "500")]', "compares “amount_total” .Total. with '500'"),
            ('[("date_order", ">", "yesterday")]', "compares “date_order”"),
            ('[("amount_total", "any", [])]', "needs a field with related records"),
        ):
            with self.assertRaisesRegex(ValidationError, message, msg=condition), self.env.cr.savepoint():
                self.set_condition(condition)
        self.env.invalidate_all()
        self.assertEqual(self.trigger.condition_domain, "[]")

    def test_a_field_the_manager_may_not_read_is_refused(self):
        manager = self.make_user("cond_manager", "base.group_user,postback_connector.group_postback_manager")
        with self.assertRaisesRegex(ValidationError, "“partner_id.credit”, which you are not allowed to read"):
            self.set_condition('[("partner_id.credit", ">", 1000)]', self.trigger.with_user(manager))
        self.set_condition('[("partner_id.country_id.code", "=", "IT")]', self.trigger.with_user(manager))

    def test_the_customers_trigger_form_edits_the_condition(self):
        form = Form(self.customer)
        with form.postback_trigger_ids.new() as trigger:
            trigger.name = "Europe only"
            trigger.url = "https://erp.example/hook"
            trigger.condition_domain = '[("team_id.name", "=", "Europe")]'
        form.save()
        trigger = self.customer.postback_trigger_ids.filtered(lambda t: t.name == "Europe only")
        self.assertEqual(trigger.condition_domain, '[("team_id.name", "=", "Europe")]')
        arch = self.env["postback.trigger"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="condition_domain" widget="domain"', arch)
        self.assertIn("sale.order", arch)
