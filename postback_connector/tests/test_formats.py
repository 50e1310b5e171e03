# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""XML and form bodies, end to end: the receiver parses what it gets with its own
parser and finds what the preview showed and what the mapping says."""
import base64
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .receivers import HttpReceiver, SmtpReceiver
from .test_delivery import DeliveryCase

XML_MAPPING = (
    ("order.@number", "order.reference", None, "string"),
    ("order.status", "event.type", None, "string"),
    ("order.total", "order.amount_total", None, "number"),
    ("order.lines.line[].@sku", "order.lines[].sku", "", "string"),
    ("order.lines.line[].quantity", "order.lines[].qty_ordered", None, "number"),
)
FORM_MAPPING = (
    ("order_number", "order.reference", None, "string"),
    ("status", "event.type", None, "string"),
    ("total", "order.amount_total", None, "number"),
    ("items[].sku", "order.lines[].sku", "", "string"),
)


def verify_standard_webhook(secret, body, headers):
    """The receiver's check, from the Standard Webhooks specification (the library's verify()
    parses the body as JSON, so it cannot check an XML or form body)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = ("%s.%s." % (headers["webhook-id"], headers["webhook-timestamp"])).encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1)[1] for part in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, signature) for signature in given)


def canonical(element):
    """An element tree as nested tuples (tag, attributes, text, children), whitespace aside."""
    return (element.tag, dict(element.attrib), (element.text or "").strip(),
            [canonical(child) for child in element])


