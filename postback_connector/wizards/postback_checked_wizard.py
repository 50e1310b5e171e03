# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import api, models


class PostbackCheckedWizard(models.AbstractModel):
    """Wizards that check, on the server, who may use them and what they may touch.

    Over RPC a wizard is a record like any other: ``create`` and ``write`` first check
    the user's group (``_check_user``), then that every record the wizard points at is
    one the user may see (``_check_scope``).
    """

    _name = "postback.checked.wizard"
    _description = "Postback wizard checked on the server"

    @api.model_create_multi
    def create(self, vals_list):
        self._check_user()
        wizards = super().create(vals_list)
        wizards._check_scope()
        return wizards

    def write(self, vals):
        self._check_user()
        result = super().write(vals)
        self._check_scope()
        return result

    @api.model
    def _check_user(self):
        raise NotImplementedError

    def _check_scope(self):
        raise NotImplementedError
