# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Signature schemes: each postback is verified by the receiver's own check, written
here from the scheme's public description (never with the connector's signing code)."""
import base64
import hashlib
import hmac

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from odoo.tests import tagged

from .receivers import HttpReceiver
from .test_delivery import DeliveryCase

BAD_SIGNATURE = (400, {}, "bad signature")


def header(headers, name):
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def github_valid(secret, body, headers):
    """GitHub's documentation: 'sha256=' + hex HMAC-SHA256 of the payload, compared in constant time."""
    received = header(headers, "X-Hub-Signature-256") or ""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


def base64_valid(name):
    """The base64 HMAC-SHA256 of the raw body in header ``name``."""
    def check(secret, body, headers):
        received = header(headers, name) or ""
        expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, received)
    return check


def standard_valid(secret, body, headers):
    try:
        Webhook(secret).verify(body, {key.lower(): value for key, value in headers.items()})
    except WebhookVerificationError:
        return False
    return True


@tagged("post_install", "-at_install")
class TestSignatureSchemes(DeliveryCase):
    def verifying_receiver(self, valid, secret_of):
        """A receiver answering 400 unless ``valid(secret, body, headers)``."""
        return HttpReceiver(guard=lambda headers, body: None if valid(secret_of(), body, headers) else BAD_SIGNATURE)

    def check_scheme(self, valid, **values):
        secret = {}
        with self.verifying_receiver(valid, lambda: secret["value"]) as receiver:
            trigger = self.make_trigger(url=receiver.url, retry_on_failure=False, **values)
            secret["value"] = trigger.sudo().secret
            delivery = self.emit()
            self.run_queue()
            trigger.action_test_send()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertTrue(trigger.last_test_ok, trigger.last_test_result)
        for request in receiver.received:
            self.assertTrue(valid(secret["value"], request.body, request.headers))
            self.assertFalse(valid(secret["value"], request.body.replace(b"order", b"0rder", 1), request.headers),
                             "a tampered body fails the receiver's check")
            self.assertTrue(header(request.headers, "webhook-id"), "every scheme keeps the de-duplication id")
            self.assertTrue(header(request.headers, "webhook-timestamp"))
        self.assertEqual(header(receiver.received[0].headers, "webhook-id"), delivery.webhook_id)
        return trigger, receiver

    def test_standard_webhooks_is_the_default(self):
        trigger, receiver = self.check_scheme(standard_valid)
        self.assertEqual(trigger.signature_scheme, "standard")
        self.assertIsNone(header(receiver.received[0].headers, "X-Hub-Signature-256"))

    def test_github_style_x_hub_signature_256(self):
        _trigger, receiver = self.check_scheme(github_valid, signature_scheme="github")
        self.assertIsNone(header(receiver.received[0].headers, "webhook-signature"))

    def test_base64_hmac_in_the_default_header(self):
        trigger, _receiver = self.check_scheme(base64_valid("X-Signature"), signature_scheme="hmac_base64")
        self.assertEqual(trigger.signature_header, "X-Signature")

    def test_base64_hmac_in_a_header_the_customer_names(self):
        self.check_scheme(base64_valid("X-Bianchi-Hmac-SHA256"), signature_scheme="hmac_base64",
                          signature_header="X-Bianchi-Hmac-SHA256")

    def test_a_receiver_checking_another_scheme_refuses_the_postback(self):
        secret = {}
        with self.verifying_receiver(github_valid, lambda: secret["value"]) as receiver:
            trigger = self.make_trigger(url=receiver.url, retry_on_failure=False)  # Standard Webhooks
            secret["value"] = trigger.sudo().secret
            delivery = self.emit()
            self.run_queue()
        self.assertEqual((delivery.state, delivery.last_status_code), ("failed", 400))

    def test_during_a_rotation_the_body_hmac_schemes_carry_the_new_secret_only(self):
        secret = {}
        with self.verifying_receiver(github_valid, lambda: secret["value"]) as receiver:
            trigger = self.make_trigger(url=receiver.url, retry_on_failure=False, signature_scheme="github")
            old = trigger.sudo().secret
            trigger.action_rotate_secret()
            secret["value"] = trigger.sudo().secret
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        self.assertFalse(github_valid(old, receiver.received[0].body, receiver.received[0].headers))

    def test_the_secret_dialog_names_the_scheme(self):
        trigger = self.make_trigger(state="draft", signature_scheme="github")
        wizard = self.env["postback.secret"].browse(trigger.action_reveal_secret()["res_id"])
        self.assertEqual(wizard.signature_scheme, "github")
        arch = self.env["postback.secret"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("X-Hub-Signature-256", arch)