@tagged("post_install", "-at_install")
class TestFormats(DeliveryCase):
    def preview(self, template):
        """The preview the merchant sees for the template's design data."""
        template.invalidate_recordset()
        self.assertFalse(template.preview_error)
        return template.preview_payload

    def test_xml_trigger_sends_the_previewed_xml_signed_with_its_content_type(self):
        template = self.make_template(XML_MAPPING, name="Bianchi XML", payload_format="xml",
                                      xml_root="OrderNotice", xml_namespace="urn:bianchi:orders:1")
        ns = "{urn:bianchi:orders:1}"
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url, template_id=template.id, payload_format="xml")
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        request = receiver.received[0]
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.assertEqual(headers["content-type"], "application/xml; charset=utf-8")
        self.assertTrue(verify_standard_webhook(trigger.sudo().secret, request.body, headers))
        self.assertFalse(verify_standard_webhook(trigger.sudo().secret, request.body.replace(b"order", b"ORDER", 1),
                                                 headers))
        root = ET.fromstring(request.body)
        self.assertEqual(root.tag, ns + "OrderNotice")
        order = root.find(ns + "order")
        # the mapping, checked on what the receiver parsed
        self.assertEqual(order.get("number"), delivery.order_id.name)
        self.assertEqual(order.findtext(ns + "status"), "order.received")
        self.assertEqual(float(order.findtext(ns + "total")), delivery.order_id.amount_total)
        lines = order.find(ns + "lines").findall(ns + "line")
        self.assertEqual([(line.get("sku"), line.findtext(ns + "quantity")) for line in lines], [("TILE-01", "3.0")])
        self.assertEqual(delivery.payload.encode(), request.body)
        self.assertIn("\n  <order number=", delivery.payload_pretty, "the delivery shows the XML indented")
        # the preview of the same template over the same order is the same document
        wizard = self.env["postback.template.preview"].create({
            "template_id": template.id, "trigger_id": trigger.id, "source": "order",
            "order_id": delivery.order_id.id, "event_type_id": self.event_types["order.received"].id,
        })
        self.assertFalse(wizard.error_msg)
        self.assertEqual(canonical(ET.fromstring(wizard.payload.encode())), canonical(root))

    def test_form_trigger_sends_the_mapped_fields_url_encoded(self):
        template = self.make_template(FORM_MAPPING, name="Bianchi form", payload_format="form")
        self.assertEqual(self.preview(template).split("&")[0].split("=")[0], "order_number")
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url, template_id=template.id, payload_format="form")
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        request = receiver.received[0]
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.assertEqual(headers["content-type"], "application/x-www-form-urlencoded")
        self.assertTrue(verify_standard_webhook(trigger.sudo().secret, request.body, headers))
        self.assertEqual(parse_qsl(request.body.decode("ascii"), strict_parsing=True), [
            ("order_number", delivery.order_id.name),
            ("status", "order.received"),
            ("total", str(delivery.order_id.amount_total)),
            ("items[0][sku]", "TILE-01"),
        ])
        wizard = self.env["postback.template.preview"].create({
            "template_id": template.id, "trigger_id": trigger.id, "source": "order",
            "order_id": delivery.order_id.id, "event_type_id": self.event_types["order.received"].id,
        })
        self.assertEqual(wizard.payload, request.body.decode(), "the form preview is the exact body")

    def test_preview_and_test_send_follow_the_format(self):
        template = self.make_template(XML_MAPPING, name="Bianchi XML", payload_format="xml")
        shown = self.preview(template)
        self.assertTrue(shown.startswith('<?xml version="1.0" encoding="UTF-8"?>'))
        self.assertEqual(ET.fromstring(shown.encode()).tag, "postback")
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(("order.shipped",), url=receiver.url, template_id=template.id, state="draft",
                                        payload_format="xml")
            self.assertEqual(trigger.payload_format, "xml")
            trigger.action_test_send()
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        sent = receiver.received[0]
        self.assertEqual(sent.headers["Content-Type"], "application/xml; charset=utf-8")
        self.assertEqual(canonical(ET.fromstring(sent.body)), canonical(ET.fromstring(shown.encode())))

    def test_xml_email_postback_attaches_an_xml_file(self):
        template = self.make_template(XML_MAPPING, name="Bianchi XML", payload_format="xml")
        with SmtpReceiver() as smtp:
            self.env["ir.mail_server"].create({
                "name": "Local test SMTP", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                "smtp_encryption": "none", "sequence": 1,
            })
            self.make_trigger(channel="email", url=False, email_to="edi@bianchi.example", template_id=template.id,
                              payload_format="xml")
            delivery = self.emit()
            self.run_queue()
            self.assertTrue(smtp.wait_for(1))
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        message = smtp.messages[0][2]
        attachments = list(message.iter_attachments())
        self.assertEqual([a.get_filename() for a in attachments], ["%s-order.received.xml" % delivery.order_id.name])
        self.assertEqual(attachments[0].get_content_type(), "application/xml")
        content = attachments[0].get_content()
        root = ET.fromstring(content if isinstance(content, bytes) else content.encode())
        self.assertEqual(root.find("order").get("number"), delivery.order_id.name)

    def test_advanced_xml_body_escapes_values_and_reports_malformed_output_with_its_position(self):
        template = self.make_template(XML_MAPPING, name="Bianchi XML", payload_format="xml")
        template.action_switch_to_advanced()
        self.assertEqual(template.mode, "advanced")
        self.assertIn("{{", template.body)
        converted = self.preview(template)
        template.mode = "mapper"
        self.assertEqual(canonical(ET.fromstring(self.preview(template).encode())),
                         canonical(ET.fromstring(converted.encode())), "conversion keeps the XML")
        template.write({"mode": "advanced",
                        "body": "<notice>\n  <ref>{{ order.reference }}</reference>\n</notice>"})
        template.invalidate_recordset()
        self.assertIn("not well-formed XML", template.preview_error)
        self.assertIn("line 2", template.preview_error)
        with self.assertRaises(UserError) as caught:
            self.make_trigger(template_id=template.id, payload_format="xml")
        self.assertIn("not well-formed XML", str(caught.exception))
        # a value cannot inject markup: it is escaped
        template.body = "<notice><customer>{{ customer.name }}</customer></notice>"
        self.customer.name = "</customer><evil/>"
        with HttpReceiver() as receiver:
            self.make_trigger(url=receiver.url, template_id=template.id, payload_format="xml")
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        root = ET.fromstring(receiver.received[0].body)
        self.assertEqual(root.findtext("customer"), "</customer><evil/>")
        self.assertIsNone(root.find(".//evil"))

    def test_invalid_xml_names_are_refused_with_a_clear_message(self):
        with self.assertRaises(ValidationError) as caught:
            self.make_template(XML_MAPPING, name="Bad root", payload_format="xml", xml_root="1notice")
        self.assertIn("cannot be an XML name", str(caught.exception))
        template = self.make_template((("2nd field", "order.reference", None, "string"),), name="Bad name",
                                      payload_format="xml")
        template.invalidate_recordset()
        self.assertIn("cannot be an XML name", template.preview_error)

    def test_one_mapping_is_sent_in_each_trigger_s_format(self):
        """The Template Mapper's lines are format-neutral: JSON, XML and form triggers share them."""
        with HttpReceiver() as receiver:
            for fmt in ("json", "xml", "form"):
                self.make_trigger(name="Bianchi %s" % fmt, url=receiver.url + "/" + fmt, payload_format=fmt)
            deliveries = self.emit()
            self.run_queue()
        self.assertEqual(set(deliveries.mapped("state")), {"delivered"})
        received = {request.path.rsplit("/", 1)[1]: request for request in receiver.received}
        order = deliveries.order_id
        self.assertEqual(received["json"].headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(received["json"].body)["order_number"], order.name)
        self.assertEqual(ET.fromstring(received["xml"].body).findtext("order_number"), order.name)
        self.assertEqual(ET.fromstring(received["xml"].body).find("items").findtext("sku"), "TILE-01")
        self.assertEqual(dict(parse_qsl(received["form"].body.decode()))["order_number"], order.name)

    def test_an_advanced_body_is_sent_only_in_its_own_language(self):
        template = self.make_template(XML_MAPPING, name="Bianchi XML", payload_format="xml")
        template.action_switch_to_advanced()
        with self.assertRaises(UserError) as caught:
            self.make_trigger(template_id=template.id, payload_format="json")
        self.assertIn("written in XML", str(caught.exception))
        trigger = self.make_trigger(template_id=template.id, payload_format="xml")
        with self.assertRaises(ValidationError):
            trigger.payload_format = "form"
        # a JSON advanced body may go out as a form
        json_template = self.make_template(FORM_MAPPING, name="Bianchi JSON body")
        json_template.action_switch_to_advanced()
        with HttpReceiver() as receiver:
            form_trigger = self.make_trigger(name="Form", url=receiver.url, template_id=json_template.id,
                                             payload_format="form")
            delivery = self.emit().filtered(lambda d: d.trigger_id == form_trigger)
            self.run_queue()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertEqual(dict(parse_qsl(receiver.received[0].body.decode()))["items[0][sku]"], "TILE-01")
