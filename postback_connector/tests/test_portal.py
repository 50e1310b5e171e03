# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The customer portal's Postbacks pages, over real HTTP, as their users and as attackers."""

import json
import os
import re
from unittest.mock import patch

import requests

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import MAPPING, _loopback_only_send
from .receivers import HttpReceiver

ORDER_KEY = "postback_connector.portal_tour_order"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@tagged("post_install", "-at_install")
class PortalCase(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.object(requests.sessions.Session, "send", _loopback_only_send))
        cls.receiver = HttpReceiver(default=(500, {"Content-Type": "text/plain"}, "boom: no such order")).start()
        cls.addClassCleanup(cls.receiver.stop)
        env = cls.env
        env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "1")
        env["ir.config_parameter"].sudo().set_param("postback_connector.retry_schedule", "0")
        cls.event_types = {t.code: t for t in env["postback.event.type"].search([])}
        cls.product = env["product.product"].create({"name": "Pallet", "default_code": "PAL-1", "list_price": 5})
        cls.customer = env["res.partner"].create({
            "name": "Azure Interior Portal", "is_company": True, "postback_portal": True,
            "postback_portal_resend": True, "postback_portal_test": True, "postback_portal_secret": True,
            "postback_portal_endpoint": True,
        })
        cls.rival = env["res.partner"].create({
            "name": "Rival Retail", "is_company": True, "postback_portal": True, "postback_portal_resend": True,
            "postback_portal_test": True, "postback_portal_secret": True, "postback_portal_endpoint": True,
        })
        cls.user = cls._portal_user("azure_dev", cls.customer)
        cls.rival_user = cls._portal_user("rival_dev", cls.rival)
        cls.trigger = cls._trigger(cls.customer, "Azure ERP")
        cls.rival_trigger = cls._trigger(cls.rival, "Rival ERP")

    @classmethod
    def _portal_user(cls, login, company):
        user = new_test_user(cls.env, login=login, password=login + "-pass-1234", groups="base.group_portal",
                             name=login.replace("_", " ").title())
        user.partner_id.parent_id = company
        return user

    @classmethod
    def _trigger(cls, partner, name):
        template = cls.env["postback.template"].create({
            "name": name + " JSON", "partner_id": partner.id, "event_type_id": cls.event_types["order.received"].id,
            "line_ids": [(0, 0, {"sequence": i, "output_path": line[0], "source": line[1], "default": line[2],
                                 "value_type": line[3]}) for i, line in enumerate(MAPPING)],
        })
        trigger = cls.env["postback.trigger"].create({
            "name": name, "partner_id": partner.id, "template_id": template.id, "url": cls.receiver.url,
            "retry_on_failure": False,
            "event_type_ids": [(6, 0, [cls.event_types["order.received"].id, cls.event_types["order.shipped"].id])],
        })
        trigger._activate()
        return trigger

    def order_for(self, partner):
        return self.env["sale.order"].create({
            "partner_id": partner.id,
            "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 2})],
        })

    def failed_delivery(self, partner=None):
        """A delivery that really failed: the receiver answered 500 (no retries)."""
        order = self.order_for(partner or self.customer)
        delivery = order._postback_emit("order.received").delivery_ids
        self.env["postback.delivery"]._cron_send_due_deliveries()
        self.assertEqual(delivery.state, "failed", delivery.last_error)
        return delivery

    def csrf(self, url="/my/postbacks"):
        response = self.url_open(url)
        match = CSRF.search(response.text)
        if not match:  # a page without a form: any page of the session gives the token
            match = CSRF.search(self.url_open("/web/login").text)
        return match.group(1)

    def post(self, url, data=None, token=None, **kwargs):
        payload = dict(data or {}, submit="1")  # never empty: an empty form would be sent as a GET
        if token is not False:
            payload["csrf_token"] = token or self.csrf()
        return self.url_open(url, data=payload, allow_redirects=False, **kwargs)

    def jsonrpc(self, route, params):
        """The decoded JSON-RPC answer (``result`` or ``error``), as a browser's client would get it."""
        body = json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params})
        return self.url_open(route, data=body, headers={"Content-Type": "application/json"}).json()

    def sign_in(self, user):
        self.authenticate(user.login, user.login + "-pass-1234")

    def chatter(self, trigger):
        self.env.invalidate_all()
        return trigger.message_ids.filtered(lambda m: m.message_type == "comment").mapped("body")


