# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Authentication of URL triggers, through the real runner and Send test, against
receivers on 127.0.0.1 that check the credentials with their own code."""
import base64
import json
import time
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..engine.auth import AuthError
from .receivers import HttpReceiver, TokenEndpoint
from .test_delivery import DeliveryCase

CLIENT_ID, CLIENT_SECRET = "bianchi-erp", "cl13nt-s3cr3t-value"
UNAUTHORIZED = (401, {"WWW-Authenticate": "Bearer"}, '{"error": "unauthorized"}')


def header(headers, name):
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def requires(name, expected):
    """A receiver's check: 401 unless header ``name`` is exactly ``expected``."""
    return lambda headers, body: None if header(headers, name) == expected else UNAUTHORIZED


def basic_check(username, password):
    """A receiver's own Basic check (RFC 7617): decode and compare."""
    def check(headers, body):
        scheme, _sep, credentials = (header(headers, "Authorization") or "").partition(" ")
        if scheme == "Basic" and base64.b64decode(credentials).decode("utf-8") == f"{username}:{password}":
            return None
        return UNAUTHORIZED
    return check


def echoing(check=None):
    """Accepts (after ``check``) and echoes every request header in its answer, like debug endpoints."""
    def answer(headers, body):
        refused = check(headers, body) if check else None
        if refused:
            return refused
        return 200, {"X-Echo": " | ".join(headers.values())}, json.dumps({"you_sent": headers})
    return answer


class AuthCase(DeliveryCase):
    def deliver_and_test(self, trigger):
        """One delivery of ``trigger`` through the runner, then Send test."""
        delivery = self.emit().filtered(lambda d: d.trigger_id == trigger)
        self.run_queue()
        trigger.action_test_send()
        return delivery

    def assert_nothing_shows(self, trigger, deliveries, secrets):
        texts = [trigger.sudo().last_test_result or ""]
        for delivery in deliveries:
            texts.append(delivery.last_error or "")
            for attempt in delivery.attempt_ids:
                texts += [attempt.response_headers or "", attempt.response_body or "", attempt.error or ""]
        for secret in secrets:
            for text in texts:
                self.assertNotIn(secret, text)


