# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Attack probes through JSON-RPC as a Postback manager: poison templates and
internal addresses. Each probe asserts a refusal a merchant can read, that it came
quickly (the render budget is 1 s), and that nothing was sent."""
import json
import socket
import time

from odoo.tests import HttpCase, new_test_user, tagged

from ..engine import netcheck
from .receivers import HttpReceiver

POISON_BODIES = {
    "tuple doubling": "{% set x = (1,) %}" + "{% set x = x + x %}" * 40 + "{{ x | length }}",
    "string repetition": "{{ ('a' * 10**9) | tojson }}",
    "nested loops": "{% for a in range(10**4) %}{% for b in range(10**4) %}{% for c in range(10**4) %}"
    "{% endfor %}{% endfor %}{% endfor %}{}",
    "python object": "{\"x\": \"{{ self }}\"}",
    "sandbox escape": "{{ cycler.__init__.__globals__ }}",
}
# Bounded, not refused: quadratic in plain Jinja, linear here.
HEAVY_BUT_BOUNDED = "{\"x\": {{ ('<a' * 20000) | striptags | tojson }}}"


@tagged("post_install", "-at_install")
class TestAttackLimits(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="atk_limits_mgr",
            groups="base.group_user,postback_connector.group_postback_manager")
        cls.customer = cls.env["res.partner"].create({"name": "Limits Customer", "is_company": True})
        cls.received = cls.env["postback.event.type"].search([("code", "=", "order.received")])

    def _rpc(self, model, method, args, kwargs=None):
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1,
                   "params": {"model": model, "method": method, "args": args, "kwargs": kwargs or {}}}
        response = self.url_open("/web/dataset/call_kw/%s/%s" % (model, method), data=json.dumps(payload),
                                 headers={"Content-Type": "application/json"}, timeout=60)
        self.assertEqual(response.status_code, 200)
        return response.json()

    def test_poison_templates_are_refused_quickly_in_preview_and_test_send(self):
        self.authenticate("atk_limits_mgr", "atk_limits_mgr")
        with HttpReceiver() as receiver:
            self.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "1")
            for name, body in POISON_BODIES.items():
                with self.subTest(name):
                    answer = self._rpc("postback.template", "create", [{
                        "name": "Poison %s" % name, "mode": "advanced", "body": body,
                        "event_type_id": self.received.id, "partner_id": self.customer.id,
                    }])
                    if "error" in answer:  # refused at save time: fine, it never renders
                        self.assertIn(answer["error"]["data"]["name"], (
                            "odoo.exceptions.ValidationError", "odoo.exceptions.UserError"))
                        continue
                    template_id = answer["result"]
                    started = time.monotonic()
                    preview = self._rpc("postback.template", "read", [[template_id], ["preview_error",
                                                                                     "preview_payload"]])
                    elapsed = time.monotonic() - started
                    row = preview["result"][0]
                    self.assertLess(elapsed, 5.0, "the preview render is bounded")
                    self.assertTrue(row["preview_error"], "the poison is refused: %r" % str(row)[:300])
                    self.assertFalse(row["preview_payload"])
                    self.assertNotIn("Traceback", row["preview_error"])
                    self.assertNotIn("object at 0x", row["preview_error"])
                    trigger = self._rpc("postback.trigger", "create", [{
                        "name": "Poison %s" % name, "partner_id": self.customer.id, "url": receiver.url,
                        "event_type_ids": [(6, 0, self.received.ids)], "template_id": template_id,
                    }])["result"]
                    started = time.monotonic()
                    sent = self._rpc("postback.trigger", "action_test_send", [[trigger]])
                    self.assertLess(time.monotonic() - started, 5.0)
                    self.assertIn("error", sent, "a broken template is never sent")
            self.assertEqual(receiver.received, [], "nothing left for the receiver")
            answer = self._rpc("postback.template", "create", [{
                "name": "Heavy", "mode": "advanced", "body": HEAVY_BUT_BOUNDED,
                "event_type_id": self.received.id, "partner_id": self.customer.id,
            }])
            started = time.monotonic()
            row = self._rpc("postback.template", "read", [[answer["result"]], ["preview_error"]])["result"][0]
            self.assertLess(time.monotonic() - started, 5.0, "striptags is linear: 40 KB render quickly")
            self.assertFalse(row["preview_error"])

    def test_a_name_resolving_to_an_internal_address_is_refused_before_anything_leaves(self):
        self.authenticate("atk_limits_mgr", "atk_limits_mgr")
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "0")
        with HttpReceiver() as receiver:
            port = int(receiver.url.split(":")[2].split("/")[0])
            # The name answers 127.0.0.1 (an internal service): a resolver on loopback only.
            netcheck.set_resolver(lambda host, p: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))])
            try:
                template = self.env["postback.template"].create({
                    "name": "Plain", "event_type_id": self.received.id, "partner_id": self.customer.id,
                    "line_ids": [(0, 0, {"output_path": "ref", "source": "order.reference"})],
                })
                trigger = self._rpc("postback.trigger", "create", [{
                    "name": "Internal", "partner_id": self.customer.id,
                    "url": "http://billing.internal.example:%s/hook" % port,
                    "event_type_ids": [(6, 0, self.received.ids)], "template_id": template.id,
                }])["result"]
                self._rpc("postback.trigger", "action_test_send", [[trigger]])
                result = self._rpc("postback.trigger", "read", [[trigger], ["last_test_ok", "last_test_result"]])
            finally:
                netcheck.set_resolver(None)
        row = result["result"][0]
        self.assertFalse(row["last_test_ok"])
        self.assertIn("loopback", row["last_test_result"])
        self.assertEqual(receiver.received, [], "the internal service got nothing")