class TestPortalPages(PortalCase):
    def test_the_customer_sees_its_endpoints_deliveries_and_what_its_server_answered(self):
        delivery = self.failed_delivery()
        self.sign_in(self.user)
        home = self.url_open("/my/postbacks")
        self.assertEqual(home.status_code, 200)
        self.assertIn("Azure ERP", home.text)
        self.assertIn(self.receiver.url, home.text)
        self.assertNotIn("Rival ERP", home.text, "another customer's endpoint is never listed")

        page = self.url_open("/my/postbacks/%s" % self.trigger.id)
        self.assertEqual(page.status_code, 200)
        self.assertIn(delivery.order_id.name, page.text)
        self.assertIn(delivery.webhook_id, page.text)

        detail = self.url_open("/my/postbacks/delivery/%s" % delivery.id)
        self.assertEqual(detail.status_code, 200)
        self.assertIn("boom: no such order", detail.text, "the answer their server gave")
        self.assertIn("HTTP 500", detail.text)
        # a link only when Odoo's own rules let this user open the order in the portal (18.0: not a
        # quotation they do not follow yet; 19.0: any order of their company)
        readable = delivery.order_id.with_user(self.user).has_access("read")
        self.assertEqual('href="/my/orders/%s"' % delivery.order_id.id in detail.text, readable)
        delivery.order_id.message_subscribe(partner_ids=self.customer.ids)
        detail = self.url_open("/my/postbacks/delivery/%s" % delivery.id)
        self.assertIn('href="/my/orders/%s"' % delivery.order_id.id, detail.text, "a link to the portal's order page")
        self.assertNotIn("access_token", detail.text, "no access token is made or handed out")
        self.assertFalse(delivery.order_id.access_token)
        # the exact body sent
        sent = self.receiver.received[-1].body.decode()
        self.assertEqual(sent, delivery.payload)
        self.assertIn(_html(delivery.payload), _html_unescape_quotes(detail.text))

    def test_deliveries_are_searched_by_order_event_state_and_date(self):
        first = self.failed_delivery()
        second = self.failed_delivery()
        shipped = second.order_id._postback_emit("order.shipped").delivery_ids
        self.sign_in(self.user)
        url = "/my/postbacks/%s" % self.trigger.id

        def rows(**params):
            text = self.url_open(url + "?" + "&".join("%s=%s" % item for item in params.items())).text
            return set(re.findall(r"/my/postbacks/delivery/(\d+)", text))

        self.assertEqual(rows(order=first.order_id.name), {str(first.id)})
        self.assertEqual(rows(state="pending"), {str(shipped.id)})
        self.assertEqual(rows(event=self.event_types["order.shipped"].id), {str(shipped.id)})
        self.assertEqual(rows(state="failed"), {str(first.id), str(second.id)})
        today = fields.Date.to_string(fields.Date.context_today(self.trigger))
        self.assertTrue({str(first.id), str(second.id)} <= rows(date_from=today, date_to=today))
        self.assertEqual(rows(date_to="2000-01-01"), set())
        self.assertEqual(rows(state="<script>"), rows(), "an unknown state is no filter, never an error")

    def test_the_developer_page_lists_every_event_with_a_sample_schema_and_signature_code(self):
        self.sign_in(self.user)
        page = self.url_open("/my/postbacks/%s/developer" % self.trigger.id)
        self.assertEqual(page.status_code, 200)
        for code in ("order.received", "order.shipped"):
            self.assertIn('data-code="%s"' % code, page.text)
        self.assertIn("2020-12/schema", page.text)
        self.assertIn("order_number", page.text)
        self.assertIn("def verify(headers, body, secret", page.text)
        self.assertIn("function verify(headers, body, secret", page.text)
        self.assertNotIn(self.trigger.secret, page.text, "the page shows how to check, never the secret")

    def test_the_portal_home_counts_the_endpoints(self):
        self.sign_in(self.user)
        self.assertEqual(self.jsonrpc("/my/counters", {"counters": ["postback_count"]})["result"]["postback_count"], 1)


