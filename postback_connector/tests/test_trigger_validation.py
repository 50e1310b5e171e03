# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from psycopg2 import IntegrityError

from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import PostbackCase


@tagged("post_install", "-at_install")
class TestTriggerValidation(PostbackCase):
    def _create(self, **values):
        vals = {"name": "Check", "partner_id": self.customer.id, "url": "https://erp.example/hook"}
        vals.update(values)
        return self.env["postback.trigger"].create(vals)

    def test_a_trigger_needs_its_customer(self):
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.cr.savepoint():
            self._create(partner_id=False)

    def test_url_must_be_http_with_a_host(self):
        for bad in ("ftp://erp.example/hook", "erp.example/hook", "https://", "javascript:alert(1)"):
            with self.assertRaises(ValidationError, msg=bad) as ctx:
                self._create(url=bad)
            self.assertIn("Check", str(ctx.exception))
        self.assertTrue(self._create(url="https://erp.example/hook"))

    def test_email_channel_needs_an_address(self):
        customer = self.env["res.partner"].create({"name": "No Mail Srl", "is_company": True})
        with self.assertRaisesRegex(ValidationError, "email address"):
            self._create(partner_id=customer.id, channel="email", url=False)
        with self.assertRaisesRegex(ValidationError, "not a valid email"):
            self._create(partner_id=customer.id, channel="email", url=False, email_to="not-an-email")

    def test_email_address_defaults_to_the_customer(self):
        trigger = self._create(channel="email", url=False)
        self.assertEqual(trigger.email_to, "it@bianchi.example")

    def test_header_names_must_be_http_tokens(self):
        for bad in ("X Api Key", "X-Api:Key", "Dé", ""):
            with self.assertRaises(ValidationError, msg=bad):
                self._create(header_ids=[(0, 0, {"name": bad, "value": "v"})])
        with self.assertRaisesRegex(ValidationError, "cannot be overridden"):
            self._create(header_ids=[(0, 0, {"name": "webhook-signature", "value": "v"})])
        trigger = self._create(header_ids=[(0, 0, {"name": "X-Api-Key", "value": "secret"})])
        self.assertEqual(trigger.header_ids.name, "X-Api-Key")

    def test_timeout_must_be_positive(self):
        with self.assertRaisesRegex(ValidationError, "timeout"):
            self._create(timeout=-1)
        with self.assertRaisesRegex(ValidationError, "timeout"):
            self._create(timeout=600)

    def test_template_of_another_customer_is_refused(self):
        other = self.env["res.partner"].create({"name": "Verdi Spa", "is_company": True})
        with self.assertRaisesRegex(ValidationError, "another customer"):
            self._create(partner_id=other.id, template_id=self.template.id)

    def test_errors_are_translated_for_italian_users(self):
        self.env["res.lang"]._activate_lang("it_IT")
        self.env["ir.module.module"]._load_module_terms(["postback_connector"], ["it_IT"], overwrite=True)
        italian = self.env(context=dict(self.env.context, lang="it_IT"))
        with self.assertRaisesRegex(ValidationError, "L'URL deve iniziare con http:// o https://"):
            italian["postback.trigger"].create({"name": "Check", "partner_id": self.customer.id, "url": "ftp://x.example"})
        with self.assertRaisesRegex(ValidationError, "secondi"):
            italian["postback.trigger"].create(
                {"name": "Check", "partner_id": self.customer.id, "url": "https://x.example", "timeout": -1}
            )
        self.assertEqual(self.event_types["order.shipped"].with_context(lang="it_IT").name, "Ordine spedito")
