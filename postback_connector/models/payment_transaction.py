# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import models


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    def _set_error(self, state_message, extra_allowed_states=()):
        failed = super()._set_error(state_message, extra_allowed_states=extra_allowed_states)
        entries = [
            {"order": order, "code": "order.failed", "transaction": tx, "dedup_key": "tx:%s" % tx.id,
             "extra": {"failure": {"reason": "payment_error", "message": tx.state_message or None}}}
            for tx in failed
            for order in tx.sale_order_ids
        ]
        if entries:
            self.env["postback.event"]._record(entries)
        return failed

    def _postback_document_payment(self):
        self.ensure_one()
        return {
            "reference": self.reference,
            "provider": self.provider_id.name or None,
            "state": self.state,
            "amount": self.amount,
            "currency": self.currency_id.name or None,
            "message": self.state_message or None,
        }
