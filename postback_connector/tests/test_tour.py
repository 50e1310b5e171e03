# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import os
import re
from unittest.mock import patch

import requests

from odoo.tests import HttpCase, tagged
from odoo.tools.misc import file_open
from odoo.tools.translate import PoFileReader

from .common import _loopback_only_send
from .receivers import HttpReceiver

TOUR = "postback_connector_customer_trigger_tour"
RECEIVER_URL_KEY = "postback_connector.tour_receiver_url"
START_URL = "/odoo/action-base.action_partner_form"
ITALIAN_TOUR = "postback_connector_italian_tour"
ITALIAN_KEY = "postback_connector.english_sentences"


@tagged("post_install", "-at_install")
class TestCustomerTriggerTour(HttpCase):
    """The help page's flow in a real browser, against a real receiver on 127.0.0.1."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo's test network guard breaks on (connect, read) timeouts; use the addon's loopback guard.
        cls.startClassPatcher(patch.object(requests.sessions.Session, "send", _loopback_only_send))

    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "1")
        self.customer = self.env["res.partner"].create(
            {"name": "Tour Customer Srl", "is_company": True, "email": "orders@tour-customer.example"}
        )
        self.shipped = self.env.ref("postback_connector.event_type_order_shipped")

    def test_customer_trigger_tour(self):
        with HttpReceiver() as receiver:
            # The tour reads the receiver's URL (random port) from sessionStorage:
            # same start code as start_tour(), with that value set first.
            options = {
                "stepDelay": 0,
                "keepWatchBrowser": False,
                "debug": False,
                "startUrl": START_URL,
                "delayToCheckUndeterminisms": int(os.getenv("ODOO_TOUR_DELAY_TO_CHECK_UNDETERMINISMS", "0") or 0),
            }
            code = "window.sessionStorage.setItem(%s, %s); odoo.startTour(%s, %s);" % (
                json.dumps(RECEIVER_URL_KEY),
                json.dumps(receiver.url),
                json.dumps(TOUR),
                json.dumps(options),
            )
            self.start_tour(START_URL, TOUR, login="admin", code=code)
            received = list(receiver.received)
            url = receiver.url

        self.env.invalidate_all()
        trigger = self.customer.postback_trigger_ids
        self.assertEqual(len(trigger), 1, "the tour added one trigger to the customer")
        self.assertEqual(trigger.name, "Tour ERP shipments")
        self.assertEqual(trigger.state, "active")
        self.assertEqual(trigger.event_type_ids, self.shipped)
        self.assertEqual(
            (trigger.channel, trigger.url, trigger.http_method, trigger.payload_format, trigger.retry_on_failure),
            ("url", url, "POST", "json", True),
        )
        template = trigger.template_id
        self.assertEqual(template.name, "Tour shipment notice")
        self.assertEqual(template.partner_id, self.customer)
        self.assertEqual(template.event_type_id, self.shipped)
        self.assertEqual(
            template.line_ids.sorted("sequence").mapped(lambda line: (line.output_path, line.source)),
            [("order_number", "order.reference"), ("tracking", "shipment.tracking_reference"),
             ("client_reference", "order.client_reference"), ("name", "customer.name"),
             ("carrier", "shipment.carrier")],
        )
        self.assertTrue(trigger.last_test_ok)
        self.assertEqual(trigger.last_test_status, 200)

        self.assertEqual(len(received), 1, "the receiver got exactly the test request")
        request = received[0]
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.path, "/hook")
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.assertTrue(headers.get("webhook-signature", "").startswith("v1,"))
        self.assertIn("application/json", headers.get("content-type", ""))
        self.assertEqual(json.loads(request.body), {
            "order_number": "S01057", "tracking": "pending", "client_reference": "PO-2025-0311",
            "name": "Rossi Forniture S.r.l.", "carrier": "BRT Express",
        })


@tagged("post_install", "-at_install")
class TestItalianTour(HttpCase):
    """The Italian UI in a real browser: none of the addon's English sentences is visible."""

    def _english_sentences(self):
        """Literal runs of 16+ characters of each English term that its Italian translation changes."""
        with file_open("postback_connector/i18n/it.po", "rb") as po_file:
            # Model descriptions (ir.model names) are left out: Odoo itself shows them in a few
            # places from the registry's English _description.
            rows = [row for row in PoFileReader(po_file)
                    if row["value"] and row["value"] != row["src"] and row.get("name") != "ir.model,name"]
        italian = " ".join(row["value"] for row in rows)
        sentences = set()
        for row in rows:
            text = re.sub(r"<[^>]+>", " ", row["src"])
            for part in re.split(r"%\(\w+\)s|%s|\n", text):
                chunk = " ".join(part.split()).strip(" .,:;()“”'")
                if len(chunk) >= 16 and chunk not in italian:
                    sentences.add(chunk)
        return sorted(sentences)

    def test_the_italian_ui_shows_no_english_sentence(self):
        self.env["res.lang"]._activate_lang("it_IT")
        self.env["ir.module.module"]._load_module_terms(["postback_connector"], ["it_IT"], overwrite=True)
        self.env.ref("base.user_admin").lang = "it_IT"
        # Created as an Italian merchant would: the chatter's creation message is written in their language.
        template = self.env["postback.template"].with_context(lang="it_IT").create({
            "name": "Modello italiano",
            "event_type_id": self.env.ref("postback_connector.event_type_order_received").id,
            "line_ids": [
                (0, 0, {"sequence": 1, "output_path": "numero", "source": "order.reference"}),
                (0, 0, {"sequence": 2, "output_path": "tracking", "source": "shipment.tracking_reference",
                        "if_missing": "required"}),
            ],
        })
        sentences = self._english_sentences()
        self.assertGreater(len(sentences), 200, "the check looks for the addon's English sentences")
        url = "/odoo/action-postback_connector.postback_template_action/%s" % template.id
        code = "window.sessionStorage.setItem(%s, %s); odoo.startTour(%s, %s);" % (
            json.dumps(ITALIAN_KEY), json.dumps(json.dumps(sentences)), json.dumps(ITALIAN_TOUR),
            json.dumps({"stepDelay": 0, "keepWatchBrowser": False, "debug": False, "startUrl": url,
                        "delayToCheckUndeterminisms": 0}),
        )
        self.start_tour(url, ITALIAN_TOUR, login="admin", code=code)
