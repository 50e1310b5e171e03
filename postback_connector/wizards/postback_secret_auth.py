# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import fields, models


class PostbackSecret(models.TransientModel):
    """The secret's dialog says how the trigger's signature scheme uses it."""

    _inherit = "postback.secret"

    signature_scheme = fields.Selection(related="trigger_id.signature_scheme")
    signature_header = fields.Char(related="trigger_id.signature_header")
