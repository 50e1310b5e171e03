# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import PostbackCase


@tagged("post_install", "-at_install")
class TestSecurity(PostbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.trigger = cls.make_trigger(state="draft")
        cls.plain_user = cls.make_user("plain_user", "base.group_user")
        cls.pb_user = cls.make_user("pb_user", "base.group_user,postback_connector.group_postback_user")
        cls.pb_manager = cls.make_user("pb_manager", "base.group_user,postback_connector.group_postback_manager")

    def test_plain_internal_user_sees_no_trigger_template_or_secret(self):
        env = self.env(user=self.plain_user)
        for model in ("postback.trigger", "postback.template", "postback.delivery", "postback.event"):
            with self.assertRaises(AccessError, msg=model):
                env[model].search([])
        with self.assertRaises(AccessError):
            self.trigger.with_user(self.plain_user).read(["secret"])

    def test_user_sees_but_cannot_edit(self):
        trigger = self.trigger.with_user(self.pb_user)
        self.assertEqual(trigger.read(["name"])[0]["name"], "Bianchi ERP")
        with self.assertRaises(AccessError):
            trigger.write({"name": "Changed"})
        with self.assertRaises(AccessError):
            self.template.with_user(self.pb_user).write({"name": "Changed"})
        with self.assertRaises(AccessError):
            self.env["postback.trigger"].with_user(self.pb_user).create(
                {"name": "x", "partner_id": self.customer.id, "url": "https://a.example"}
            )

    def test_user_never_reads_the_secret(self):
        with self.assertRaises(AccessError):
            self.trigger.with_user(self.pb_user).read(["secret"])
        with self.assertRaises(UserError):
            self.trigger.with_user(self.pb_user).action_reveal_secret()
        hint = self.trigger.with_user(self.pb_user).secret_hint
        self.assertTrue(hint.startswith("whsec_"))
        self.assertNotIn(self.trigger.sudo().secret, hint, "only a hint of the secret is shown")

    def test_manager_edits_and_sees_the_secret_once(self):
        trigger = self.trigger.with_user(self.pb_manager)
        trigger.write({"name": "Renamed"})
        self.assertEqual(self.trigger.name, "Renamed")
        action = trigger.action_reveal_secret()
        wizard = self.env["postback.secret"].browse(action["res_id"])
        self.assertEqual(wizard.secret, self.trigger.sudo().secret)
        with self.assertRaises(UserError):
            trigger.action_reveal_secret()

    def test_rotation_keeps_the_previous_secret_valid(self):
        old = self.trigger.sudo().secret
        self.trigger.with_user(self.pb_manager).action_rotate_secret()
        secrets = self.trigger._get_signing_secrets()
        self.assertEqual(len(secrets), 2)
        self.assertNotEqual(secrets[0], old)
        self.assertEqual(secrets[1], old)

    def test_sales_manager_and_admin_are_postback_managers(self):
        sales_manager = self.make_user("sales_mgr", "base.group_user,sales_team.group_sale_manager")
        self.assertTrue(sales_manager.has_group("postback_connector.group_postback_manager"))
        admin = self.make_user("settings_admin", "base.group_user,base.group_system")
        self.assertTrue(admin.has_group("postback_connector.group_postback_manager"))

    def test_multi_company_isolation(self):
        other_company = self.env["res.company"].create({"name": "Other Co"})
        other_manager = self.make_user(
            "other_mgr", "base.group_user,postback_connector.group_postback_manager", company=other_company
        )
        other_trigger = self.env["postback.trigger"].with_company(other_company).create(
            {"name": "Other", "partner_id": self.customer.id, "url": "https://b.example",
             "company_id": other_company.id}
        )
        visible = self.env["postback.trigger"].with_user(other_manager).search([])
        self.assertIn(other_trigger, visible)
        self.assertNotIn(self.trigger, visible)
        mine = self.env["postback.trigger"].with_user(self.pb_manager).search([])
        self.assertIn(self.trigger, mine)
        self.assertNotIn(other_trigger, mine)