class TestPortalActions(PortalCase):
    def test_resend_a_failed_delivery_and_see_it_delivered(self):
        delivery = self.failed_delivery()
        self.sign_in(self.user)
        response = self.post("/my/postbacks/delivery/%s/resend" % delivery.id)
        self.assertEqual(response.status_code, 303)
        self.env.invalidate_all()
        self.assertEqual(delivery.state, "pending")
        self.assertTrue(any("Azure Dev" in body and "queued again" in body for body in self.chatter(self.trigger)))
        self.receiver.default = (200, {}, "ok")
        try:
            self.env["postback.delivery"]._cron_send_due_deliveries()
        finally:
            self.receiver.default = (500, {"Content-Type": "text/plain"}, "boom: no such order")
        self.assertEqual(delivery.state, "delivered")
        resent = [item for item in self.receiver.received if item.headers["webhook-id"] == delivery.webhook_id]
        self.assertEqual(len(resent), 2)
        self.assertEqual(resent[0].body, resent[1].body, "a resend carries the same webhook-id and body")
        page = self.url_open("/my/postbacks/delivery/%s" % delivery.id).text
        self.assertIn('data-state="delivered"', page)

    def test_resend_every_failed_delivery_since_a_date(self):
        deliveries = self.failed_delivery() | self.failed_delivery()
        self.sign_in(self.user)
        today = fields.Date.to_string(fields.Date.today())
        self.post("/my/postbacks/%s/resend_failed" % self.trigger.id, {"since": today})
        self.env.invalidate_all()
        self.assertEqual(set(deliveries.mapped("state")), {"pending"})
        notice = self.url_open("/my/postbacks/%s" % self.trigger.id).text
        self.assertIn("2 failed deliveries are queued again", notice)
        self.post("/my/postbacks/%s/resend_failed" % self.trigger.id, {"since": "2999-01-01"})
        self.assertIn("No failed delivery since 2999-01-01", self.url_open("/my/postbacks/%s" % self.trigger.id).text)

    def test_send_a_test_of_an_event_of_their_choice(self):
        self.sign_in(self.user)
        before = len(self.receiver.received)
        shipped = self.event_types["order.shipped"]
        self.receiver.default = (200, {}, "ok")
        try:
            self.post("/my/postbacks/%s/test" % self.trigger.id, {"event_type_id": shipped.id})
        finally:
            self.receiver.default = (500, {"Content-Type": "text/plain"}, "boom: no such order")
        self.assertEqual(len(self.receiver.received), before + 1)
        sent = self.receiver.received[-1]
        self.assertTrue(sent.headers["webhook-id"].startswith("msg_test_"))
        self.assertIn("webhook-signature", {name.lower() for name in sent.headers})
        self.env.invalidate_all()
        self.assertTrue(self.trigger.last_test_ok)
        self.assertIn("Order shipped", self.trigger.last_test_data)
        self.assertTrue(any("Test of" in body and "Azure Dev" in body for body in self.chatter(self.trigger)))
        self.assertIn("Test delivered", self.url_open("/my/postbacks/%s" % self.trigger.id).text)
        # an event the endpoint does not receive: refused, nothing sent
        other = self.event_types["order.canceled"]
        self.post("/my/postbacks/%s/test" % self.trigger.id, {"event_type_id": other.id})
        self.assertEqual(len(self.receiver.received), before + 1)

    def test_a_failed_test_is_recorded_not_rolled_back(self):
        self.sign_in(self.user)
        self.post("/my/postbacks/%s/test" % self.trigger.id, {"event_type_id": self.event_types["order.received"].id})
        self.env.invalidate_all()
        self.assertFalse(self.trigger.last_test_ok)
        self.assertEqual(self.trigger.last_test_status, 500)
        self.assertIn("Test failed", self.url_open("/my/postbacks/%s" % self.trigger.id).text)

    def test_reveal_the_secret_once_then_rotate_it(self):
        self.trigger.secret_revealed = False
        secret = self.trigger.secret
        self.sign_in(self.user)
        shown = self.post("/my/postbacks/%s/secret" % self.trigger.id)
        self.assertEqual(shown.status_code, 200)
        self.assertIn(secret, shown.text)
        self.assertEqual(shown.headers.get("Cache-Control"), "no-store")
        again = self.post("/my/postbacks/%s/secret" % self.trigger.id)
        self.assertNotIn(secret, again.text + self.url_open("/my/postbacks/%s" % self.trigger.id).text)
        rotated = self.post("/my/postbacks/%s/secret/rotate" % self.trigger.id)
        self.env.invalidate_all()
        self.assertNotEqual(self.trigger.secret, secret)
        self.assertIn(self.trigger.secret, rotated.text)
        self.assertEqual(self.trigger.secret_previous, secret, "the previous secret stays valid during the overlap")
        self.assertGreater(self.trigger.secret_previous_expires_at, fields.Datetime.now())
        bodies = self.chatter(self.trigger)
        self.assertTrue(any("rotated" in body and "Azure Dev" in body for body in bodies))
        self.assertFalse(any(secret in body or self.trigger.secret in body for body in bodies))

    def test_change_the_url_with_the_address_policy_then_pause_and_resume(self):
        self.sign_in(self.user)
        new_url = self.receiver.url + "/v2"
        self.post("/my/postbacks/%s/url" % self.trigger.id, {"url": new_url})
        self.env.invalidate_all()
        self.assertEqual(self.trigger.url, new_url)
        # the merchant allows private targets for its own use (these tests' receivers are on
        # 127.0.0.1): a portal user still cannot aim the merchant's Odoo at the internal network
        for private in ("http://10.0.0.7/internal", "http://127.0.0.1:8069/web", "http://169.254.169.254/latest",
                        "http://[::ffff:10.0.0.1]/x"):
            self.post("/my/postbacks/%s/url" % self.trigger.id, {"url": private})
            self.env.invalidate_all()
            self.assertEqual(self.trigger.url, new_url, private)
            self.assertIn("cannot receive postbacks", self.url_open("/my/postbacks/%s" % self.trigger.id).text)
        public = "https://93.184.215.14/hooks/orders"
        self.post("/my/postbacks/%s/url" % self.trigger.id, {"url": public})
        self.env.invalidate_all()
        self.assertEqual(self.trigger.url, public, "a public server is fine")
        self.trigger.url = new_url

        delivery = self.order_for(self.customer)._postback_emit("order.received").delivery_ids
        self.post("/my/postbacks/%s/pause" % self.trigger.id)
        self.env.invalidate_all()
        self.assertEqual(self.trigger.state, "paused")
        self.assertEqual(delivery.state, "held", "a paused endpoint's waiting postbacks wait")
        later = self.order_for(self.customer)._postback_emit("order.received").delivery_ids
        self.assertFalse(later, "while paused, order events are not queued for it (as in the back office)")
        self.post("/my/postbacks/%s/resume" % self.trigger.id)
        self.env.invalidate_all()
        self.assertEqual(self.trigger.state, "active")
        self.assertEqual(delivery.state, "pending")
        bodies = self.chatter(self.trigger)
        for word in ("URL changed", "Paused", "Resumed"):
            self.assertTrue(any(word in body and "Azure Dev" in body for body in bodies), word)

    def test_credentials_the_merchant_set_up_never_move_to_another_server(self):
        self.trigger.header_ids = [(0, 0, {"name": "X-Api-Key", "value": "merchant-held-key"})]
        self.sign_in(self.user)
        self.post("/my/postbacks/%s/url" % self.trigger.id, {"url": "https://93.184.215.14/steal"})
        self.env.invalidate_all()
        self.assertEqual(self.trigger.url, self.receiver.url)
        self.assertIn("only they can move it", self.url_open("/my/postbacks/%s" % self.trigger.id).text)
        self.post("/my/postbacks/%s/url" % self.trigger.id, {"url": self.receiver.url + "?v=2"})
        self.env.invalidate_all()
        self.assertEqual(self.trigger.url, self.receiver.url + "?v=2", "the path on the same server may change")

    def test_only_the_customers_own_pause_can_be_lifted_in_the_portal(self):
        self.trigger.action_deactivate()  # the merchant's pause
        self.sign_in(self.user)
        page = self.url_open("/my/postbacks/%s" % self.trigger.id).text
        self.assertNotIn("/resume", page)
        self.post("/my/postbacks/%s/resume" % self.trigger.id)
        self.env.invalidate_all()
        self.assertEqual(self.trigger.state, "paused")
        self.trigger.write({"state": "disabled", "disabled_reason": "410 Gone"})
        self.post("/my/postbacks/%s/resume" % self.trigger.id)
        self.env.invalidate_all()
        self.assertEqual(self.trigger.state, "disabled", "a disable by the addon is the merchant's to lift")

    def test_resending_failures_is_bounded_in_age(self):
        self.failed_delivery()
        self.sign_in(self.user)
        old = fields.Date.to_string(fields.Date.subtract(fields.Date.today(), days=40))
        self.post("/my/postbacks/%s/resend_failed" % self.trigger.id, {"since": old})
        self.assertIn("last 30 days", self.url_open("/my/postbacks/%s" % self.trigger.id).text)

    def test_tests_have_a_smaller_quota_and_refused_attempts_count(self):
        self.sign_in(self.user)
        shipped = self.event_types["order.shipped"].id
        before = len(self.receiver.received)
        for _i in range(5):
            self.post("/my/postbacks/%s/test" % self.trigger.id, {"event_type_id": shipped})
        self.assertEqual(len(self.receiver.received), before + 3, "three tests a minute")
        self.assertIn("Too many actions", self.url_open("/my/postbacks/%s" % self.trigger.id).text)
        log = self.env["postback.portal.action"].search([("partner_id", "=", self.customer.id)])
        self.assertEqual(log.mapped("action"), ["test"] * 3)
        self.assertEqual(log.user_id, self.user)

    def test_actions_the_merchant_did_not_enable_are_forbidden(self):
        delivery = self.failed_delivery()
        self.customer.write({"postback_portal_resend": False, "postback_portal_test": False,
                             "postback_portal_secret": False, "postback_portal_endpoint": False})
        self.sign_in(self.user)
        before = len(self.receiver.received)
        url, secret = self.trigger.url, self.trigger.secret
        page = self.url_open("/my/postbacks/%s" % self.trigger.id).text
        self.assertNotIn("/test", page)
        for route, data in self._action_routes(self.trigger, delivery):
            self.assertEqual(self.post(route, data).status_code, 403, route)
        self.env.invalidate_all()
        self.assertEqual((delivery.state, self.trigger.url, self.trigger.secret, self.trigger.state),
                         ("failed", url, secret, "active"))
        self.assertEqual(len(self.receiver.received), before)

    def test_actions_are_rate_limited_per_customer(self):
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.portal_actions_per_minute", "2")
        self.sign_in(self.user)
        self.post("/my/postbacks/%s/pause" % self.trigger.id)
        self.post("/my/postbacks/%s/resume" % self.trigger.id)
        self.post("/my/postbacks/%s/pause" % self.trigger.id)
        self.env.invalidate_all()
        self.assertEqual(self.trigger.state, "active", "the third action of the minute was refused")
        self.assertIn("Too many actions", self.url_open("/my/postbacks/%s" % self.trigger.id).text)

    @staticmethod
    def _action_routes(trigger, delivery):
        today = fields.Date.to_string(fields.Date.today())
        return [
            ("/my/postbacks/delivery/%s/resend" % delivery.id, {}),
            ("/my/postbacks/%s/resend_failed" % trigger.id, {"since": today}),
            ("/my/postbacks/%s/test" % trigger.id, {"event_type_id": trigger.event_type_ids[:1].id}),
            ("/my/postbacks/%s/secret" % trigger.id, {}),
            ("/my/postbacks/%s/secret/rotate" % trigger.id, {}),
            ("/my/postbacks/%s/url" % trigger.id, {"url": "http://127.0.0.1:9/stolen"}),
            ("/my/postbacks/%s/pause" % trigger.id, {}),
            ("/my/postbacks/%s/resume" % trigger.id, {}),
        ]


