# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo.tests import tagged

from .common import PostbackCase

EXPECTED_CODES = {
    "order.received", "order.failed", "order.canceled", "order.returned",
    "order.completed", "order.delivered", "order.shipped", "order.in_transit",
}


@tagged("post_install", "-at_install")
class TestEventTypes(PostbackCase):
    def test_the_eight_order_events_are_installed(self):
        types = self.env["postback.event.type"].search([])
        self.assertEqual(set(types.mapped("code")), EXPECTED_CODES)
        self.assertTrue(all(types.mapped("name")), "every event type has a name the merchant reads")

    def test_each_event_ships_a_valid_json_sample_of_its_own_type(self):
        for event_type in self.env["postback.event.type"].search([]):
            sample = json.loads(event_type.sample_payload)
            self.assertEqual(sample["event"]["type"], event_type.code)
            self.assertEqual(sample["schema_version"], 1)
            self.assertTrue(sample["order"]["lines"], "%s sample has order lines" % event_type.code)
            self.assertIn("shipping_address", sample["order"])

    def test_shipping_samples_carry_the_shipment_and_failures_the_payment(self):
        samples = {t.code: t._get_sample_data() for t in self.env["postback.event.type"].search([])}
        for code in ("order.shipped", "order.in_transit", "order.delivered", "order.returned"):
            self.assertTrue(samples[code]["shipment"], code)
        self.assertTrue(samples["order.in_transit"]["shipment"]["tracking_reference"])
        self.assertEqual(samples["order.failed"]["payment"]["state"], "error")
        self.assertIsNone(samples["order.received"]["shipment"])
