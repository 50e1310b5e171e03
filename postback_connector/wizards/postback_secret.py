# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import fields, models


class PostbackSecret(models.TransientModel):
    """Shows a signing secret once, right after it was generated."""

    _name = "postback.secret"
    _description = "Postback Signing Secret"

    trigger_id = fields.Many2one("postback.trigger", required=True, ondelete="cascade")
    secret = fields.Char(readonly=True, groups="postback_connector.group_postback_manager")