@tagged("post_install", "-at_install")
class TestStaticAuthentication(AuthCase):
    def test_bearer_token_is_accepted_by_a_receiver_that_checks_it(self):
        with HttpReceiver(guard=requires("Authorization", "Bearer tok-9f8e7d6c5b")) as receiver:
            trigger = self.make_trigger(url=receiver.url, auth_type="bearer", auth_token="tok-9f8e7d6c5b")
            delivery = self.deliver_and_test(trigger)
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        self.assertEqual([r.headers["Authorization"] for r in receiver.received], ["Bearer tok-9f8e7d6c5b"] * 2)

    def test_basic_authentication_is_accepted_by_a_receiver_that_decodes_it(self):
        with HttpReceiver(guard=basic_check("bianchi", "pässwörd 42")) as receiver:
            trigger = self.make_trigger(url=receiver.url, auth_type="basic", auth_username="bianchi",
                                        auth_password="pässwörd 42")
            delivery = self.deliver_and_test(trigger)
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        self.assertEqual(len(receiver.received), 2)

    def test_api_key_in_a_named_header_is_accepted(self):
        with HttpReceiver(guard=requires("X-Shop-Key", "key-00aa11bb22")) as receiver:
            trigger = self.make_trigger(url=receiver.url, auth_type="api_key", auth_api_key_header="X-Shop-Key",
                                        auth_api_key="key-00aa11bb22")
            delivery = self.deliver_and_test(trigger)
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        self.assertIsNone(header(receiver.received[0].headers, "Authorization"))

    def test_a_wrong_credential_is_the_receivers_401_without_renewal(self):
        with HttpReceiver(guard=requires("Authorization", "Bearer right-token")) as receiver:
            trigger = self.make_trigger(url=receiver.url, auth_type="bearer", auth_token="wrong-token",
                                        retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual((delivery.state, delivery.last_status_code), ("failed", 401))
        self.assertEqual(len(receiver.received), 1)
        self.assertTrue(trigger)

    def test_secrets_never_show_even_when_the_receiver_echoes_them(self):
        cases = [
            ({"auth_type": "bearer", "auth_token": "tok-echo-0123456789"}, ["tok-echo-0123456789"]),
            ({"auth_type": "basic", "auth_username": "shop", "auth_password": "pw-echo-0123456789"},
             ["pw-echo-0123456789", base64.b64encode(b"shop:pw-echo-0123456789").decode()]),
            ({"auth_type": "api_key", "auth_api_key": "key-echo-0123456789"}, ["key-echo-0123456789"]),
        ]
        for values, secrets in cases:
            with self.subTest(auth=values["auth_type"]), HttpReceiver(guard=echoing()) as receiver:
                trigger = self.make_trigger(url=receiver.url, name=values["auth_type"], **values)
                delivery = self.deliver_and_test(trigger)
                self.assertEqual(delivery.state, "delivered")
                sent = " ".join(receiver.received[0].headers.values())
                self.assertIn(secrets[-1], sent, "the receiver got the credentials")
                self.assertIn("••••••", delivery.attempt_ids.response_body)
                self.assert_nothing_shows(trigger, delivery, secrets)
                trigger.action_deactivate()

    def test_a_custom_header_cannot_replace_the_authentication_or_the_signature(self):
        with self.assertRaisesRegex(ValidationError, "would replace the authentication"):
            self.make_trigger(auth_type="bearer", auth_token="t0k3n-value",
                              header_ids=[(0, 0, {"name": "authorization", "value": "Bearer other"})])
        with self.assertRaisesRegex(ValidationError, "would replace the signature"):
            self.make_trigger(signature_scheme="github",
                              header_ids=[(0, 0, {"name": "X-Hub-Signature-256", "value": "sha256=0"})])
        with self.assertRaisesRegex(ValidationError, "two different headers"):
            self.make_trigger(auth_type="api_key", auth_api_key="k3y-value", auth_api_key_header="X-Sig",
                              signature_scheme="hmac_base64", signature_header="x-sig")

    def test_configuration_errors_are_clear(self):
        cases = [
            ({"auth_type": "bearer"}, "enter the Bearer token before activating it"),
            ({"auth_type": "basic"}, "enter the user name for Basic authentication"),
            ({"auth_type": "basic", "auth_username": "a:b"}, "cannot contain a colon"),
            ({"auth_type": "api_key", "auth_api_key": "k", "auth_api_key_header": "X API Key"},
             "not a valid header name"),
            ({"auth_type": "api_key", "auth_api_key": "k", "auth_api_key_header": "Content-Type"},
             "cannot carry the API key"),
            ({"auth_type": "bearer", "auth_token": "tok\nX-Injected: 1"}, "paste it again"),
            ({"auth_type": "oauth2", "oauth2_client_id": "c", "oauth2_client_secret": "s"}, "token URL"),
            ({"auth_type": "oauth2", "oauth2_token_url": "ftp://auth.example/token", "oauth2_client_id": "c",
              "oauth2_client_secret": "s"}, "the OAuth2 token URL is not usable: The URL must start with http"),
            ({"auth_type": "oauth2", "oauth2_token_url": "https://auth.example/t", "oauth2_client_secret": "s"},
             "client ID"),
            ({"auth_type": "oauth2", "oauth2_token_url": "https://auth.example/t", "oauth2_client_id": "c"},
             "client secret before activating"),
            ({"signature_scheme": "hmac_base64", "signature_header": "Webhook-Id"}, "cannot carry the signature"),
        ]
        for values, message in cases:
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, message):
                self.make_trigger(**values)

    def test_a_duplicate_keeps_the_settings_not_the_secrets_and_goes_live_only_once_they_are_entered(self):
        with HttpReceiver(guard=requires("Authorization", "Bearer new-t0ken")) as receiver:
            trigger = self.make_trigger(url=receiver.url, auth_type="bearer", auth_token="old-t0ken")
            copy = trigger.copy()
            self.assertEqual((copy.state, copy.auth_type, copy.sudo().auth_token), ("draft", "bearer", False))
            copy.action_test_send()
            self.assertFalse(copy.last_test_ok)
            self.assertIn("The Bearer token is missing", copy.last_test_result)
            self.assertFalse(receiver.received, "nothing leaves without the credential")
            with self.assertRaisesRegex(ValidationError, "enter the Bearer token"):
                copy.with_context(postback_skip_test_check=True).action_activate()
            copy.auth_token = "new-t0ken"
            copy.action_test_send()
        self.assertTrue(copy.last_test_ok, copy.last_test_result)


