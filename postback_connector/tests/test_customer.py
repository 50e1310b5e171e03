# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo.tests import Form, tagged

from .common import PostbackCase


@tagged("post_install", "-at_install")
class TestCustomer(PostbackCase):
    def test_add_trigger_from_the_customer_triggers_tab(self):
        with Form(self.customer) as partner_form:
            with partner_form.postback_trigger_ids.new() as trigger_form:
                trigger_form.name = "Shipments to Bianchi"
                trigger_form.event_type_ids.add(self.event_types["order.shipped"])
                trigger_form.url = "https://erp.bianchi.example/hooks"
                trigger_form.template_id = self.template
        trigger = self.customer.postback_trigger_ids
        self.assertEqual(trigger.name, "Shipments to Bianchi")
        self.assertEqual(trigger.state, "draft")
        self.assertTrue(trigger.retry_on_failure, "Retry on Failure is on by default")
        self.assertEqual((trigger.http_method, trigger.payload_format), ("POST", "json"))
        self.assertEqual(self.customer.postback_trigger_count, 1)

    def test_archiving_the_customer_stops_its_triggers(self):
        trigger = self.make_trigger()
        self.assertEqual(trigger.state, "active")
        self.customer.action_archive()
        self.assertFalse(trigger.active)
        self.assertEqual(trigger.state, "disabled")
        self.assertIn("archived", trigger.disabled_reason)

    def test_contacts_of_the_company_count_as_the_company(self):
        trigger = self.make_trigger()
        self.assertEqual(trigger.commercial_partner_id, self.customer)
        self.assertEqual(self.contact.commercial_partner_id, self.customer)

    def test_customer_smart_buttons_open_its_triggers_events_and_failures(self):
        trigger = self.make_trigger()
        order = self.env["sale.order"].create({"partner_id": self.contact.id})
        order._postback_emit("order.received")
        self.assertEqual(self.customer.postback_delivery_count, 1)
        events = self.env["postback.event"].search(self.customer.action_view_postback_events()["domain"])
        self.assertEqual(events.order_id, order)
        triggers = self.env["postback.trigger"].search(self.customer.action_view_postback_triggers()["domain"])
        self.assertEqual(triggers, trigger)
        self.assertEqual(self.customer.action_view_postback_failures()["context"], {"search_default_failed": 1})