class TestPortalAttacks(PortalCase):
    """Another customer's portal user, an anonymous visitor, a forged form: never a page, never a send."""

    def setUp(self):
        super().setUp()
        self.trigger.secret_revealed = False
        self.delivery = self.failed_delivery()

    def _pages(self, trigger, delivery):
        return ["/my/postbacks/%s" % trigger.id, "/my/postbacks/%s/page/2" % trigger.id,
                "/my/postbacks/%s/developer" % trigger.id, "/my/postbacks/delivery/%s" % delivery.id]

    def _snapshot(self):
        self.env.invalidate_all()
        trigger, delivery = self.trigger, self.delivery
        return (len(self.receiver.received), trigger.url, trigger.secret, trigger.secret_revealed, trigger.state,
                delivery.state, trigger.last_test_date, len(trigger.message_ids))

    def test_another_customers_portal_user_gets_404_on_every_route_and_id(self):
        before = self._snapshot()
        self.sign_in(self.rival_user)
        self.assertNotIn("Azure ERP", self.url_open("/my/postbacks").text)
        token = self.csrf()
        for url in self._pages(self.trigger, self.delivery):
            self.assertEqual(self.url_open(url).status_code, 404, url)
        for url, data in TestPortalActions._action_routes(self.trigger, self.delivery):
            self.assertEqual(self.post(url, data, token=token).status_code, 404, url)
        for missing in (0, 999999999):
            self.assertEqual(self.url_open("/my/postbacks/%s" % missing).status_code, 404)
            self.assertEqual(self.url_open("/my/postbacks/delivery/%s" % missing).status_code, 404)
        self.assertEqual(self._snapshot(), before, "nothing sent, changed or logged")

    def test_an_anonymous_visitor_gets_403_everywhere_and_never_triggers_a_send(self):
        before = self._snapshot()
        self.authenticate(None, None)
        token = CSRF.search(self.url_open("/web/login").text).group(1)
        for url in ["/my/postbacks", *self._pages(self.trigger, self.delivery)]:
            response = self.url_open(url, allow_redirects=False)
            self.assertEqual(response.status_code, 403, url)
            self.assertIn("Sign in", response.text)
        for url, data in TestPortalActions._action_routes(self.trigger, self.delivery):
            self.assertEqual(self.post(url, data, token=token).status_code, 403, url)
        self.assertEqual(self._snapshot(), before)

    def test_a_forged_form_without_the_csrf_token_is_refused(self):
        before = self._snapshot()
        self.sign_in(self.user)
        for url, data in TestPortalActions._action_routes(self.trigger, self.delivery):
            response = self.post(url, data, token=False)
            self.assertEqual(response.status_code, 400, url)
            response = self.post(url, data, token="0" * 40 + "o9999999999")
            self.assertEqual(response.status_code, 400, url)
        self.assertEqual(self._snapshot(), before)

    def test_get_never_acts(self):
        before = self._snapshot()
        self.sign_in(self.user)
        for url, data in TestPortalActions._action_routes(self.trigger, self.delivery):
            query = "&".join("%s=%s" % item for item in data.items())
            self.assertIn(self.url_open(url + ("?" + query if query else "")).status_code, (404, 405), url)
        self.assertEqual(self._snapshot(), before)

    def test_an_internal_user_attached_to_the_customer_gets_nothing(self):
        """Staff who can edit contacts could make themselves a contact of the customer: still 404."""
        staff = new_test_user(self.env, login="staff_editor", password="staff_editor-pass-1234",
                              groups="base.group_user,base.group_partner_manager")
        staff.partner_id.parent_id = self.customer
        before = self._snapshot()
        self.sign_in(staff)
        for url in ["/my/postbacks", *self._pages(self.trigger, self.delivery)]:
            self.assertEqual(self.url_open(url).status_code, 404, url)
        token = self.csrf("/web/login")
        for url, data in TestPortalActions._action_routes(self.trigger, self.delivery):
            self.assertEqual(self.post(url, data, token=token).status_code, 404, url)
        self.assertEqual(self._snapshot(), before)

    def test_a_trigger_moved_to_another_customer_does_not_take_its_history_along(self):
        self.trigger.write({"partner_id": self.rival.id, "template_id": self.rival_trigger.template_id.id})
        self.sign_in(self.rival_user)
        self.assertEqual(self.url_open("/my/postbacks/%s" % self.trigger.id).status_code, 200)
        self.assertNotIn(self.delivery.webhook_id, self.url_open("/my/postbacks/%s" % self.trigger.id).text)
        self.assertEqual(self.url_open("/my/postbacks/delivery/%s" % self.delivery.id).status_code, 404)

    def test_without_the_merchants_consent_there_is_no_portal(self):
        self.customer.postback_portal = False
        self.sign_in(self.user)
        self.assertEqual(self.url_open("/my/postbacks").status_code, 404)
        self.assertEqual(self.url_open("/my/postbacks/%s" % self.trigger.id).status_code, 404)
        self.assertEqual(self.url_open("/my/postbacks/delivery/%s" % self.delivery.id).status_code, 404)

    def test_a_portal_user_cannot_switch_the_portal_settings_on_over_rpc(self):
        self.rival.write({"postback_portal_resend": False})
        self.sign_in(self.rival_user)
        answer = self.jsonrpc("/web/dataset/call_kw/res.partner/write", {
            "model": "res.partner", "method": "write", "args": [[self.rival.id], {"postback_portal_resend": True}],
            "kwargs": {}})
        self.assertIn("error", answer)
        for model, method in (("postback.trigger", "_portal_rotate_secret"), ("postback.delivery", "_portal_resend")):
            answer = self.jsonrpc("/web/dataset/call_kw/%s/%s" % (model, method), {
                "model": model, "method": method, "args": [[self.rival_trigger.id]], "kwargs": {}})
            self.assertIn("error", answer, method)
        self.env.invalidate_all()
        self.assertFalse(self.rival.postback_portal_resend)


