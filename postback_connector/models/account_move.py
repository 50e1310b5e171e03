# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import models


class AccountMove(models.Model):
    _inherit = "account.move"

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        orders = posted.filtered(lambda move: move.move_type == "out_invoice").line_ids.sale_line_ids.order_id
        if orders:
            orders._postback_check_completed()
        return posted
