# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .receivers import HttpReceiver, SmtpReceiver
from .test_order_events import OrderFlowCase


@tagged("post_install", "-at_install")
class TestTemplateMapper(OrderFlowCase):
    def test_every_shipped_demo_template_renders_its_event_sample(self):
        templates = self.env["postback.template"].search([("name", "like", "standard JSON")])
        if not templates:
            self.skipTest("demo data not loaded")
        self.assertEqual(len(templates), 8, "one demo template per event type")
        for template in templates:
            payload = json.loads(template._render_payload(template.event_type_id._get_sample_data()))
            self.assertEqual(payload["status"], template.event_type_id.code)
            self.assertEqual(payload["order_number"], "S01057")
            self.assertEqual(payload["items"][0]["sku"], "FURN_7800")
            self.assertFalse(template.preview_error, template.name)

    def test_preview_shows_the_mapped_sample_and_the_available_paths(self):
        preview = json.loads(self.template.preview_payload)
        self.assertEqual(preview["order_number"], "S01057")
        self.assertEqual(
            preview["items"], [{"sku": "FURN_7800", "quantity": 2.0}, {"sku": "FURN_0269", "quantity": 3.0}]
        )
        self.assertIn("order.lines[].sku", self.template.available_paths)
        self.assertIn("shipment.tracking_reference", self.template.available_paths)

    def test_each_mapping_line_shows_its_value_or_its_error_as_it_is_typed(self):
        template = self.make_template(
            lines=[("order_number", "order.reference", None, "auto"),
                   ("items[].sku", "order.lines[].sku", None, "auto")],
            name="Line values", event_type_id=self.event_types["order.shipped"].id,
        )
        values = {line.output_path: line.preview_value for line in template.line_ids}
        self.assertEqual(values, {"order_number": '"S01057"', "items[].sku": '["FURN_7800", "FURN_0269"]'})
        self.assertFalse(any(template.line_ids.mapped("preview_failed")))
        with Form(template) as form:
            with form.line_ids.new() as line:
                line.output_path = "items[].qty"
                line.source = "item.qty_ordered * 2"
                line.value_type = "integer"
                self.assertEqual(line.preview_value, "[4, 6]", "a line relative to its list shows each value")
            with form.line_ids.new() as line:
                line.output_path = "tracking"
                line.source = "shipment.tracking_reference"
                line.if_missing = "omit"
                self.assertEqual(line.preview_value, "(left out)")
                line.if_missing = "required"
                self.assertTrue(line.preview_failed)
                self.assertIn("shipment.tracking_reference", line.preview_value)
                line.if_missing = "null"
            with form.line_ids.edit(0) as line:
                line.value_type = "integer"
                self.assertTrue(line.preview_failed)
                self.assertIn("S01057", line.preview_value)
                line.value_type = "auto"
            self.assertIn('"tracking": null', form.preview_payload)

    def test_missing_value_without_default_is_sent_empty(self):
        # "default: empty" means "empty when missing": the postback still goes out
        self.template.line_ids[0].source = "order.no_such_field"
        self.assertFalse(self.template.preview_error)
        self.assertEqual(json.loads(self.template.preview_payload)["order_number"], "")

    def test_shipment_line_with_empty_default_yields_empty_text_on_a_received_order(self):
        template = self.make_template(
            lines=[("order_number", "order.reference", None, "auto"),
                   ("tracking", "shipment.tracking_reference", None, "auto")],
            name="No shipment yet", event_type_id=self.event_types["order.received"].id,
        )
        payload = json.loads(template.preview_payload)
        self.assertEqual(payload["tracking"], "", template.preview_error)
        template.line_ids.filtered(lambda line: line.output_path == "tracking").if_missing = "omit"
        self.assertNotIn("tracking", json.loads(template.preview_payload))
        template.line_ids.filtered(lambda line: line.output_path == "tracking").if_missing = "required"
        self.assertFalse(template.preview_payload)
        self.assertIn("shipment", template.preview_error)

    def test_preview_errors_are_precise_never_tracebacks(self):
        self.trigger.action_deactivate()  # a template in use cannot be saved broken
        self.template.line_ids[0].write({"source": "order.no_such_field", "if_missing": "required"})
        self.assertFalse(self.template.preview_payload)
        self.assertIn("order.no_such_field", self.template.preview_error)
        self.assertNotIn("Traceback", self.template.preview_error)

        with self.assertRaisesRegex(ValidationError, "line 2"):
            self.make_template(mode="advanced", body='{\n "a": {{ order.reference | tojson }\n}', name="Bad syntax")
        advanced = self.make_template(mode="advanced", body='{"a": {{ order.reference | tojson }},}', name="Bad JSON")
        self.assertIn("not valid JSON", advanced.preview_error)
        self.assertIn("column", advanced.preview_error)

    def test_custom_sample_is_validated_with_its_position(self):
        with self.assertRaisesRegex(ValidationError, "line 2"):
            self.make_template(sample_source="custom", custom_sample='{"order":\n  {"reference": }}', name="Bad")
        template = self.make_template(
            sample_source="custom", name="Custom",
            custom_sample=json.dumps({"order": {"reference": "X-1", "amount_total": 5, "lines": []},
                                      "event": {"type": "order.received"}}),
        )
        self.assertEqual(json.loads(template.preview_payload)["order_number"], "X-1")

    def test_switching_to_advanced_prefills_an_equivalent_body(self):
        before = json.loads(self.template.preview_payload)
        self.template.action_switch_to_advanced()
        self.assertEqual(self.template.mode, "advanced")
        self.assertIn("order.reference", self.template.body)
        self.assertEqual(json.loads(self.template.preview_payload), before)

    def test_sandbox_refuses_to_reach_python_internals(self):
        for body in (
            '{"x": {{ order.__class__.__mro__ | tojson }}}',
            '{"x": {{ cycler.__init__.__globals__ | tojson }}}',
        ):
            with self.assertRaisesRegex(ValidationError, "not allowed", msg=body):
                self.make_template(mode="advanced", name="Escape", body=body)
        huge = self.make_template(mode="advanced", name="Huge", body='{"x": {{ range(10**9) | list | length }}}')
        self.assertFalse(huge.preview_payload)
        self.assertIn("range", huge.preview_error)

    def test_preview_on_a_real_order_equals_what_the_event_sends(self):
        order = self.make_order()
        order.action_confirm()
        wizard = self.env["postback.template.preview"].create({
            "template_id": self.template.id, "source": "order",
            "event_type_id": self.event_types["order.received"].id, "order_ref": "sale.order,%s" % order.id,
        })
        self.assertFalse(wizard.error_msg)
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "1")
        with HttpReceiver() as receiver:
            self.trigger.url = receiver.url
            self.env["postback.delivery"]._cron_send_due_deliveries()
        sent = [json.loads(r.body) for r in receiver.received]
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0], json.loads(wizard.payload))

    def test_duplicate_a_template_for_another_customer(self):
        action = self.template.action_duplicate()
        copy = self.env["postback.template"].browse(action["res_id"])
        self.assertEqual(len(copy.line_ids), len(self.template.line_ids))
        self.assertIn("copy", copy.name)


