# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import api, models

from .. import compat


class ResGroups(models.Model):
    _inherit = "res.groups"

    @api.model
    def _postback_file_groups(self):
        """Called by security/postback_security.xml (install and upgrade)."""
        compat.set_groups_category(
            self.env,
            "postback_connector.module_category_postback",
            ["postback_connector.group_postback_user", "postback_connector.group_postback_manager"],
            "Postback",
        )
