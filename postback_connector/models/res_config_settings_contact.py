# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import fields, models

from .postback_trigger_contact import DEFAULT_NOTICE_AFTER_HOURS, DEFAULT_WARN_BEFORE_HOURS


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    postback_contact_notice_after_hours = fields.Float(
        string="Tell the technical contact after failing for (hours)",
        config_parameter="postback_connector.contact_notice_after_hours",
        default=DEFAULT_NOTICE_AFTER_HOURS,
        help="A trigger's technical contact is emailed once its postbacks have been failing this long "
        "(0: at the first failure).",
    )
    postback_contact_warn_before_hours = fields.Float(
        string="Warn the technical contact before the disable (hours)",
        config_parameter="postback_connector.contact_warn_before_hours",
        default=DEFAULT_WARN_BEFORE_HOURS,
        help="The technical contact is warned this long before a failing trigger is disabled "
        "automatically (0: no warning).",
    )
