# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from unittest.mock import patch
from urllib.parse import urlsplit

import requests

from odoo.tests import new_test_user
from odoo.tests.common import BlockedRequest, TransactionCase, _super_send

from .receivers import HttpReceiver, SmtpReceiver  # noqa: F401 - re-exported for the tests

MAPPING = (
    ("order_number", "order.reference", None, "string"),
    ("status", "event.type", None, "string"),
    ("total", "order.amount_total", None, "number"),
    ("items[].sku", "order.lines[].sku", "", "string"),
    ("items[].quantity", "order.lines[].qty_ordered", None, "number"),
)


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _loopback_only_send(session, request, **kwargs):
    """Network guard of the tests: loopback only, timeouts left as the code sets them.

    Odoo's own test guard raises every timeout to 10 s (and chokes on (connect, read)
    tuples); the timeouts are part of what these tests check, so this guard replaces it.
    """
    if urlsplit(request.url).hostname not in LOOPBACK_HOSTS:
        raise BlockedRequest("Tests may only reach 127.0.0.1 (was %s %s)" % (request.method, request.url))
    return _super_send(session, request, **kwargs)


class PostbackCase(TransactionCase):
    """Shared fixtures: a customer, a template, triggers; private targets allowed (127.0.0.1)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.object(requests.sessions.Session, "send", _loopback_only_send))
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, mail_notrack=True))
        cls.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "1")
        cls.customer = cls.env["res.partner"].create(
            {"name": "Bianchi Logistica", "is_company": True, "email": "it@bianchi.example"}
        )
        cls.contact = cls.env["res.partner"].create(
            {"name": "Marco Bianchi", "parent_id": cls.customer.id, "email": "marco@bianchi.example"}
        )
        cls.event_types = {t.code: t for t in cls.env["postback.event.type"].search([])}
        cls.template = cls.make_template()

    @classmethod
    def make_template(cls, lines=MAPPING, **values):
        return cls.env["postback.template"].create({
            "name": values.pop("name", "Bianchi JSON"),
            "partner_id": cls.customer.id,
            "event_type_id": cls.event_types["order.shipped"].id,
            # (output, source, default, type[, if_missing])
            "line_ids": [
                (0, 0, {"sequence": i, "output_path": line[0], "source": line[1], "default": line[2],
                        "value_type": line[3], "if_missing": line[4] if line[4:] else "default"})
                for i, line in enumerate(lines)
            ],
            **values,
        })

    @classmethod
    def make_trigger(cls, events=("order.received",), url="http://127.0.0.1:9/hook", state="active", **values):
        values.setdefault("partner_id", cls.customer.id)
        values.setdefault("template_id", cls.template.id)
        trigger = cls.env["postback.trigger"].create({
            "name": values.pop("name", "Bianchi ERP"),
            "event_type_ids": [(6, 0, [cls.event_types[code].id for code in events])],
            "url": url,
            **values,
        })
        if state == "active":
            trigger._activate()
        return trigger

    @classmethod
    def make_user(cls, login, groups, company=None):
        company = company or cls.env.company
        return new_test_user(cls.env, login=login, groups=groups, company_id=company.id,
                             company_ids=[(6, 0, company.ids)])

    def run_queue(self, **kwargs):
        """Run the delivery cron in this transaction (no commit in tests)."""
        return self.env["postback.delivery"]._cron_send_due_deliveries(**kwargs)