@tagged("post_install", "-at_install")
class TestTestSendAndActivate(OrderFlowCase):
    def test_test_send_hits_the_receiver_and_shows_status_and_duration(self):
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url, state="draft", events=("order.shipped",))
            trigger.action_test_send()
        self.assertTrue(trigger.last_test_ok)
        self.assertEqual(trigger.last_test_status, 200)
        self.assertGreater(trigger.last_test_duration_ms, 0)
        self.assertIn("HTTP 200", trigger.last_test_result)
        # the test says which event's data it sent
        shipped = self.event_types["order.shipped"].name
        self.assertEqual(trigger.last_test_data, f"the sample data of “{shipped}”")
        self.assertIn(f"Tested with the sample data of “{shipped}”.", trigger.last_test_result)
        self.assertEqual(len(receiver.received), 1)
        self.assertEqual(json.loads(receiver.received[0].body)["order_number"], "S01057")
        self.assertIn("webhook-signature", {k.lower() for k in receiver.received[0].headers})

    def test_send_test_on_several_events_lets_the_merchant_pick_the_event_and_stays_open(self):
        shipped, received = self.event_types["order.shipped"], self.event_types["order.received"]
        in_transit = self.event_types["order.in_transit"]
        with HttpReceiver() as receiver:
            template = self.make_template(name="Two events")  # designed for order.shipped
            trigger = self.make_trigger(url=receiver.url, state="draft", events=("order.received", "order.shipped"),
                                        template_id=template.id)
            self.assertEqual(template.trigger_event_type_ids, received | shipped,
                             "the template shows the events of its triggers")
            # The design event is one of the trigger's: sent at once, and said.
            action = trigger.action_test_send()
            self.assertIn(f"Sent with the sample data of “{shipped.name}”.", action["params"]["message"])
            self.assertEqual(len(receiver.received), 1)
            # Several events, none the design event: the merchant picks one first.
            trigger.event_type_ids = received | in_transit
            action = trigger.action_test_send()
            self.assertEqual(len(receiver.received), 1, "nothing is sent before the merchant picks the event")
            self.assertEqual(action["res_model"], "postback.template.preview")
            wizard = self.env[action["res_model"]].with_context(action["context"]).create({})
            self.assertEqual(wizard.event_type_id, received, "it opens on the trigger's first event")
            self.assertEqual(wizard.allowed_event_type_ids, received | in_transit)
            self.assertEqual(wizard.data_label, f"the sample data of “{received.name}”")
            wizard.event_type_id = in_transit
            self.assertEqual(wizard.data_label, f"the sample data of “{in_transit.name}”")
            wizard.event_type_id = received
            again = wizard.action_send_test()
        self.assertEqual((again["res_model"], again["res_id"], again["target"]), (wizard._name, wizard.id, "new"),
                         "the preview stays open after the test")
        self.assertTrue(wizard.test_done and wizard.test_ok)
        self.assertIn("HTTP 200", wizard.test_result)
        self.assertEqual(len(receiver.received), 2)
        self.assertEqual(json.loads(receiver.received[1].body)["order_number"], "S01057")
        self.assertEqual(trigger.last_test_data, f"the sample data of “{received.name}”")

    def test_send_test_on_one_event_sends_that_event_and_says_so(self):
        with HttpReceiver() as receiver:
            # The template is designed on the shipped sample; the trigger only fires on received orders.
            trigger = self.make_trigger(url=receiver.url, state="draft", events=("order.received",))
            action = trigger.action_test_send()
        received = self.event_types["order.received"].name
        self.assertEqual(action["params"]["title"], "Test sent")
        self.assertIn(f"Sent with the sample data of “{received}”.", action["params"]["message"])
        self.assertEqual(trigger.last_test_data, f"the sample data of “{received}”")
        self.assertEqual(len(receiver.received), 1)

    def test_failed_test_send_shows_the_error(self):
        with HttpReceiver(default=(401, {}, '{"error": "bad token"}')) as receiver:
            trigger = self.make_trigger(url=receiver.url, state="draft")
            trigger.action_test_send()
        self.assertFalse(trigger.last_test_ok)
        self.assertEqual(trigger.last_test_status, 401)
        self.assertIn("bad token", trigger.last_test_result)

    def test_test_send_by_email_reaches_the_smtp_server(self):
        with SmtpReceiver() as smtp:
            self.env["ir.mail_server"].create({
                "name": "Local test SMTP", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                "smtp_encryption": "none", "sequence": 1,
            })
            trigger = self.make_trigger(channel="email", url=False, state="draft", email_to="edi@bianchi.example")
            trigger.action_test_send()
            self.assertTrue(smtp.wait_for(1))
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        message = smtp.messages[0][2]
        self.assertTrue(any(p.get_filename().endswith(".json") for p in message.iter_attachments()))

    def test_test_send_from_the_preview_with_a_real_order(self):
        order = self.make_order()
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url, state="draft")
            action = trigger.action_open_preview()
            wizard = self.env[action["res_model"]].with_context(action["context"]).create({
                "source": "order", "order_ref": "sale.order,%s" % order.id,
                "event_type_id": self.event_types["order.received"].id,
            })
            wizard.action_send_test()
        self.assertEqual(json.loads(receiver.received[0].body)["order_number"], order.name)
        self.assertTrue(trigger.last_test_ok)
        received = self.event_types["order.received"].name
        self.assertEqual(trigger.last_test_data, f"order {order.name} as “{received}”")

    def test_activating_an_untested_trigger_asks_for_confirmation(self):
        trigger = self.make_trigger(state="draft")
        action = trigger.action_activate()
        self.assertEqual(action["res_model"], "postback.trigger.activate")
        self.assertEqual(trigger.state, "draft")
        self.env["postback.trigger.activate"].with_context(action["context"]).create({}).action_confirm()
        self.assertEqual(trigger.state, "active")

    def test_a_tested_trigger_activates_directly_and_deactivates(self):
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url, state="draft")
            trigger.action_test_send()
        self.assertTrue(trigger.action_activate())
        self.assertEqual(trigger.state, "active")
        trigger.action_deactivate()
        # A plain pause, not the failure state: no recovery banner, a note in the chatter.
        self.assertEqual(trigger.state, "paused")
        self.assertFalse(trigger.disabled_reason)
        self.assertIn("Paused by", trigger.message_ids[0].body)
        self.assertTrue(trigger.action_activate())
        self.assertEqual(trigger.state, "active")
        trigger.action_archive()
        self.assertEqual(trigger.state, "paused")

    def test_activation_needs_events_and_a_template(self):
        trigger = self.env["postback.trigger"].create(
            {"name": "Empty", "partner_id": self.customer.id, "url": "https://erp.example/hook"}
        )
        with self.assertRaisesRegex(UserError, "order event"):
            trigger.with_context(postback_skip_test_check=True).action_activate()

    def test_activation_is_refused_for_a_template_broken_on_one_of_the_events(self):
        # Renders the shipped sample, but a received order has no shipment yet.
        template = self.make_template(
            lines=[("order_number", "order.reference", None, "string"),
                   ("carrier", "shipment.carrier", None, "string", "required")],
            name="Carrier required",
        )
        trigger = self.make_trigger(events=("order.shipped", "order.received"), template_id=template.id,
                                    state="draft")
        with self.assertRaises(UserError) as refused:
            trigger.with_context(postback_skip_test_check=True).action_activate()
        message = str(refused.exception)
        self.assertIn(self.event_types["order.received"].name, message)
        self.assertIn("shipment", message)
        self.assertNotIn(self.event_types["order.shipped"].name, message)
        self.assertEqual(trigger.state, "draft")
        # Only for the events it renders: activation goes through.
        trigger.event_type_ids = self.event_types["order.shipped"]
        trigger.with_context(postback_skip_test_check=True).action_activate()
        self.assertEqual(trigger.state, "active")

    def test_a_template_in_use_cannot_be_saved_broken(self):
        self.trigger.action_deactivate()  # the case's own trigger (every event) is not this test's
        trigger = self.make_trigger(events=("order.received", "order.shipped"))
        line = self.template.line_ids.filtered(lambda line: line.output_path == "order_number")
        with self.assertRaises(ValidationError) as refused:
            line.write({"source": "shipment.carrier", "if_missing": "required"})
        self.assertIn(self.event_types["order.received"].name, str(refused.exception))
        with self.assertRaises(ValidationError):
            self.template.write({"mode": "advanced", "body": '{"x": {{ order.nothing | tojson }}}'})
        # Once the trigger is paused, the template can be changed freely.
        trigger.action_deactivate()
        line.write({"source": "shipment.carrier", "if_missing": "required"})
        self.assertEqual(line.if_missing, "required")
        # An active trigger cannot take on an event its template fails on.
        shipped_only = self.make_trigger(events=("order.shipped",), name="Shipped only")
        with self.assertRaises(ValidationError) as refused:
            shipped_only.event_type_ids |= self.event_types["order.received"]
        self.assertIn(self.event_types["order.received"].name, str(refused.exception))
