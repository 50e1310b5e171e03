# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import fields, models


class PostbackDeliveryAttempt(models.Model):
    _name = "postback.delivery.attempt"
    _description = "Postback Delivery Attempt"
    _order = "id desc"

    delivery_id = fields.Many2one("postback.delivery", required=True, ondelete="cascade", index=True, readonly=True)
    attempted_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    duration_ms = fields.Float(string="Duration (ms)", readonly=True)
    status_code = fields.Integer(readonly=True)
    outcome = fields.Selection(
        [("delivered", "Delivered"), ("retry", "Failed, will retry"), ("failed", "Failed"),
         ("skipped", "Postponed")],
        readonly=True,
    )
    error = fields.Text(readonly=True)
    response_headers = fields.Text(readonly=True)
    response_body = fields.Text(readonly=True)