def _html(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html_unescape_quotes(text):
    return text.replace("&#34;", '"').replace("&quot;", '"').replace("&#39;", "'")


class TestPortalTour(PortalCase):
    """The help for the receiving side, clicked in a real browser as the customer's developer."""

    def _tour(self, url, tour, values=None):
        options = {
            "stepDelay": 0,
            "keepWatchBrowser": False,
            "debug": False,
            "startUrl": url,
            "delayToCheckUndeterminisms": int(os.getenv("ODOO_TOUR_DELAY_TO_CHECK_UNDETERMINISMS", "0") or 0),
        }
        code = "".join("window.sessionStorage.setItem(%s, %s);" % (json.dumps(key), json.dumps(value))
                       for key, value in (values or {}).items())
        code += "odoo.startTour(%s, %s);" % (json.dumps(tour), json.dumps(options))
        self.start_tour(url, tour, login=self.user.login, code=code)

    def test_find_the_failed_delivery_resend_it_test_and_rotate_the_secret(self):
        self.user.password = self.user.login  # start_tour signs in with the login as password
        self.failed_delivery()  # another order's failure, so the search has something to filter out
        delivery = self.failed_delivery()
        self.assertIn("no such order", delivery.attempt_ids[:1].response_body or "", "what the tour looks for")
        self.authenticate(self.user.login, self.user.login)
        page = self.url_open("/my/postbacks/delivery/%s" % delivery.id).text
        self.assertIn("no such order", page, page[-3000:])
        self.authenticate(None, None)
        secret = self.trigger.secret
        self._tour("/my", "postback_connector_portal_tour", {ORDER_KEY: delivery.order_id.name})
        self.env.invalidate_all()
        self.assertEqual(delivery.state, "pending", "the tour queued it again")
        self.receiver.default = (200, {}, "ok")
        try:
            self.env["postback.delivery"]._cron_send_due_deliveries()
            self.assertEqual(delivery.state, "delivered")
            before = len(self.receiver.received)
            self._tour("/my/postbacks/delivery/%s" % delivery.id, "postback_connector_portal_tour_delivered")
        finally:
            self.receiver.default = (500, {"Content-Type": "text/plain"}, "boom: no such order")
        self.env.invalidate_all()
        self.assertEqual(len(self.receiver.received), before + 1, "the test reached the receiver")
        self.assertTrue(self.receiver.received[-1].headers["webhook-id"].startswith("msg_test_"))
        self.assertTrue(self.trigger.last_test_ok)
        self.assertNotEqual(self.trigger.secret, secret, "the secret was rotated")
        self.assertEqual(self.trigger.secret_previous, secret)
        logged = self.chatter(self.trigger)
        for words in ("queued again", "Test of", "rotated"):
            self.assertTrue(any(words in body and "Azure Dev" in body for body in logged), words)
