"""The data of docs/screenshot_portal.py, run in a real Odoo (same shape as tests/e2e/odoo_actions.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

import odoo_actions
import odoo_boot


def action_portal(odoo, registry, spec):
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        partner = odoo_actions.make_customer(env, {"customer": "Azure Interior"})
        partner.write({"postback_portal": True, "postback_portal_resend": True, "postback_portal_test": True,
                       "postback_portal_secret": True, "postback_portal_endpoint": True})
        trigger = odoo_actions.make_trigger(env, partner, {
            "url": spec["url"], "trigger_name": "Azure ERP order feed",
            "events": ["order.received", "order.shipped", "order.delivered"]})
        trigger.retry_on_failure = False
        user = env["res.users"].with_context(no_reset_password=True).create({
            "name": "Dana Developer", "login": "dev@azure.example", "password": "portal-screens-1",
            "groups_id" if "groups_id" in env["res.users"]._fields else "group_ids": [
                (6, 0, [env.ref("base.group_portal").id])],
        })
        user.partner_id.parent_id = partner
        products = odoo_actions._products(env, 3)
        orders = env["sale.order"].create(
            [odoo_actions._order_vals(env, partner, 2, products) for _ in range(12)])
        env["postback.event"]._record(
            [{"order": order, "code": "order.received", "dedup_key": "screens-%s" % order.id} for order in orders],
            origin="code")
        return {"trigger_id": trigger.id, "refused": orders[3:5].mapped("name")}


if __name__ == "__main__":
    odoo_actions.main(actions={"portal": action_portal})