@tagged("post_install", "-at_install")
class TestOAuth2(AuthCase):
    def make_oauth2_trigger(self, endpoint, receiver, **values):
        return self.make_trigger(url=receiver.url, auth_type="oauth2", oauth2_token_url=endpoint.url,
                                 oauth2_client_id=CLIENT_ID, oauth2_client_secret=CLIENT_SECRET, **values)

    def test_one_token_for_many_deliveries_and_the_test_send_across_runs(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, HttpReceiver(guard=endpoint.guard) as receiver:
            trigger = self.make_oauth2_trigger(endpoint, receiver, oauth2_scope="orders:write",
                                               oauth2_audience="https://erp.bianchi.example")
            first = self.emit() | self.emit() | self.emit()
            self.run_queue()
            second = self.emit() | self.emit()
            self.run_queue()
            trigger.action_test_send()
        self.assertEqual(set((first | second).mapped("state")), {"delivered"})
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        self.assertEqual(len(receiver.received), 6)
        self.assertEqual(len(endpoint.calls), 1, "one token request for five deliveries and a test")
        _headers, form = endpoint.calls[0]
        self.assertEqual(form, {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                "scope": "orders:write", "audience": "https://erp.bianchi.example"})
        kept = trigger.sudo()
        self.assertTrue(endpoint.valid("Bearer " + kept.oauth2_access_token))
        self.assertGreater(kept.oauth2_token_expires_at, fields.Datetime.now() + timedelta(seconds=3500))
        self.assertEqual({r.headers["Authorization"] for r in receiver.received},
                         {"Bearer " + kept.oauth2_access_token})

    def test_a_token_is_renewed_when_it_is_about_to_expire(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET, expires_in=31) as endpoint, \
                HttpReceiver(guard=endpoint.guard) as receiver:
            trigger = self.make_oauth2_trigger(endpoint, receiver)
            self.emit()
            self.run_queue()
            first = trigger.sudo().oauth2_access_token
            time.sleep(1.1)  # renewed 30 s before its expiry
            later = self.emit()
            self.run_queue()
        self.assertEqual(later.state, "delivered", later.last_error)
        self.assertEqual(len(endpoint.calls), 2)
        self.assertNotEqual(trigger.sudo().oauth2_access_token, first)

    def test_a_401_drops_the_token_and_the_same_delivery_arrives_with_a_new_one(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, HttpReceiver(guard=endpoint.guard) as receiver:
            trigger = self.make_oauth2_trigger(endpoint, receiver, retry_on_failure=False)
            self.emit()
            self.run_queue()
            revoked = trigger.sudo().oauth2_access_token
            endpoint.revoke()  # e.g. the customer rotated its signing keys
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertEqual(len(endpoint.calls), 2, "exactly one renewal")
        refused, accepted = receiver.received[1:]
        self.assertEqual(refused.headers["Authorization"], "Bearer " + revoked)
        self.assertEqual((refused.headers["webhook-id"], refused.body),
                         (delivery.webhook_id, delivery.payload.encode()))
        self.assertEqual((accepted.headers["webhook-id"], accepted.body), (refused.headers["webhook-id"], refused.body))
        self.assertEqual(accepted.headers["Authorization"], "Bearer " + trigger.sudo().oauth2_access_token)
        self.assertNotEqual(trigger.sudo().oauth2_access_token, revoked)

    def test_a_second_401_is_a_normal_failure(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, \
                HttpReceiver(guard=lambda headers, body: UNAUTHORIZED) as receiver:
            self.make_oauth2_trigger(endpoint, receiver, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual((delivery.state, delivery.attempt_count, delivery.last_status_code), ("failed", 1, 401))
        self.assertEqual((len(receiver.received), len(endpoint.calls)), (2, 2))

    def test_a_failing_token_endpoint_is_the_attempts_clear_error_and_nothing_is_sent(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, HttpReceiver() as receiver:
            # It even echoes the client secret in its error.
            endpoint.failure = (401, {"error": "invalid_client", "error_description": "wrong " + CLIENT_SECRET})
            trigger = self.make_oauth2_trigger(endpoint, receiver, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
            trigger.action_test_send()
        expected = "The OAuth2 token request to %s failed: HTTP 401 (invalid_client: wrong" % endpoint.url
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(delivery.attempt_ids.status_code, 0)
        self.assertIn(expected, delivery.attempt_ids.error)
        self.assertIn(expected, delivery.last_error)
        self.assertFalse(trigger.last_test_ok)
        self.assertIn(expected, trigger.last_test_result)
        self.assertFalse(receiver.received, "nothing is sent without a token")
        self.assertNotIn(trigger.endpoint_id.health, ("failing", "paused"), "the receiver's health is not the token's")
        self.assert_nothing_shows(trigger, delivery, [CLIENT_SECRET])

    def test_an_unreachable_token_endpoint_is_retried_on_the_schedule(self):
        self.set_schedule("0, 1h")
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url, auth_type="oauth2",
                                        oauth2_token_url="http://127.0.0.1:9/oauth/token",
                                        oauth2_client_id=CLIENT_ID, oauth2_client_secret=CLIENT_SECRET)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual((delivery.state, delivery.attempt_count), ("pending", 1))
        self.assertIn("The OAuth2 token request to http://127.0.0.1:9/oauth/token failed: Connection refused",
                      delivery.last_error)
        self.assertTrue(trigger)

    def test_the_token_url_obeys_the_private_address_policy(self):
        # The receiver's URL is checked first (refused, nothing leaves at all); the token
        # URL is checked on its own by the trigger's credentials, with the same policy.
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, HttpReceiver() as receiver:
            trigger = self.make_oauth2_trigger(endpoint, receiver, retry_on_failure=False)
            self.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "0")
            with self.assertRaises(AuthError) as refused:
                trigger._request_auth().headers(time.monotonic() + 5)
            trigger.action_test_send()
        self.assertFalse(endpoint.calls, "the token request never left")
        self.assertIn("The OAuth2 token request to %s failed" % endpoint.url, str(refused.exception))
        self.assertIn("loopback", str(refused.exception))
        self.assertIn("Allow private network targets", trigger.last_test_result)
        self.assertFalse(receiver.received)

    def test_tokens_and_client_secret_never_show_even_when_echoed(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, \
                HttpReceiver(guard=echoing(endpoint.guard)) as receiver:
            trigger = self.make_oauth2_trigger(endpoint, receiver)
            first = self.deliver_and_test(trigger)
            endpoint.revoke()  # a renewal in the middle of a run: the new token is hidden too
            second = self.emit()
            self.run_queue()
        self.assertEqual((first.state, second.state), ("delivered", "delivered"))
        tokens = [r.headers["Authorization"].split()[1] for r in receiver.received]
        self.assertEqual(len(set(tokens)), 2)
        self.assert_nothing_shows(trigger, first | second, [*tokens, CLIENT_SECRET])

    def test_changing_the_client_drops_the_kept_token(self):
        with TokenEndpoint(CLIENT_ID, CLIENT_SECRET) as endpoint, HttpReceiver(guard=endpoint.guard) as receiver:
            trigger = self.make_oauth2_trigger(endpoint, receiver)
            trigger.action_test_send()
            self.assertTrue(trigger.sudo().oauth2_access_token)
            trigger.oauth2_scope = "orders:read"
        self.assertFalse(trigger.sudo().oauth2_access_token)
        self.assertFalse(trigger.sudo().oauth2_token_expires_at)


@tagged("post_install", "-at_install")
class TestAuthenticationSecurity(AuthCase):
    SECRETS = ("auth_token", "auth_password", "auth_api_key", "oauth2_client_secret", "oauth2_access_token",
               "oauth2_token_expires_at")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.trigger = cls.make_trigger(state="draft", auth_type="oauth2", oauth2_token_url="https://auth.example/t",
                                       oauth2_client_id=CLIENT_ID, oauth2_client_secret=CLIENT_SECRET,
                                       auth_token="tok-never-read", auth_password="pw-never-read",
                                       auth_api_key="key-never-read", oauth2_access_token="at-never-read")
        cls.pb_user = cls.make_user("pb_auth_user", "base.group_user,base.group_allow_export,"
                                    "postback_connector.group_postback_user")
        cls.pb_manager = cls.make_user("pb_auth_mgr", "base.group_user,postback_connector.group_postback_manager")

    def test_postback_users_neither_read_nor_search_nor_write_the_credentials(self):
        trigger = self.trigger.with_user(self.pb_user)
        self.assertEqual(trigger.read(["auth_type", "signature_scheme", "oauth2_client_id"])[0]["auth_type"],
                         "oauth2")
        for name in self.SECRETS:
            with self.subTest(field=name):
                with self.assertRaises(AccessError):
                    trigger.read([name])
                with self.assertRaises(AccessError):
                    trigger.web_read({name: {}})
                with self.assertRaises(AccessError):
                    trigger.search_read([(name, "!=", False)], ["name"])
                with self.assertRaises(AccessError):
                    trigger.write({name: "x"})
        with self.assertRaises(AccessError):
            trigger.export_data(["name", "oauth2_client_secret"])

    def test_managers_set_them_and_the_view_hides_them_from_users(self):
        self.trigger.with_user(self.pb_manager).write({"auth_type": "bearer", "auth_token": "tok-set-by-manager"})
        self.assertEqual(self.trigger.sudo().auth_token, "tok-set-by-manager")
        views = self.env["postback.trigger"].with_user(self.pb_user).get_views([(False, "form")])
        arch = views["views"]["form"]["arch"]
        for name in ("auth_token", "auth_password", "auth_api_key", "oauth2_client_secret"):
            self.assertNotIn('name="%s"' % name, arch)
        self.assertIn('name="auth_type"', arch)
        manager_arch = self.env["postback.trigger"].with_user(self.pb_manager).get_views(
            [(False, "form")])["views"]["form"]["arch"]
        self.assertRegex(manager_arch, r'<field name="auth_token"[^>]*password="True"')
